/* kkt_gap.c — the KKT gap of a trained model on its own training set (DESIGN.md §1, §6).
 *
 * What it does: one batched forward/backward pass of the exact-ReLU MLP over the n training
 * samples (rows = samples, every product a GEMM/SYRK through OpenBLAS), the n × n Gram matrix
 * K of the signed per-sample gradients J_i = ỹ_i ∇θΦ(x_i) and c_i = ⟨θ, J_i⟩, non-negative
 * least squares for λ by cyclic coordinate descent (with a direct solve on the support once
 * it settles), and the residual θ − Σ λ_i J_i tensor by tensor.
 * What it does not: touch an OpenCL device, form any J_i explicitly (P × n would not fit for
 * large nets), subtract the mean image, or print.
 * Index conventions: 1-based layers as in DESIGN; m->w[l−1] holds W_l, row-major
 * dims[l] × dims[l−1]; W_L is the row vector w_L (1 × H_{L−1}).
 *
 * ---------------------------------------------------------------------------------------
 * Derivation.
 *
 * Forward (rows = samples):  A_0 = X (n×D),  Z_l = A_{l−1} W_lᵀ (+ b_l where layer l has a
 * bias), A_l = relu(Z_l) (n×H_l) for l = 1..L−1,  Φ = Z_L = A_{L−1} w_Lᵀ (+ b_L) (n×1).
 * (One output only: the max-margin KKT conditions of a multiclass or regression model are
 * not this NNLS; kr_kkt_gap refuses C != 1.)
 * Backward of Φ itself (not of a loss), per sample:  Δ_L = 1 (n×1),
 *   Δ_l = (Δ_{l+1} W_{l+1}) ⊙ [Z_l > 0]   (n×H_l),   so Δ_{L−1} = 1 w_L ⊙ [Z_{L−1} > 0].
 * The mask is read off A_l: A_l > 0 exactly where Z_l > 0.
 * Per-sample gradient: ∇_{W_l}Φ(x_i) = Δ_l[i]ᵀ A_{l−1}[i] (outer product, H_l × H_{l−1}),
 * ∇_{b_l}Φ(x_i) = Δ_l[i] (∇_{b_L}Φ = 1).
 *
 * Gram matrix: ⟨δ aᵀ, δ' a'ᵀ⟩ = (δ·δ')(a·a'), so
 *   K_ij = ỹ_i ỹ_j Σ_{l=1}^{L} (Δ_l Δ_lᵀ)_ij ((A_{l−1} A_{l−1}ᵀ)_ij + [layer l has a bias]),
 * where the "+1" folds the b_l term (Δ_l Δ_lᵀ)_ij into layer l, and layer L contributes
 * (A_{L−1} A_{L−1}ᵀ)_ij (+ 1 with b_L) alone (Δ_L Δ_Lᵀ = all ones). Two SYRKs per layer and a Hadamard
 * product on the upper triangle; mirrored at the end.
 * Right-hand side: ⟨W_l, δ aᵀ⟩ = δᵀ W_l a, so with z_l = W_l a_{l−1} (+ b_l),
 *   c_i = ỹ_i [ Σ_l Δ_l[i]ᵀ W_l A_{l−1}[i] + Δ_l[i]·b_l ] = ỹ_i Σ_{l=1}^{L} Δ_l[i]·Z_l[i]
 *       = ỹ_i ( Σ_{l=1}^{L−1} Δ_l[i]·A_l[i] + Φ_i ),
 * since Δ_l vanishes where Z_l <= 0 and A_l = Z_l elsewhere. (With a first-layer bias only,
 * every term equals Φ_i — Euler's theorem for the degree-1 homogeneous layers — so c_i =
 * L ỹ_i Φ_i; with later biases Φ is not homogeneous, which is why c is computed layer by
 * layer.)
 *
 * NNLS: f(λ) = ‖θ − Σ λ_i J_i‖² = ‖θ‖² − 2cᵀλ + λᵀKλ, ∇f = 2g with g = Kλ − c. Exact
 * minimisation along coordinate i subject to λ_i >= 0 is λ_i ← max(0, λ_i − g_i/K_ii);
 * after a change d, g += d K[:, i]. Cyclic coordinate descent on a convex quadratic with box
 * constraints converges (linearly; Luo & Tseng 1992). Stopping rule: the projected gradient
 * (|g_i| on the support, max(−g_i, 0) off it) below tol · max|c|, checked on an exactly
 * recomputed g (the incremental one drifts by rounding). f(λ*) = ‖θ‖² − cᵀλ + λᵀg.
 * CD's rate is set by the conditioning of K on the support, and samples that share an
 * activation pattern have gradients that are affine in x, hence nearly or exactly dependent:
 * on small random nets plain CD stalled at a violation of 1e-8 after 10⁵ sweeps. So once the
 * support has been stable for KR_KKT_GAP_FACE_AFTER sweeps, f is minimised on that face
 * (K_SS z = c_S by rank-revealing Cholesky; c_S lies in range(K_SS) because K = JᵀJ,
 * c = Jᵀθ), stepping back to the boundary when z is infeasible (Lawson & Hanson 1974,
 * "Solving Least Squares Problems", ch. 23), and CD resumes to add or drop coordinates.
 *
 * Residual: R_l = W_l − (Δ_l ⊙ (λỹ) 1ᵀ)ᵀ A_{l−1} (one GEMM, H_l × H_{l−1}),
 * R_L = w_L − (λỹ)ᵀ A_{L−1},  r_{b_l} = b_l − Σ_i λ_i ỹ_i Δ_l[i],  r_{b_L} = b_L − Σ_i λ_i ỹ_i. Its norm is the reported gap:
 * f itself is a difference of O(‖θ‖²) terms and cannot resolve gaps below ~1e-7.
 * ---------------------------------------------------------------------------------------
 */
