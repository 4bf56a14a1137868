/* kkt_ref.c — float64 per-candidate reference of the KKT reconstruction loss and its
 * gradient in x and λ (DESIGN.md §3; multiclass, every bias and regression as Buzaglo et al.
 * 2023 and their code decoreco define them).
 *
 * What it does: evaluates L (see kkt_ref.h) and ∂L/∂x_i, ∂L/∂λ_i candidate by candidate
 * with vectors: one forward + one backward pass per candidate to build g, then, with the
 * residual fixed, one forward + backward + reverse-mode pass per candidate for the gradient.
 * What it does not: use the batched GEMM formulation of DESIGN §3.1 (kkt.c does; this file
 * is the independent reference it is compared with), subtract the mean image, or print.
 * Index conventions: 1-based layers as in DESIGN; m->w[l−1] holds W_l, row-major
 * dims[l] × dims[l−1]; m->b[l−1] holds b_l or is NULL; C = dims[L] outputs.
 *
 * ---------------------------------------------------------------------------------------
 * Derivation (per candidate, vectors only).
 *
 * One candidate x. Forward, l = 1..L:
 *   a_0 = x,  z_l = W_l a_{l−1} (+ b_l),  a_l = act(z_l), s_l = σ(α z_l) (l < L),  Φ = z_L.
 * The candidate's scalar is S = λ σᵀΦ̃ with a sign vector σ ∈ R^C that θ does not move:
 *   binary σ = (y), regression σ = (1), multiclass σ = e_y − e_{j*} with j* the runner-up
 *   argmax_{j≠y} Φ_j of this forward pass (ties to the lowest index).
 * The coefficient vector u = (λ/M) σ enters g = Σ_i ∇θ(u_iᵀ Φ̃(x_i)). Per-sample gradient
 * with every activation derivative replaced by s ("first backward"), for a vector u:
 *   δ_L = u;  for l = L−1..1:  t_l = W_{l+1}ᵀ δ_{l+1},  δ_l = t_l ⊙ s_l;
 *   ∇_{W_l}(uᵀΦ̃) = δ_l a_{l−1}ᵀ,  ∇_{b_l}(uᵀΦ̃) = δ_l   (l = 1..L).
 * Everything in this backward pass is linear in u.
 *
 * Gradient. With R_p = θ_p − g_p and E_p = ∂L/∂g_p = −2 R_p held fixed, and σ_i piecewise
 * constant in x_i (no gradient through the pick), g depends on x_i and λ_i only through
 * candidate i's term (λ_i/M) F_{σ_i}, where for a fixed vector v
 *   F_v(x) = Σ_p ⟨E_p, ∇θ_p(vᵀΦ̃(θ; x))⟩
 *          = Σ_{l=1}^{L} δ_lᵀ E_l a_{l−1} + Σ_{l with bias} e_{b_l}ᵀ δ_l   (backward with δ_L = v),
 * so  ∂L_kkt/∂λ_i = F_{σ_i}(x_i) / M  and  ∂L_kkt/∂x_i = (λ_i/M) ∇_x F_{σ_i}(x_i).
 * Reverse mode through that single-sample computation (bars are ∂F/∂·):
 *  (1) direct terms of F:
 *        δ̄_l  = E_l a_{l−1} (+ e_{b_l})      (l = 1..L−1)
 *        ā_{l−1} = E_lᵀ δ_l                  (l = 1..L; δ_L = v)
 *  (2) backward pass in reverse order, l = 1..L−1 (δ_l was computed from δ_{l+1}, so
 *      δ̄_{l+1} is complete only after layer l has been handled):
 *        from δ_l = t_l ⊙ s_l:        t̄_l = δ̄_l ⊙ s_l,   s̄_l = δ̄_l ⊙ t_l
 *        from t_l = W_{l+1}ᵀ δ_{l+1}: δ̄_{l+1} += W_{l+1} t̄_l   (for l + 1 < L; δ_L = v
 *                                      is a constant, its adjoint is not needed)
 *  (3) forward pass in reverse order, l = L−1..1 (ā_l is complete once layer l+1 is done):
 *        from a_l = act(z_l), s_l = σ(α z_l), with act' := s (the paper's rule; exact for
 *        softplus) and σ' = α s (1 − s):
 *          z̄_l = ā_l ⊙ s_l + s̄_l ⊙ α s_l ⊙ (1 − s_l)
 *        from z_l = W_l a_{l−1} (+ b_l):  ā_{l−1} += W_lᵀ z̄_l
 *  (4) ∇_x F = ā_0.
 * Finally ∂L/∂x_i = (λ_i/M) ā_0 + 2 relu(x_i − 1) − 2 relu(−1 − x_i) (element-wise) and
 * ∂L/∂λ_i = F_{σ_i}(x_i)/M − 10 relu(λ_min − λ_i) (no λ_min term in regression).
 * Cost per candidate: each step touches every weight a constant number of times.
 * ---------------------------------------------------------------------------------------
 */
