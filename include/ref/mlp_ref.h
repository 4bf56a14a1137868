/* mlp_ref.h — float64 host reference of the classifier's training math (DESIGN.md §2).
 *
 * What it does: the forward pass Φ(θ; x) of the bias-free ReLU MLP of model.h (optional
 * first-layer bias b_1), the mean logistic loss (1/n) Σ_i log(1 + exp(−y_i Φ(x_i))), its
 * gradient with respect to every parameter tensor (W_1..W_L and b_1), and one plain
 * gradient-descent step. Exact ReLU forward, ReLU derivative [z > 0].
 *
 * What it does not: it is not fast and not batched. Every sample is processed on its own
 * with vectors (one forward and one backward pass each), so that it can serve as the
 * independent reference that the device implementation (mlp.c, GEMM-based) is tested
 * against. No OpenCL, no float32, no printing.
 *
 * Layouts: all matrices row-major. x is n × D (D = m->dims[0]), row i is sample i, already
 * minus the train mean image (m->mean is NOT subtracted here). y holds ±1 labels (any real
 * value works mathematically).
 */
#ifndef KR_MLP_REF_H
#define KR_MLP_REF_H

#include <stddef.h>

#include "base/model.h"
#include "base/status.h"

/* phi[i] = Φ(θ; x_i).  x: n × D, phi: n.  KR_E_INVALID on NULL arguments or n == 0,
 * KR_E_NOMEM if the per-layer work vectors cannot be allocated. */
kr_status kr_mlp_ref_forward(const kr_model *m, size_t n, const double *x, double *phi);

/* Mean logistic loss and its gradient.
 *   x: n × D, y: n (±1).
 *   *loss  = (1/n) Σ_i log(1 + exp(−y_i Φ_i)), evaluated without overflow for any y_i Φ_i.
 *   grad   (may be NULL) must have the same shape as m (layers, dims, first-bias); every
 *          tensor of it is overwritten with ∂loss/∂W_l and ∂loss/∂b_1 (grad->mean untouched).
 *   errors (may be NULL) = #{i : y_i Φ_i <= 0}.
 * KR_E_INVALID on NULL m/x/y/loss, n == 0 or a grad of another shape; KR_E_NOMEM. */
kr_status kr_mlp_ref_loss_grad(const kr_model *m, size_t n, const double *x, const double *y,
                               double *loss, kr_model *grad, size_t *errors);

/* Plain gradient descent on all parameters: θ_p -= lr · grad_p for every W_l and b_1.
 * grad must have m's shape (asserted: a mismatch is a programmer error). */
void kr_mlp_ref_step(kr_model *m, const kr_model *grad, double lr);

#endif
