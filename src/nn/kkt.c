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
 * Fused launches (device/ops.def) where they apply: one point, one output and L >= 2 take the
 * first backward step into layer L−1 in one op (first_backward: c, T_{L−1} = c W_L, δ_{L−1})
 * and, without an output bias, layer L's reverse products with layer L−1's dual and sigmoid
 * passes and ∂λ in another (last_reverse); the box prior and ‖X‖² are one reduction
 * (box_prior); with one point, δ_l and its bias residual are one op (bias_delta) and so is
 * the one-output E_L residual (out_residual); every per-point sum is a segmented reduction,
 * 16 points per launch.
 * Indexing (as model.h, mlp.c): l is the layer number of DESIGN; parameters and their
 * residuals are w[l−1] = W_l, e[l−1] = E_l; per-layer activations are a[l] = A_l, d[l] = δ_l.
 * The reference is ref/kkt_ref.c (per candidate, independent of this derivation).
 *
 * Batched points (kr_kkt_new_points). P attack runs ("points", DESIGN §3: the paper pools
 * ~100 of them) with their own α_p and λ_min^p, the same model, activation and labels y, are
 * stacked by rows: point p owns rows R_p = [p·m, (p+1)·m) of X, λ and every per-candidate
 * tensor (M = P·m rows in all); m is the per-point count, so c_i = λ_i y_i / m as in a single
 * run. The loss is a sum over points, L = Σ_p L^p(X^p, λ^p), and L^p depends on no other
 * point's rows, so the gradient of the stacked loss restricted to R_p is ∂L^p: the single-point
 * derivation above, read per point. What is shared and what is not:
 *   per row, shared     Z_l = A_{l−1} W_lᵀ, T_l = δ_{l+1} W_{l+1}, ∂δ_{l+1} += ∂T_l W_{l+1}ᵀ,
 *                       ∂A_{l−1} += ∂Z_l W_l: row i only touches row i and the common W, so
 *                       each is one GEMM over all M rows;
 *   per row, α_p        S_l = σ(α_p Z_l), A_l = softplus_{α_p}, S'_l: ops *_rows with an M×1
 *                       column of α (α of row i's point);
 *   per point           E_l^p = −2 (W_l − δ_l^{pᵀ} A_{l−1}^p)   (P·H_l × H_{l−1}, block p),
 *                       e_b^p = −2 (b_1 − 1ᵀ δ_1^p),
 *                       ∂δ_l^p = A_{l−1}^p E_l^{pᵀ} (+ 1 e_b^p),  ∂A_{l−1}^p = δ_l^p E_l^p:
 *                       strided-batched GEMMs over equal row blocks (kr_blas_gemm_batched);
 *                       E starts as W repeated P times (wrep) and e_b as b_1 repeated;
 *   per point sums      ‖E_l^p‖², the box prior, 5 Σ relu(λ_min^p − λ)², ‖X^p‖²: reductions
 *                       over point p's block into row p of the P × (slots) scalar tensor.
 * P = 1 is exactly the single-point path (scalar-α ops, plain GEMMs, whole-tensor sums).
 *
 * Multiclass, every bias, regression (Buzaglo et al. 2023, decoreco's get_kkt_loss). The model
 * has C outputs, Φ = A_{L−1} W_Lᵀ (+ b_L) (m × C), and any layer l may carry a bias b_l. Per
 * candidate S_i (kkt_types.h) and g = ∇θ Σ_i S_i/m. Every S_i is linear in Φ(x_i) with a
 * coefficient row A_i (1 × C) that does not depend on θ, so c is replaced by the coefficient
 * matrix A (m × C), δ_L = A, and everything above holds with δ_L, ∂δ_L m × C:
 *   binary      A_{i,0} = λ_i y_i / m                     (c of the derivation above)
 *   regression  A_{i,0} = λ_i / m                         (y ≡ 1)
 *   multiclass  A = (λ/m) ⊙_rows Σ,  Σ_{i,y_i} = +1,  Σ_{i,j*_i} = −1,  0 elsewhere,
 *               j*_i = argmax_{j≠y_i} Φ_{ij} from this evaluation's forward pass (ops
 *               class_sign: ties to the lowest index): the plain ReLU forward in the paper's
 *               mode, as decoreco's model(x); in softplus mode (the FD test mode) the softplus
 *               forward, so that the loss stays one function of X. The pick is piecewise
 *               constant in X, so no gradient flows through it (decoreco: the max's
 *               subgradient, the same).
 * Biases: g_{b_l} = 1ᵀ δ_l for every layer with a bias (l = L: 1ᵀ A), the residual
 *   e_{b_l} = −2 (b_l − 1ᵀ δ_l) enters the loss as ‖e_{b_l}‖²/4, and reverse step 1 gains
 *   ∂δ_l += 1 e_{b_l}ᵀ (for l < L fused into step 2's dual_mul when P = 1; for l = L before
 *   ∂λ reads ∂δ_L = ∂A). The forward adds b_l to Z_l (l < L) and to Φ.
 * ∂λ_i = Σ_j ∂A_ij · ∂A_ij/∂λ_i = (1/m) Σ_j Σ_ij ∂A_ij  (∂A = ∂δ_L; binary: (y_i/m) ∂A_{i,0}; regression
 *   (1/m) ∂A_{i,0}; multiclass: Σ ⊙ ∂A summed over the row, a GEMM with a C × 1 of ones).
 * Regression drops the dual-feasibility term (λ may be negative). The per-tensor losses keep
 * the state_dict order W_1, b_1, W_2, b_2, ...; scalar slots S_KKT0 + l − 1 hold ‖E_l‖² and
 * S_KKT0 + L + l − 1 ‖e_{b_l}‖².
 */
#include "nn/kkt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "device/blas.h"
#include "device/ops.h"

/* Scalar slots read back once per evaluation (S_PRIOR, S_XSQ adjacent: one box_prior). */
enum { S_PRIOR = 0, S_XSQ = 1, S_LAMBDA = 2, S_KKT0 = 3 };

struct kr_kkt {
    kr_device *dev;
    kr_dtype dt;
    kr_act act;
    int layers;
    size_t dims[KR_MAX_LAYERS + 1];
    size_t m;                         /* all rows: P · mp */
    size_t P, mp;                     /* points, candidates per point */
    size_t ns;                        /* scalar slots per point: S_KKT0 + L + 1 */
    kr_kkt_point *pts;                /* P */
    kr_objective obj;                 /* resolved: BINARY, MULTICLASS or REGRESSION */
    size_t C;                         /* outputs, H_L */
    kr_tensor *alpha;                 /* m × 1: α of each row's point (P > 1) */
    kr_tensor *lmin;                  /* m × 1: λ_min of each row's point (P > 1, not regression) */
    kr_tensor *lshift;                /* m × 1: λ − λ_min per row, the dual hinge's input */
    kr_tensor *wrep[KR_MAX_LAYERS];   /* W_l repeated P times, P·H_l × H_{l−1} (P > 1) */
    kr_tensor *brep[KR_MAX_LAYERS];   /* b_l repeated, P × H_l (P > 1, layers with a bias) */
    kr_tensor *ones;                  /* m × 1 of 1 (P > 1 and some bias) */
    kr_tensor *onesc;                 /* C × 1 of 1 (multiclass: ∂λ's row sums) */
    kr_tensor *w[KR_MAX_LAYERS];      /* w[l−1]: W_l, H_l × H_{l−1} (as model.h) */
    kr_tensor *e[KR_MAX_LAYERS];      /* e[l−1]: E_l, P·H_l × H_{l−1} (block p: point p) */
    kr_tensor *b[KR_MAX_LAYERS];      /* b[l−1]: b_l, 1 × H_l, or NULL */
    kr_tensor *eb[KR_MAX_LAYERS];     /* eb[l−1]: e_{b_l}, P × H_l (with b_l) */
    kr_tensor *y;                     /* m × 1: y (binary), 1 (regression), class (multiclass) */
    kr_tensor *sign;                  /* m × C: Σ of the multiclass objective */
    kr_tensor *phi;                   /* m × C: Φ (multiclass) */
    kr_tensor *a[KR_MAX_LAYERS + 1];  /* a[l]: Z_l then A_l, m × H_l (l = 1..L−1) */
    kr_tensor *s[KR_MAX_LAYERS + 1];  /* s[l]: S_l */
    kr_tensor *t[KR_MAX_LAYERS + 1];  /* t[l]: T_l then ∂S_l */
    kr_tensor *d[KR_MAX_LAYERS + 1];  /* d[l]: δ_l (l = 1..L; d[L] = c, m × 1) */
    kr_tensor *dd[KR_MAX_LAYERS + 1]; /* dd[l]: ∂δ_l then ∂T_l (dd[L] = ∂c) */
    kr_tensor *da[KR_MAX_LAYERS + 1]; /* da[l]: ∂A_l then ∂Z_l (l = 1..L−1) */
    kr_tensor *da0;                   /* ∂A_0 when the caller wants no grad_x; m × D */
    kr_tensor *scal;                  /* P × ns: row p holds point p's scalars */
};

void kr_kkt_free(kr_kkt *k)
{
    if (!k) return;
    for (int l = 0; l < KR_MAX_LAYERS; l++) {
        kr_tensor_free(k->w[l]);
        kr_tensor_free(k->e[l]);
        kr_tensor_free(k->wrep[l]);
        kr_tensor_free(k->brep[l]);
        kr_tensor_free(k->b[l]);
        kr_tensor_free(k->eb[l]);
    }
    kr_tensor_free(k->alpha);
    kr_tensor_free(k->lmin);
    kr_tensor_free(k->lshift);
    kr_tensor_free(k->ones);
    kr_tensor_free(k->onesc);
    kr_tensor_free(k->sign);
    kr_tensor_free(k->phi);
    free(k->pts);
    for (int l = 0; l <= KR_MAX_LAYERS; l++) {
        kr_tensor_free(k->a[l]);
        kr_tensor_free(k->s[l]);
        kr_tensor_free(k->t[l]);
        kr_tensor_free(k->d[l]);
        kr_tensor_free(k->dd[l]);
        kr_tensor_free(k->da[l]);
    }
    kr_tensor_free(k->y);
    kr_tensor_free(k->da0);
    kr_tensor_free(k->scal);
    free(k);
}

/* dst (P·r × c) = src (r × c) repeated P times, through the host. */
static kr_status upload_repeated(kr_tensor *dst, const double *src, size_t r, size_t c, size_t P)
{
    double *h;
    KR_TRY(kr_alloc((void **)&h, "kkt: repeated parameter", P * r, c, sizeof *h));
    for (size_t p = 0; p < P; p++) memcpy(h + p * r * c, src, r * c * sizeof *h);
    kr_status st = kr_tensor_write(dst, h);
    free(h);
    return st;
}

/* The labels as the y tensor holds them (mp values, checked): ±1, 1 or a class index. */
static kr_status labels(kr_objective obj, size_t C, size_t mp, const double *y, double *out)
{
    for (size_t i = 0; i < mp; i++) {
        if (obj == KR_OBJ_REGRESSION) {
            out[i] = 1.0;
            continue;
        }
        const double v = y[i];
        if (obj == KR_OBJ_BINARY && v != 1.0 && v != -1.0)
            return KR_FAIL(KR_E_INVALID, "kkt: label %g of candidate %zu: the binary objective "
                           "needs ±1", v, i);
        if (obj == KR_OBJ_MULTICLASS && !(v >= 0.0 && v < (double)C && v == floor(v)))
            return KR_FAIL(KR_E_INVALID, "kkt: label %g of candidate %zu: the multiclass "
                           "objective needs a class index 0..%zu", v, i, C - 1);
        out[i] = v;
    }
    return KR_OK;
}

kr_status kr_kkt_new_points(kr_device *dev, kr_dtype dt, const kr_model *m, kr_act act,
                            const kr_kkt_point *points, size_t P, size_t mp, const double *y,
                            kr_kkt **out)
{
    return kr_kkt_new_objective(dev, dt, m, act, KR_OBJ_AUTO, points, P, mp, y, out);
}

kr_status kr_kkt_new_objective(kr_device *dev, kr_dtype dt, const kr_model *m, kr_act act,
                               kr_objective objective, const kr_kkt_point *points, size_t P,
                               size_t mp, const double *y, kr_kkt **out)
{
    *out = NULL;
    KR_TRY(kr_device_prepare(dev, dt)); /* builds and warms only the precision in use */
    if (mp == 0) return KR_FAIL(KR_E_INVALID, "kkt: 0 candidates");
    if (P == 0) return KR_FAIL(KR_E_INVALID, "kkt: 0 points");
    const size_t C = m->dims[m->layers];
    const kr_objective obj = kr_objective_resolve(objective, C);
    if (obj == KR_OBJ_AUTO)
        return KR_FAIL(KR_E_INVALID, "kkt: the %s objective does not fit a model with %zu "
                       "output(s) (binary and regression need 1, multiclass >= 2)",
                       kr_objective_name(objective), C);
    if (!y && obj != KR_OBJ_REGRESSION)
        return KR_FAIL(KR_E_INVALID, "kkt: the %s objective needs labels",
                       kr_objective_name(obj));
    size_t mc;
    if (!kr_size_mul(P, mp, 1, &mc))
        return KR_FAIL(KR_E_INVALID, "kkt: %zu points × %zu candidates overflow", P, mp);
    for (size_t p = 0; p < P; p++) {
        if (!(points[p].alpha > 0) || !isfinite(points[p].alpha))
            return KR_FAIL(KR_E_INVALID, "kkt: alpha must be finite and > 0, got %g (point %zu)",
                           points[p].alpha, p);
        if (!isfinite(points[p].lambda_min))
            return KR_FAIL(KR_E_INVALID, "kkt: lambda_min must be finite, got %g at point %zu",
                           points[p].lambda_min, p);
    }
    kr_status st;
    double *col = NULL;
    kr_kkt *k = calloc(1, sizeof *k);
    if (!k) return KR_FAIL(KR_E_NOMEM, "allocating kkt");
    k->dev = dev;
    k->dt = dt;
    k->act = act;
    k->layers = m->layers;
    k->m = mc;
    k->P = P;
    k->mp = mp;
    k->ns = S_KKT0 + 2 * (size_t)m->layers;
    k->obj = obj;
    k->C = C;
    bool any_bias = false;
    memcpy(k->dims, m->dims, sizeof k->dims);
    KR_TRY_GOTO(kr_alloc((void **)&k->pts, "kkt points", P, 1, sizeof *k->pts));
    memcpy(k->pts, points, P * sizeof *points);
    const int L = m->layers;
    char name[32];
    for (int l = 1; l <= L; l++) {
        snprintf(name, sizeof name, "W%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &k->w[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(k->w[l - 1], m->w[l - 1]));
        snprintf(name, sizeof name, "E%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, P * m->dims[l], m->dims[l - 1], name, &k->e[l - 1]));
        if (P > 1) {
            snprintf(name, sizeof name, "W%d repeated", l);
            KR_TRY_GOTO(kr_tensor_new(dev, dt, P * m->dims[l], m->dims[l - 1], name,
                                      &k->wrep[l - 1]));
            KR_TRY_GOTO(upload_repeated(k->wrep[l - 1], m->w[l - 1], m->dims[l], m->dims[l - 1],
                                        P));
        }
        snprintf(name, sizeof name, "delta%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], name, &k->d[l]));
        snprintf(name, sizeof name, "ddelta%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], name, &k->dd[l]));
        if (!m->b[l - 1]) continue;
        any_bias = true;
        snprintf(name, sizeof name, "b%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[l], name, &k->b[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(k->b[l - 1], m->b[l - 1]));
        snprintf(name, sizeof name, "e_b%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, P, m->dims[l], name, &k->eb[l - 1]));
        if (P > 1) {
            snprintf(name, sizeof name, "b%d repeated", l);
            KR_TRY_GOTO(kr_tensor_new(dev, dt, P, m->dims[l], name, &k->brep[l - 1]));
            KR_TRY_GOTO(upload_repeated(k->brep[l - 1], m->b[l - 1], 1, m->dims[l], P));
        }
    }
    for (int l = 1; l < L; l++) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "A", &k->a[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "S", &k->s[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "T", &k->t[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, m->dims[l], "dA", &k->da[l]));
    }
    if (any_bias && P > 1) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "ones", &k->ones));
        KR_TRY_GOTO(kr_tensor_fill(k->ones, 1.0));
    }
    if (obj == KR_OBJ_MULTICLASS) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, C, "phi", &k->phi));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, C, "class signs", &k->sign));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, C, 1, "ones C", &k->onesc));
        KR_TRY_GOTO(kr_tensor_fill(k->onesc, 1.0));
    }
    KR_TRY_GOTO(kr_alloc((void **)&col, "kkt: labels", mp, 1, sizeof *col));
    KR_TRY_GOTO(labels(obj, C, mp, y, col));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "y", &k->y));
    KR_TRY_GOTO(upload_repeated(k->y, col, mp, 1, P));
    free(col);
    col = NULL;
    if (P > 1) {
        KR_TRY_GOTO(kr_alloc((void **)&col, "kkt: alpha per row", mc, 1, sizeof *col));
        for (size_t i = 0; i < mc; i++) col[i] = points[i / mp].alpha;
        KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "alpha per row", &k->alpha));
        KR_TRY_GOTO(kr_tensor_write(k->alpha, col));
        if (obj != KR_OBJ_REGRESSION) {
            for (size_t i = 0; i < mc; i++) col[i] = points[i / mp].lambda_min;
            KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "lambda_min per row", &k->lmin));
            KR_TRY_GOTO(kr_tensor_write(k->lmin, col));
            KR_TRY_GOTO(kr_tensor_new(dev, dt, mc, 1, "lambda - lambda_min", &k->lshift));
        }
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, P, k->ns, "kkt scalars", &k->scal));
    KR_TRY_GOTO(kr_tensor_fill(k->scal, 0.0)); /* regression never writes S_LAMBDA */
    free(col);
    *out = k;
    return KR_OK;