#include "nn/kkt_gap.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The exact g is recomputed this often (in sweeps) to stop incremental drift. */
#define KR_KKT_GAP_REFRESH 1000L
/* Sweeps without a support change after which the face is solved directly. */
#define KR_KKT_GAP_FACE_AFTER 20L

/* One batched forward/backward pass. Index l = 1..L−1 is a hidden layer. */
typedef struct gap_work {
    double *block;
    size_t n;
    const double *a0;          /* A_0 = X, n × D (the caller's, not owned) */
    double *a[KR_MAX_LAYERS];  /* A_l, n × H_l, l = 1..L−1 */
    double *d[KR_MAX_LAYERS];  /* Δ_l, n × H_l, l = 1..L−1 */
    double *phi;               /* Φ, n */
} gap_work;

static bool mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return false;
    *out = a * b;
    return true;
}

/* Shape checks shared by every entry point (cblas takes int dimensions). */
static kr_status check_model(const kr_model *m, size_t n, const char *who)
{
    if (m->layers < 2 || m->layers > KR_MAX_LAYERS)
        return KR_FAIL(KR_E_INVALID, "%s: model has %d layers (need 2..%d)", who, m->layers,
                       KR_MAX_LAYERS);
    if (m->dims[m->layers] != 1)
        return KR_FAIL(KR_E_INVALID, "%s: model output size is %zu, not 1", who,
                       m->dims[m->layers]);
    if (n > INT_MAX) return KR_FAIL(KR_E_INVALID, "%s: %zu samples is too many", who, n);
    for (int l = 0; l <= m->layers; l++)
        if (m->dims[l] == 0 || m->dims[l] > INT_MAX)
            return KR_FAIL(KR_E_INVALID, "%s: model dims[%d] = %zu", who, l, m->dims[l]);
    for (int l = 0; l < m->layers; l++)
        if (!m->w[l]) return KR_FAIL(KR_E_INVALID, "%s: model W_%d is NULL", who, l + 1);
    (void)0; /* biases: any layer (model.h) */
    return KR_OK;
}

static void work_free(gap_work *w) { free(w->block); }

static kr_status work_alloc(const kr_model *m, size_t n, const double *x, gap_work *w)
{
    memset(w, 0, sizeof *w);
    size_t widths = 0, total;
    for (int l = 1; l < m->layers; l++) widths += m->dims[l];
    /* 2 n Σ H_l + n; widths <= 16 · INT_MAX cannot overflow */
    if (!mul_ok(n, 2 * widths + 1, &total) || total > SIZE_MAX / sizeof(double) ||
        !(w->block = malloc(total * sizeof(double))))
        return KR_FAIL(KR_E_NOMEM, "kkt_gap: work space for %zu samples, %zu hidden units", n,
                       widths);
    w->n = n;
    w->a0 = x;
    double *p = w->block;
    for (int l = 1; l < m->layers; l++) {
        w->a[l] = p, p += n * m->dims[l];
        w->d[l] = p, p += n * m->dims[l];
    }
    w->phi = p;
    return KR_OK;
}

