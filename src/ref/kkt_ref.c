/* kkt_ref.c — float64 per-candidate reference of the KKT reconstruction loss and its
 * gradient in x and λ (DESIGN.md §3).
 *
 * What it does: evaluates L (see kkt_ref.h) and ∂L/∂x_i, ∂L/∂λ_i candidate by candidate
 * with vectors: one forward + one backward pass per candidate to build g, then, with the
 * residual fixed, one forward + backward + reverse-mode pass per candidate for the gradient.
 * What it does not: use the batched GEMM formulation of DESIGN §3.1 (kkt.c does; this file
 * is the independent reference it is compared with), subtract the mean image, or print.
 * Index conventions: 1-based layers as in DESIGN; m->w[l−1] holds W_l, row-major
 * dims[l] × dims[l−1]; W_L is the row vector w_L (1 × H_{L−1}).
 *
 * ---------------------------------------------------------------------------------------
 * Derivation (per candidate, vectors only).
 *
 * One candidate x with coefficient c. Forward, l = 1..L−1:
 *   a_0 = x,  z_l = W_l a_{l−1} (+ b_1 if l = 1),  a_l = act(z_l),  s_l = σ(α z_l).
 * Per-sample gradient of Φ̃ with every activation derivative replaced by s, scaled by c
 * ("first backward"):
 *   δ_L = c (a scalar);  for l = L−1..1:  t_l = W_{l+1}ᵀ δ_{l+1},  δ_l = t_l ⊙ s_l;
 *   c ∇_{W_l} Φ̃ = δ_l a_{l−1}ᵀ (l = 1..L, with δ_L = c),  c ∇_{b_1} Φ̃ = δ_1.
 * Summing over candidates gives g. Everything in this backward pass is linear in c.
 *
 * Gradient. With R_p = θ_p − g_p and E_p = ∂L/∂g_p = −2 R_p held fixed, g_p depends on x_i
 * and λ_i only through candidate i's term, so
 *   ∂L_kkt/∂x_i = c_i ∇_x f(x_i),   ∂L_kkt/∂c_i = f(x_i),   ∂L_kkt/∂λ_i = (y_i/M) f(x_i),
 * with f(x) = Σ_p ⟨E_p, ∇θ_p Φ̃(θ; x)⟩, i.e. the backward pass above run with δ_L = 1:
 *   f = Σ_{l=1}^{L−1} δ_lᵀ E_l a_{l−1}  +  E_L a_{L−1}  +  e_bᵀ δ_1.
 * Reverse mode through that single-sample computation (bars are ∂f/∂·):
 *  (1) direct terms of f:
 *        δ̄_l  = E_l a_{l−1}          (l = 1..L−1; plus e_b for l = 1)
 *        ā_{l−1} = E_lᵀ δ_l          (l = 1..L−1),   ā_{L−1} += E_Lᵀ (δ_L = 1)
 *  (2) backward pass in reverse order, l = 1..L−1 (δ_l was computed from δ_{l+1}, so
 *      δ̄_{l+1} is complete only after layer l has been handled):
 *        from δ_l = t_l ⊙ s_l:        t̄_l = δ̄_l ⊙ s_l,   s̄_l = δ̄_l ⊙ t_l
 *        from t_l = W_{l+1}ᵀ δ_{l+1}: δ̄_{l+1} += W_{l+1} t̄_l   (for l + 1 < L; δ_L = 1
 *                                      is a constant, its adjoint is not needed)
 *  (3) forward pass in reverse order, l = L−1..1 (ā_l is complete once layer l+1 is done):
 *        from a_l = act(z_l), s_l = σ(α z_l), with act' := s (the paper's rule; exact for
 *        softplus) and σ' = α s (1 − s):
 *          z̄_l = ā_l ⊙ s_l + s̄_l ⊙ α s_l ⊙ (1 − s_l)
 *        from z_l = W_l a_{l−1} (+ b_1):  ā_{l−1} += W_lᵀ z̄_l
 *  (4) ∇_x f = ā_0.
 * Finally ∂L/∂x_i = c_i ā_0 + 2 relu(x_i − 1) − 2 relu(−1 − x_i) (element-wise) and
 * ∂L/∂λ_i = (y_i/M) f(x_i) − 10 relu(λ_min − λ_i).
 * Cost per candidate: each step touches every weight a constant number of times.
 * ---------------------------------------------------------------------------------------
 */