fail:
    free(col);
    kr_kkt_free(k);
    return st;
}

kr_status kr_kkt_new(kr_device *dev, kr_dtype dt, const kr_model *m, const kr_kkt_opts *o,
                     size_t mc, const double *y, kr_kkt **out)
{
    const kr_kkt_point pt = {o->alpha, o->lambda_min};
    return kr_kkt_new_objective(dev, dt, m, o->act, o->objective, &pt, 1, mc, y, out);
}

size_t kr_kkt_points(const kr_kkt *k) { return k->P; }

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

/* A = act(Z) in place and S = σ(α Z), α per point. */
static kr_status act_forward(kr_kkt *k, kr_tensor *a, kr_tensor *s)
{
    if (k->P == 1) return kr_op_act_forward(k->act, k->pts[0].alpha, a, a, s);
    return kr_op_act_forward_rows(k->act, k->alpha, a, a, s);
}

/* ∂Z = ∂A ⊙ S + ∂S ⊙ α S (1 − S) into da, α per point. */
static kr_status sigmoid_backward(kr_kkt *k, kr_tensor *da, const kr_tensor *ds,
                                  const kr_tensor *s)
{
    if (k->P == 1) return kr_op_sigmoid_backward(k->pts[0].alpha, da, ds, s, da);
    return kr_op_sigmoid_backward_rows(k->alpha, da, ds, s, da);
}

