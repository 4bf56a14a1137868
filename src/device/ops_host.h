/* ops_host.h — the host backend's loops for every op of ops.h (private to src/).
 *
 * src/ops.c checks shapes, dtypes and devices and then calls these on raw buffers: every
 * pointer already points at element (0, 0) of a contiguous row-major block, n = rows * cols,
 * dt says whether the buffers hold float or double. Outputs may alias inputs element for
 * element (never partially). These functions cannot fail and never allocate.
 *
 * Arithmetic is done in the element type; reductions accumulate in double and are
 * deterministic for a given number of OpenMP threads (partials are combined in thread order).
 * Semantics and math: include/ops.h; DESIGN.md §2, §3.1.
 */
#ifndef KR_OPS_HOST_H
#define KR_OPS_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "device/device.h" /* kr_dtype */
#include "base/model.h"  /* kr_act */

/* y = a x + b y; b == 0 ignores (does not read) y's old contents. */
void kr_host_axpby(kr_dtype dt, size_t n, double a, const void *x, double b, void *y);
/* z = s x ⊙ y. */
void kr_host_mul(kr_dtype dt, size_t n, double s, const void *x, const void *y, void *z);
/* a = act(z) (relu, or softplus_α); s = σ(α z) when s != NULL. */
void kr_host_act_forward(kr_dtype dt, size_t n, kr_act act, double alpha, const void *z, void *a,
                         void *s);
/* dz = da ⊙ [z > 0]. */
void kr_host_relu_backward(kr_dtype dt, size_t n, const void *z, const void *da, void *dz);
/* dz = da ⊙ s + ds ⊙ α s (1 − s); da may be NULL (treated as zero). */
void kr_host_sigmoid_backward(kr_dtype dt, size_t n, double alpha, const void *da, const void *ds,
                              const void *s, void *dz);
/* z (rows x cols) += s * b (1 x cols) on every row. */
void kr_host_add_row(kr_dtype dt, size_t rows, size_t cols, double s, const void *b, void *z);
/* out (1 x cols) = a Σ_i x[i, :] + b out; b == 0 ignores out's old contents. */
void kr_host_col_sum(kr_dtype dt, size_t rows, size_t cols, double a, const void *x, double b,
                     void *out);
/* Returns Σ x². */
double kr_host_sum_sq(kr_dtype dt, size_t n, const void *x);
/* Returns w Σ [relu(lo − x)² + relu(x − hi)²]; g += w (2 relu(x − hi) − 2 relu(lo − x)) when
 * g != NULL. hi may be +INFINITY, lo -INFINITY. */
double kr_host_hinge_sq(kr_dtype dt, size_t n, const void *x, double lo, double hi, double w,
                        void *g);
/* *loss = Σ log(1 + exp(−y φ)), *errors = #{y φ <= 0}, dphi = s (−y σ(−y φ)). */
void kr_host_logistic(kr_dtype dt, size_t n, double s, const void *phi, const void *y, void *dphi,
                      double *loss, double *errors);
/* PyTorch SGD: buf = first ? g : momentum buf + g; p -= lr buf. buf == NULL: p -= lr g. */
void kr_host_sgd(kr_dtype dt, size_t n, double lr, double momentum, bool first, void *p,
                 const void *g, void *buf);
/* PyTorch Adam at step t >= 1 (see ops.h). */
void kr_host_adam(kr_dtype dt, size_t n, double lr, double b1, double b2, double eps, long t,
                  void *p, const void *g, void *m, void *v);

#endif
