/* check_kkt.c — device suite: the batched KKT loss and gradient of kkt.c (DESIGN §3.1) on
 * every backend and precision against the per-candidate float64 reference kkt_ref.c (which
 * check_kkt_ref.c verifies by central finite differences in softplus mode), in both
 * activation modes, with and without b₁, on awkward shapes; every objective (binary,
 * multiclass with 2, 3 and 10 classes, regression with λ of both signs) with biases on no
 * layer, the first, every layer and the output only; plus one SGD-momentum and one Adam step
 * of the attack's optimisers, and loss-only evaluation. Multiclass candidates whose runner-up
 * leads the next output by less than 1e-3 are redrawn (float32 must pick the same one).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kkt.h"
#include "ref/kkt_ref.h"
#include "device/ops.h"
#include "base/rng.h"
#include "testutil.h"

typedef struct shape {
    size_t m, d;
    size_t hidden[4];
    int n_hidden;
    bool bias;
    kr_objective obj; /* 0: binary */
    size_t C;         /* 0: 1 output */
    unsigned mask;    /* 0: as bias (first layer only) */
    bool small;       /* in the KKTRECON_TEST_SMALL subset (oclgrind): every path once */
} shape;

#define ALL 0xffffu /* every layer (cut to L bits) */
static const shape SHAPES[] = {
    {1, 3, {7}, 1, true, 0, 0, 0, true},
    {3, 7, {33, 17}, 2, false, 0, 0, 0, true},
    {7, 33, {17, 3}, 2, true, 0, 0, 0, false},
    {33, 17, {7, 3, 5}, 3, true, 0, 0, 0, false},
    {40, 65, {47, 33}, 2, true, 0, 0, 0, false},
    {7, 33, {17, 3}, 2, true, KR_OBJ_BINARY, 1, ALL, true},
    {3, 7, {33}, 1, true, KR_OBJ_BINARY, 1, 2, false},
    {1, 3, {7}, 1, true, KR_OBJ_MULTICLASS, 2, 1, true},
    {9, 17, {7, 5}, 2, true, KR_OBJ_MULTICLASS, 3, ALL, false},
    {30, 33, {17, 3}, 2, false, KR_OBJ_MULTICLASS, 10, 0, false},
    {40, 65, {47, 33}, 2, true, KR_OBJ_MULTICLASS, 10, ALL, false},
    {33, 17, {7, 3, 5}, 3, true, KR_OBJ_MULTICLASS, 3, 8, false},
    {7, 33, {17, 3}, 2, true, KR_OBJ_REGRESSION, 1, ALL, false},
    {33, 17, {7}, 1, false, KR_OBJ_REGRESSION, 1, 0, true},
};

static kr_device *devs[4];
static int n_devs;

typedef struct problem {
    kr_model *model;
    size_t m, d;
    double *x, *lambda, *y;
} problem;

/* float32 runs get inputs that are exactly representable in float (weights, x, λ rounded),
 * so device and reference start from identical numbers and only the arithmetic differs:
 * otherwise an x just past the box edge (x − 1 ~ 1e-4) alone breaks a 1e-4 comparison of
 * the prior. */
static void round_to(kr_dtype dt, double *v, size_t n)
{
    if (dt == KR_F32)
        for (size_t i = 0; i < n; i++) v[i] = (float)v[i];
}

/* The gap between the two largest outputs other than class y of candidate x under the
 * attack's forward pass (act, α), in float64. */
static double runner_up_gap(const kr_model *m, kr_act act, double alpha, const double *x,
                            size_t y)
{
    double a[2][128];
    const int L = m->layers;
    memcpy(a[0], x, m->dims[0] * sizeof(double));
    for (int l = 1; l <= L; l++) {
        const double *in = a[(l - 1) % 2];
        double *out = a[l % 2];
        for (size_t j = 0; j < m->dims[l]; j++) {
            double z = m->b[l - 1] ? m->b[l - 1][j] : 0.0;
            for (size_t k = 0; k < m->dims[l - 1]; k++) z += m->w[l - 1][j * m->dims[l - 1] + k] * in[k];
            out[j] = l == L ? z
                   : act == KR_ACT_RELU ? fmax(z, 0.0)
                                        : (fmax(alpha * z, 0.0) + log1p(exp(-fabs(alpha * z)))) / alpha;
        }
    }
    const double *phi = a[L % 2];
    double best = -INFINITY, second = -INFINITY;
    for (size_t j = 0; j < m->dims[L]; j++) {
        if (j == y) continue;
        if (phi[j] > best) second = best, best = phi[j];
        else if (phi[j] > second) second = phi[j];
    }
    return best - second;
}