static const double *act(const gap_work *w, int l) { return l == 0 ? w->a0 : w->a[l]; }

/* Fills A_l, Φ and Δ_l (see the derivation). */
static void forward_backward(const kr_model *m, gap_work *w)
{
    const int L = m->layers, n = (int)w->n;
    for (int l = 1; l < L; l++) {
        const int h = (int)m->dims[l], hp = (int)m->dims[l - 1];
        double *z = w->a[l];
        double beta = 0.0;
        if (m->b[l - 1]) {
            for (int i = 0; i < n; i++)
                memcpy(z + (size_t)i * h, m->b[l - 1], (size_t)h * sizeof *z);
            beta = 1.0;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, h, hp, 1.0, act(w, l - 1), hp,
                    m->w[l - 1], hp, beta, z, h);
        for (size_t q = 0; q < (size_t)n * (size_t)h; q++)
            if (!(z[q] > 0)) z[q] = 0.0; /* relu; keeps NaN out of the mask test below */
    }
    const int hl = (int)m->dims[L - 1];
    for (int i = 0; i < n; i++) w->phi[i] = m->b[L - 1] ? m->b[L - 1][0] : 0.0;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, hl, 1.0, w->a[L - 1], hl, m->w[L - 1], 1, 1.0,
                w->phi, 1);
    for (int l = L - 1; l >= 1; l--) {
        const int h = (int)m->dims[l];
        double *d = w->d[l];
        const double *a = w->a[l];
        if (l == L - 1) {
            for (int i = 0; i < n; i++) memcpy(d + (size_t)i * h, m->w[L - 1], (size_t)h * sizeof *d);
        } else {
            const int hn = (int)m->dims[l + 1];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, h, hn, 1.0, w->d[l + 1], hn,
                        m->w[l], h, 0.0, d, h);
        }
        for (size_t q = 0; q < (size_t)n * (size_t)h; q++)
            if (!(a[q] > 0)) d[q] = 0.0;
    }
}

static double theta_sq(const kr_model *m)
{
    double s = 0;
    for (int l = 0; l < m->layers; l++)
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++) s += m->w[l][q] * m->w[l][q];
    for (int l = 0; l < m->layers; l++)
        for (size_t j = 0; m->b[l] && j < m->dims[l + 1]; j++) s += m->b[l][j] * m->b[l][j];
    return s;
}

/* K (n × n) and c (n) from a filled work space; t1, t2: n × n scratch. */
static void gram(const kr_model *m, const gap_work *w, const double *y, double *K, double *c,
                 double *t1, double *t2)
{
    const int L = m->layers, n = (int)w->n;
    const size_t nn = (size_t)n;
    /* layer L: (A_{L−1} A_{L−1}ᵀ), upper triangle */
    const int hl = (int)m->dims[L - 1];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, hl, 1.0, w->a[L - 1], hl, 0.0, K, n);
    if (m->b[L - 1]) /* ∇_{b_L}Φ = 1 for every sample */
        for (size_t i = 0; i < nn; i++)
            for (size_t j = i; j < nn; j++) K[i * nn + j] += 1.0;
    for (int l = 1; l < L; l++) {
        const int h = (int)m->dims[l], hp = (int)m->dims[l - 1];
        const double one = m->b[l - 1] ? 1.0 : 0.0;
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, hp, 1.0, act(w, l - 1), hp, 0.0,
                    t2, n);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, h, 1.0, w->d[l], h, 0.0, t1, n);
        for (size_t i = 0; i < nn; i++)
            for (size_t j = i; j < nn; j++) K[i * nn + j] += t1[i * nn + j] * (t2[i * nn + j] + one);
    }
    for (size_t i = 0; i < nn; i++) {
        for (size_t j = i; j < nn; j++) {
            double v = K[i * nn + j] * y[i] * y[j];
            K[i * nn + j] = v;
            K[j * nn + i] = v;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        double s = w->phi[i];
        for (int l = 1; l < L; l++) {
            const size_t h = m->dims[l];
            s += cblas_ddot((int)h, w->d[l] + i * h, 1, w->a[l] + i * h, 1);
        }
        c[i] = y[i] * s;
    }
}