#include "ref/kkt_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Work vectors for one candidate; index l = 1..L−1 is a hidden layer with dims[l] units
 * (index 0 unused except abar[0], which has D entries); index L holds Φ (phi) and σ (sig). */
typedef struct kkt_work {
    double *block;
    const double *x;             /* a_0, D (the caller's row, not owned) */
    double *a[KR_MAX_LAYERS];    /* a_l = act(z_l), dims[l] */
    double *s[KR_MAX_LAYERS];    /* s_l = σ(α z_l), dims[l] */
    double *t[KR_MAX_LAYERS];    /* t_l = W_{l+1}ᵀ δ_{l+1}, dims[l] */
    double *d[KR_MAX_LAYERS];    /* δ_l = t_l ⊙ s_l, dims[l] */
    double *dbar[KR_MAX_LAYERS]; /* ∂F/∂δ_l, dims[l] */
    double *sbar[KR_MAX_LAYERS]; /* ∂F/∂s_l, dims[l] */
    double *abar[KR_MAX_LAYERS]; /* ∂F/∂a_l, dims[l] (abar[0]: D) */
    double *phi;                 /* Φ, C */
    double *sig;                 /* σ of the current candidate, C */
    double *u;                   /* δ_L of the current backward pass, C */
    /* g_l, then overwritten with E_l = −2 (W_l − g_l); dims[l] × dims[l−1] (index l−1). */
    double *e[KR_MAX_LAYERS];
    /* g_{b_l} then e_{b_l} = −2 (b_l − g_{b_l}), dims[l] (index l−1); NULL without b_l */
    double *eb[KR_MAX_LAYERS];
} kkt_work;

static kr_status work_alloc(const kr_model *m, kkt_work *w)
{
    const int L = m->layers;
    size_t total = m->dims[0] + 3 * m->dims[L];
    for (int l = 1; l < L; l++) total += 7 * m->dims[l];
    for (int l = 0; l < L; l++)
        total += m->dims[l] * m->dims[l + 1] + (m->b[l] ? m->dims[l + 1] : 0);
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
    w->phi = p, p += m->dims[L];
    w->sig = p, p += m->dims[L];
    w->u = p, p += m->dims[L];
    for (int l = 0; l < L; l++) {
        w->e[l] = p, p += m->dims[l] * m->dims[l + 1];
        if (m->b[l]) w->eb[l] = p, p += m->dims[l + 1];
    }
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

/* Forward pass for one candidate x (D): fills a, s for l = 1..L−1 and Φ (z_l is not kept). */
static void forward_one(const kr_model *m, const kr_kkt_opts *o, const double *x, kkt_work *w)
{
    const int L = m->layers;
    w->x = x;
    for (int l = 1; l <= L; l++) {
        const double *W = m->w[l - 1]; /* dims[l] × dims[l−1] */
        const double *b = m->b[l - 1];
        const double *in = act_in(w, l - 1);
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double v = b ? b[j] : 0.0;
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) v += wr[k] * in[k];
            if (l == L) {
                w->phi[j] = v;
                continue;
            }
            w->a[l][j] = o->act == KR_ACT_SOFTPLUS ? softplus(v, o->alpha) : (v > 0.0 ? v : 0.0);
            w->s[l][j] = sigmoid(o->alpha * v);
        }
    }
}