/* Per-point sums run as segmented reductions (ops.h): points [p0, p0 + n) of a per-candidate
 * tensor in one launch, KR_SEG_MAX points at a time. */
enum { KR_SEG_MAX = 16 };

/* Rows of points [p0, p0 + n) of t (t's rows are P equal blocks). */
static kr_tensor points_rows(const kr_kkt *k, const kr_tensor *t, size_t p0, size_t n)
{
    const size_t r = t->rows / k->P;
    return kr_tensor_rows(t, p0 * r, n * r);
}

/* The box prior Σ relu(−1 − x)² + relu(x − 1)² and ‖X‖² per point into S_PRIOR and S_XSQ,
 * g (X's shape, or NULL) += the prior's gradient. */
static kr_status prior_points(kr_kkt *k, const kr_tensor *x, kr_tensor *g)
{
    for (size_t p = 0; p < k->P; p += KR_SEG_MAX) {
        const size_t n = k->P - p < KR_SEG_MAX ? k->P - p : KR_SEG_MAX;
        kr_tensor v = points_rows(k, x, p, n), gv;
        if (g) gv = points_rows(k, g, p, n);
        KR_TRY(kr_op_box_prior_seg(&v, -1.0, 1.0, 1.0, g ? &gv : NULL, n, k->scal,
                                   p * k->ns + S_PRIOR, k->ns));
    }
    return KR_OK;
}