static bool all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Allocates two n × n scratch matrices in one block. */
static kr_status scratch_alloc(size_t n, double **t)
{
    size_t nn;
    *t = NULL;
    if (!mul_ok(n, n, &nn) || nn > SIZE_MAX / (2 * sizeof(double)) ||
        !(*t = malloc(2 * nn * sizeof(double))))
        return KR_FAIL(KR_E_NOMEM, "kkt_gap: two %zu x %zu scratch matrices", n, n);
    return KR_OK;
}

kr_status kr_kkt_gap_gram(const kr_model *m, size_t n, const double *x, const double *y,
                          double *K, double *c, double *theta2)
{
    if (!m || !x || !y || !K || !c || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_gram: NULL argument or no samples");
    KR_TRY(check_model(m, n, "kr_kkt_gap_gram"));
    gap_work w;
    double *t = NULL;
    kr_status st;
    KR_TRY(work_alloc(m, n, x, &w));
    KR_TRY_GOTO(scratch_alloc(n, &t));
    forward_backward(m, &w);
    gram(m, &w, y, K, c, t, t + n * n);
    double th2 = theta_sq(m);
    if (!all_finite(K, n * n) || !all_finite(c, n) || !isfinite(th2)) {
        st = KR_FAIL(KR_E_NUMERIC, "kr_kkt_gap_gram: NaN/Inf in K or c (check θ, x and y)");
        goto fail;
    }
    if (theta2) *theta2 = th2;
    st = KR_OK;
fail:
    free(t);
    work_free(&w);
    return st;
}

/* g = Kλ − c exactly. */
static void exact_grad(size_t n, const double *K, const double *c, const double *lambda,
                       double *g)
{
    memcpy(g, c, n * sizeof *g);
    cblas_dsymv(CblasRowMajor, CblasUpper, (int)n, 1.0, K, (int)n, lambda, 1, -1.0, g, 1);
}

/* max_i of the projected gradient over live coordinates. */
static double violation(size_t n, const double *K, const double *lambda, const double *g)
{
    double v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(K[i * n + i] > 0)) continue;
        double vi = lambda[i] > 0 ? fabs(g[i]) : (g[i] < 0 ? -g[i] : 0.0);
        if (vi > v) v = vi;
    }
    return v;
}

/* Rank-revealing Cholesky with diagonal pivoting of the k × k symmetric PSD matrix M (full
 * storage, overwritten; on return its lower triangle holds L of P M Pᵀ = L Lᵀ in its first
 * `rank` columns), then z = a solution of M z = b with the components beyond the rank set to
 * 0 (a minimiser of ½zᵀMz − bᵀz when b is in the range of M, which holds for M = K_SS,
 * b = c_S). Pivots below rel · max diag end the factorisation. perm, y: k scratch. */
static void chol_solve(size_t k, double *M, const double *b, double rel, size_t *perm,
                       double *y, double *z)
{
    double dmax = 0;
    for (size_t i = 0; i < k; i++) {
        perm[i] = i;
        if (M[i * k + i] > dmax) dmax = M[i * k + i];
    }
    size_t rank = 0;
    for (size_t j = 0; j < k; j++) {
        size_t q = j;
        for (size_t i = j + 1; i < k; i++)
            if (M[i * k + i] > M[q * k + q]) q = i;
        if (!(M[q * k + q] > rel * dmax)) break;
        if (q != j) { /* symmetric swap of rows and columns j and q */
            for (size_t t = 0; t < k; t++) {
                double v = M[j * k + t];
                M[j * k + t] = M[q * k + t], M[q * k + t] = v;
            }
            for (size_t t = 0; t < k; t++) {
                double v = M[t * k + j];
                M[t * k + j] = M[t * k + q], M[t * k + q] = v;
            }
            size_t pt = perm[j];
            perm[j] = perm[q], perm[q] = pt;
        }
        const double d = sqrt(M[j * k + j]);
        M[j * k + j] = d;
        const size_t r = k - j - 1;
        for (size_t i = j + 1; i < k; i++) M[i * k + j] /= d;
        for (size_t i = j + 1; i < k; i++) M[j * k + i] = M[i * k + j]; /* keep M symmetric */
        if (r > 0) /* Schur complement: M[j+1:, j+1:] −= v vᵀ (full, so later swaps stay valid) */
            cblas_dger(CblasRowMajor, (int)r, (int)r, -1.0, M + (j + 1) * k + j, (int)k,
                       M + j * k + j + 1, 1, M + (j + 1) * k + j + 1, (int)k);
        rank++;
    }
    for (size_t i = 0; i < rank; i++) { /* L y = P b */
        double v = b[perm[i]];
        for (size_t t = 0; t < i; t++) v -= M[i * k + t] * y[t];
        y[i] = v / M[i * k + i];
    }
    for (size_t i = rank; i-- > 0;) { /* Lᵀ w = y, in place */
        double v = y[i];
        for (size_t t = i + 1; t < rank; t++) v -= M[t * k + i] * y[t];
        y[i] = v / M[i * k + i];
    }
    for (size_t i = 0; i < k; i++) z[i] = 0.0;
    for (size_t i = 0; i < rank; i++) z[perm[i]] = y[i];
}

