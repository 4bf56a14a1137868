/* ops.h — the element-wise and reduction operations of the pipeline, on any device.
 *
 * Each op has one host implementation (ops_host.c, OpenMP loops, float32 and float64) and one
 * OpenCL kernel (cl/ops.cl, compiled once per dtype). Unless stated otherwise tensors are
 * contiguous, of equal dtype and device, and ops act on all rows*cols elements; shapes must
 * match exactly (KR_E_INVALID otherwise). Output tensors may alias inputs element-for-element.
 *
 * Reductions write their result into slot `slot` of a scalar tensor `scal` (1 x K, same
 * dtype), so the pipeline reads every scalar of an iteration with one kr_tensor_read.
 * Math: DESIGN.md §2 (training), §3 and §3.1 (KKT attack).
 */
#ifndef KR_OPS_H
#define KR_OPS_H

#include <stdbool.h>

#include "base/model.h" /* kr_act */
#include "device/tensor.h"

/* y = a*x + b*y. With b == 0, y's old contents are ignored. */
kr_status kr_op_axpby(double a, const kr_tensor *x, double b, kr_tensor *y);

/* z = s * x ⊙ y. */
kr_status kr_op_mul(double s, const kr_tensor *x, const kr_tensor *y, kr_tensor *z);

/* a = act(z); if s != NULL also s = σ(α z). (For training, act = RELU and s = NULL.)
 * σ must be computed without overflow for any z (e.g. 1/(1+exp(-t)) for t >= 0,
 * exp(t)/(1+exp(t)) otherwise). */
kr_status kr_op_act_forward(kr_act act, double alpha, const kr_tensor *z, kr_tensor *a,
                            kr_tensor *s);

/* dz = dA ⊙ [z > 0]   (exact ReLU derivative, training). */
kr_status kr_op_relu_backward(const kr_tensor *z, const kr_tensor *da, kr_tensor *dz);

/* dz = dA ⊙ s + dS ⊙ α s (1 − s)   (DESIGN §3.1 step 3; dA may be NULL = zero). */
kr_status kr_op_sigmoid_backward(double alpha, const kr_tensor *da, const kr_tensor *ds,
                                 const kr_tensor *s, kr_tensor *dz);

/* z[i, :] += s * b[0, :] for every row i   (b is 1 x z->cols). */
kr_status kr_op_add_row(double s, const kr_tensor *b, kr_tensor *z);

/* out[0, :] = a * Σ_i x[i, :] + b * out[0, :]   (out is 1 x x->cols; b == 0 ignores out). */
kr_status kr_op_col_sum(double a, const kr_tensor *x, double b, kr_tensor *out);

/* scal[slot] = Σ x². */
kr_status kr_op_sum_sq(const kr_tensor *x, kr_tensor *scal, size_t slot);

/* Squared-hinge prior, used for the box prior (lo=-1, hi=1, w=1) and dual feasibility
 * (lo=λ_min, hi=+INFINITY, w=5):
 *   scal[slot] = w Σ [relu(lo − x)² + relu(x − hi)²]
 *   g         += w (2 relu(x − hi) − 2 relu(lo − x))        (g may be NULL)        */
kr_status kr_op_hinge_sq(const kr_tensor *x, double lo, double hi, double w, kr_tensor *g,
                         kr_tensor *scal, size_t slot);

/* Logistic loss for training, φ and y are n x 1 (y = ±1):
 *   scal[slot]   = Σ log(1 + exp(−y φ))   (computed stably)
 *   scal[slot+1] = #{ y φ <= 0 }           (training errors)
 *   dphi         = s · (−y σ(−y φ))        (s = 1/n for the mean loss)           */
kr_status kr_op_logistic(double s, const kr_tensor *phi, const kr_tensor *y, kr_tensor *dphi,
                         kr_tensor *scal, size_t slot);

/* PyTorch SGD (dampening 0, no Nesterov): buf = first ? g : momentum*buf + g; p -= lr*buf.
 * With momentum == 0, buf may be NULL and p -= lr*g. */
kr_status kr_op_sgd(double lr, double momentum, bool first, kr_tensor *p, const kr_tensor *g,
                    kr_tensor *buf);

/* PyTorch Adam (no weight decay, no amsgrad), step t >= 1:
 *   m = b1 m + (1−b1) g;  v = b2 v + (1−b2) g²;
 *   p -= lr · (m / (1−b1^t)) / (sqrt(v / (1−b2^t)) + eps)                            */
kr_status kr_op_adam(double lr, double b1, double b2, double eps, long t, kr_tensor *p,
                     const kr_tensor *g, kr_tensor *m, kr_tensor *v);

#endif
