/* kkt.c — DESIGN.md §3.1: the KKT loss and its gradient in X and λ, batched over the m
 * candidates (rows), as GEMMs plus element-wise ops on any device.
 *
 * Layers l = 1..L, widths H_0 = D, ..., H_L = 1, A_0 = X, c = λ ⊙ y / m.
 *   forward        Z_l = A_{l−1} W_lᵀ (+ b_1),  A_l = act(Z_l),  S_l = σ(α Z_l)    l < L
 *   first backward δ_L = c;  T_l = δ_{l+1} W_{l+1},  δ_l = T_l ⊙ S_l              l = L−1..1
 *   residual       E_l = −2 (W_l − δ_lᵀ A_{l−1}),  e_b = −2 (b_1 − Σ_rows δ_1)
 *                  loss_kkt = Σ ‖E‖² / 4
 *   reverse        ∂δ_l = A_{l−1} E_lᵀ (+ 1 e_bᵀ for l = 1),  ∂A_{l−1} = δ_l E_l      all l
 *                  l = 1..L−1:  ∂T_l = ∂δ_l ⊙ S_l,  ∂S_l = ∂δ_l ⊙ T_l,  ∂δ_{l+1} += ∂T_l W_{l+1}ᵀ
 *                  l = L−1..1:  ∂Z_l = ∂A_l ⊙ S_l + ∂S_l ⊙ α S_l (1 − S_l),  ∂A_{l−1} += ∂Z_l W_l
 *                  ∂X = ∂A_0 + box prior',  ∂λ = (y/m) ⊙ ∂c + dual-feasibility'
 * Buffers are reused in place where the math allows: A_l overwrites Z_l, ∂S_l overwrites
 * T_l, ∂T_l overwrites ∂δ_l, ∂Z_l overwrites ∂A_l. dL/dθ is never formed (nobody uses it).
 * Indexing (as model.h, mlp.c): l is the layer number of DESIGN; parameters and their
 * residuals are w[l−1] = W_l, e[l−1] = E_l; per-layer activations are a[l] = A_l, d[l] = δ_l.
 * The reference is ref/kkt_ref.c (per candidate, independent of this derivation).
 */
#include "nn/kkt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/blas.h"
#include "device/ops.h"

/* Scalar slots read back once per evaluation. */
enum { S_PRIOR = 0, S_LAMBDA = 1, S_XSQ = 2, S_KKT0 = 3 };

struct kr_kkt {
    kr_device *dev;
    kr_dtype dt;
    kr_kkt_opts o;
    int layers;
    size_t dims[KR_MAX_LAYERS + 1];
    size_t m;
    bool bias;
    kr_tensor *w[KR_MAX_LAYERS];      /* w[l−1]: W_l, H_l × H_{l−1} (as model.h) */
    kr_tensor *e[KR_MAX_LAYERS];      /* e[l−1]: E_l, H_l × H_{l−1} */
    kr_tensor *b1, *eb;               /* 1 × H_1 */
    kr_tensor *y;                     /* m × 1 */
    kr_tensor *a[KR_MAX_LAYERS + 1];  /* a[l]: Z_l then A_l, m × H_l (l = 1..L−1) */
    kr_tensor *s[KR_MAX_LAYERS + 1];  /* s[l]: S_l */
    kr_tensor *t[KR_MAX_LAYERS + 1];  /* t[l]: T_l then ∂S_l */
    kr_tensor *d[KR_MAX_LAYERS + 1];  /* d[l]: δ_l (l = 1..L; d[L] = c, m × 1) */
    kr_tensor *dd[KR_MAX_LAYERS + 1]; /* dd[l]: ∂δ_l then ∂T_l (dd[L] = ∂c) */
    kr_tensor *da[KR_MAX_LAYERS + 1]; /* da[l]: ∂A_l then ∂Z_l (l = 1..L−1) */
    kr_tensor *da0;                   /* ∂A_0 when the caller wants no grad_x; m × D */
    kr_tensor *scal;                  /* 1 × (3 + L + 1) */
};

void kr_kkt_free(kr_kkt *k)
{
    if (!k) return;
    for (int l = 0; l < KR_MAX_LAYERS; l++) {
        kr_tensor_free(k->w[l]);
        kr_tensor_free(k->e[l]);
    }
    for (int l = 0; l <= KR_MAX_LAYERS; l++) {
        kr_tensor_free(k->a[l]);
        kr_tensor_free(k->s[l]);
        kr_tensor_free(k->t[l]);
        kr_tensor_free(k->d[l]);
        kr_tensor_free(k->dd[l]);
        kr_tensor_free(k->da[l]);
    }
    kr_tensor_free(k->b1);
    kr_tensor_free(k->eb);
    kr_tensor_free(k->y);
    kr_tensor_free(k->da0);
    kr_tensor_free(k->scal);
    free(k);
}