#include "ref/kkt_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Work vectors for one candidate; index l = 1..L−1 is a hidden layer with dims[l] units
 * (index 0 unused except abar[0], which has D entries). */
typedef struct kkt_work {
    double *block;
    const double *x;             /* a_0, D (the caller's row, not owned) */
    double *a[KR_MAX_LAYERS];    /* a_l = act(z_l), dims[l] */
    double *s[KR_MAX_LAYERS];    /* s_l = σ(α z_l), dims[l] */
    double *t[KR_MAX_LAYERS];    /* t_l = W_{l+1}ᵀ δ_{l+1}, dims[l] */
    double *d[KR_MAX_LAYERS];    /* δ_l = t_l ⊙ s_l, dims[l] */
    double *dbar[KR_MAX_LAYERS]; /* ∂f/∂δ_l, dims[l] */
    double *sbar[KR_MAX_LAYERS]; /* ∂f/∂s_l, dims[l] */
    double *abar[KR_MAX_LAYERS]; /* ∂f/∂a_l, dims[l] (abar[0]: D) */
    /* g_l, then overwritten with E_l = −2 (W_l − g_l); dims[l] × dims[l−1] (index l−1). */
    double *e[KR_MAX_LAYERS];
    double *eb;                  /* g_b then e_b = −2 (b_1 − g_b), dims[1]; NULL without b_1 */
} kkt_work;

static kr_status work_alloc(const kr_model *m, kkt_work *w)
{
    const int L = m->layers;
    size_t total = m->dims[0] + (m->b1 ? m->dims[1] : 0);
    for (int l = 1; l < L; l++) total += 7 * m->dims[l];
    for (int l = 0; l < L; l++) total += m->dims[l] * m->dims[l + 1];
    memset(w, 0, sizeof *w);
    w->block = calloc(total, sizeof(double));
    if (!w->block) return KR_FAIL(KR_E_NOMEM, "allocating KKT reference work (%zu doubles)", total);
    double *p = w->block;
    w->abar[0] = p, p += m->dims[0];
    for (int l = 1; l < L; l++) {
        size_t h = m->dims[l];
        w->a[l] = p, p += h;
        w->s[l] = p, p += h;
        w->t[l] = p, p += h;
        w->d[l] = p, p += h;
        w->dbar[l] = p, p += h;
        w->sbar[l] = p, p += h;
        w->abar[l] = p, p += h;
    }
    for (int l = 0; l < L; l++) w->e[l] = p, p += m->dims[l] * m->dims[l + 1];
    if (m->b1) w->eb = p;
    return KR_OK;
}

/* a_l for l = 0..L−1. */
static const double *act_in(const kkt_work *w, int l) { return l == 0 ? w->x : w->a[l]; }

/* σ(t) without overflow for any t. */
static double sigmoid(double t)
{
    if (t >= 0.0) return 1.0 / (1.0 + exp(-t));
    double e = exp(t);
    return e / (1.0 + e);
}

/* log(1 + e^{αz}) / α without overflow: max(αz, 0) + log1p(e^{−|αz|}). */
static double softplus(double z, double alpha)
{
    double u = alpha * z;
    return ((u > 0.0 ? u : 0.0) + log1p(exp(-fabs(u)))) / alpha;
}

/* Forward pass for one candidate x (D): fills a, s for l = 1..L−1 (z_l is not kept). */
static void forward_one(const kr_model *m, const kr_kkt_opts *o, const double *x, kkt_work *w)
{
    w->x = x;
    for (int l = 1; l < m->layers; l++) {
        const double *W = m->w[l - 1]; /* dims[l] × dims[l−1] */
        const double *in = act_in(w, l - 1);
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double v = (l == 1 && m->b1) ? m->b1[j] : 0.0;
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) v += wr[k] * in[k];
            w->a[l][j] = o->act == KR_ACT_SOFTPLUS ? softplus(v, o->alpha) : (v > 0.0 ? v : 0.0);
            w->s[l][j] = sigmoid(o->alpha * v);
        }
    }
}

