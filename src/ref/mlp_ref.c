/* mlp_ref.c — float64 per-sample reference of the MLP's forward pass, logistic loss,
 * gradient and gradient-descent step (DESIGN.md §2).
 *
 * What it does: for one sample x (D), with 1-based layers l = 1..L as in DESIGN.md,
 *   a_0 = x,  z_l = W_l a_{l−1} (+ b_1 when l = 1),  a_l = relu(z_l)   (l = 1..L−1),
 *   Φ = W_L a_{L−1}   (W_L is 1 × H_{L−1}).
 * Per-sample loss ℓ = log(1 + exp(−yΦ)) = softplus(−yΦ), dℓ/dΦ = −y σ(−yΦ).
 * Backward (chain rule, ReLU derivative [z > 0]), with δ_L = (1/n) dℓ/dΦ:
 *   ∂/∂W_L += δ_L a_{L−1}ᵀ;  for l = L−1..1:  δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ [z_l > 0],
 *   ∂/∂W_l += δ_l a_{l−1}ᵀ,  ∂/∂b_1 += δ_1.
 *
 * What it does not: batch samples into matrix products (that is mlp.c's job; this file is
 * the independent reference it is compared with), subtract the mean image, or print.
 * Array index conventions: m->w[l−1] holds W_l, row-major dims[l] × dims[l−1].
 */