/* f(λ) = ‖θ‖² − 2cᵀλ + λᵀKλ = ‖θ‖² − cᵀλ + λᵀg with g = Kλ − c exact. */
static double objective(size_t n, const double *c, double theta2, const double *lambda,
                        const double *g)
{
    double f = theta2;
    for (size_t i = 0; i < n; i++) f += lambda[i] * (g[i] - c[i]);
    return f;
}

/* Scratch of the face solve: M k × k, idx/perm k, b, y, z k (k <= n). */
typedef struct face_work {
    double *M, *b, *y, *z, *save;
    size_t *idx, *perm;
} face_work;

/* Minimises f on the face {λ_i = 0 off S}, S = the current support, moving from λ toward the
 * face minimiser z and stopping at the boundary if z is infeasible (the inner loop of
 * Lawson & Hanson 1974, repeated on the shrunken support until z >= 0). f decreases along
 * the way (convex on the segment, f(z) <= f(λ)); a step that rounding made worse is undone.
 * Leaves g exact. */
static void face_solve(size_t n, const double *K, const double *c, double theta2,
                       double *lambda, double *g, face_work *fw)
{
    memcpy(fw->save, lambda, n * sizeof *lambda);
    const double f0 = objective(n, c, theta2, lambda, g);
    for (size_t round = 0; round < n; round++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (lambda[i] > 0 && K[i * n + i] > 0) fw->idx[k++] = i;
        if (k == 0) break;
        for (size_t a = 0; a < k; a++) {
            fw->b[a] = c[fw->idx[a]];
            for (size_t e = 0; e < k; e++) fw->M[a * k + e] = K[fw->idx[a] * n + fw->idx[e]];
        }
        chol_solve(k, fw->M, fw->b, 1e-13, fw->perm, fw->y, fw->z);
        double t = 1.0;
        size_t hit = k;
        for (size_t a = 0; a < k; a++) {
            const double la = lambda[fw->idx[a]], za = fw->z[a];
            if (za <= 0 && la / (la - za) < t) t = la / (la - za), hit = a;
        }
        for (size_t a = 0; a < k; a++) {
            const size_t i = fw->idx[a];
            const double v = lambda[i] + t * (fw->z[a] - lambda[i]);
            lambda[i] = (a == hit || v < 0) ? 0.0 : v;
        }
        if (hit == k) break; /* z feasible: the face minimiser was reached */
    }
    exact_grad(n, K, c, lambda, g);
    if (!(objective(n, c, theta2, lambda, g) <= f0)) {
        memcpy(lambda, fw->save, n * sizeof *lambda);
        exact_grad(n, K, c, lambda, g);
    }
}