/* First backward pass with δ_L = c: fills t_l and δ_l for l = L−1..1. */
static void backward_one(const kr_model *m, double c, kkt_work *w)
{
    const int L = m->layers;
    for (int l = L - 1; l >= 1; l--) {
        const double *W = m->w[l];     /* W_{l+1}: dims[l+1] × dims[l] */
        size_t rows = m->dims[l + 1], cols = m->dims[l];
        double *t = w->t[l];
        if (l == L - 1) {
            for (size_t k = 0; k < cols; k++) t[k] = W[k] * c;
        } else {
            memset(t, 0, cols * sizeof(double));
            for (size_t j = 0; j < rows; j++) {
                double dj = w->d[l + 1][j];
                const double *wr = W + j * cols;
                for (size_t k = 0; k < cols; k++) t[k] += wr[k] * dj;
            }
        }
        for (size_t k = 0; k < cols; k++) w->d[l][k] = t[k] * w->s[l][k];
    }
}

/* g += c ∇θ Φ̃(x) for the candidate whose forward/backward (with δ_L = c) is in w. */
static void accumulate_g(const kr_model *m, double c, kkt_work *w)
{
    const int L = m->layers;
    for (int l = 1; l <= L; l++) {
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        const double *in = act_in(w, l - 1);
        double *g = w->e[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double dj = l == L ? c : w->d[l][j];
            double *gr = g + j * cols;
            for (size_t k = 0; k < cols; k++) gr[k] += dj * in[k];
        }
    }
    if (w->eb)
        for (size_t j = 0; j < m->dims[1]; j++) w->eb[j] += w->d[1][j];
}

/* Reverse mode for f(x) = Σ_p ⟨E_p, ∇θ_p Φ̃(x)⟩ (derivation at the top). The forward pass
 * and the backward pass with δ_L = 1 must be in w. Returns f; leaves ∇_x f in w->abar[0]. */
static double reverse_one(const kr_model *m, const kr_kkt_opts *o, kkt_work *w)
{
    const int L = m->layers;
    double f = 0.0;
    /* (1) direct terms: δ̄_l = E_l a_{l−1} (+ e_b), ā_{l−1} = E_lᵀ δ_l, f += δ_l·δ̄_l. */
    for (int l = 1; l <= L; l++) {
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        const double *E = w->e[l - 1]; /* dims[l] × dims[l−1] */
        const double *in = act_in(w, l - 1);
        double *ab = w->abar[l - 1];
        memset(ab, 0, cols * sizeof(double));
        for (size_t j = 0; j < rows; j++) {
            double dj = l == L ? 1.0 : w->d[l][j];
            const double *er = E + j * cols;
            double u = (l == 1 && w->eb) ? w->eb[j] : 0.0;
            for (size_t k = 0; k < cols; k++) {
                u += er[k] * in[k];
                ab[k] += er[k] * dj;
            }
            f += dj * u;
            if (l < L) w->dbar[l][j] = u;
        }
    }
    /* (2) the backward pass in reverse: l = 1..L−1. */
    for (int l = 1; l < L; l++) {
        size_t h = m->dims[l];
        double *db = w->dbar[l];
        for (size_t k = 0; k < h; k++) {
            w->sbar[l][k] = db[k] * w->t[l][k];
            db[k] *= w->s[l][k]; /* db now holds t̄_l */
        }
        if (l + 1 < L) { /* δ̄_{l+1} += W_{l+1} t̄_l */
            const double *W = m->w[l]; /* dims[l+1] × dims[l] */
            for (size_t j = 0; j < m->dims[l + 1]; j++) {
                const double *wr = W + j * h;
                double v = 0.0;
                for (size_t k = 0; k < h; k++) v += wr[k] * db[k];
                w->dbar[l + 1][j] += v;
            }
        }
    }
    /* (3) the forward pass in reverse: l = L−1..1. */
    for (int l = L - 1; l >= 1; l--) {
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        double *zb = w->sbar[l]; /* reused for z̄_l */
        for (size_t j = 0; j < rows; j++) {
            double s = w->s[l][j];
            zb[j] = w->abar[l][j] * s + zb[j] * o->alpha * s * (1.0 - s);
        }
        const double *W = m->w[l - 1]; /* dims[l] × dims[l−1] */
        double *ab = w->abar[l - 1];
        for (size_t j = 0; j < rows; j++) {
            if (zb[j] == 0.0) continue;
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) ab[k] += wr[k] * zb[j];
        }
    }
    return f;
}