/* σ of the candidate whose forward pass is in w (label yi; objective resolved). */
static void signs_one(kr_objective obj, size_t C, double yi, kkt_work *w)
{
    memset(w->sig, 0, C * sizeof(double));
    if (obj == KR_OBJ_BINARY) {
        w->sig[0] = yi;
    } else if (obj == KR_OBJ_REGRESSION) {
        w->sig[0] = 1.0;
    } else {
        const size_t y = (size_t)yi;
        size_t best = C; /* runner-up: the first strictly largest among j != y */
        for (size_t j = 0; j < C; j++)
            if (j != y && (best == C || w->phi[j] > w->phi[best])) best = j;
        w->sig[y] = 1.0;
        w->sig[best] = -1.0;
    }
}

/* First backward pass with δ_L = w->u: fills t_l and δ_l for l = L−1..1. */
static void backward_one(const kr_model *m, kkt_work *w)
{
    const int L = m->layers;
    for (int l = L - 1; l >= 1; l--) {
        const double *W = m->w[l];     /* W_{l+1}: dims[l+1] × dims[l] */
        const double *dn = l == L - 1 ? w->u : w->d[l + 1];
        size_t rows = m->dims[l + 1], cols = m->dims[l];
        double *t = w->t[l];
        memset(t, 0, cols * sizeof(double));
        for (size_t j = 0; j < rows; j++) {
            double dj = dn[j];
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) t[k] += wr[k] * dj;
        }
        for (size_t k = 0; k < cols; k++) w->d[l][k] = t[k] * w->s[l][k];
    }
}

/* δ_l of the last backward pass (l = L: u). */
static const double *delta(const kkt_work *w, int l, int L) { return l == L ? w->u : w->d[l]; }

/* g += ∇θ(uᵀΦ̃(x)) for the candidate whose forward/backward (with δ_L = u) is in w. */
static void accumulate_g(const kr_model *m, kkt_work *w)
{
    const int L = m->layers;
    for (int l = 1; l <= L; l++) {
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        const double *in = act_in(w, l - 1), *dl = delta(w, l, L);
        double *g = w->e[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double *gr = g + j * cols;
            for (size_t k = 0; k < cols; k++) gr[k] += dl[j] * in[k];
        }
        if (w->eb[l - 1])
            for (size_t j = 0; j < rows; j++) w->eb[l - 1][j] += dl[j];
    }
}

/* Reverse mode for F_u(x) = Σ_p ⟨E_p, ∇θ_p(uᵀΦ̃(x))⟩ (derivation at the top). The forward pass
 * and the backward pass with δ_L = u must be in w. Returns F; leaves ∇_x F in w->abar[0]. */