static void problem_make_act(const shape *sh, kr_rng *r, kr_dtype dt, kr_act act, double alpha,
                             problem *p)
{
    const size_t C = sh->C ? sh->C : 1;
    const unsigned mask = (sh->mask ? sh->mask : sh->bias ? 1u : 0u) & ((1u << (sh->n_hidden + 1)) - 1u);
    ck_assert_int_eq(kr_model_new_general(sh->d, sh->hidden, sh->n_hidden, C, mask, &p->model),
                     KR_OK);
    kr_model_init(p->model, 0.5, kr_rng_u64(r));
    p->m = sh->m;
    p->d = sh->d;
    p->x = malloc(sh->m * sh->d * sizeof *p->x);
    p->lambda = malloc(sh->m * sizeof *p->lambda);
    p->y = malloc(sh->m * sizeof *p->y);
    kr_model *mo = p->model;
    for (int l = 0; l < mo->layers; l++) {
        round_to(dt, mo->w[l], mo->dims[l] * mo->dims[l + 1]);
        if (mo->b[l]) round_to(dt, mo->b[l], mo->dims[l + 1]);
    }
    /* Spread beyond the box [−1, 1] so the prior is active, λ around λ_min (regression: N(0,1),
     * both signs); multiclass labels in equal class blocks, as the attack assigns them. */
    for (size_t i = 0; i < sh->m * sh->d; i++) p->x[i] = 0.8 * kr_rng_normal(r);
    for (size_t i = 0; i < sh->m; i++) {
        p->lambda[i] = sh->obj == KR_OBJ_REGRESSION ? kr_rng_normal(r) : kr_rng_uniform(r);
        p->y[i] = sh->obj == KR_OBJ_MULTICLASS ? (double)(i * C / sh->m)
                                               : i < sh->m / 2 ? -1.0 : 1.0;
    }
    round_to(dt, p->x, sh->m * sh->d);
    for (size_t i = 0; sh->obj == KR_OBJ_MULTICLASS && C > 2 && i < sh->m; i++) {
        int tries = 0;
        while (runner_up_gap(mo, act, alpha, p->x + i * sh->d, (size_t)p->y[i]) < 1e-3) {
            ck_assert_int_lt(++tries, 10000);
            for (size_t k = 0; k < sh->d; k++) p->x[i * sh->d + k] = 0.8 * kr_rng_normal(r);
            round_to(dt, p->x + i * sh->d, sh->d);
        }
    }
    round_to(dt, p->lambda, sh->m);
}

static void problem_make(const shape *sh, kr_rng *r, kr_dtype dt, problem *p)
{
    problem_make_act(sh, r, dt, KR_ACT_RELU, 1.0, p);
}

static void problem_free(problem *p)
{
    kr_model_free(p->model);
    free(p->x);
    free(p->lambda);
    free(p->y);
}

typedef struct dev_point {
    kr_tensor *x, *lambda, *gx, *glambda;
} dev_point;

static void point_upload(kr_device *dev, kr_dtype dt, const problem *p, dev_point *q)
{
    ck_assert_int_eq(kr_tensor_new(dev, dt, p->m, p->d, "X", &q->x), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, p->m, 1, "lambda", &q->lambda), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, p->m, p->d, "gX", &q->gx), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, p->m, 1, "glambda", &q->glambda), KR_OK);
    ck_assert_int_eq(kr_tensor_write(q->x, p->x), KR_OK);
    ck_assert_int_eq(kr_tensor_write(q->lambda, p->lambda), KR_OK);
}

static void point_free(dev_point *q)
{
    kr_tensor_free(q->x);
    kr_tensor_free(q->lambda);
    kr_tensor_free(q->gx);
    kr_tensor_free(q->glambda);
}

