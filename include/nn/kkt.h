/* kkt.h — the KKT reconstruction loss and its gradient in the candidates X and the
 * multipliers λ, batched over candidates on any device (DESIGN.md §3, §3.1).
 *
 * Written once over tensor/blas/ops: every product is a GEMM, everything else an element-wise
 * op. The float64 per-candidate reference is ref/kkt_ref.h; the objective's types (kr_kkt_opts,
 * kr_kkt_loss) are base/kkt_types.h, shared by both.
 * Shapes (row-major): X m×D, λ m×1, y m×1 (±1), W_l H_l×H_{l−1}, b_1 1×H_1.
 */
#ifndef KR_KKT_H
#define KR_KKT_H

#include "base/kkt_types.h"
#include "base/model.h"
#include "device/tensor.h"

typedef struct kr_kkt kr_kkt;

/* Uploads θ in dtype dt, the labels y (m doubles, ±1) and allocates the workspace. */
kr_status kr_kkt_new(kr_device *dev, kr_dtype dt, const kr_model *m, const kr_kkt_opts *o,
                     size_t mc, const double *y, kr_kkt **out);
void kr_kkt_free(kr_kkt *k);

/* Enqueues the loss and, when gx/glambda are non-NULL, the gradient for candidates x (m×D)
 * and multipliers lambda (m×1). Nothing is read back: call kr_kkt_read_loss. */
kr_status kr_kkt_eval(kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda, kr_tensor *gx,
                      kr_tensor *glambda);

/* Waits for the last kr_kkt_eval and returns its loss terms (and ‖X‖², a NaN detector). */
kr_status kr_kkt_read_loss(kr_kkt *k, kr_kkt_loss *loss, double *x_sumsq);

/* GEMM work of one loss+gradient evaluation in FLOP (the GEMMs actually enqueued). */
double kr_kkt_flops(const kr_model *m, size_t mc);

#endif