kr_status kr_kkt_ref_eval(const kr_model *m, const kr_kkt_opts *o, size_t mc, const double *x,
                          const double *lambda, const double *y, kr_kkt_loss *loss,
                          double *grad_x, double *grad_lambda)
{
    if (!m || !o || !x || !lambda || !y || !loss || mc == 0)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: NULL argument or no candidates");
    if (!(o->alpha > 0.0) || !isfinite(o->alpha))
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: alpha must be finite and > 0, got %g",
                       o->alpha);
    if (o->act != KR_ACT_RELU && o->act != KR_ACT_SOFTPLUS)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: unknown activation %d", (int)o->act);
    kkt_work w;
    KR_TRY(work_alloc(m, &w));
    const int L = m->layers;
    const size_t D = m->dims[0];
    const double inv_m = 1.0 / (double)mc;

    /* Pass 1: g = Σ_i c_i ∇θ Φ̃(x_i), accumulated in w.e / w.eb (zeroed by calloc). */
    for (size_t i = 0; i < mc; i++) {
        double c = lambda[i] * y[i] * inv_m;
        forward_one(m, o, x + i * D, &w);
        backward_one(m, c, &w);
        accumulate_g(m, c, &w);
    }

    /* Residuals R_p = θ_p − g_p, their squared norms, and E_p = −2 R_p (in place). */
    memset(loss, 0, sizeof *loss);
    int p = 0;
    for (int l = 0; l < L; l++) {
        size_t cnt = m->dims[l] * m->dims[l + 1];
        double ss = 0.0;
        for (size_t q = 0; q < cnt; q++) {
            double r = m->w[l][q] - w.e[l][q];
            ss += r * r;
            w.e[l][q] = -2.0 * r;
        }
        loss->kkt_per_tensor[p++] = ss;
        if (l == 0 && m->b1) {
            double sb = 0.0;
            for (size_t j = 0; j < m->dims[1]; j++) {
                double r = m->b1[j] - w.eb[j];
                sb += r * r;
                w.eb[j] = -2.0 * r;
            }
            loss->kkt_per_tensor[p++] = sb;
        }
    }
    loss->n_tensors = p;
    for (int q = 0; q < p; q++) loss->kkt += loss->kkt_per_tensor[q];

    /* Box prior and dual feasibility. */
    for (size_t q = 0; q < mc * D; q++) {
        double hi = x[q] - 1.0, lo = -1.0 - x[q];
        if (hi > 0.0) loss->prior += hi * hi;
        if (lo > 0.0) loss->prior += lo * lo;
        if (grad_x) grad_x[q] = 2.0 * (hi > 0.0 ? hi : 0.0) - 2.0 * (lo > 0.0 ? lo : 0.0);
    }
    for (size_t i = 0; i < mc; i++) {
        double v = o->lambda_min - lambda[i];
        double r = v > 0.0 ? v : 0.0;
        loss->lambda += 5.0 * r * r;
        if (grad_lambda) grad_lambda[i] = -10.0 * r;
    }
    loss->total = loss->kkt + loss->prior + loss->lambda;

    /* Pass 2: per-candidate reverse mode with E fixed. */
    if (grad_x || grad_lambda) {
        for (size_t i = 0; i < mc; i++) {
            double c = lambda[i] * y[i] * inv_m;
            forward_one(m, o, x + i * D, &w);
            backward_one(m, 1.0, &w);
            double f = reverse_one(m, o, &w);
            if (grad_lambda) grad_lambda[i] += y[i] * inv_m * f;
            if (grad_x) {
                double *gx = grad_x + i * D;
                for (size_t k = 0; k < D; k++) gx[k] += c * w.abar[0][k];
            }
        }
    }
    free(w.block);
    if (!isfinite(loss->total))
        return KR_FAIL(KR_E_NUMERIC, "kr_kkt_ref_eval: loss is not finite (%g)", loss->total);
    return KR_OK;
}