static void check_one(kr_device *dev, kr_dtype dt, const shape *sh, kr_act act, double alpha,
                      kr_rng *r)
{
    problem p;
    /* Scalars too must be the float32 numbers the device will use: λ_min = 0.42 rounds by
     * 1e-8, which matters when some λ sits within 1e-4 of it. */
    double lmin = 0.42;
    round_to(dt, &alpha, 1);
    round_to(dt, &lmin, 1);
    problem_make_act(sh, r, dt, act, alpha, &p);
    const kr_kkt_opts o = {act, alpha, lmin, sh->obj};
    char what[240];
    snprintf(what, sizeof what, "%s %s m=%zu d=%zu L=%d C=%zu biases 0x%x %s act=%s alpha=%g",
             kr_device_describe(dev), kr_dtype_name(dt), sh->m, sh->d, sh->n_hidden + 1,
             p.model->dims[p.model->layers], kr_model_bias_mask(p.model),
             kr_objective_name(kr_objective_resolve(sh->obj, p.model->dims[p.model->layers])),
             act == KR_ACT_RELU ? "relu" : "softplus", alpha);
    const double tol = kr_test_tol(dt);

    kr_kkt_loss ref, got;
    double *gx_ref = malloc(p.m * p.d * sizeof *gx_ref), *gl_ref = malloc(p.m * sizeof *gl_ref);
    double *gx = malloc(p.m * p.d * sizeof *gx), *gl = malloc(p.m * sizeof *gl);
    ck_assert_int_eq(kr_kkt_ref_eval(p.model, &o, p.m, p.x, p.lambda, p.y, &ref, gx_ref, gl_ref), KR_OK);

    kr_kkt *k;
    dev_point q;
    ck_assert_int_eq(kr_kkt_new(dev, dt, p.model, &o, p.m, p.y, &k), KR_OK);
    point_upload(dev, dt, &p, &q);
    ck_assert_int_eq(kr_kkt_eval(k, q.x, q.lambda, q.gx, q.glambda), KR_OK);
    double xsq;
    ck_assert_int_eq(kr_kkt_read_loss(k, &got, &xsq), KR_OK);
    ck_assert_int_eq(kr_tensor_read(q.gx, gx), KR_OK);
    ck_assert_int_eq(kr_tensor_read(q.glambda, gl), KR_OK);

    ck_assert_int_eq(got.n_tensors, ref.n_tensors);
    ck_assert_msg(kr_test_compare("loss", &got.total, &ref.total, 1, tol), "loss: %s", what);
    ck_assert_msg(kr_test_compare("loss_kkt", &got.kkt, &ref.kkt, 1, tol), "kkt: %s", what);
    ck_assert_msg(kr_test_compare("loss_prior", &got.prior, &ref.prior, 1, tol), "prior: %s", what);
    ck_assert_msg(kr_test_compare("loss_lambda", &got.lambda, &ref.lambda, 1, tol), "lambda: %s", what);
    ck_assert_msg(kr_test_compare("kkt per tensor", got.kkt_per_tensor, ref.kkt_per_tensor,
                                  (size_t)ref.n_tensors, tol), "per tensor: %s", what);
    /* ∂X and ∂λ are sums of the KKT term and a prior's gradient, which may cancel: measure the
     * error against the larger of the two (the prior parts are computed here by hand). */
    double box = 0, dual = 0;
    for (size_t i = 0; i < p.m * p.d; i++)
        box = fmax(box, 2 * fmax(fmax(p.x[i] - 1, 0), fmax(-1 - p.x[i], 0)));
    for (size_t i = 0; i < p.m && sh->obj != KR_OBJ_REGRESSION; i++)
        dual = fmax(dual, 10 * fmax(o.lambda_min - p.lambda[i], 0));
    ck_assert_msg(kr_test_compare_scaled("grad_x", gx, gx_ref, p.m * p.d, tol, box), "grad_x: %s",
                  what);
    ck_assert_msg(kr_test_compare_scaled("grad_lambda", gl, gl_ref, p.m, tol, dual),
                  "grad_lambda: %s", what);
    double xsq_ref = 0;
    for (size_t i = 0; i < p.m * p.d; i++) xsq_ref += p.x[i] * p.x[i];
    ck_assert_msg(kr_test_compare("|X|^2", &xsq, &xsq_ref, 1, tol), "%s", what);

    /* Loss only (no gradient buffers): the same loss. */
    kr_kkt_loss only;
    ck_assert_int_eq(kr_kkt_eval(k, q.x, q.lambda, NULL, NULL), KR_OK);
    ck_assert_int_eq(kr_kkt_read_loss(k, &only, NULL), KR_OK);
    ck_assert_msg(kr_test_compare("loss only", &only.total, &ref.total, 1, tol), "%s", what);

    point_free(&q);
    kr_kkt_free(k);
    free(gx_ref);
    free(gl_ref);
    free(gx);
    free(gl);
    problem_free(&p);
}