kr_status kr_kkt_new(kr_device *dev, kr_dtype dt, const kr_model *m, const kr_kkt_opts *o,
                     size_t mc, const double *y, kr_kkt **out)
{
    *out = NULL;
    KR_TRY(kr_device_prepare(dev, dt)); /* builds and warms only the precision in use */
    if (mc == 0) return KR_FAIL(KR_E_INVALID, "kkt: 0 candidates");
    if (!(o->alpha > 0) || !isfinite(o->alpha))
        return KR_FAIL(KR_E_INVALID, "kkt: alpha must be finite and > 0, got %g", o->alpha);
    kr_status st;
    kr_kkt *k = calloc(1, sizeof *k);
    if (!k) return KR_FAIL(KR_E_NOMEM, "allocating kkt");
    k->dev = dev;
    k->dt = dt;
    k->o = *o;
    k->layers = m->layers;
    k->m = mc;
    k->bias = m->b1 != NULL;
    memcpy(k->dims, m->dims, sizeof k->dims);
    const int L = m->layers;
    char name[32];
    for (int l = 1; l <= L; l++) {
        snprintf(name, sizeof name, "W%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &k->w[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(k->w[l - 1], m->w[l - 1]));
        snprintf(name, sizeof name, "E%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &k->e[l - 1]));
        snprintf(name, sizeof name, "delta%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], name, &k->d[l]));
        snprintf(name, sizeof name, "ddelta%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], name, &k->dd[l]));
    }
    for (int l = 1; l < L; l++) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "A", &k->a[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "S", &k->s[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "T", &k->t[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "dA", &k->da[l]));
    }
    if (k->bias) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[1], "b1", &k->b1));
        KR_TRY_GOTO(kr_tensor_write(k->b1, m->b1));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[1], "e_b", &k->eb));
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "y", &k->y));
    KR_TRY_GOTO(kr_tensor_write(k->y, y));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, S_KKT0 + L + 1, "kkt scalars", &k->scal));
    *out = k;
    return KR_OK;
fail:
    kr_kkt_free(k);
    return st;
}

static const kr_tensor *input_of(const kr_kkt *k, const kr_tensor *x, int l)
{
    return l == 1 ? x : k->a[l - 1];
}

static kr_status check_operands(const kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda)
{
    if (x->rows != k->m || x->cols != k->dims[0] || lambda->rows != k->m || lambda->cols != 1)
        return KR_FAIL(KR_E_INVALID,
                       "kkt: expected X %zu×%zu and lambda %zu×1, got X %zu×%zu, lambda %zu×%zu",
                       k->m, k->dims[0], k->m, x->rows, x->cols, lambda->rows, lambda->cols);
    return KR_OK;
}