static double reverse_one(const kr_model *m, const kr_kkt_opts *o, kkt_work *w)
{
    const int L = m->layers;
    double f = 0.0;
    /* (1) direct terms: δ̄_l = E_l a_{l−1} (+ e_{b_l}), ā_{l−1} = E_lᵀ δ_l, f += δ_l·δ̄_l. */
    for (int l = 1; l <= L; l++) {
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        const double *E = w->e[l - 1]; /* dims[l] × dims[l−1] */
        const double *in = act_in(w, l - 1), *dl = delta(w, l, L);
        double *ab = w->abar[l - 1];
        memset(ab, 0, cols * sizeof(double));
        for (size_t j = 0; j < rows; j++) {
            double dj = dl[j];
            const double *er = E + j * cols;
            double u = w->eb[l - 1] ? w->eb[l - 1][j] : 0.0;
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
    if (!m || !o || !x || !lambda || !loss || mc == 0)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: NULL argument or no candidates");
    if (!(o->alpha > 0.0) || !isfinite(o->alpha))
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: alpha must be finite and > 0, got %g",
                       o->alpha);
    if (o->act != KR_ACT_RELU && o->act != KR_ACT_SOFTPLUS)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: unknown activation %d", (int)o->act);
    const int L = m->layers;
    const size_t D = m->dims[0], C = m->dims[L];
    const kr_objective obj = kr_objective_resolve(o->objective, C);
    if (obj == KR_OBJ_AUTO)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: objective %d does not fit %zu outputs",
                       (int)o->objective, C);
    if (!y && obj != KR_OBJ_REGRESSION)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: the %s objective needs labels",
                       kr_objective_name(obj));
    for (size_t i = 0; obj == KR_OBJ_MULTICLASS && i < mc; i++)
        if (!(y[i] >= 0.0 && y[i] < (double)C && y[i] == floor(y[i])))
            return KR_FAIL(KR_E_INVALID, "kr_kkt_ref_eval: label %g of candidate %zu is not a "
                           "class 0..%zu", y[i], i, C - 1);
    kkt_work w;
    KR_TRY(work_alloc(m, &w));
    const double inv_m = 1.0 / (double)mc;

    /* Pass 1: g = Σ_i ∇θ(u_iᵀΦ̃(x_i)), u_i = (λ_i/M) σ_i, accumulated in w.e / w.eb. */
    for (size_t i = 0; i < mc; i++) {
        forward_one(m, o, x + i * D, &w);
        signs_one(obj, C, y ? y[i] : 0.0, &w);
        for (size_t j = 0; j < C; j++) w.u[j] = lambda[i] * inv_m * w.sig[j];
        backward_one(m, &w);
        accumulate_g(m, &w);
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
        if (m->b[l]) {
            double sb = 0.0;
            for (size_t j = 0; j < m->dims[l + 1]; j++) {
                double r = m->b[l][j] - w.eb[l][j];
                sb += r * r;
                w.eb[l][j] = -2.0 * r;
            }
            loss->kkt_per_tensor[p++] = sb;
        }
    }
    loss->n_tensors = p;
    for (int q = 0; q < p; q++) loss->kkt += loss->kkt_per_tensor[q];

    /* Box prior and dual feasibility (none in regression). */
    for (size_t q = 0; q < mc * D; q++) {
        double hi = x[q] - 1.0, lo = -1.0 - x[q];
        if (hi > 0.0) loss->prior += hi * hi;
        if (lo > 0.0) loss->prior += lo * lo;
        if (grad_x) grad_x[q] = 2.0 * (hi > 0.0 ? hi : 0.0) - 2.0 * (lo > 0.0 ? lo : 0.0);
    }
    for (size_t i = 0; i < mc; i++) {
        double v = o->lambda_min - lambda[i];
        double r = v > 0.0 && obj != KR_OBJ_REGRESSION ? v : 0.0;
        loss->lambda += 5.0 * r * r;
        if (grad_lambda) grad_lambda[i] = -10.0 * r;
    }
    loss->total = loss->kkt + loss->prior + loss->lambda;

    /* Pass 2: per-candidate reverse mode with E fixed, δ_L = σ_i. */
    if (grad_x || grad_lambda) {
        for (size_t i = 0; i < mc; i++) {
            forward_one(m, o, x + i * D, &w);
            signs_one(obj, C, y ? y[i] : 0.0, &w);
            memcpy(w.u, w.sig, C * sizeof(double));
            backward_one(m, &w);
            double f = reverse_one(m, o, &w);
            if (grad_lambda) grad_lambda[i] += inv_m * f;
            if (grad_x) {
                double *gx = grad_x + i * D, c = lambda[i] * inv_m;
                for (size_t k = 0; k < D; k++) gx[k] += c * w.abar[0][k];
            }
        }
    }
    free(w.block);
    if (!isfinite(loss->total))
        return KR_FAIL(KR_E_NUMERIC, "kr_kkt_ref_eval: loss is not finite (%g)", loss->total);
    return KR_OK;
}