/* t = t − 2 w (w: W_l or b_l, repeated per point) and scal[p, slot] = ‖block p of t‖². */
static kr_status residual_points(kr_kkt *k, kr_tensor *t, const kr_tensor *w, size_t slot)
{
    for (size_t p = 0; p < k->P; p += KR_SEG_MAX) {
        const size_t n = k->P - p < KR_SEG_MAX ? k->P - p : KR_SEG_MAX;
        kr_tensor v = points_rows(k, t, p, n), wv = points_rows(k, w, p, n);
        KR_TRY(kr_op_axpby_sum_sq_seg(-2.0, &wv, 1.0, &v, n, k->scal, p * k->ns + slot, k->ns));
    }
    return KR_OK;
}

/* scal[p, slot] = w Σ_{block p} [relu(lo − x)² + relu(x − hi)²] for every point, and g (x's
 * shape, or NULL) += its gradient. */
static kr_status hinge_seg(kr_kkt *k, const kr_tensor *x, double lo, double hi, double w,
                           kr_tensor *g, size_t slot)
{
    for (size_t p = 0; p < k->P; p += KR_SEG_MAX) {
        const size_t n = k->P - p < KR_SEG_MAX ? k->P - p : KR_SEG_MAX;
        kr_tensor v = points_rows(k, x, p, n), gv;
        if (g) gv = points_rows(k, g, p, n);
        KR_TRY(kr_op_hinge_sq_seg(&v, lo, hi, w, g ? &gv : NULL, n, k->scal, p * k->ns + slot,
                                  k->ns));
    }
    return KR_OK;
}

