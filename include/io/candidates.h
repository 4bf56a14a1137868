/* candidates.h — reading the attack's candidates file, DIR/candidates.safetensors:
 *   x          m×D  F64|F32  candidates, row-major, in the model's mean-subtracted space
 *   lambda     m    F64|F32  their dual variables λ
 *   y          m    F64      their labels (±1)
 *   iteration  []   I64      the attack iteration the file was written at
 *   opt.x.buf, opt.lambda.buf (and with Adam opt.x.v, opt.lambda.v)  optimiser state
 *   __metadata__ {"format": "kktrecon-candidates", "model", "alpha", "lambda_min", "seed",
 *                 "optimizer", "precision", "activation", "device"}
 * The file is the attack's checkpoint: it is written, and read back on resume, only by
 * io/checkpoint.h. This is the consumers' side (evaluate, kkt): x, λ and y as doubles.
 */
#ifndef KR_CANDIDATES_H
#define KR_CANDIDATES_H

#include <stddef.h>

#include "base/status.h"

/* Reads x (m×D doubles), lambda and y of a candidates file; m and d are returned.
 * Any of x, lambda, y may be NULL to skip that tensor. Caller frees. */
kr_status kr_candidates_load(const char *path, size_t *m, size_t *d, double **x,
                             double **lambda, double **y);

#endif
