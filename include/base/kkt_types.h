/* kkt_types.h — the KKT attack's objective: its settings and its loss terms (DESIGN.md §3).
 *
 * Shared by the batched device implementation (nn/kkt.h) and its independent float64
 * reference (ref/kkt_ref.h), which must not include each other.
 */
#ifndef KR_KKT_TYPES_H
#define KR_KKT_TYPES_H

#include "base/model.h" /* kr_act, KR_MAX_LAYERS */

/* What Φ's stationarity is written for (Buzaglo et al. 2023; kkt.c's header has the math).
 * Per candidate i, with m candidates, S_i/m enters g = ∇θ Σ_i S_i/m:
 *   BINARY      S_i = λ_i y_i Φ(x_i), y_i = ±1                     (C = 1)
 *   MULTICLASS  S_i = λ_i (Φ_{y_i}(x_i) − Φ_{j*}(x_i)), y_i a class, j* the runner-up (C >= 2)
 *   REGRESSION  S_i = λ_i Φ(x_i), no labels, λ ~ N(0,1), no λ_min term      (C = 1)
 * AUTO is BINARY for one output, MULTICLASS for more; REGRESSION must be asked for. */
typedef enum kr_objective {
    KR_OBJ_AUTO = 0,
    KR_OBJ_BINARY = 1,
    KR_OBJ_MULTICLASS = 2,
    KR_OBJ_REGRESSION = 3
} kr_objective;

typedef struct kr_kkt_opts {
    kr_act act;             /* forward activation; the derivative is always σ(α z) */
    double alpha;           /* α > 0 */
    double lambda_min;      /* λ_min of the dual-feasibility term (not in REGRESSION) */
    kr_objective objective; /* 0 (AUTO) when left out of an initialiser */
} kr_kkt_opts;

/* The objective for a model with C outputs: AUTO resolved; KR_OBJ_AUTO (0) back when obj does
 * not fit C (BINARY and REGRESSION need C = 1, MULTICLASS C >= 2) or is unknown. */
static inline kr_objective kr_objective_resolve(kr_objective obj, size_t C)
{
    switch (obj) {
    case KR_OBJ_AUTO: return C == 1 ? KR_OBJ_BINARY : C >= 2 ? KR_OBJ_MULTICLASS : KR_OBJ_AUTO;
    case KR_OBJ_BINARY:
    case KR_OBJ_REGRESSION: return C == 1 ? obj : KR_OBJ_AUTO;
    case KR_OBJ_MULTICLASS: return C >= 2 ? obj : KR_OBJ_AUTO;
    default: return KR_OBJ_AUTO;
    }
}

/* "auto", "binary", "multiclass", "regression" (NULL-safe: "?" otherwise). */
static inline const char *kr_objective_name(kr_objective obj)
{
    static const char *const names[] = {"auto", "binary", "multiclass", "regression"};
    return (unsigned)obj < 4 ? names[obj] : "?";
}

typedef struct kr_kkt_loss {
    double total;  /* kkt + prior + lambda */
    double kkt;    /* Σ_p ‖θ_p − g_p‖² */
    double prior;  /* box prior on x */
    double lambda; /* 5 Σ relu(λ_min − λ)² */
    /* ‖θ_p − g_p‖² per tensor in state_dict order: W_1, b_1 (if present), W_2, b_2, ... */
    double kkt_per_tensor[2 * KR_MAX_LAYERS];
    int n_tensors; /* L plus one per bias */
} kr_kkt_loss;

#endif