/* The dual-feasibility term 5 Σ relu(λ_min^p − λ)², per point; g (λ's shape, or NULL)
 * receives the gradient. With several points the λ_min differ:
 * the hinge runs on u = λ − λ_min^p (two passes) with the bound 0 (relu(0 − u) is bit for
 * bit relu(λ_min − λ), and its gradient in u is the one in λ): one segmented launch for up to
 * 16 points. */
static kr_status dual_points(kr_kkt *k, const kr_tensor *x, kr_tensor *g)
{
    if (k->obj == KR_OBJ_REGRESSION) return KR_OK; /* no λ_min term */
    if (k->P == 1) return hinge_seg(k, x, k->pts[0].lambda_min, INFINITY, 5.0, g, S_LAMBDA);
    KR_TRY(kr_op_axpby(1.0, x, 0.0, k->lshift));
    KR_TRY(kr_op_axpby(-1.0, k->lmin, 1.0, k->lshift));
    return hinge_seg(k, k->lshift, 0.0, INFINITY, 5.0, g, S_LAMBDA);
}

static kr_status kkt_eval(kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda,
                          kr_tensor *gx, kr_tensor *glambda)
{
    KR_TRY(check_operands(k, x, lambda));
    const int L = k->layers;
    const size_t P = k->P;
    const double inv_m = 1.0 / (double)k->mp;

    /* Forward: one GEMM over all points' rows (W is common), α per point. */
    for (int l = 1; l < L; l++) {
        KR_TRY(kr_blas_gemm(1.0, input_of(k, x, l), false, k->w[l - 1], true, 0.0, k->a[l]));
        if (k->b[l - 1] && P == 1) /* bias, activation and S in one pass */
            KR_TRY(kr_op_bias_act_forward(k->act, k->pts[0].alpha, k->b[l - 1], k->a[l],
                                          k->a[l], k->s[l]));
        else {
            if (k->b[l - 1]) KR_TRY(kr_op_add_row(1.0, k->b[l - 1], k->a[l]));
            KR_TRY(act_forward(k, k->a[l], k->s[l]));
        }
    }
    /* First backward: δ_L = A (m × C): c = λ ⊙ y / m for one output; multiclass (1/m) λ ⊙_rows
     * Σ, with Σ's runner-up picked from Φ = A_{L−1} W_Lᵀ + b_L. Then δ_l = (δ_{l+1} W_{l+1})
     * ⊙ S_l. */
    int first = L - 1; /* the first δ_l left for the loop below */
    if (k->obj == KR_OBJ_MULTICLASS) {
        KR_TRY(kr_blas_gemm(1.0, k->a[L - 1], false, k->w[L - 1], true, 0.0, k->phi));
        if (k->b[L - 1]) KR_TRY(kr_op_add_row(1.0, k->b[L - 1], k->phi));
        KR_TRY(kr_op_class_sign(k->y, k->phi, k->sign));
        KR_TRY(kr_op_scale_rows(inv_m, lambda, k->sign, k->d[L]));
    } else if (P == 1 && L >= 2) { /* c, T_{L−1} = c W_L and δ_{L−1} in one pass */
        KR_TRY(kr_op_first_backward(inv_m, lambda, k->y, k->w[L - 1], k->s[L - 1], k->d[L],
                                    k->t[L - 1], k->d[L - 1]));
        first = L - 2;
    } else {
        KR_TRY(kr_op_mul(inv_m, lambda, k->y, k->d[L]));
    }
    /* One point: a hidden layer's bias residual comes with δ_l (bias_delta: δ_l = T_l ⊙ S_l,
     * e_{b_l} = 2·1ᵀδ_l − 2 b_l and ‖e_{b_l}‖² in one pass; after first_backward it recomputes
     * δ_{L−1}, the same product). */
    bool eb_done[KR_MAX_LAYERS + 1] = {false};
    for (int l = L - 1; l >= 1; l--) {
        if (l <= first) KR_TRY(kr_blas_gemm(1.0, k->d[l + 1], false, k->w[l], false, 0.0, k->t[l]));
        if (P == 1 && k->b[l - 1]) {
            KR_TRY(kr_op_bias_delta(k->t[l], k->s[l], k->b[l - 1], k->d[l], k->eb[l - 1], k->scal,
                                    S_KKT0 + (size_t)(L + l - 1)));
            eb_done[l] = true;
        } else if (l <= first) {
            KR_TRY(kr_op_mul(1.0, k->t[l], k->s[l], k->d[l]));
        }
    }
    /* Residuals E_l^p = 2 δ_l^{pᵀ} A_{l−1}^p − 2 W_l, one block per point, and their squared
     * norms (= 4 ‖W_l − G_l^p‖²): the GEMM writes 2 G (β = 0), then one pass subtracts 2 W
     * and sums the squares; one point and one output: E_L in one pass (out_residual). */
    for (int l = 1; l <= L; l++) {
        if (l == L && P == 1 && k->C == 1) {
            KR_TRY(kr_op_out_residual(k->d[L], input_of(k, x, L), k->w[L - 1], k->e[L - 1],
                                      k->scal, S_KKT0 + (size_t)L - 1));
            continue;
        }
        KR_TRY(kr_blas_gemm_batched(P, 2.0, k->d[l], true, input_of(k, x, l), false, 0.0,
                                    k->e[l - 1]));
        KR_TRY(residual_points(k, k->e[l - 1], P == 1 ? k->w[l - 1] : k->wrep[l - 1],
                               S_KKT0 + (size_t)l - 1));
    }
    for (int l = 1; l <= L; l++) { /* e_{b_l}^p = 2 · 1ᵀ δ_l^p − 2 b_l */
        if (!k->b[l - 1] || eb_done[l]) continue;
        if (P == 1)
            KR_TRY(kr_op_col_sum(2.0, k->d[l], 0.0, k->eb[l - 1]));
        else
            KR_TRY(kr_blas_gemm_batched(P, 2.0, k->ones, true, k->d[l], false, 0.0,
                                        k->eb[l - 1]));
        KR_TRY(residual_points(k, k->eb[l - 1], P == 1 ? k->b[l - 1] : k->brep[l - 1],
                               S_KKT0 + (size_t)(L + l - 1)));
    }
    if (!gx && !glambda) {
        KR_TRY(prior_points(k, x, NULL));
        return dual_points(k, lambda, NULL);
    }
    if (!gx) {
        if (!k->da0) KR_TRY(kr_tensor_new(k->dev, k->dt, k->m, k->dims[0], "dX", &k->da0));
        gx = k->da0;
    }
    kr_tensor *da0 = gx;
    /* One point, one output, no output bias: the last hidden layer's reverse pass is one op
     * (last_reverse: layer L's two products, layer L−1's dual and sigmoid passes, ∂λ). */
    const bool fused = P == 1 && k->C == 1 && L >= 2 && !k->b[L - 1] && glambda;

    /* Reverse step 1, per point: ∂δ_l = A_{l−1} E_lᵀ (+ 1 e_bᵀ),  ∂A_{l−1} = δ_l E_l. */
    for (int l = 1; l <= L - (fused ? 1 : 0); l++) {
        KR_TRY(kr_blas_gemm_batched(P, 1.0, input_of(k, x, l), false, k->e[l - 1], true, 0.0,
                                    k->dd[l]));
        kr_tensor *dprev = l == 1 ? da0 : k->da[l - 1];
        KR_TRY(kr_blas_gemm_batched(P, 1.0, k->d[l], false, k->e[l - 1], false, 0.0, dprev));
    }
    /* ∂δ_l += 1 e_{b_l}ᵀ; one point and l < L: inside layer l's dual_mul below. */
    for (int l = 1; l <= L; l++) {
        if (!k->b[l - 1]) continue;
        if (P > 1)
            KR_TRY(kr_blas_gemm_batched(P, 1.0, k->ones, false, k->eb[l - 1], false, 1.0,
                                        k->dd[l]));
        else if (l == L)
            KR_TRY(kr_op_add_row(1.0, k->eb[l - 1], k->dd[l]));
    }
    /* Reverse step 2, l = 1..L−1: ∂S_l = ∂δ_l ⊙ T_l (into T_l), ∂T_l = ∂δ_l ⊙ S_l (into ∂δ_l)
     * in one pass, then ∂δ_{l+1} += ∂T_l W_{l+1}ᵀ. ∂δ_l is complete because layer l−1 ran
     * first. */
    for (int l = 1; l < L; l++) {
        const kr_tensor *row = P == 1 ? k->eb[l - 1] : NULL;
        if (fused && l == L - 1) { /* ∂Z_l into ∂A_l, and ∂λ before its prior */
            KR_TRY(kr_op_last_reverse(k->pts[0].alpha, inv_m, k->d[L], k->y, row, k->dd[l],
                                      k->t[l], k->s[l], k->a[l], k->e[L - 1], k->w[L - 1],
                                      k->da[l], glambda));
            continue;
        }
        KR_TRY(kr_op_dual_mul(row, k->dd[l], k->t[l], k->s[l]));
        KR_TRY(kr_blas_gemm(1.0, k->dd[l], false, k->w[l], true, 1.0, k->dd[l + 1]));
    }
    /* Reverse step 3, l = L−1..1: ∂Z_l = ∂A_l ⊙ S_l + ∂S_l ⊙ S'_l, ∂A_{l−1} += ∂Z_l W_l. */
    for (int l = L - 1; l >= 1; l--) {
        if (!(fused && l == L - 1)) KR_TRY(sigmoid_backward(k, k->da[l], k->t[l], k->s[l]));
        kr_tensor *dprev = l == 1 ? da0 : k->da[l - 1];
        KR_TRY(kr_blas_gemm(1.0, k->da[l], false, k->w[l - 1], false, 1.0, dprev));
    }
    /* Step 4: priors add their gradients; ∂λ = (1/m) Σ_j Σ_ij ∂A_ij + dual-feasibility'
     * (one output: (y/m) ⊙ ∂c). */
    KR_TRY(prior_points(k, x, da0));
    if (glambda) {
        if (fused) {
            /* written by last_reverse */
        } else if (k->obj == KR_OBJ_MULTICLASS) {
            KR_TRY(kr_op_mul(1.0, k->sign, k->dd[L], k->dd[L]));
            KR_TRY(kr_blas_gemm(inv_m, k->dd[L], false, k->onesc, false, 0.0, glambda));
        } else {
            KR_TRY(kr_op_mul(inv_m, k->y, k->dd[L], glambda));
        }
        return dual_points(k, lambda, glambda);
    }
    return dual_points(k, lambda, NULL);
}

