/* kkt.h — the KKT reconstruction loss and its gradient in the candidates X and the
 * multipliers λ, batched over candidates on any device (DESIGN.md §3, §3.1).
 *
 * Written once over tensor/blas/ops: every product is a GEMM, everything else an element-wise
 * op. The float64 per-candidate reference is ref/kkt_ref.h; the objective's types (kr_kkt_opts,
 * kr_kkt_loss) are base/kkt_types.h, shared by both.
 * Shapes (row-major): X m×D, λ m×1, y m×1, W_l H_l×H_{l−1}, b_l 1×H_l (any layer), C = H_L.
 * Objectives (base/kkt_types.h): binary (y = ±1, C = 1), multiclass (y = class index, C >= 2),
 * regression (y unused, C = 1, no λ_min term).
 *
 * Points: one object can evaluate P attack runs ("points", each with its own α and λ_min, the
 * same model, activation and labels) at once. Their candidates are stacked by rows: X is
 * (P·m)×D and λ (P·m)×1, point p owning rows [p·m, (p+1)·m), with m the per-point candidate
 * count (c_i = λ_i y_i / m as in a single run). Every point's loss and gradient are those of a
 * single-point object with its α and λ_min (kkt.c's header has the derivation).
 */
#ifndef KR_KKT_H
#define KR_KKT_H

#include "base/kkt_types.h"
#include "base/model.h"
#include "device/tensor.h"

typedef struct kr_kkt kr_kkt;

/* One point's hyperparameters of the objective (the activation is common). */
typedef struct kr_kkt_point {
    double alpha;      /* α > 0 of σ(α z) */
    double lambda_min; /* λ_min of the dual-feasibility term */
} kr_kkt_point;

/* Uploads θ in dtype dt, the labels y (m doubles: ±1 binary, a class index 0..C−1
 * multiclass, unused and may be NULL for regression) and allocates the workspace. The
 * objective is o->objective (AUTO: binary for C = 1, multiclass otherwise). */
kr_status kr_kkt_new(kr_device *dev, kr_dtype dt, const kr_model *m, const kr_kkt_opts *o,
                     size_t mc, const double *y, kr_kkt **out);
/* P points of m_per_point candidates each (P·m_per_point rows); y: m_per_point doubles, the
 * labels of every point (as kr_kkt_new). kr_kkt_new is this with P = 1. KR_E_INVALID when the
 * objective does not fit the model's outputs or a label does not fit the objective. */
kr_status kr_kkt_new_objective(kr_device *dev, kr_dtype dt, const kr_model *m, kr_act act,
                               kr_objective objective, const kr_kkt_point *points, size_t P,
                               size_t m_per_point, const double *y, kr_kkt **out);
/* kr_kkt_new_objective with KR_OBJ_AUTO. */
kr_status kr_kkt_new_points(kr_device *dev, kr_dtype dt, const kr_model *m, kr_act act,
                            const kr_kkt_point *points, size_t P, size_t m_per_point,
                            const double *y, kr_kkt **out);
void kr_kkt_free(kr_kkt *k);
size_t kr_kkt_points(const kr_kkt *k);

/* Enqueues the loss and, when gx/glambda are non-NULL, the gradient for candidates x (m×D)
 * and multipliers lambda (m×1), m = P·m_per_point. Nothing is read back: call
 * kr_kkt_read_loss (P = 1) or kr_kkt_read_losses. */
kr_status kr_kkt_eval(kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda, kr_tensor *gx,
                      kr_tensor *glambda);

/* Waits for the last kr_kkt_eval and returns its loss terms (and ‖X‖², a NaN detector).
 * Single point only (KR_E_INVALID otherwise). */
kr_status kr_kkt_read_loss(kr_kkt *k, kr_kkt_loss *loss, double *x_sumsq);
/* The same for every point: losses[P] and, if non-NULL, x_sumsq[P] (‖X^p‖²); one read. */
kr_status kr_kkt_read_losses(kr_kkt *k, kr_kkt_loss *losses, double *x_sumsq);

/* GEMM work of one loss+gradient evaluation in FLOP (the GEMMs actually enqueued). */
double kr_kkt_flops(const kr_model *m, size_t mc);

#endif
