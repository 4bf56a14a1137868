/* mlp_ref.c — float64 per-sample reference of the MLP's forward pass, training losses,
 * gradient and gradient-descent step (DESIGN.md §2; Buzaglo et al. 2023 for C outputs, every
 * bias, cross-entropy, MSE, Huber and weight decay).
 *
 * What it does: for one sample x (D), with 1-based layers l = 1..L as in DESIGN.md,
 *   a_0 = x,  z_l = W_l a_{l−1} (+ b_l),  a_l = relu(z_l)   (l = 1..L−1),
 *   Φ = W_L a_{L−1} (+ b_L)   (C outputs).
 * Per-sample loss ℓ(Φ, y) and g = dℓ/dΦ (C values):
 *   logistic  ℓ = log(1 + e^{−yΦ}),          g = −y σ(−yΦ)
 *   CE        ℓ = logsumexp(Φ) − Φ_y,         g_j = softmax(Φ)_j − [j = y]
 *   MSE       ℓ = (Φ − y)²,                   g = 2 (Φ − y)
 *   Huber     ℓ = ½r² (|r| <= 1), |r| − ½,    g = r (|r| <= 1), sign(r)      (r = Φ − y)
 * Backward (chain rule, ReLU derivative [z > 0]) with δ_L = g / n:
 *   ∂/∂W_l += δ_l a_{l−1}ᵀ,  ∂/∂b_l += δ_l,  δ_{l−1} = (W_lᵀ δ_l) ⊙ [z_{l−1} > 0].
 * Weight decay adds (wd/2)‖θ_p‖² to the loss and wd θ_p to every gradient tensor.
 *
 * What it does not: batch samples into matrix products (that is mlp.c's job; this file is
 * the independent reference it is compared with), subtract the mean image, or print.
 * Array index conventions: m->w[l−1] holds W_l, row-major dims[l] × dims[l−1]; m->b[l−1] b_l.
 */
#include "ref/mlp_ref.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per-layer work vectors for one sample. z[l], a[l], d[l] for l = 1..L have dims[l]
 * entries (index 0 unused; z[L] holds Φ, d[L] dℓ/dΦ); x is the current sample a_0. */
typedef struct mlp_work {
    double *block;
    const double *x;              /* a_0, D */
    double *z[KR_MAX_LAYERS + 1]; /* pre-activations z_l, dims[l] */
    double *a[KR_MAX_LAYERS + 1]; /* activations a_l, dims[l] */
    double *d[KR_MAX_LAYERS + 1]; /* backward vectors δ_l, dims[l] */
} mlp_work;

/* a_l for l = 0..L−1. */
static const double *act_in(const mlp_work *w, int l) { return l == 0 ? w->x : w->a[l]; }

static kr_status work_alloc(const kr_model *m, mlp_work *w)
{
    size_t total = 0;
    for (int l = 1; l <= m->layers; l++) total += 3 * m->dims[l];
    memset(w, 0, sizeof *w);
    w->block = malloc(total * sizeof(double));
    if (!w->block) return KR_FAIL(KR_E_NOMEM, "allocating MLP reference work vectors");
    double *p = w->block;
    for (int l = 1; l <= m->layers; l++) {
        w->z[l] = p, p += m->dims[l];
        w->a[l] = p, p += m->dims[l];
        w->d[l] = p, p += m->dims[l];
    }
    return KR_OK;
}

/* Forward for one sample x (D); fills w->z, w->a (l < L) and Φ = w->z[L]. */
static void forward_one(const kr_model *m, const double *x, mlp_work *w)
{
    const int L = m->layers;
    w->x = x;
    for (int l = 1; l <= L; l++) {
        const double *W = m->w[l - 1]; /* dims[l] × dims[l−1] */
        const double *b = m->b[l - 1];
        const double *in = act_in(w, l - 1);
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double s = b ? b[j] : 0.0;
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) s += wr[k] * in[k];
            w->z[l][j] = s;
            if (l < L) w->a[l][j] = s > 0.0 ? s : 0.0;
        }
    }
}

