/* mlp_ref.h — float64 host reference of the classifier's training math (DESIGN.md §2; the
 * losses and weight decay of Buzaglo et al. 2023).
 *
 * What it does: the forward pass Φ(θ; x) ∈ R^C of the ReLU MLP of model.h (a bias on any
 * layer), the mean training loss of base/model.h's kr_loss (logistic, cross-entropy, MSE,
 * Huber) plus the weight-decay term (wd/2) Σ_p ‖θ_p‖² over every tensor (biases included, as
 * PyTorch's SGD weight_decay: its gradient is wd·θ), its gradient with respect to every
 * parameter tensor, and one plain gradient-descent step. Exact ReLU forward, ReLU derivative
 * [z > 0].
 *
 * What it does not: it is not fast and not batched. Every sample is processed on its own
 * with vectors (one forward and one backward pass each), so that it can serve as the
 * independent reference that the device implementation (mlp.c, GEMM-based) is tested
 * against. No OpenCL, no float32, no printing.
 *
 * Layouts: all matrices row-major. x is n × D (D = m->dims[0]), row i is sample i, already
 * minus the train mean image (m->mean is NOT subtracted here); phi is n × C. y: see kr_loss.
 */
#ifndef KR_MLP_REF_H
#define KR_MLP_REF_H

#include <stddef.h>

#include "base/model.h"
#include "base/status.h"

/* phi (n × C) = Φ(θ; x_i) row by row.  x: n × D.  KR_E_INVALID on NULL arguments or n == 0,
 * KR_E_NOMEM if the per-layer work vectors cannot be allocated. */
kr_status kr_mlp_ref_forward(const kr_model *m, size_t n, const double *x, double *phi);

/* Mean loss of kind `loss` plus (wd/2) Σ‖θ‖², and its gradient.
 *   x: n × D, y: n labels (kr_loss says which).
 *   *out   = the mean loss, computed without overflow, plus the decay term.
 *   grad   (may be NULL) must have the same shape as m (layers, dims, biases); every tensor
 *          of it is overwritten with ∂out/∂θ_p (grad->mean untouched).
 *   errors (may be NULL): logistic, MSE, Huber #{i : y_i Φ_i <= 0} (±1 targets);
 *          cross-entropy #{i : Φ_{y_i} <= max_{j≠y_i} Φ_j}.
 * KR_E_INVALID on NULL m/x/y/out, n == 0, a grad of another shape, a loss that does not fit
 * C (logistic, MSE, Huber need C = 1; cross-entropy C >= 2), a class index outside 0..C−1 or
 * wd < 0; KR_E_NOMEM. */
kr_status kr_mlp_ref_loss(const kr_model *m, kr_loss loss, double wd, size_t n,
                          const double *x, const double *y, double *out, kr_model *grad,
                          size_t *errors);

/* kr_mlp_ref_loss with the logistic loss (C = 1) or cross-entropy (C >= 2) and no decay. */
kr_status kr_mlp_ref_loss_grad(const kr_model *m, size_t n, const double *x, const double *y,
                               double *loss, kr_model *grad, size_t *errors);

/* Plain gradient descent on all parameters: θ_p -= lr · grad_p for every W_l and b_l.
 * grad must have m's shape (asserted: a mismatch is a programmer error). */
void kr_mlp_ref_step(kr_model *m, const kr_model *grad, double lr);

#endif
