/* selftest.c — the known-answer self-test of a device (selftest.h).
 *
 * Every check runs the same computation twice: on the device under test in its precision and
 * on the host backend in float64 (ops and GEMM), or against the float64 references (KKT loss
 * and gradient, a training step). Inputs are drawn from a fixed seed and rounded to the
 * device's precision first, so both sides start from identical numbers and only the
 * arithmetic can differ. The first check whose normwise relative error exceeds the tolerance
 * is the one reported.
 */
#include "app/selftest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"
#include "device/blas.h"
#include "device/ops.h"
#include "nn/kkt.h"
#include "nn/mlp.h"
#include "ref/kkt_ref.h"
#include "ref/mlp_ref.h"

typedef struct st_ctx {
    kr_device *dev, *host; /* under test; the host backend (float64 reference) */
    kr_dtype dt;
    kr_rng rng;
    double tol;
    char failing[64]; /* first check over tolerance ("" while all pass) */
    double err;       /* its normwise relative error (NaN if non-finite) */
} st_ctx;

/* The same values on the device under test (in dt) and on the host (float64). */
typedef struct twin {
    kr_tensor *d, *h;
} twin;

static double round_to(kr_dtype dt, double v) { return dt == KR_F32 ? (double)(float)v : v; }

static void twin_free(twin *t)
{
    kr_tensor_free(t->d);
    kr_tensor_free(t->h);
    t->d = t->h = NULL;
}

/* rows x cols values ~ U[lo, hi) (or ±1 when sign is set), rounded to the device's dtype. */
static kr_status twin_new(st_ctx *c, size_t rows, size_t cols, double lo, double hi, bool sign,
                          twin *t)
{
    double *v = NULL;
    t->d = t->h = NULL;
    KR_TRY(kr_alloc((void **)&v, "self-test data", rows, cols, sizeof *v));
    for (size_t i = 0; i < rows * cols; i++) {
        double u = kr_rng_uniform(&c->rng);
        v[i] = sign ? (u < 0.5 ? -1.0 : 1.0) : round_to(c->dt, lo + (hi - lo) * u);
    }
    kr_status st;
    KR_TRY_GOTO(kr_tensor_new(c->dev, c->dt, rows, cols, "selftest", &t->d));
    KR_TRY_GOTO(kr_tensor_new(c->host, KR_F64, rows, cols, "selftest", &t->h));
    KR_TRY_GOTO(kr_tensor_write(t->d, v));
    KR_TRY_GOTO(kr_tensor_write(t->h, v));
    free(v);
    return KR_OK;
fail:
    free(v);
    twin_free(t);
    return st;
}

/* Row i of t (rows x 1) holds the class i mod classes, on both sides. */
static kr_status twin_fill_classes(st_ctx *c, twin *t, size_t classes)
{
    (void)c;
    const size_t n = kr_tensor_numel(t->h);
    double *v;
    KR_TRY(kr_alloc((void **)&v, "self-test classes", n, 1, sizeof *v));
    for (size_t i = 0; i < n; i++) v[i] = (double)(i % classes);
    kr_status st = kr_tensor_write(t->d, v);
    if (st == KR_OK) st = kr_tensor_write(t->h, v);
    free(v);
    return st;
}

/* max|got − want| / max|want| (NaN if anything is not finite). */
static double normwise(const double *got, const double *want, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) return NAN;
        num = fmax(num, fabs(got[i] - want[i]));
        den = fmax(den, fabs(want[i]));
    }
    return num / fmax(den, 1e-300);
}

/* Records `what` as failing if err is over the tolerance (or NaN) and nothing failed yet. */
static void judge(st_ctx *c, const char *what, double err)
{
    if (c->failing[0] || err <= c->tol) return;
    snprintf(c->failing, sizeof c->failing, "%s", what);
    c->err = err;
}