/* log(1 + e^t) without overflow or loss of precision for large |t|. */
static double log1pexp(double t) { return t > 0.0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* σ(t) = 1 / (1 + e^{−t}) without overflow. */
static double sigmoid(double t)
{
    if (t >= 0.0) return 1.0 / (1.0 + exp(-t));
    double e = exp(t);
    return e / (1.0 + e);
}

static bool same_shape(const kr_model *a, const kr_model *b)
{
    if (a->layers != b->layers) return false;
    for (int l = 0; l <= a->layers; l++)
        if (a->dims[l] != b->dims[l]) return false;
    for (int l = 0; l < a->layers; l++)
        if ((a->b[l] == NULL) != (b->b[l] == NULL)) return false;
    return true;
}

kr_status kr_mlp_ref_forward(const kr_model *m, size_t n, const double *x, double *phi)
{
    if (!m || !x || !phi || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_forward: NULL argument or n == 0");
    mlp_work w;
    KR_TRY(work_alloc(m, &w));
    const size_t D = m->dims[0], C = m->dims[m->layers];
    for (size_t i = 0; i < n; i++) {
        forward_one(m, x + i * D, &w);
        memcpy(phi + i * C, w.z[m->layers], C * sizeof *phi);
    }
    free(w.block);
    return KR_OK;
}

/* ℓ(Φ, y) of one sample, g = dℓ/dΦ (C values) and whether it counts as an error. */
static double sample_loss(kr_loss kind, const double *phi, size_t C, double y, double *g,
                          bool *err)
{
    switch (kind) {
    case KR_LOSS_LOGISTIC: {
        double margin = y * phi[0];
        *err = margin <= 0.0;
        g[0] = -y * sigmoid(-margin);
        return log1pexp(-margin);
    }
    case KR_LOSS_CE: {
        size_t c = (size_t)y;
        double mx = -INFINITY, other = -INFINITY;
        for (size_t j = 0; j < C; j++) {
            mx = fmax(mx, phi[j]);
            if (j != c) other = fmax(other, phi[j]);
        }
        *err = phi[c] <= other;
        double se = 0.0;
        for (size_t j = 0; j < C; j++) se += exp(phi[j] - mx);
        for (size_t j = 0; j < C; j++) g[j] = exp(phi[j] - mx) / se - (j == c ? 1.0 : 0.0);
        if (phi[c] < mx) return mx + log(se) - phi[c];
        /* the class leads: log1p of the others, no cancellation of a tiny loss; its gradient
         * softmax_c − 1 = −rest / (1 + rest) likewise */
        double rest = 0.0;
        for (size_t j = 0; j < C; j++)
            if (j != c) rest += exp(phi[j] - phi[c]);
        g[c] = -rest / (1.0 + rest);
        return log1p(rest);
    }
    case KR_LOSS_MSE: {
        double r = phi[0] - y;
        *err = y * phi[0] <= 0.0;
        g[0] = 2.0 * r;
        return r * r;
    }
    case KR_LOSS_HUBER:
    default: {
        double r = phi[0] - y;
        *err = y * phi[0] <= 0.0;
        if (fabs(r) <= 1.0) {
            g[0] = r;
            return 0.5 * r * r;
        }
        g[0] = r > 0.0 ? 1.0 : -1.0;
        return fabs(r) - 0.5;
    }
    }
}

kr_status kr_mlp_ref_loss(const kr_model *m, kr_loss kind, double wd, size_t n,
                          const double *x, const double *y, double *out, kr_model *grad,
                          size_t *errors)
{
    if (!m || !x || !y || !out || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss: NULL argument or n == 0");
    if (grad && !same_shape(m, grad))
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss: gradient model has another shape");
    const int L = m->layers;
    const size_t D = m->dims[0], C = m->dims[L];
    if ((kind == KR_LOSS_CE) != (C >= 2) || (unsigned)kind > KR_LOSS_HUBER)
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss: loss %d does not fit %zu outputs",
                       (int)kind, C);
    if (!(wd >= 0.0)) return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss: weight decay %g < 0", wd);
    if (kind == KR_LOSS_CE)
        for (size_t i = 0; i < n; i++)
            if (!(y[i] >= 0.0 && y[i] < (double)C && y[i] == floor(y[i])))
                return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss: label %g of sample %zu is not a "
                               "class index 0..%zu", y[i], i, C - 1);
    mlp_work w;
    KR_TRY(work_alloc(m, &w));
    if (grad)
        for (int l = 0; l < L; l++) {
            memset(grad->w[l], 0, m->dims[l] * m->dims[l + 1] * sizeof(double));
            if (grad->b[l]) memset(grad->b[l], 0, m->dims[l + 1] * sizeof(double));
        }
    double sum = 0.0;
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++) {
        forward_one(m, x + i * D, &w);
        bool err;
        sum += sample_loss(kind, w.z[L], C, y[i], w.d[L], &err);
        nerr += err;
        if (!grad) continue;
        for (size_t j = 0; j < C; j++) w.d[L][j] /= (double)n; /* δ_L = g / n */
        for (int l = L; l >= 1; l--) {
            size_t rows = m->dims[l], cols = m->dims[l - 1];
            const double *dv = w.d[l];            /* δ_l, dims[l] */
            const double *in = act_in(&w, l - 1); /* a_{l−1}, dims[l−1] */
            double *g = grad->w[l - 1];           /* dims[l] × dims[l−1] */
            for (size_t j = 0; j < rows; j++) {
                if (dv[j] == 0.0) continue;
                double *gr = g + j * cols;
                for (size_t k = 0; k < cols; k++) gr[k] += dv[j] * in[k];
            }
            if (grad->b[l - 1])
                for (size_t j = 0; j < rows; j++) grad->b[l - 1][j] += dv[j];
            if (l == 1) break;
            /* δ_{l−1} = (W_lᵀ δ_l) ⊙ [z_{l−1} > 0] */
            const double *W = m->w[l - 1];
            double *dp = w.d[l - 1];
            memset(dp, 0, cols * sizeof(double));
            for (size_t j = 0; j < rows; j++) {
                if (dv[j] == 0.0) continue;
                const double *wr = W + j * cols;
                for (size_t k = 0; k < cols; k++) dp[k] += wr[k] * dv[j];
            }
            for (size_t k = 0; k < cols; k++)
                if (!(w.z[l - 1][k] > 0.0)) dp[k] = 0.0;
        }
    }
    free(w.block);
    double decay = 0.0;
    for (int l = 0; wd > 0.0 && l < L; l++) {
        size_t cnt = m->dims[l] * m->dims[l + 1];
        for (size_t q = 0; q < cnt; q++) {
            decay += m->w[l][q] * m->w[l][q];
            if (grad) grad->w[l][q] += wd * m->w[l][q];
        }
        for (size_t j = 0; m->b[l] && j < m->dims[l + 1]; j++) {
            decay += m->b[l][j] * m->b[l][j];
            if (grad) grad->b[l][j] += wd * m->b[l][j];
        }
    }
    *out = sum / (double)n + 0.5 * wd * decay;
    if (errors) *errors = nerr;
    return KR_OK;
}

kr_status kr_mlp_ref_loss_grad(const kr_model *m, size_t n, const double *x, const double *y,
                               double *loss, kr_model *grad, size_t *errors)
{
    if (!m) return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss_grad: NULL model");
    return kr_mlp_ref_loss(m, m->dims[m->layers] >= 2 ? KR_LOSS_CE : KR_LOSS_LOGISTIC, 0.0, n,
                           x, y, loss, grad, errors);
}

void kr_mlp_ref_step(kr_model *m, const kr_model *grad, double lr)
{
    assert(m && grad && same_shape(m, grad));
    for (int l = 0; l < m->layers; l++) {
        size_t cnt = m->dims[l] * m->dims[l + 1];
        for (size_t i = 0; i < cnt; i++) m->w[l][i] -= lr * grad->w[l][i];
        for (size_t j = 0; m->b[l] && j < m->dims[l + 1]; j++) m->b[l][j] -= lr * grad->b[l][j];
    }
}
