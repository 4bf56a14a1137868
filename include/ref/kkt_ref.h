/* kkt_ref.h — float64 host reference of the KKT reconstruction loss and its gradient
 * (DESIGN.md §3), the reference every device implementation of the attack is tested against.
 *
 * What it computes, for candidates x_i (mean-subtracted space), multipliers λ_i and fixed
 * labels y_i, i = 1..M (M = mc), with the per-candidate sign vector σ_i ∈ R^C of o->objective
 * (binary (y_i), regression (1), multiclass e_{y_i} − e_{j*} with j* = argmax_{j≠y_i} Φ̃_j(x_i),
 * ties to the lowest index; kkt_types.h):
 *   L = Σ_p ‖θ_p − g_p‖²                     KKT stationarity, every tensor incl. biases, no ½
 *     + Σ_{i,k} relu(x_ik − 1)² + relu(−1 − x_ik)²   box prior
 *     + 5 Σ_i relu(λ_min − λ_i)²                     dual feasibility (not in regression)
 *   g_p = Σ_i (λ_i/M) ∇θ_p (σ_iᵀ Φ̃(θ; x_i)),
 * where Φ̃ runs the forward pass with o->act (RELU: max(z, 0); SOFTPLUS: log(1+e^{αz})/α)
 * and uses s = σ(αz) as EVERY activation derivative; differentiating s itself gives
 * s' = α s (1 − s). The returned gradients are ∂L/∂x_i and ∂L/∂λ_i under that rule. In
 * SOFTPLUS mode they are the exact gradient of L; in RELU mode (the paper's) they are not
 * (the forward value uses exact ReLU) and finite differences in x will not match them.
 *
 * What it does not: batch candidates into GEMMs (that is kkt.c, DESIGN §3.1; this file works
 * per candidate with vectors so that the two are independent), optimise, or print.
 * Layouts: row-major; x and grad_x are M × D (D = m->dims[0]), row i = candidate i.
 * Cost: O(#params) time per candidate, O(#params + Σ widths) memory.
 */
#ifndef KR_KKT_REF_H
#define KR_KKT_REF_H

#include <stddef.h>

#include "base/kkt_types.h"
#include "base/model.h"
#include "base/status.h"

/* Evaluates the loss and (optionally) its gradient.
 *   x: mc × D, lambda: mc, y: mc (±1 binary, class index multiclass; regression: unused, may
 *   be NULL), loss: out (required).
 *   grad_x: mc × D or NULL; grad_lambda: mc or NULL (both NULL: loss only, half the work).
 * Returns KR_E_INVALID on NULL m/o/x/lambda/loss (y unless regression), mc == 0, α not
 * finite and > 0, an objective that does not fit C or a class index outside 0..C−1;
 * KR_E_NOMEM; KR_E_NUMERIC if the total loss is not finite (outputs are still written). */
kr_status kr_kkt_ref_eval(const kr_model *m, const kr_kkt_opts *o, size_t mc, const double *x,
                          const double *lambda, const double *y, kr_kkt_loss *loss,
                          double *grad_x, double *grad_lambda);

#endif