START_TEST(test_kkt_matches_reference)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed());
    long live = kr_tensor_live_count();
    for (int di = 0; di < n_devs; di++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
                if (getenv("KKTRECON_TEST_SMALL") && !SHAPES[s].small) continue;
                check_one(devs[di], dt, &SHAPES[s], KR_ACT_RELU, 19.2, &r);
                check_one(devs[di], dt, &SHAPES[s], KR_ACT_SOFTPLUS, 3.0, &r);
            }
        }
    ck_assert_int_eq(kr_tensor_live_count(), live);
}
END_TEST

/* One optimiser step on X and λ from the device gradient, against PyTorch's update rules
 * applied on the host to the same gradient: SGD (first step: buf = g, p −= lr·g) and
 * Adam (first step: m̂ = g, v̂ = g², p −= lr·g/(|g| + eps)). */
START_TEST(test_optimizer_steps)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 7);
    const shape sh = {33, 17, {7, 3}, 2, true, 0, 0, 0, false};
    const kr_kkt_opts o = {KR_ACT_RELU, 19.2, 0.42, KR_OBJ_AUTO};
    for (int di = 0; di < n_devs; di++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            for (int adam = 0; adam < 2; adam++) {
                problem p;
                problem_make(&sh, &r, dt, &p);
                size_t n = p.m * p.d;
                double *gx = malloc(n * sizeof *gx), *gl = malloc(p.m * sizeof *gl);
                double *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
                double wl[64], gotl[64];
                const double lr = 0.05, lrl = 0.01;
                kr_kkt *k;
                dev_point q;
                kr_tensor *b1, *b2, *v1 = NULL, *v2 = NULL;
                ck_assert_int_eq(kr_kkt_new(devs[di], dt, p.model, &o, p.m, p.y, &k), KR_OK);
                point_upload(devs[di], dt, &p, &q);
                ck_assert_int_eq(kr_tensor_new(devs[di], dt, p.m, p.d, "bx", &b1), KR_OK);
                ck_assert_int_eq(kr_tensor_new(devs[di], dt, p.m, 1, "bl", &b2), KR_OK);
                ck_assert_int_eq(kr_kkt_eval(k, q.x, q.lambda, q.gx, q.glambda), KR_OK);
                /* The update rule is what is tested here (the gradient is test_kkt_matches_
                 * reference's job): start from the device's own gradient. */
                ck_assert_int_eq(kr_tensor_read(q.gx, gx), KR_OK);
                ck_assert_int_eq(kr_tensor_read(q.glambda, gl), KR_OK);
                for (size_t i = 0; i < n; i++)
                    want[i] = p.x[i] - lr * (adam ? gx[i] / (fabs(gx[i]) + 1e-8) : gx[i]);
                for (size_t i = 0; i < p.m; i++)
                    wl[i] = p.lambda[i] - lrl * (adam ? gl[i] / (fabs(gl[i]) + 1e-8) : gl[i]);
                if (adam) {
                    ck_assert_int_eq(kr_tensor_new(devs[di], dt, p.m, p.d, "vx", &v1), KR_OK);
                    ck_assert_int_eq(kr_tensor_new(devs[di], dt, p.m, 1, "vl", &v2), KR_OK);
                    ck_assert_int_eq(kr_op_adam(lr, 0.9, 0.999, 1e-8, 1, q.x, q.gx, b1, v1), KR_OK);
                    ck_assert_int_eq(kr_op_adam(lrl, 0.9, 0.999, 1e-8, 1, q.lambda, q.glambda, b2, v2), KR_OK);
                } else {
                    ck_assert_int_eq(kr_op_sgd(lr, 0.9, true, q.x, q.gx, b1), KR_OK);
                    ck_assert_int_eq(kr_op_sgd(lrl, 0.9, true, q.lambda, q.glambda, b2), KR_OK);
                }
                ck_assert_int_eq(kr_tensor_read(q.x, got), KR_OK);
                ck_assert_int_eq(kr_tensor_read(q.lambda, gotl), KR_OK);
                /* Adam's first step is ±lr wherever |g| >> eps; compare the update, not x. */
                for (size_t i = 0; i < n; i++) {
                    got[i] -= p.x[i];
                    want[i] -= p.x[i];
                }
                for (size_t i = 0; i < p.m; i++) {
                    gotl[i] -= p.lambda[i];
                    wl[i] -= p.lambda[i];
                }
                double tol = dt == KR_F64 ? 1e-9 : 2e-3;
                ck_assert_msg(kr_test_compare(adam ? "adam dX" : "sgd dX", got, want, n, tol),
                              "%s %s", kr_device_describe(devs[di]), kr_dtype_name(dt));
                ck_assert_msg(kr_test_compare(adam ? "adam dlambda" : "sgd dlambda", gotl, wl, p.m, tol),
                              "%s %s", kr_device_describe(devs[di]), kr_dtype_name(dt));
                kr_tensor_free(b1);
                kr_tensor_free(b2);
                kr_tensor_free(v1);
                kr_tensor_free(v2);
                point_free(&q);
                kr_kkt_free(k);
                problem_free(&p);
                free(gx);
                free(gl);
                free(want);
                free(got);
            }
        }
}
END_TEST

