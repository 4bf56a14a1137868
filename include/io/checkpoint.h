/* checkpoint.h — the attack's state on the device and its checkpoint, the candidates file
 * (format: candidates.h), written atomically (PATH.tmp, fsync, rename) and read back raw, so
 * a killed attack resumes bit-for-bit on the same device and precision. Also the resume's
 * trimming of the attack's log, DIR/attack.jsonl, to the iterations before the checkpoint.
 *
 * Shapes (row-major): x, gx, bx, vx m×D; lambda, glambda, blambda, vlambda m×1.
 * Not here: the optimiser's update rule (nn/optim.h), the loop deciding when to checkpoint
 * (app/attack.c), reading candidates as doubles for evaluation (candidates.h).
 */
#ifndef KR_CHECKPOINT_H
#define KR_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/kkt_types.h"
#include "device/tensor.h"

/* The optimisation state: what a checkpoint must hold to continue bit-for-bit. */
typedef struct kr_attack_state {
    kr_tensor *x, *lambda;   /* m×D, m×1 */
    kr_tensor *gx, *glambda; /* gradients, same shapes (not saved: recomputed each step) */
    kr_tensor *bx, *blambda; /* SGD momentum buffers, or Adam first moments */
    kr_tensor *vx, *vlambda; /* Adam second moments (NULL for SGD) */
} kr_attack_state;

/* Allocates the state for m candidates of D values (contents undefined); `adam` adds the
 * second moments. On failure nothing is left allocated. */
kr_status kr_checkpoint_state_new(kr_device *dev, kr_dtype dt, size_t m, size_t d, bool adam,
                                  kr_attack_state *s);
void kr_checkpoint_state_free(kr_attack_state *s);

/* What the checkpoint's metadata records about the run (strings are copied into the file). */
typedef struct kr_checkpoint_info {
    const char *model_path;
    kr_kkt_opts kkt;       /* activation, alpha, lambda_min */
    uint64_t seed;         /* of the candidates' initialisation */
    const char *optimizer; /* "sgd" | "adam" */
    const char *device;    /* kr_device_describe */
} kr_checkpoint_info;

/* Writes the state (raw, bit-exact; gradients excluded) plus y (m doubles) and the iteration
 * reached to path; refuses non-finite state (KR_E_NUMERIC, the file on disk is kept), so a
 * checkpoint on disk is always a good point to resume from. */
kr_status kr_checkpoint_write(const char *path, kr_attack_state *s, const double *y,
                              long iteration, const kr_checkpoint_info *info);

/* Restores the state from a checkpoint written by kr_checkpoint_write with the same dtype,
 * sizes and optimiser, and returns the iteration it was written at. */
kr_status kr_checkpoint_read(const char *path, kr_attack_state *s, long *iteration);

/* The iteration a checkpoint was written at, without reading its state (a batch of points
 * that pruned some needs it to know how many it holds: app/attack_points.c). */
kr_status kr_checkpoint_read_iteration(const char *path, long *iteration);

/* Keeps the lines of the attack log (JSON lines with "iteration": N) from before `start`; a
 * resumed run rewrites the rest. A missing log is fine. */
kr_status kr_checkpoint_trim_log(const char *path, long start);

#endif