static kr_status twin_compare(st_ctx *c, const char *what, const twin *t)
{
    size_t n = kr_tensor_numel(t->h);
    double *a = NULL, *b = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&a, "self-test result", n, 1, sizeof *a));
    KR_TRY_GOTO(kr_alloc((void **)&b, "self-test result", n, 1, sizeof *b));
    KR_TRY_GOTO(kr_tensor_read(t->d, a));
    KR_TRY_GOTO(kr_tensor_read(t->h, b));
    judge(c, what, normwise(a, b, n));
fail:
    free(a);
    free(b);
    return st;
}

/* Runs `call` on the device (side 0) and on the host (side 1); T(tw) is tw on that side. */
#define BOTH(call)                                                                                 \
    do {                                                                                           \
        for (int side_ = 0; side_ < 2; side_++) KR_TRY_GOTO(call);                                 \
    } while (0)
#define T(tw) (side_ ? (tw).h : (tw).d)

/* 1. Every op of ops.def. Shapes are awkward on purpose (7 x 33, not a multiple of a
 * work-group). */
static kr_status check_ops(st_ctx *c)
{
    enum { R = 7, C = 33 };
    twin x = {0}, y = {0}, z = {0}, s = {0}, g = {0}, buf = {0}, m = {0}, v = {0}, row = {0},
         out = {0}, scal = {0}, phi = {0}, lab = {0}, dphi = {0}, alpha = {0}, lr = {0},
         mom = {0}, cls = {0}, gl = {0}, seg = {0};
    kr_status st;
    KR_TRY_GOTO(twin_new(c, R, C, -2, 2, false, &x));
    KR_TRY_GOTO(twin_new(c, R, C, -2, 2, false, &y));
    KR_TRY_GOTO(twin_new(c, R, C, -2, 2, false, &z));
    KR_TRY_GOTO(twin_new(c, R, C, 0.05, 0.95, false, &s));
    KR_TRY_GOTO(twin_new(c, R, C, -1, 1, false, &g));
    KR_TRY_GOTO(twin_new(c, R, C, -1, 1, false, &buf));
    KR_TRY_GOTO(twin_new(c, R, C, -1, 1, false, &m));
    KR_TRY_GOTO(twin_new(c, R, C, 0, 1, false, &v));
    KR_TRY_GOTO(twin_new(c, 1, C, -1, 1, false, &row));
    KR_TRY_GOTO(twin_new(c, 1, C, -1, 1, false, &out));
    KR_TRY_GOTO(twin_new(c, 1, 5, 0, 0, false, &scal));
    KR_TRY_GOTO(twin_new(c, C, 1, -3, 3, false, &phi));
    KR_TRY_GOTO(twin_new(c, C, 1, 0, 0, true, &lab));
    KR_TRY_GOTO(twin_new(c, C, 1, 0, 0, false, &dphi));
    KR_TRY_GOTO(twin_new(c, R, 1, 1, 50, false, &alpha)); /* per-row parameters (points) */
    KR_TRY_GOTO(twin_new(c, R, 1, 0.01, 0.5, false, &lr));
    KR_TRY_GOTO(twin_new(c, R, 1, 0, 0.95, false, &mom));
    KR_TRY_GOTO(twin_new(c, R, 1, 0, 0, false, &gl));
    KR_TRY_GOTO(twin_new(c, 1, 2 * R, 0, 0, false, &seg));

    BOTH(kr_op_axpby(0.75, T(x), -1.25, T(y)));
    KR_TRY_GOTO(twin_compare(c, "ops_axpby", &y));
    BOTH(kr_op_mul(1.5, T(x), T(y), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_mul", &z));
    BOTH(kr_op_fill(-0.375, T(buf)));
    KR_TRY_GOTO(twin_compare(c, "ops_fill", &buf));
    BOTH(kr_op_act_forward(KR_ACT_SOFTPLUS, 3.0, T(x), T(y), T(s)));
    KR_TRY_GOTO(twin_compare(c, "ops_act_forward (softplus)", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_act_forward (sigmoid)", &s));
    BOTH(kr_op_act_forward(KR_ACT_RELU, 19.2, T(x), T(z), NULL));
    KR_TRY_GOTO(twin_compare(c, "ops_act_forward (relu)", &z));
    BOTH(kr_op_relu_backward(T(x), T(g), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_relu_backward", &z));
    BOTH(kr_op_sigmoid_backward(2.5, T(g), T(y), T(s), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_sigmoid_backward", &z));
    BOTH(kr_op_add_row(-0.5, T(row), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_add_row", &z));
    BOTH(kr_op_col_sum(0.25, T(x), 2.0, T(out)));
    KR_TRY_GOTO(twin_compare(c, "ops_col_sum", &out));
    BOTH(kr_op_sum_sq(T(x), T(scal), 0));
    BOTH(kr_op_hinge_sq(T(x), -1.0, 1.0, 1.0, T(g), T(scal), 1));
    BOTH(kr_op_logistic(1.0 / C, T(phi), T(lab), T(dphi), T(scal), 2));
    KR_TRY_GOTO(twin_compare(c, "ops_sum_sq, ops_hinge_sq, ops_logistic (reductions)", &scal));
    KR_TRY_GOTO(twin_compare(c, "ops_hinge_sq (gradient)", &g));
    KR_TRY_GOTO(twin_compare(c, "ops_logistic (gradient)", &dphi));
    BOTH(kr_op_sgd(0.1, 0.9, false, T(x), T(g), T(buf)));
    KR_TRY_GOTO(twin_compare(c, "ops_sgd", &x));
    BOTH(kr_op_adam(0.01, 0.9, 0.999, 1e-8, 3, T(y), T(g), T(m), T(v)));
    KR_TRY_GOTO(twin_compare(c, "ops_adam", &y));
    BOTH(kr_op_bias_act_forward(KR_ACT_RELU, 7.0, T(row), T(x), T(y), T(s)));
    KR_TRY_GOTO(twin_compare(c, "ops_bias_act_forward", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_bias_act_forward (sigmoid)", &s));
    BOTH(kr_op_dual_mul(T(row), T(g), T(z), T(s)));
    KR_TRY_GOTO(twin_compare(c, "ops_dual_mul", &g));
    KR_TRY_GOTO(twin_compare(c, "ops_dual_mul (second product)", &z));
    BOTH(kr_op_axpby_sum_sq(-2.0, T(x), 2.0, T(y), T(scal), 4));
    KR_TRY_GOTO(twin_compare(c, "ops_axpby_sum_sq", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_axpby_sum_sq (sum)", &scal));
    BOTH(kr_op_act_forward_rows(KR_ACT_SOFTPLUS, T(alpha), T(x), T(y), T(s)));
    KR_TRY_GOTO(twin_compare(c, "ops_act_forward_rows", &y));
    BOTH(kr_op_sigmoid_backward_rows(T(alpha), T(g), T(y), T(s), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_sigmoid_backward_rows", &z));
    BOTH(kr_op_sgd_rows(T(lr), T(mom), false, T(x), T(g), T(buf)));
    KR_TRY_GOTO(twin_compare(c, "ops_sgd_rows", &x));
    BOTH(kr_op_adam_rows(T(lr), 0.9, 0.999, 1e-8, 2, T(y), T(g), T(m), T(v)));
    KR_TRY_GOTO(twin_compare(c, "ops_adam_rows", &y));
    /* The last hidden layer's reverse pass: alpha and lr as the per-row c and y, row and out
     * as the 1 x C rows b, e and w. Segmented sums: one per row of x, every other slot. */
    BOTH(kr_op_last_reverse(3.0, 1.0 / R, T(alpha), T(lr), T(row), T(g), T(y), T(s), T(x),
                            T(out), T(row), T(z), T(gl)));
    KR_TRY_GOTO(twin_compare(c, "ops_last_reverse", &z));
    KR_TRY_GOTO(twin_compare(c, "ops_last_reverse (per-row sums)", &gl));
    BOTH(kr_op_first_backward(0.25, T(alpha), T(lr), T(row), T(s), T(gl), T(y), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_first_backward", &z));
    KR_TRY_GOTO(twin_compare(c, "ops_first_backward (outer product)", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_first_backward (per-row c)", &gl));
    BOTH(kr_op_bias_delta(T(y), T(s), T(row), T(z), T(out), T(seg), 0));
    KR_TRY_GOTO(twin_compare(c, "ops_bias_delta", &z));
    KR_TRY_GOTO(twin_compare(c, "ops_bias_delta (column sums)", &out));
    BOTH(kr_op_out_residual(T(alpha), T(x), T(row), T(out), T(seg), 1));
    KR_TRY_GOTO(twin_compare(c, "ops_out_residual", &out));
    KR_TRY_GOTO(twin_compare(c, "ops_bias_delta, ops_out_residual (sums)", &seg));
    BOTH(kr_op_sgd_pair(0.1, 0.01, 0.9, false, T(y), T(g), T(buf), T(gl), T(lr), T(mom)));
    KR_TRY_GOTO(twin_compare(c, "ops_sgd_pair", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_sgd_pair (per-row values)", &gl));
    BOTH(kr_op_box_prior(T(x), -1.0, 1.0, 1.0, T(g), T(seg), 2 * R - 2));
    KR_TRY_GOTO(twin_compare(c, "ops_box_prior (gradient)", &g));
    KR_TRY_GOTO(twin_compare(c, "ops_box_prior (sums)", &seg));
    BOTH(kr_op_sum_sq_seg(T(x), R, T(seg), 0, 2));
    BOTH(kr_op_hinge_sq_seg(T(x), -1.0, 1.0, 1.0, NULL, R, T(seg), 1, 2));
    KR_TRY_GOTO(twin_compare(c, "ops_sum_sq, ops_hinge_sq (segmented)", &seg));
    /* Multiclass ops on the R x C operands: x as logits, classes cycling through the columns,
     * y (rows of 2) as the one-hot-ish labels of xent (any real weights are valid). */
    KR_TRY_GOTO(twin_new(c, R, 1, 0, 0, false, &cls));
    KR_TRY_GOTO(twin_fill_classes(c, &cls, C));
    BOTH(kr_op_class_sign(T(cls), T(x), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_class_sign", &z));
    BOTH(kr_op_scale_rows(0.5, T(alpha), T(x), T(z)));
    KR_TRY_GOTO(twin_compare(c, "ops_scale_rows", &z));
    BOTH(kr_op_xent(1.0 / R, T(x), T(s), T(y), T(scal), 0));
    BOTH(kr_op_regress(true, 1.0 / C, T(phi), T(lab), T(dphi), T(scal), 2));
    KR_TRY_GOTO(twin_compare(c, "ops_xent, ops_regress (reductions)", &scal));
    KR_TRY_GOTO(twin_compare(c, "ops_xent (gradient)", &y));
    KR_TRY_GOTO(twin_compare(c, "ops_regress (gradient)", &dphi));
fail:
    twin_free(&x), twin_free(&y), twin_free(&z), twin_free(&s), twin_free(&g);
    twin_free(&buf), twin_free(&m), twin_free(&v), twin_free(&row), twin_free(&out);
    twin_free(&gl), twin_free(&seg);
    twin_free(&scal), twin_free(&phi), twin_free(&lab), twin_free(&dphi);
    twin_free(&alpha), twin_free(&lr), twin_free(&mom), twin_free(&cls);
    return st;
}

/* 2. GEMM, every transpose combination, on a 7 x 5 x 33 product. */
static kr_status check_gemm(st_ctx *c)
{
    static const char *const names[4] = {"GEMM (N, N)", "GEMM (N, T)", "GEMM (T, N)",
                                          "GEMM (T, T)"};
    twin a = {0}, b = {0}, out = {0};
    kr_status st = KR_OK;
    KR_TRY_GOTO(twin_new(c, 7, 5, 0, 0, false, &out));
    for (int k = 0; k < 4 && !c->failing[0]; k++) {
        bool ta = k & 2, tb = k & 1;
        KR_TRY_GOTO(twin_new(c, ta ? 33 : 7, ta ? 7 : 33, -1, 1, false, &a));
        KR_TRY_GOTO(twin_new(c, tb ? 5 : 33, tb ? 33 : 5, -1, 1, false, &b));
        BOTH(kr_blas_gemm(0.5, T(a), ta, T(b), tb, 0.0, T(out)));
        KR_TRY_GOTO(twin_compare(c, names[k], &out));
        twin_free(&a);
        twin_free(&b);
    }
fail:
    twin_free(&a), twin_free(&b), twin_free(&out);
    return st;
}

/* A 9-7-5-1 model with a first-layer bias, weights rounded to dt. */
static kr_status small_model(st_ctx *c, kr_model **out)
{
    size_t hidden[2] = {7, 5};
    KR_TRY(kr_model_new(9, hidden, 2, true, out));
    kr_model_init(*out, 0.5, 20261202);
    kr_model *m = *out;
    for (int l = 0; l < m->layers; l++)
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++) m->w[l][q] = round_to(c->dt, m->w[l][q]);
    for (size_t q = 0; q < m->dims[1]; q++) m->b[0][q] = round_to(c->dt, m->b[0][q]);
    return KR_OK;
}

/* 3. One KKT loss and gradient (DESIGN §3.1) against the per-candidate reference. */
static kr_status check_kkt(st_ctx *c, const kr_model *model)
{
    enum { M = 6, D = 9 };
    double x[M * D], lam[M], y[M], gx[M * D], gl[M], rgx[M * D], rgl[M];
    for (size_t i = 0; i < M * D; i++) x[i] = round_to(c->dt, kr_rng_normal(&c->rng) * 0.5);
    for (size_t i = 0; i < M; i++) {
        lam[i] = round_to(c->dt, kr_rng_uniform(&c->rng));
        y[i] = i < M / 2 ? -1.0 : 1.0;
    }
    const kr_kkt_opts o = {KR_ACT_RELU, 4.0, 0.5, KR_OBJ_AUTO};
    kr_kkt *k = NULL;
    kr_tensor *tx = NULL, *tl = NULL, *tgx = NULL, *tgl = NULL;
    kr_kkt_loss loss, ref;
    kr_status st;
    KR_TRY_GOTO(kr_kkt_new(c->dev, c->dt, model, &o, M, y, &k));
    KR_TRY_GOTO(kr_tensor_new(c->dev, c->dt, M, D, "x", &tx));
    KR_TRY_GOTO(kr_tensor_new(c->dev, c->dt, M, 1, "lambda", &tl));
    KR_TRY_GOTO(kr_tensor_new(c->dev, c->dt, M, D, "grad x", &tgx));
    KR_TRY_GOTO(kr_tensor_new(c->dev, c->dt, M, 1, "grad lambda", &tgl));
    KR_TRY_GOTO(kr_tensor_write(tx, x));
    KR_TRY_GOTO(kr_tensor_write(tl, lam));
    KR_TRY_GOTO(kr_kkt_eval(k, tx, tl, tgx, tgl));
    KR_TRY_GOTO(kr_kkt_read_loss(k, &loss, NULL));
    KR_TRY_GOTO(kr_tensor_read(tgx, gx));
    KR_TRY_GOTO(kr_tensor_read(tgl, gl));
    KR_TRY_GOTO(kr_kkt_ref_eval(model, &o, M, x, lam, y, &ref, rgx, rgl));
    judge(c, "KKT loss (nn/kkt.c)", normwise(&loss.total, &ref.total, 1));
    judge(c, "KKT gradient in x (nn/kkt.c)", normwise(gx, rgx, M * D));
    judge(c, "KKT gradient in lambda (nn/kkt.c)", normwise(gl, rgl, M));
fail:
    kr_tensor_free(tx), kr_tensor_free(tl), kr_tensor_free(tgx), kr_tensor_free(tgl);
    kr_kkt_free(k);
    return st;
}

/* 4. One training step's loss and gradients against the per-sample reference. */
static kr_status check_train(st_ctx *c, const kr_model *model)
{
    enum { N = 11, D = 9 };
    double x[N * D], y[N], loss = 0, ref_loss = 0, errors;
    size_t ref_errors;
    for (size_t i = 0; i < N * D; i++) x[i] = round_to(c->dt, kr_rng_normal(&c->rng));
    for (size_t i = 0; i < N; i++) y[i] = i % 2 ? 1.0 : -1.0;
    kr_mlp *net = NULL;
    kr_model *g = NULL, *rg = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_model_clone(model, &g));
    KR_TRY_GOTO(kr_model_clone(model, &rg));
    KR_TRY_GOTO(kr_mlp_new(c->dev, c->dt, model, N, &net));
    KR_TRY_GOTO(kr_mlp_set_batch(net, x, y));
    KR_TRY_GOTO(kr_mlp_loss_grad(net, &loss, &errors));
    KR_TRY_GOTO(kr_mlp_read_grads(net, g));
    KR_TRY_GOTO(kr_mlp_ref_loss_grad(model, N, x, y, &ref_loss, rg, &ref_errors));
    judge(c, "training loss (nn/mlp.c)", normwise(&loss, &ref_loss, 1));
    for (int l = 0; l < model->layers; l++)
        judge(c, "training gradient (nn/mlp.c)",
              normwise(g->w[l], rg->w[l], model->dims[l] * model->dims[l + 1]));
    judge(c, "training gradient of b1 (nn/mlp.c)", normwise(g->b[0], rg->b[0], model->dims[1]));
fail:
    kr_mlp_free(net);
    kr_model_free(g);
    kr_model_free(rg);
    return st;
}

kr_status kr_selftest_run(kr_device *dev, kr_dtype dt)
{
    if (!dev) return KR_FAIL(KR_E_INVALID, "kr_selftest_run: NULL device");
    KR_TRY(kr_device_check_dtype(dev, dt));
    st_ctx c = {.dev = dev, .dt = dt, .tol = dt == KR_F32 ? 1e-4 : 1e-9};
    kr_rng_seed(&c.rng, 0x5e1f7e57u);
    kr_model *model = NULL;
    kr_status st;
    KR_TRY(kr_device_open("host", &c.host));
    KR_TRY_GOTO(check_ops(&c));
    if (!c.failing[0]) KR_TRY_GOTO(check_gemm(&c));
    KR_TRY_GOTO(small_model(&c, &model));
    if (!c.failing[0]) KR_TRY_GOTO(check_kkt(&c, model));
    if (!c.failing[0]) KR_TRY_GOTO(check_train(&c, model));
    st = KR_OK;
    if (c.failing[0]) {
        st = KR_FAIL(KR_E_NUMERIC,
                     "self-test FAILED on %s, %s: %s differs from the host float64 result by "
                     "%.3g (normwise relative; tolerance %g); this device computes wrong "
                     "numbers, use another device or driver",
                     kr_device_describe(dev), kr_dtype_name(dt), c.failing, c.err, c.tol);
    }
fail:
    if (st != KR_OK && st != KR_E_NUMERIC)
        kr_error_context(st, "self-test of %s (%s)", kr_device_describe(dev), kr_dtype_name(dt));
    kr_model_free(model);
    kr_device_close(c.host);
    return st;
}
