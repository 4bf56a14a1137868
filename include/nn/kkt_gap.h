/* kkt_gap.h — how close a trained model is to a KKT point of the max-margin problem, on its
 * own training set (DESIGN.md §1, §6 "KKT gap").
 *
 * What it computes, in float64 on the host:
 *   gap = min_{λ ≥ 0} ‖θ − Σ_i λ_i ỹ_i ∇θΦ(θ; x_i)‖ / ‖θ‖
 * where θ is every parameter tensor (W_1, b_1, W_2, b_2, ..., every bias present) and ∇θΦ uses the
 * exact ReLU derivative [z > 0]. With J_i = ỹ_i ∇θΦ(θ; x_i) this is the non-negative least
 * squares problem  min_{λ ≥ 0} f(λ),  f(λ) = ‖θ‖² − 2 cᵀλ + λᵀ K λ,  K_ij = ⟨J_i, J_j⟩,
 * c_i = ⟨θ, J_i⟩, solved on the n × n Gram matrix by cyclic coordinate descent. Small gap:
 * training reached (in direction) a KKT point, which is what the attack (§3) inverts.
 *
 * What it does not: run on an OpenCL device, subtract the mean image (x is already in the
 * mean-subtracted space), use the attack's σ(αz) surrogate derivative, or print.
 * Layouts: row-major; x is n × D (D = m->dims[0]), row i = sample i; K is n × n.
 * Cost: O(n² Σ_l dims[l] + #params · n) flops (GEMM/SYRK through OpenBLAS), O(n²) per
 * solver sweep plus O(|support|³) per face solve, and O(n² + n Σ widths + max_l
 * dims[l]·dims[l−1]) doubles of memory (peak 3 n² for the Gram step). Measured on 2 cores:
 * 784-1000-1000-1, n = 500: 0.13 s; n = 2000: 2.5 s.
 */
#ifndef KR_KKT_GAP_H
#define KR_KKT_GAP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/model.h"
#include "base/status.h"

/* Solver defaults used by kr_kkt_gap (see kr_kkt_gap_nnls for their meaning). */
#define KR_KKT_GAP_TOL 1e-10
#define KR_KKT_GAP_MAX_SWEEPS 100000L

typedef struct kr_kkt_gap_result {
    double gap;          /* ‖θ − Σ λ_i J_i‖ / ‖θ‖ at the returned λ (kr_kkt_gap: computed
                            directly from the residual tensors; kr_kkt_gap_nnls: from f) */
    double gap_objective;/* sqrt(max(f(λ), 0)) / ‖θ‖: the solver's own value; loses accuracy
                            below ~1e-7 (f is a difference of O(‖θ‖²) terms) */
    double theta_norm;   /* ‖θ‖ */
    size_t support;      /* #{i : λ_i > 0} */
    size_t dead;         /* #{i : K_ii = 0}: samples whose gradient vanishes (λ_i kept 0) */
    long sweeps;         /* coordinate-descent sweeps done */
    long face_solves;    /* direct solves on the current support (see kr_kkt_gap_nnls) */
    bool converged;      /* violation <= tol before the sweep limit (else: last iterate) */
    double violation;    /* max_i projected gradient |∂f/∂λ_i|/2 (see kr_kkt_gap_nnls)
                            divided by max_i |c_i|, at the returned λ */
    /* ‖r_p‖² / ‖θ‖² per tensor, r = θ − Σ λ_i J_i, in state_dict order W_1, b_1 (if
     * present), W_2, ..., W_L; they sum to gap². n_tensors = 0 from kr_kkt_gap_nnls. */
    double per_tensor[2 * KR_MAX_LAYERS];
    /* ‖r_p‖ / ‖θ_p‖ per tensor, same order (NaN for an all-zero tensor): how much of each
     * tensor the combination explains. Training from a small W_1 leaves the deeper layers
     * near their random initialisation for a long time, which shows up here. */
    double per_tensor_rel[2 * KR_MAX_LAYERS];
    int n_tensors;
} kr_kkt_gap_result;

/* The Gram matrix and right-hand side of the NNLS problem, from one batched forward and
 * backward pass (rows = samples):
 *   K_ij = ⟨J_i, J_j⟩,  c_i = ⟨θ, J_i⟩  (= L·ỹ_i·Φ(x_i) by Euler's theorem: Φ is positively
 *   homogeneous of degree L in θ, b_1 scaling with W_1; computed directly, not from that).
 * x: n × D, y: n labels (±1; any finite value works mathematically), K: n × n (symmetric,
 * both triangles written), c: n. theta2 (may be NULL) gets ‖θ‖².
 * KR_E_INVALID on NULL arguments, n == 0 or a malformed model, KR_E_NOMEM, KR_E_NUMERIC if
 * K or c is not finite (NaN/Inf in θ, x or y). */
kr_status kr_kkt_gap_gram(const kr_model *m, size_t n, const double *x, const double *y,
                          double *K, double *c, double *theta2);

/* Non-negative least squares on the Gram form: minimise f(λ) = theta2 − 2cᵀλ + λᵀKλ over
 * λ ≥ 0 by exact cyclic coordinate descent from λ = 0
 * (λ_i ← max(0, λ_i − g_i / K_ii), g = Kλ − c maintained incrementally, recomputed exactly
 * before convergence is accepted). When the support has not changed for 20 sweeps, f is
 * minimised on that face directly (rank-revealing Cholesky of K_SS, O(|S|³); Lawson–Hanson
 * step back to the boundary if that minimiser is infeasible) and CD resumes: plain CD crawls
 * when K_SS is ill-conditioned or singular, which gradients of samples sharing an activation
 * pattern make common. Stops when the projected gradient
 *   v_i = |g_i| if λ_i > 0,  max(−g_i, 0) if λ_i = 0
 * satisfies max_i v_i <= tol · max_i |c_i|, or after max_sweeps sweeps (res->converged =
 * false: not an error; λ is the last iterate). Coordinates with K_ii = 0 stay at λ_i = 0.
 * K: n × n symmetric positive semi-definite (only used as given; K_ii < 0 is rejected),
 * c: n, theta2 = ‖θ‖² > 0, lambda: n (out). res gets gap = gap_objective, theta_norm,
 * support, dead, sweeps, face_solves, converged, violation; n_tensors = 0. Extra memory: n²
 * doubles for the face solve.
 * KR_E_INVALID on NULL arguments, n == 0, theta2 <= 0, tol < 0, max_sweeps < 1 or a negative
 * diagonal; KR_E_NUMERIC on non-finite K, c or theta2. */
kr_status kr_kkt_gap_nnls(size_t n, const double *K, const double *c, double theta2, double tol,
                          long max_sweeps, double *lambda, kr_kkt_gap_result *res);

/* The KKT gap of m on its training set (x: n × D mean-subtracted, y: n labels ±1):
 * kr_kkt_gap_gram, then kr_kkt_gap_nnls with KR_KKT_GAP_TOL / KR_KKT_GAP_MAX_SWEEPS, then the
 * residual r = θ − Σ λ_i J_i tensor by tensor (one GEMM per layer) for res->gap and
 * res->per_tensor / per_tensor_rel. lambda (may be NULL): n, gets the multipliers λ.
 * Errors as kr_kkt_gap_gram, plus KR_E_INVALID if θ = 0 (the gap is undefined). */
kr_status kr_kkt_gap(const kr_model *m, size_t n, const double *x, const double *y,
                     double *lambda, kr_kkt_gap_result *res);

#endif