START_TEST(test_bad_operands)
{
    problem p;
    kr_rng r;
    kr_rng_seed(&r, 5);
    const shape sh = {4, 5, {3}, 1, true, 0, 0, 0, false};
    problem_make(&sh, &r, KR_F64, &p);
    const kr_kkt_opts o = {KR_ACT_RELU, 19.2, 0.42, KR_OBJ_AUTO};
    kr_kkt *k;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &o, p.m, p.y, &k), KR_OK);
    kr_tensor *x, *l;
    ck_assert_int_eq(kr_tensor_new(devs[0], KR_F64, 4, 6, "X", &x), KR_OK);
    ck_assert_int_eq(kr_tensor_new(devs[0], KR_F64, 4, 1, "lambda", &l), KR_OK);
    ck_assert_int_eq(kr_kkt_eval(k, x, l, NULL, NULL), KR_E_INVALID);
    kr_kkt_opts bad = o;
    bad.alpha = -1;
    kr_kkt *k2;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &bad, p.m, p.y, &k2), KR_E_INVALID);
    /* objectives that do not fit one output, labels that do not fit the objective */
    bad = o;
    bad.objective = KR_OBJ_MULTICLASS;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &bad, p.m, p.y, &k2), KR_E_INVALID);
    bad.objective = KR_OBJ_BINARY;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &bad, p.m, NULL, &k2), KR_E_INVALID);
    p.y[1] = 0.5;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &bad, p.m, p.y, &k2), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "candidate 1"));
    bad.objective = KR_OBJ_REGRESSION; /* labels unused */
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, p.model, &bad, p.m, NULL, &k2), KR_OK);
    kr_kkt_free(k2);
    kr_model *m3;
    const size_t h[1] = {3};
    ck_assert_int_eq(kr_model_new_general(5, h, 1, 3, 0u, &m3), KR_OK);
    double cls[4] = {0, 1, 2, 3};
    bad.objective = KR_OBJ_AUTO;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, m3, &bad, 4, cls, &k2), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "class index 0..2"));
    cls[3] = 2;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, m3, &bad, 4, cls, &k2), KR_OK);
    kr_kkt_free(k2);
    bad.objective = KR_OBJ_REGRESSION;
    ck_assert_int_eq(kr_kkt_new(devs[0], KR_F64, m3, &bad, 4, cls, &k2), KR_E_INVALID);
    kr_model_free(m3);
    kr_tensor_free(x);
    kr_tensor_free(l);
    kr_kkt_free(k);
    problem_free(&p);
}
END_TEST

int main(void)
{
    n_devs = kr_test_devices(devs, 4);
    Suite *s = suite_create("kkt");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_kkt_matches_reference);
    tcase_add_test(tc, test_optimizer_steps);
    tcase_add_test(tc, test_bad_operands);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_test_close_devices();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