kr_status kr_kkt_gap_nnls(size_t n, const double *K, const double *c, double theta2, double tol,
                          long max_sweeps, double *lambda, kr_kkt_gap_result *res)
{
    if (!K || !c || !lambda || !res || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_nnls: NULL argument or n == 0");
    if (n > INT_MAX) return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_nnls: n = %zu is too large", n);
    if (!(tol >= 0) || max_sweeps < 1)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_nnls: tol %g, max_sweeps %ld", tol, max_sweeps);
    if (!isfinite(theta2) || !all_finite(K, n * n) || !all_finite(c, n))
        return KR_FAIL(KR_E_NUMERIC, "kr_kkt_gap_nnls: NaN/Inf in K, c or ‖θ‖²");
    if (!(theta2 > 0)) return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_nnls: ‖θ‖² = %g", theta2);
    for (size_t i = 0; i < n; i++)
        if (K[i * n + i] < 0)
            return KR_FAIL(KR_E_INVALID, "kr_kkt_gap_nnls: K[%zu][%zu] = %g < 0", i, i,
                           K[i * n + i]);
    kr_status st = KR_OK;
    double *g = malloc(n * sizeof *g);
    face_work fw = {0};
    if (!g || !(fw.M = malloc(n * n * sizeof *fw.M)) || !(fw.b = malloc(4 * n * sizeof *fw.b)) ||
        !(fw.idx = malloc(2 * n * sizeof *fw.idx))) {
        st = KR_FAIL(KR_E_NOMEM, "kr_kkt_gap_nnls: work space for n = %zu", n);
        goto fail;
    }
    fw.y = fw.b + n, fw.z = fw.b + 2 * n, fw.save = fw.b + 3 * n, fw.perm = fw.idx + n;

    memset(res, 0, sizeof *res);
    double cmax = 0;
    for (size_t i = 0; i < n; i++) {
        lambda[i] = 0.0;
        g[i] = -c[i];
        if (fabs(c[i]) > cmax) cmax = fabs(c[i]);
        if (!(K[i * n + i] > 0)) res->dead++;
    }
    const double thr = tol * cmax;
    long sweep = 0, stable = 0;
    bool converged = violation(n, K, lambda, g) <= thr;
    while (!converged && sweep < max_sweeps) {
        sweep++;
        bool changed = false; /* did the support change in this sweep? */
        for (size_t i = 0; i < n; i++) {
            const double kii = K[i * n + i];
            if (!(kii > 0)) continue;
            double v = lambda[i] - g[i] / kii;
            if (v < 0) v = 0.0;
            const double d = v - lambda[i];
            if (d == 0) continue;
            changed |= (v == 0) != (lambda[i] == 0);
            lambda[i] = v;
            cblas_daxpy((int)n, d, K + i * n, 1, g, 1); /* K is symmetric: row i = column i */
        }
        stable = changed ? 0 : stable + 1;
        if (sweep % KR_KKT_GAP_REFRESH == 0) exact_grad(n, K, c, lambda, g);
        if (violation(n, K, lambda, g) <= thr) {
            exact_grad(n, K, c, lambda, g);
            converged = violation(n, K, lambda, g) <= thr;
        }
        /* CD has settled on a support but crawls inside it (ill-conditioned or singular K_SS,
         * common: samples with one activation pattern have affinely dependent gradients):
         * solve on the face directly, then let CD check the rest. */
        if (!converged && stable >= KR_KKT_GAP_FACE_AFTER) {
            face_solve(n, K, c, theta2, lambda, g, &fw);
            res->face_solves++;
            stable = 0;
            converged = violation(n, K, lambda, g) <= thr;
        }
    }
    exact_grad(n, K, c, lambda, g);
    for (size_t i = 0; i < n; i++)
        if (lambda[i] > 0) res->support++;
    const double f = objective(n, c, theta2, lambda, g);
    res->theta_norm = sqrt(theta2);
    res->gap_objective = sqrt(f > 0 ? f : 0.0) / res->theta_norm;
    res->gap = res->gap_objective;
    res->sweeps = sweep;
    res->converged = converged;
    res->violation = cmax > 0 ? violation(n, K, lambda, g) / cmax : 0.0;
    res->n_tensors = 0;
fail:
    free(g);
    free(fw.M);
    free(fw.b);
    free(fw.idx);
    return st;
}

static double sumsq(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i] * v[i];
    return s;
}

/* r = θ − Σ λ_i J_i per tensor (see the derivation); res->per_tensor gets ‖r_p‖² / ‖θ‖² and
 * res->gap the norm. coef: n, = λ_i ỹ_i; s: n × max H_l scratch; r: max |W_l| scratch. */