#include "ref/mlp_ref.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per-layer work vectors for one sample. z[l], a[l], d[l] for l = 1..L−1 have dims[l]
 * entries (index 0 unused); x is the current sample a_0 (D, the caller's, not owned). */
typedef struct mlp_work {
    double *block;
    const double *x;          /* a_0, D */
    double *z[KR_MAX_LAYERS]; /* pre-activations z_l, dims[l] */
    double *a[KR_MAX_LAYERS]; /* activations a_l, dims[l] */
    double *d[KR_MAX_LAYERS]; /* backward vectors δ_l, dims[l] */
} mlp_work;

/* a_l for l = 0..L−1. */
static const double *act_in(const mlp_work *w, int l) { return l == 0 ? w->x : w->a[l]; }

static kr_status work_alloc(const kr_model *m, mlp_work *w)
{
    size_t total = 0;
    for (int l = 1; l < m->layers; l++) total += 3 * m->dims[l];
    memset(w, 0, sizeof *w);
    w->block = malloc(total * sizeof(double));
    if (!w->block) return KR_FAIL(KR_E_NOMEM, "allocating MLP reference work vectors");
    double *p = w->block;
    for (int l = 1; l < m->layers; l++) {
        w->z[l] = p, p += m->dims[l];
        w->a[l] = p, p += m->dims[l];
        w->d[l] = p, p += m->dims[l];
    }
    return KR_OK;
}

/* Forward for one sample x (D); fills w->z, w->a and returns Φ. */
static double forward_one(const kr_model *m, const double *x, mlp_work *w)
{
    const int L = m->layers;
    w->x = x;
    for (int l = 1; l < L; l++) {
        const double *W = m->w[l - 1]; /* dims[l] × dims[l−1] */
        const double *in = act_in(w, l - 1);
        size_t rows = m->dims[l], cols = m->dims[l - 1];
        for (size_t j = 0; j < rows; j++) {
            double s = (l == 1 && m->b1) ? m->b1[j] : 0.0;
            const double *wr = W + j * cols;
            for (size_t k = 0; k < cols; k++) s += wr[k] * in[k];
            w->z[l][j] = s;
            w->a[l][j] = s > 0.0 ? s : 0.0;
        }
    }
    const double *wl = m->w[L - 1]; /* 1 × dims[L−1] */
    double phi = 0.0;
    for (size_t k = 0; k < m->dims[L - 1]; k++) phi += wl[k] * act_in(w, L - 1)[k];
    return phi;
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
    if (a->layers != b->layers || (a->b1 == NULL) != (b->b1 == NULL)) return false;
    for (int l = 0; l <= a->layers; l++)
        if (a->dims[l] != b->dims[l]) return false;
    return true;
}

kr_status kr_mlp_ref_forward(const kr_model *m, size_t n, const double *x, double *phi)
{
    if (!m || !x || !phi || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_forward: NULL argument or n == 0");
    mlp_work w;
    KR_TRY(work_alloc(m, &w));
    const size_t D = m->dims[0];
    for (size_t i = 0; i < n; i++) phi[i] = forward_one(m, x + i * D, &w);
    free(w.block);
    return KR_OK;
}

kr_status kr_mlp_ref_loss_grad(const kr_model *m, size_t n, const double *x, const double *y,
                               double *loss, kr_model *grad, size_t *errors)
{
    if (!m || !x || !y || !loss || n == 0)
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss_grad: NULL argument or n == 0");
    if (grad && !same_shape(m, grad))
        return KR_FAIL(KR_E_INVALID, "kr_mlp_ref_loss_grad: gradient model has another shape");
    mlp_work w;
    KR_TRY(work_alloc(m, &w));
    const int L = m->layers;
    const size_t D = m->dims[0];
    if (grad) {
        for (int l = 0; l < L; l++)
            memset(grad->w[l], 0, m->dims[l] * m->dims[l + 1] * sizeof(double));
        if (grad->b1) memset(grad->b1, 0, m->dims[1] * sizeof(double));
    }
    double sum = 0.0;
    size_t nerr = 0;
    for (size_t i = 0; i < n; i++) {
        double phi = forward_one(m, x + i * D, &w);
        double margin = y[i] * phi;
        sum += log1pexp(-margin);
        if (margin <= 0.0) nerr++;
        if (!grad) continue;

        /* δ_L = (1/n) dℓ/dΦ = −y σ(−yΦ) / n (a scalar: the output layer has one unit). */
        double dl = -y[i] * sigmoid(-margin) / (double)n;
        double *gl = grad->w[L - 1]; /* 1 × dims[L−1] */
        for (size_t k = 0; k < m->dims[L - 1]; k++) gl[k] += dl * act_in(&w, L - 1)[k];
        for (size_t j = 0; j < m->dims[L - 1]; j++) /* δ_{L−1} = W_Lᵀ δ_L ⊙ [z > 0] */
            w.d[L - 1][j] = w.z[L - 1][j] > 0.0 ? m->w[L - 1][j] * dl : 0.0;

        for (int l = L - 1; l >= 1; l--) {
            size_t rows = m->dims[l], cols = m->dims[l - 1];
            const double *dv = w.d[l];       /* δ_l, dims[l] */
            const double *in = act_in(&w, l - 1); /* a_{l−1}, dims[l−1] */
            double *g = grad->w[l - 1];      /* dims[l] × dims[l−1] */
            for (size_t j = 0; j < rows; j++) {
                if (dv[j] == 0.0) continue;
                double *gr = g + j * cols;
                for (size_t k = 0; k < cols; k++) gr[k] += dv[j] * in[k];
            }
            if (l == 1) {
                if (grad->b1)
                    for (size_t j = 0; j < rows; j++) grad->b1[j] += dv[j];
                break;
            }
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
    *loss = sum / (double)n;
    if (errors) *errors = nerr;
    return KR_OK;
}

void kr_mlp_ref_step(kr_model *m, const kr_model *grad, double lr)
{
    assert(m && grad && same_shape(m, grad));
    for (int l = 0; l < m->layers; l++) {
        size_t cnt = m->dims[l] * m->dims[l + 1];
        for (size_t i = 0; i < cnt; i++) m->w[l][i] -= lr * grad->w[l][i];
    }
    if (m->b1)
        for (size_t j = 0; j < m->dims[1]; j++) m->b1[j] -= lr * grad->b1[j];
}
