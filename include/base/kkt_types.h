/* kkt_types.h — the KKT attack's objective: its settings and its loss terms (DESIGN.md §3).
 *
 * Shared by the batched device implementation (nn/kkt.h) and its independent float64
 * reference (ref/kkt_ref.h), which must not include each other.
 */
#ifndef KR_KKT_TYPES_H
#define KR_KKT_TYPES_H

#include "base/model.h" /* kr_act, KR_MAX_LAYERS */

typedef struct kr_kkt_opts {
    kr_act act;        /* forward activation; the derivative is always σ(α z) */
    double alpha;      /* α > 0 */
    double lambda_min; /* λ_min of the dual-feasibility term */
} kr_kkt_opts;

typedef struct kr_kkt_loss {
    double total;  /* kkt + prior + lambda */
    double kkt;    /* Σ_p ‖θ_p − g_p‖² */
    double prior;  /* box prior on x */
    double lambda; /* 5 Σ relu(λ_min − λ)² */
    /* ‖θ_p − g_p‖² per tensor in state_dict order: W_1, b_1 (if present), W_2, ..., W_L. */
    double kkt_per_tensor[KR_MAX_LAYERS + 1];
    int n_tensors; /* L, or L + 1 with b_1 */
} kr_kkt_loss;

#endif