static void residual(const kr_model *m, const gap_work *w, const double *coef, double *s,
                     double *r, kr_kkt_gap_result *res)
{
    const int L = m->layers, n = (int)w->n;
    const double th2 = res->theta_norm * res->theta_norm;
    double tot = 0;
    int p = 0;
    for (int l = 1; l <= L; l++) {
        const int h = (int)m->dims[l], hp = (int)m->dims[l - 1];
        double e;
        memcpy(r, m->w[l - 1], (size_t)h * (size_t)hp * sizeof *r);
        if (l == L) {
            cblas_dgemv(CblasRowMajor, CblasTrans, n, hp, -1.0, w->a[L - 1], hp, coef, 1, 1.0, r,
                        1);
            e = sumsq(r, (size_t)hp);
        } else {
            for (size_t i = 0; i < (size_t)n; i++)
                for (size_t j = 0; j < (size_t)h; j++)
                    s[i * (size_t)h + j] = w->d[l][i * (size_t)h + j] * coef[i];
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, hp, n, -1.0, s, h,
                        act(w, l - 1), hp, 1.0, r, hp);
            e = sumsq(r, (size_t)h * (size_t)hp);
        }
        const double t2 = sumsq(m->w[l - 1], (size_t)h * (size_t)hp);
        res->per_tensor_rel[p] = t2 > 0 ? sqrt(e / t2) : NAN;
        res->per_tensor[p++] = e / th2;
        tot += e;
        if (m->b[l - 1]) {
            double eb = 0;
            for (size_t j = 0; j < (size_t)h; j++) {
                double rb = m->b[l - 1][j];
                for (size_t i = 0; i < (size_t)n; i++)
                    rb -= l == L ? coef[i] : s[i * (size_t)h + j];
                eb += rb * rb;
            }
            const double tb = sumsq(m->b[l - 1], (size_t)h);
            res->per_tensor_rel[p] = tb > 0 ? sqrt(eb / tb) : NAN;
            res->per_tensor[p++] = eb / th2;
            tot += eb;
        }
    }
    res->n_tensors = p;
    res->gap = sqrt(tot) / res->theta_norm;
}

kr_status kr_kkt_gap(const kr_model *m, size_t n, const double *x, const double *y,
                     double *lambda, kr_kkt_gap_result *res)
{
    if (!m || !x || !y || !res || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_gap: NULL argument or no samples");
    KR_TRY(check_model(m, n, "kr_kkt_gap"));
    const int L = m->layers;
    size_t hmax = 1, wmax = 1;
    for (int l = 1; l <= L; l++) {
        if (l < L && m->dims[l] > hmax) hmax = m->dims[l];
        if (m->dims[l] * m->dims[l - 1] > wmax) wmax = m->dims[l] * m->dims[l - 1];
    }
    gap_work w;
    double *t = NULL, *K = NULL, *vec = NULL;
    kr_status st;
    KR_TRY(work_alloc(m, n, x, &w));
    size_t ns = 0;
    KR_TRY_GOTO(scratch_alloc(n, &t)); /* also checks that 2 n² doubles are addressable */
    const size_t nn = n * n;
    if (!mul_ok(n, hmax, &ns) || !(K = malloc(nn * sizeof *K)) ||
        !(vec = malloc((3 * n) * sizeof *vec))) {
        st = KR_FAIL(KR_E_NOMEM, "kr_kkt_gap: Gram matrix of %zu samples", n);
        goto fail;
    }
    double *c = vec, *lam = vec + n, *coef = vec + 2 * n;
    forward_backward(m, &w);
    gram(m, &w, y, K, c, t, t + nn);
    const double th2 = theta_sq(m);
    if (!all_finite(K, nn) || !all_finite(c, n) || !isfinite(th2)) {
        st = KR_FAIL(KR_E_NUMERIC, "kr_kkt_gap: NaN/Inf in K or c (check θ, x and y)");
        goto fail;
    }
    if (!(th2 > 0)) {
        st = KR_FAIL(KR_E_INVALID, "kr_kkt_gap: all parameters are zero (gap undefined)");
        goto fail;
    }
    /* The n × n scratch is no longer needed: release it before the solver's own. */
    free(t);
    t = NULL;
    KR_TRY_GOTO(kr_kkt_gap_nnls(n, K, c, th2, KR_KKT_GAP_TOL, KR_KKT_GAP_MAX_SWEEPS, lam, res));
    for (size_t i = 0; i < n; i++) coef[i] = lam[i] * y[i];
    if (ns > SIZE_MAX / sizeof(double) - wmax ||
        !(t = malloc((ns + wmax) * sizeof *t))) {
        st = KR_FAIL(KR_E_NOMEM, "kr_kkt_gap: residual scratch (%zu doubles)", ns + wmax);
        goto fail;
    }
    residual(m, &w, coef, t, t + ns, res);
    if (lambda) memcpy(lambda, lam, n * sizeof *lam);
    st = KR_OK;
fail:
    free(t);
    free(K);
    free(vec);
    work_free(&w);
    return st;
}