kr_status kr_kkt_eval(kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda, kr_tensor *gx,
                      kr_tensor *glambda)
{
    KR_TRY(check_operands(k, x, lambda));
    const int L = k->layers;
    const double alpha = k->o.alpha, inv_m = 1.0 / (double)k->m;

    /* Forward. */
    for (int l = 1; l < L; l++) {
        KR_TRY(kr_blas_gemm(1.0, input_of(k, x, l), false, k->w[l - 1], true, 0.0, k->a[l]));
        if (l == 1 && k->bias) KR_TRY(kr_op_add_row(1.0, k->b1, k->a[1]));
        KR_TRY(kr_op_act_forward(k->o.act, alpha, k->a[l], k->a[l], k->s[l]));
    }
    /* First backward: δ_L = c = λ ⊙ y / m, then δ_l = (δ_{l+1} W_{l+1}) ⊙ S_l. */
    KR_TRY(kr_op_mul(inv_m, lambda, k->y, k->d[L]));
    for (int l = L - 1; l >= 1; l--) {
        KR_TRY(kr_blas_gemm(1.0, k->d[l + 1], false, k->w[l], false, 0.0, k->t[l]));
        KR_TRY(kr_op_mul(1.0, k->t[l], k->s[l], k->d[l]));
    }
    /* Residuals E_l = 2 δ_lᵀ A_{l−1} − 2 W_l and their squared norms (= 4 ‖W_l − G_l‖²). */
    for (int l = 1; l <= L; l++) {
        KR_TRY(kr_tensor_copy(k->e[l - 1], k->w[l - 1]));
        KR_TRY(kr_blas_gemm(2.0, k->d[l], true, input_of(k, x, l), false, -2.0, k->e[l - 1]));
        KR_TRY(kr_op_sum_sq(k->e[l - 1], k->scal, S_KKT0 + (size_t)l - 1));
    }
    if (k->bias) {
        KR_TRY(kr_tensor_copy(k->eb, k->b1));
        KR_TRY(kr_op_col_sum(2.0, k->d[1], -2.0, k->eb));
        KR_TRY(kr_op_sum_sq(k->eb, k->scal, S_KKT0 + (size_t)L));
    }
    KR_TRY(kr_op_sum_sq(x, k->scal, S_XSQ));

    if (!gx && !glambda) {
        KR_TRY(kr_op_hinge_sq(x, -1.0, 1.0, 1.0, NULL, k->scal, S_PRIOR));
        return kr_op_hinge_sq(lambda, k->o.lambda_min, INFINITY, 5.0, NULL, k->scal, S_LAMBDA);
    }
    if (!gx) {
        if (!k->da0) KR_TRY(kr_tensor_new(k->dev, k->dt, k->m, k->dims[0], "dX", &k->da0));
        gx = k->da0;
    }
    kr_tensor *da0 = gx;

    /* Reverse step 1: ∂δ_l = A_{l−1} E_lᵀ (+ 1 e_bᵀ),  ∂A_{l−1} = δ_l E_l. */
    for (int l = 1; l <= L; l++) {
        KR_TRY(kr_blas_gemm(1.0, input_of(k, x, l), false, k->e[l - 1], true, 0.0, k->dd[l]));
        kr_tensor *dprev = l == 1 ? da0 : k->da[l - 1];
        KR_TRY(kr_blas_gemm(1.0, k->d[l], false, k->e[l - 1], false, 0.0, dprev));
    }
    if (k->bias) KR_TRY(kr_op_add_row(1.0, k->eb, k->dd[1]));
    /* Reverse step 2, l = 1..L−1: ∂S_l = ∂δ_l ⊙ T_l (into T_l), ∂T_l = ∂δ_l ⊙ S_l (into ∂δ_l),
     * ∂δ_{l+1} += ∂T_l W_{l+1}ᵀ. ∂δ_l is complete because layer l−1 ran first. */
    for (int l = 1; l < L; l++) {
        KR_TRY(kr_op_mul(1.0, k->dd[l], k->t[l], k->t[l]));
        KR_TRY(kr_op_mul(1.0, k->dd[l], k->s[l], k->dd[l]));
        KR_TRY(kr_blas_gemm(1.0, k->dd[l], false, k->w[l], true, 1.0, k->dd[l + 1]));
    }
    /* Reverse step 3, l = L−1..1: ∂Z_l = ∂A_l ⊙ S_l + ∂S_l ⊙ S'_l, ∂A_{l−1} += ∂Z_l W_l. */
    for (int l = L - 1; l >= 1; l--) {
        KR_TRY(kr_op_sigmoid_backward(alpha, k->da[l], k->t[l], k->s[l], k->da[l]));
        kr_tensor *dprev = l == 1 ? da0 : k->da[l - 1];
        KR_TRY(kr_blas_gemm(1.0, k->da[l], false, k->w[l - 1], false, 1.0, dprev));
    }
    /* Step 4: priors add their gradients; ∂λ = (y/m) ⊙ ∂c + dual-feasibility'. */
    KR_TRY(kr_op_hinge_sq(x, -1.0, 1.0, 1.0, da0, k->scal, S_PRIOR));
    if (glambda) {
        KR_TRY(kr_op_mul(inv_m, k->y, k->dd[L], glambda));
        return kr_op_hinge_sq(lambda, k->o.lambda_min, INFINITY, 5.0, glambda, k->scal, S_LAMBDA);
    }
    return kr_op_hinge_sq(lambda, k->o.lambda_min, INFINITY, 5.0, NULL, k->scal, S_LAMBDA);
}

kr_status kr_kkt_read_loss(kr_kkt *k, kr_kkt_loss *loss, double *x_sumsq)
{
    const int L = k->layers;
    double s[S_KKT0 + KR_MAX_LAYERS + 1];
    KR_TRY(kr_tensor_read(k->scal, s));
    memset(loss, 0, sizeof *loss);
    /* State-dict order: W_1, b_1 (if present), W_2, ..., W_L; sum_sq gave ‖E‖² = 4‖R‖². */
    int t = 0;
    for (int l = 1; l <= L; l++) {
        loss->kkt_per_tensor[t++] = 0.25 * s[S_KKT0 + l - 1];
        if (l == 1 && k->bias) loss->kkt_per_tensor[t++] = 0.25 * s[S_KKT0 + L];
    }
    loss->n_tensors = t;
    for (int i = 0; i < t; i++) loss->kkt += loss->kkt_per_tensor[i];
    loss->prior = s[S_PRIOR];
    loss->lambda = s[S_LAMBDA];
    loss->total = loss->kkt + loss->prior + loss->lambda;
    if (x_sumsq) *x_sumsq = s[S_XSQ];
    return KR_OK;
}

double kr_kkt_flops(const kr_model *m, size_t mc)
{
    /* Per layer l: Z (l < L), T_{l−1} (l >= 2), G, ∂δ, ∂A_{l−1}, ∂δ_l += (l >= 2),
     * ∂A_{l−1} += ∂Z W (l < L): 5 GEMMs of m·H_{l−1}·H_l for l = 1 and 7 for 2 <= l < L. */
    double f = 0;
    const int L = m->layers;
    for (int l = 1; l <= L; l++) {
        double unit = 2.0 * (double)mc * (double)m->dims[l - 1] * (double)m->dims[l];
        int count = 3;                   /* G_l, ∂δ_l, δ_l E_l */
        if (l < L) count += 2;           /* Z_l, ∂Z_l W_l */
        if (l >= 2) count += 2;          /* T_{l−1}, ∂T_{l−1} W_lᵀ */
        f += unit * count;
    }
    return f;
}