/* All of an evaluation's reductions finish with one kernel at the end (device/ops.h). */
kr_status kr_kkt_eval(kr_kkt *k, const kr_tensor *x, const kr_tensor *lambda, kr_tensor *gx,
                      kr_tensor *glambda)
{
    kr_ops_reduce_defer(k->dev);
    kr_status st = kkt_eval(k, x, lambda, gx, glambda);
    kr_status fl = kr_ops_reduce_flush(k->dev);
    return st != KR_OK ? st : fl;
}

kr_status kr_kkt_read_losses(kr_kkt *k, kr_kkt_loss *losses, double *x_sumsq)
{
    const int L = k->layers;
    double *all;
    KR_TRY(kr_alloc((void **)&all, "kkt scalars", k->P, k->ns, sizeof *all));
    kr_status st = kr_tensor_read(k->scal, all);
    if (st != KR_OK) {
        free(all);
        return st;
    }
    for (size_t p = 0; p < k->P; p++) {
        const double *s = all + p * k->ns;
        kr_kkt_loss *loss = &losses[p];
        memset(loss, 0, sizeof *loss);
        /* State-dict order: W_1, b_1 (if present), W_2, b_2, ...; sum_sq gave ‖E‖² = 4‖R‖². */
        int t = 0;
        for (int l = 1; l <= L; l++) {
            loss->kkt_per_tensor[t++] = 0.25 * s[S_KKT0 + l - 1];
            if (k->b[l - 1]) loss->kkt_per_tensor[t++] = 0.25 * s[S_KKT0 + L + l - 1];
        }
        loss->n_tensors = t;
        for (int i = 0; i < t; i++) loss->kkt += loss->kkt_per_tensor[i];
        loss->prior = s[S_PRIOR];
        loss->lambda = s[S_LAMBDA];
        loss->total = loss->kkt + loss->prior + loss->lambda;
        if (x_sumsq) x_sumsq[p] = s[S_XSQ];
    }
    free(all);
    return KR_OK;
}

kr_status kr_kkt_read_loss(kr_kkt *k, kr_kkt_loss *loss, double *x_sumsq)
{
    if (k->P != 1)
        return KR_FAIL(KR_E_INVALID, "kr_kkt_read_loss: %zu points, use kr_kkt_read_losses",
                       k->P);
    return kr_kkt_read_losses(k, loss, x_sumsq);
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
    const double C = (double)m->dims[L];
    if (C >= 2) /* multiclass: Φ for the runner-up pick and ∂λ's row sums */
        f += 2.0 * (double)mc * C * ((double)m->dims[L - 1] + 1.0);
    return f;
}
