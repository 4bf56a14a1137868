/* check_ops.c — device suite: every operation of ops.h on every backend against float64
 * reference loops written here, independently of ops_host.c and cl/ops.cl.
 *
 * What it checks, on host and the OpenCL device (testutil.h), in float32 and (where the
 * device has fp64) float64, on shapes whose sizes are not multiples of 16 — (1,1), (3,7),
 * (7,33), (33,17), (1,1000), (257,129):
 *   axpby, mul, act_forward also on row views (offset != 0) whose neighbouring rows must stay
 *   untouched; axpby and mul with the output aliasing an input; axpby and col_sum with b == 0
 *   over an output full of NaN; act_forward in relu and softplus mode, with and without s, at
 *   α = 1.7 and α = 500 with z up to ±5 (σ fully saturated, and σ never NaN); relu and
 *   sigmoid backward (with and without dA); add_row; col_sum; the reductions sum_sq,
 *   hinge_sq (box prior and dual feasibility with hi = +∞, with and without g) and logistic
 *   (loss, error count, dφ), read back through kr_tensor_read of the scalar tensor, whose
 *   other slots must stay untouched; SGD with momentum at the first and later steps and
 *   without momentum; Adam after t = 1 and t = 5 against PyTorch's formulas; the per-row ops
 *   act_forward_rows, sigmoid_backward_rows, sgd_rows, adam_rows (α, lr, momentum rows x 1)
 *   on shapes of 1, 3, 7, 33 rows and columns; the fused ops of the attack iteration
 *   bias_act_forward (also in place, s NULL), dual_mul (with and without the row),
 *   axpby_sum_sq (row views on every other shape), bias_delta, out_residual, sgd_pair,
 *   first_backward, last_reverse (with and
 *   without the bias row), box_prior (hinge_sq and sum_sq in one pass); 21 reductions
 *   between kr_ops_reduce_defer and kr_ops_reduce_flush
 *   (more than one finish kernel's worth, a second scal buffer in between), every slot as a
 *   lone reduction writes it; segmented reductions (sum_sq, axpby_sum_sq, hinge_sq, logistic
 *   in 1, 3, 7 and 16 row blocks of 1, 3, 33 rows: per-block sums into strided slots, one
 *   first stage per op); the multiclass and regression ops class_sign (runner-up with
 *   ties, including exact ties that must go to the lowest index), scale_rows, xent (2, 3, 10
 *   classes) and regress (MSE and Huber, residuals on both sides of 1); and that shape,
 *   slot and dtype mismatches return KR_E_INVALID. At the end no tensor may have leaked.
 * Inputs are fresh random numbers each run (seed printed; KKTRECON_TEST_SEED repeats it),
 * written to the device and read back, so the references start from exactly the values the
 * device holds. Tolerances (normwise, max|got − want| / max|want|): 1e-4 float32, 1e-10
 * float64 (kr_test_tol); the error count must match exactly.
 * Runs without forking (an OpenCL context does not survive fork); exit status 0/1.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/ops.h"
#include "base/rng.h"
#include "device/tensor.h"
#include "testutil.h"

static kr_device *g_devs[4];
static int g_ndevs;

static const size_t g_shapes[][2] = {{1, 1}, {3, 7}, {7, 33}, {33, 17}, {1, 1000}, {257, 129}};
/* KKTRECON_TEST_SMALL=1 (tests/oclgrind.sh: the simulator runs every work-item in turn) drops
 * the last shape; 1 × 1000 still spans several work-groups and reduction partials. */
static size_t g_nshapes = sizeof g_shapes / sizeof g_shapes[0];
#define N_SHAPES g_nshapes

/* ---- test contexts: (device, dtype) pairs ----------------------------------------------- */

typedef struct ctx {
    kr_device *dev;
    kr_dtype dt;
    double tol;
} ctx;

static int contexts(ctx *out)
{
    int k = 0;
    for (int d = 0; d < g_ndevs; d++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(g_devs[d], dt)) continue;
            out[k++] = (ctx){g_devs[d], dt, kr_test_tol(dt)};
        }
    return k;
}

/* "<op> on <device> float32 3x7 (view)" for failure messages. */
static const char *tag(char *buf, size_t cap, const char *op, const ctx *c, size_t rows,
                       size_t cols, const char *extra)
{
    snprintf(buf, cap, "%s on %s %s %zux%zu%s%s", op, kr_device_describe(c->dev),
             kr_dtype_name(c->dt), rows, cols, extra && *extra ? " " : "", extra ? extra : "");
    return buf;
}

static double *xalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ---- tbuf: a tensor (or a row view of a larger one) with its values on the host -------- */

typedef struct tbuf {
    kr_tensor *own;  /* the allocation: rows + 3 rows when a view, else rows */
    kr_tensor view;  /* rows [2, 2 + rows) of own */
    kr_tensor *t;    /* what the ops get: &view or own */
    size_t rows, cols, pad;
    double *all;     /* own's contents as the device holds them */
    double *v;       /* all + pad * cols: t's values (rows x cols) */
} tbuf;

static void tb_sync(tbuf *b)
{
    ck_assert_int_eq(kr_tensor_write(b->own, b->all), KR_OK);
    ck_assert_int_eq(kr_tensor_read(b->own, b->all), KR_OK); /* rounded to the dtype */
}

/* rows x cols of U[lo, hi); as_view puts it at rows 2.. of a taller tensor (offset != 0). */
static void tb_init(tbuf *b, const ctx *c, size_t rows, size_t cols, bool as_view, kr_rng *r,
                    double lo, double hi, const char *name)
{
    b->rows = rows;
    b->cols = cols;
    b->pad = as_view ? 2 : 0;
    size_t total = rows + (as_view ? 3 : 0);
    ck_assert_int_eq(kr_tensor_new(c->dev, c->dt, total, cols, name, &b->own), KR_OK);
    b->all = xalloc(total * cols);
    kr_test_fill_uniform(r, b->all, total * cols, lo, hi);
    b->v = b->all + b->pad * cols;
    tb_sync(b);
    if (as_view) {
        b->view = kr_tensor_rows(b->own, b->pad, rows);
        b->t = &b->view;
    } else {
        b->t = b->own;
    }
}

/* Replaces t's values (the padding rows keep theirs). */
static void tb_set(tbuf *b, const double *vals)
{
    memcpy(b->v, vals, b->rows * b->cols * sizeof *vals);
    tb_sync(b);
}

static void tb_fill(tbuf *b, double value)
{
    for (size_t i = 0; i < b->rows * b->cols; i++) b->v[i] = value;
    tb_sync(b);
}

/* Reads t into out (rows x cols) and checks that the padding rows were not written. */
static void tb_get(tbuf *b, double *out, const char *what)
{
    size_t total = b->own->rows * b->cols;
    double *now = xalloc(total);
    ck_assert_int_eq(kr_tensor_read(b->own, now), KR_OK);
    for (size_t i = 0; i < total; i++) {
        bool inside = i >= b->pad * b->cols && i < (b->pad + b->rows) * b->cols;
        if (!inside)
            ck_assert_msg(now[i] == b->all[i], "%s: element %zu outside the view changed (%g -> %g)",
                          what, i, b->all[i], now[i]);
    }
    memcpy(out, now + b->pad * b->cols, b->rows * b->cols * sizeof *out);
    free(now);
}

static void tb_free(tbuf *b)
{
    kr_tensor_free(b->own);
    free(b->all);
    memset(b, 0, sizeof *b);
}

static void check_close(const char *what, const double *got, const double *want, size_t n,
                        double tol)
{
    ck_assert_msg(kr_test_compare(what, got, want, n, tol), "%s", what);
}

/* As check_close, but errors are measured against at least `scale`: for outputs whose natural
 * size is `scale` (σ in [0, 1], softplus of z ~ ±5) but whose few elements can all be tiny
 * (one element at α = 500 can be e^-1000, which float32 cannot hold). */
static void check_close_scale(const char *what, const double *got, const double *want, size_t n,
                              double tol, double scale)
{
    double max_want = 0;
    for (size_t i = 0; i < n; i++) max_want = fmax(max_want, fabs(want[i]));
    check_close(what, got, want, n, max_want >= scale ? tol : tol * scale / fmax(max_want, 1e-300));
}

/* ---- references (float64) ------------------------------------------------------------ */

static double ref_sigmoid(double t) { return 1.0 / (1.0 + exp(-t)); } /* exp(+big) = inf: fine */

/* log(1 + e^t), without overflow for large t. */
static double ref_softplus1(double t) { return t > 30 ? t + exp(-t) : log1p(exp(t)); }

static double ref_relu(double x) { return x > 0 ? x : 0; }

/* ---- element-wise ops ---------------------------------------------------------------- */

START_TEST(test_axpby)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x101);
    ctx cs[8];
    int nc = contexts(cs);
    const double a = 0.75, b = -1.25;
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int view = 0; view < 2; view++) {
                size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                const char *vt = view ? "(view)" : "";
                tbuf x, y;
                tb_init(&x, &cs[c], R, C, view, &r, -1, 1, "x");
                tb_init(&y, &cs[c], R, C, view, &r, -1, 1, "y");
                double *got = xalloc(n), *want = xalloc(n);

                for (size_t i = 0; i < n; i++) want[i] = a * x.v[i] + b * y.v[i];
                ck_assert_int_eq(kr_op_axpby(a, x.t, b, y.t), KR_OK);
                tag(w, sizeof w, "axpby", &cs[c], R, C, vt);
                tb_get(&y, got, w);
                check_close(w, got, want, n, cs[c].tol);

                /* b == 0: y's NaNs must not leak into the result. */
                tb_fill(&y, NAN);
                for (size_t i = 0; i < n; i++) want[i] = a * x.v[i];
                ck_assert_int_eq(kr_op_axpby(a, x.t, 0.0, y.t), KR_OK);
                tag(w, sizeof w, "axpby b=0 over NaN", &cs[c], R, C, vt);
                tb_get(&y, got, w);
                check_close(w, got, want, n, cs[c].tol);

                /* x == y. */
                for (size_t i = 0; i < n; i++) want[i] = (a + b) * x.v[i];
                ck_assert_int_eq(kr_op_axpby(a, x.t, b, x.t), KR_OK);
                tag(w, sizeof w, "axpby aliased", &cs[c], R, C, vt);
                tb_get(&x, got, w);
                check_close(w, got, want, n, cs[c].tol);

                free(got);
                free(want);
                tb_free(&x);
                tb_free(&y);
            }
}
END_TEST

START_TEST(test_fill)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x10f);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int view = 0; view < 2; view++) {
                size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                const char *vt = view ? "(view)" : "";
                /* A random value (rounded to the dtype as the device stores it), NaN, ±Inf. */
                double v0 = 8 * kr_rng_uniform(&r) - 4;
                const double vals[4] = {cs[c].dt == KR_F32 ? (double)(float)v0 : v0, NAN,
                                        INFINITY, -INFINITY};
                tbuf y;
                tb_init(&y, &cs[c], R, C, view, &r, -1, 1, "y");
                double *got = xalloc(n);
                for (int k = 0; k < 4; k++) {
                    ck_assert_int_eq(kr_op_fill(vals[k], y.t), KR_OK);
                    tag(w, sizeof w, "fill", &cs[c], R, C, vt);
                    tb_get(&y, got, w);
                    for (size_t i = 0; i < n; i++)
                        ck_assert_msg(isnan(vals[k]) ? isnan(got[i]) : got[i] == vals[k],
                                      "%s: element %zu is %g, want %g", w, i, got[i], vals[k]);
                }
                /* kr_tensor_fill on a non-contiguous view (all rows, columns [1, C-1)): the
                 * fill op row by row; the first and last column keep their values. */
                if (C >= 3) {
                    tb_fill(&y, 0.5);
                    kr_tensor inner = *y.t;
                    inner.cols = C - 2;
                    inner.offset += 1;
                    ck_assert_int_eq(kr_tensor_fill(&inner, vals[0]), KR_OK);
                    tag(w, sizeof w, "kr_tensor_fill, inner columns", &cs[c], R, C, vt);
                    tb_get(&y, got, w);
                    for (size_t i = 0; i < R; i++)
                        for (size_t j = 0; j < C; j++) {
                            double want = j == 0 || j == C - 1 ? 0.5 : vals[0];
                            ck_assert_msg(got[i * C + j] == want, "%s: (%zu, %zu) is %g, want %g",
                                          w, i, j, got[i * C + j], want);
                        }
                }
                /* A new tensor is zero everywhere (the fill op at creation on OpenCL). */
                kr_tensor *z = NULL;
                ck_assert_int_eq(kr_tensor_new(cs[c].dev, cs[c].dt, R, C, "z", &z), KR_OK);
                ck_assert_int_eq(kr_tensor_read(z, got), KR_OK);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(got[i] == 0.0 && !signbit(got[i]), "new tensor: element %zu is %g",
                                  i, got[i]);
                kr_tensor_free(z);
                free(got);
                tb_free(&y);
            }
}
END_TEST

START_TEST(test_mul)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x102);
    ctx cs[8];
    int nc = contexts(cs);
    const double s = 1.5;
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int view = 0; view < 2; view++) {
                size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                const char *vt = view ? "(view)" : "";
                tbuf x, y, z;
                tb_init(&x, &cs[c], R, C, view, &r, -2, 2, "x");
                tb_init(&y, &cs[c], R, C, view, &r, -2, 2, "y");
                tb_init(&z, &cs[c], R, C, view, &r, -2, 2, "z");
                double *got = xalloc(n), *want = xalloc(n);
                for (size_t i = 0; i < n; i++) want[i] = s * x.v[i] * y.v[i];

                ck_assert_int_eq(kr_op_mul(s, x.t, y.t, z.t), KR_OK);
                tag(w, sizeof w, "mul", &cs[c], R, C, vt);
                tb_get(&z, got, w);
                check_close(w, got, want, n, cs[c].tol);

                ck_assert_int_eq(kr_op_mul(s, x.t, y.t, x.t), KR_OK); /* z == x */
                tag(w, sizeof w, "mul aliased", &cs[c], R, C, vt);
                tb_get(&x, got, w);
                check_close(w, got, want, n, cs[c].tol);

                free(got);
                free(want);
                tb_free(&x);
                tb_free(&y);
                tb_free(&z);
            }
}
END_TEST

START_TEST(test_act_forward)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x103);
    ctx cs[8];
    int nc = contexts(cs);
    const double alphas[] = {1.7, 500.0};
    char w[256], extra[96];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int view = 0; view < 2; view++)
                for (int act = 0; act < 2; act++)
                    for (int ai = 0; ai < 2; ai++) {
                        size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                        kr_act ka = act ? KR_ACT_SOFTPLUS : KR_ACT_RELU;
                        double al = alphas[ai];
                        snprintf(extra, sizeof extra, "%s alpha %g%s",
                                 act ? "softplus" : "relu", al, view ? " (view)" : "");
                        tbuf z, a, s;
                        tb_init(&z, &cs[c], R, C, view, &r, -5, 5, "z");
                        tb_init(&a, &cs[c], R, C, view, &r, -1, 1, "a");
                        tb_init(&s, &cs[c], R, C, view, &r, -1, 1, "s");
                        double *got = xalloc(n), *wa = xalloc(n), *ws = xalloc(n);
                        for (size_t i = 0; i < n; i++) {
                            double t = al * z.v[i];
                            wa[i] = act ? ref_softplus1(t) / al : ref_relu(z.v[i]);
                            ws[i] = ref_sigmoid(t);
                        }

                        ck_assert_int_eq(kr_op_act_forward(ka, al, z.t, a.t, s.t), KR_OK);
                        tag(w, sizeof w, "act_forward a", &cs[c], R, C, extra);
                        tb_get(&a, got, w);
                        check_close_scale(w, got, wa, n, cs[c].tol, 1.0);
                        tag(w, sizeof w, "act_forward s", &cs[c], R, C, extra);
                        tb_get(&s, got, w);
                        check_close_scale(w, got, ws, n, cs[c].tol, 1.0);

                        tb_fill(&a, 0);
                        ck_assert_int_eq(kr_op_act_forward(ka, al, z.t, a.t, NULL), KR_OK);
                        tag(w, sizeof w, "act_forward a (s NULL)", &cs[c], R, C, extra);
                        tb_get(&a, got, w);
                        check_close_scale(w, got, wa, n, cs[c].tol, 1.0);

                        free(got);
                        free(wa);
                        free(ws);
                        tb_free(&z);
                        tb_free(&a);
                        tb_free(&s);
                    }
}
END_TEST

START_TEST(test_relu_backward)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x104);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            tbuf z, da, dz;
            tb_init(&z, &cs[c], R, C, false, &r, -1, 1, "z");
            tb_init(&da, &cs[c], R, C, false, &r, -1, 1, "dA");
            tb_init(&dz, &cs[c], R, C, false, &r, -1, 1, "dZ");
            double *got = xalloc(n), *want = xalloc(n);
            for (size_t i = 0; i < n; i++) want[i] = z.v[i] > 0 ? da.v[i] : 0.0;
            ck_assert_int_eq(kr_op_relu_backward(z.t, da.t, dz.t), KR_OK);
            tag(w, sizeof w, "relu_backward", &cs[c], R, C, NULL);
            tb_get(&dz, got, w);
            check_close(w, got, want, n, cs[c].tol);
            free(got);
            free(want);
            tb_free(&z);
            tb_free(&da);
            tb_free(&dz);
        }
}
END_TEST

START_TEST(test_sigmoid_backward)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x105);
    ctx cs[8];
    int nc = contexts(cs);
    const double al = 7.0;
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int with_da = 0; with_da < 2; with_da++) {
                size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                tbuf da, ds, s, dz;
                tb_init(&da, &cs[c], R, C, false, &r, -1, 1, "dA");
                tb_init(&ds, &cs[c], R, C, false, &r, -1, 1, "dS");
                tb_init(&s, &cs[c], R, C, false, &r, 0, 1, "S");
                tb_init(&dz, &cs[c], R, C, false, &r, -1, 1, "dZ");
                double *got = xalloc(n), *want = xalloc(n);
                for (size_t i = 0; i < n; i++)
                    want[i] = (with_da ? da.v[i] * s.v[i] : 0.0) +
                              ds.v[i] * al * s.v[i] * (1.0 - s.v[i]);
                ck_assert_int_eq(
                    kr_op_sigmoid_backward(al, with_da ? da.t : NULL, ds.t, s.t, dz.t), KR_OK);
                tag(w, sizeof w, "sigmoid_backward", &cs[c], R, C, with_da ? "" : "(dA NULL)");
                tb_get(&dz, got, w);
                check_close(w, got, want, n, cs[c].tol);
                free(got);
                free(want);
                tb_free(&da);
                tb_free(&ds);
                tb_free(&s);
                tb_free(&dz);
            }
}
END_TEST

START_TEST(test_add_row_col_sum)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x106);
    ctx cs[8];
    int nc = contexts(cs);
    const double s = -0.5, a = 2.0, b = -0.5;
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            tbuf z, row, out;
            tb_init(&z, &cs[c], R, C, false, &r, -1, 1, "Z");
            tb_init(&row, &cs[c], 1, C, false, &r, -1, 1, "b");
            tb_init(&out, &cs[c], 1, C, false, &r, -1, 1, "out");
            double *got = xalloc(n), *want = xalloc(n);

            for (size_t i = 0; i < R; i++)
                for (size_t j = 0; j < C; j++) want[i * C + j] = z.v[i * C + j] + s * row.v[j];
            ck_assert_int_eq(kr_op_add_row(s, row.t, z.t), KR_OK);
            tag(w, sizeof w, "add_row", &cs[c], R, C, NULL);
            tb_get(&z, got, w);
            check_close(w, got, want, n, cs[c].tol);
            tb_set(&z, got); /* keep the host copy in step with the device */

            for (size_t j = 0; j < C; j++) {
                double sum = 0;
                for (size_t i = 0; i < R; i++) sum += z.v[i * C + j];
                want[j] = a * sum + b * out.v[j];
            }
            ck_assert_int_eq(kr_op_col_sum(a, z.t, b, out.t), KR_OK);
            tag(w, sizeof w, "col_sum", &cs[c], R, C, NULL);
            tb_get(&out, got, w);
            check_close(w, got, want, C, cs[c].tol);

            tb_fill(&out, NAN);
            for (size_t j = 0; j < C; j++) {
                double sum = 0;
                for (size_t i = 0; i < R; i++) sum += z.v[i * C + j];
                want[j] = a * sum;
            }
            ck_assert_int_eq(kr_op_col_sum(a, z.t, 0.0, out.t), KR_OK);
            tag(w, sizeof w, "col_sum b=0 over NaN", &cs[c], R, C, NULL);
            tb_get(&out, got, w);
            check_close(w, got, want, C, cs[c].tol);

            free(got);
            free(want);
            tb_free(&z);
            tb_free(&row);
            tb_free(&out);
        }
}
END_TEST

/* ---- reductions ------------------------------------------------------------------------ */

/* The scalar tensor: 1 x 4 of sentinels; slots other than those written must keep them. */
static void check_scal(tbuf *scal, size_t slot, size_t nvals, const double *want, double tol,
                       const char *what)
{
    double got[4];
    tb_get(scal, got, what);
    for (size_t k = 0; k < 4; k++) {
        if (k >= slot && k < slot + nvals) continue;
        ck_assert_msg(got[k] == scal->v[k], "%s: scal slot %zu changed (%g -> %g)", what, k,
                      scal->v[k], got[k]);
    }
    check_close(what, got + slot, want, nvals, tol);
    for (size_t k = slot; k < slot + nvals; k++) scal->v[k] = got[k]; /* the new sentinels */
}

START_TEST(test_sum_sq_hinge)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x107);
    ctx cs[8];
    int nc = contexts(cs);
    const struct { double lo, hi, w; } priors[] = {{-1, 1, 1}, {0.1, INFINITY, 5}};
    char w[256], extra[96];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            tbuf x, g, scal;
            tb_init(&x, &cs[c], R, C, false, &r, -3, 3, "x");
            tb_init(&g, &cs[c], R, C, false, &r, -1, 1, "g");
            tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
            double *got = xalloc(n), *want = xalloc(n);

            double ss = 0;
            for (size_t i = 0; i < n; i++) ss += x.v[i] * x.v[i];
            ck_assert_int_eq(kr_op_sum_sq(x.t, scal.t, 1), KR_OK);
            tag(w, sizeof w, "sum_sq", &cs[c], R, C, NULL);
            check_scal(&scal, 1, 1, &ss, cs[c].tol, w);

            for (size_t pi = 0; pi < 2; pi++)
                for (int with_g = 0; with_g < 2; with_g++) {
                    double lo = priors[pi].lo, hi = priors[pi].hi, wt = priors[pi].w, loss = 0;
                    for (size_t i = 0; i < n; i++) {
                        double below = ref_relu(lo - x.v[i]), above = ref_relu(x.v[i] - hi);
                        loss += wt * (below * below + above * above);
                        want[i] = g.v[i] + wt * (2 * above - 2 * below);
                    }
                    snprintf(extra, sizeof extra, "lo %g hi %g w %g%s", lo, hi, wt,
                             with_g ? "" : " (g NULL)");
                    ck_assert_int_eq(
                        kr_op_hinge_sq(x.t, lo, hi, wt, with_g ? g.t : NULL, scal.t, 2), KR_OK);
                    tag(w, sizeof w, "hinge_sq loss", &cs[c], R, C, extra);
                    check_scal(&scal, 2, 1, &loss, cs[c].tol, w);
                    tag(w, sizeof w, "hinge_sq g", &cs[c], R, C, extra);
                    if (with_g) {
                        tb_get(&g, got, w);
                        check_close(w, got, want, n, cs[c].tol);
                        tb_set(&g, got);
                    } else {
                        tb_get(&g, got, w);
                        check_close(w, got, g.v, n, 0.0); /* untouched */
                    }
                    /* box_prior: the same prior and Σ x² in one pass, g as hinge_sq's */
                    double both[2] = {loss, ss};
                    for (size_t i = 0; i < n; i++) {
                        double below = ref_relu(lo - x.v[i]), above = ref_relu(x.v[i] - hi);
                        want[i] = g.v[i] + wt * (2 * above - 2 * below);
                    }
                    ck_assert_int_eq(
                        kr_op_box_prior(x.t, lo, hi, wt, with_g ? g.t : NULL, scal.t, 2), KR_OK);
                    tag(w, sizeof w, "box_prior sums", &cs[c], R, C, extra);
                    check_scal(&scal, 2, 2, both, cs[c].tol, w);
                    tag(w, sizeof w, "box_prior g", &cs[c], R, C, extra);
                    tb_get(&g, got, w);
                    check_close(w, got, with_g ? want : g.v, n, with_g ? cs[c].tol : 0.0);
                    tb_set(&g, got);
                }
            free(got);
            free(want);
            tb_free(&x);
            tb_free(&g);
            tb_free(&scal);
        }
}
END_TEST

START_TEST(test_logistic)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x108);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t n = g_shapes[si][0] * g_shapes[si][1]; /* φ is n x 1 */
            double s = 1.0 / (double)n;
            tbuf phi, y, dphi, scal;
            tb_init(&phi, &cs[c], n, 1, false, &r, -4, 4, "phi");
            tb_init(&y, &cs[c], n, 1, false, &r, -1, 1, "y");
            for (size_t i = 0; i < n; i++) y.v[i] = y.v[i] < 0 ? -1.0 : 1.0;
            tb_sync(&y);
            tb_init(&dphi, &cs[c], n, 1, false, &r, -1, 1, "dphi");
            tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
            double *got = xalloc(n), *want = xalloc(n), lw[2] = {0, 0};
            for (size_t i = 0; i < n; i++) {
                double m = y.v[i] * phi.v[i];
                lw[0] += m < -30 ? -m + log1p(exp(m)) : log1p(exp(-m));
                lw[1] += m <= 0 ? 1 : 0;
                want[i] = s * (-y.v[i]) / (1.0 + exp(m));
            }
            ck_assert_int_eq(kr_op_logistic(s, phi.t, y.t, dphi.t, scal.t, 1), KR_OK);
            tag(w, sizeof w, "logistic loss, errors", &cs[c], n, 1, NULL);
            check_scal(&scal, 1, 2, lw, cs[c].tol, w);
            ck_assert_msg(scal.v[2] == lw[1], "%s: %g errors, want %g", w, scal.v[2], lw[1]);
            tag(w, sizeof w, "logistic dphi", &cs[c], n, 1, NULL);
            tb_get(&dphi, got, w);
            check_close(w, got, want, n, cs[c].tol);
            free(got);
            free(want);
            tb_free(&phi);
            tb_free(&y);
            tb_free(&dphi);
            tb_free(&scal);
        }
}
END_TEST

/* Softmax cross-entropy over one-hot labels: every shape's columns are the classes (C >= 2;
 * shapes with one column use C = 2 over the element count). */
START_TEST(test_xent)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x120);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    static const size_t shapes[][2] = {{1, 2}, {3, 7}, {7, 10}, {33, 3}, {129, 10}, {5, 33}};
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const size_t R = shapes[si][0], C = shapes[si][1], n = R * C;
            const double s = 1.0 / (double)R;
            tbuf phi, y, dphi, scal;
            tb_init(&phi, &cs[c], R, C, si % 2, &r, -6, 6, "phi");
            tb_init(&y, &cs[c], R, C, si % 2, &r, 0, 1, "y");
            for (size_t i = 0; i < R; i++) {
                const size_t k = kr_rng_u64(&r) % C;
                for (size_t j = 0; j < C; j++) y.v[i * C + j] = j == k ? 1.0 : 0.0;
            }
            if (R > 2) phi.v[C + 1] = phi.v[C]; /* an exact tie in row 1 */
            /* row 0: its class leads by ~10 (a trained model's row): loss ~1e-4 and softmax ~1
             * there, which a float32 logsumexp − φ or softmax − 1 would lose to cancellation */
            for (size_t j = 0; j < C; j++)
                if (y.v[j] > 0) phi.v[j] = 12.0;
            tb_sync(&y);
            tb_sync(&phi);
            tb_init(&dphi, &cs[c], R, C, false, &r, -1, 1, "dphi");
            tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
            double *got = xalloc(n), *want = xalloc(n), lw[2] = {0, 0};
            for (size_t i = 0; i < R; i++) {
                /* float64, and free of cancellation where the label leads: −log softmax_j =
                 * log(Σ_k e^{φ_k − φ_j}) = log1p(Σ_{k≠j} e^{φ_k − φ_j}) when j is the max */
                const double *p = phi.v + i * C, *yy = y.v + i * C;
                double mx = -INFINITY, se = 0;
                for (size_t j = 0; j < C; j++) mx = fmax(mx, p[j]);
                for (size_t j = 0; j < C; j++) se += exp(p[j] - mx);
                for (size_t j = 0; j < C; j++) {
                    double other = -INFINITY, rest = 0;
                    for (size_t k = 0; k < C; k++)
                        if (k != j) other = fmax(other, p[k]), rest += exp(p[k] - p[j]);
                    lw[0] += yy[j] * (p[j] >= mx ? log1p(rest) : mx + log(se) - p[j]);
                    lw[1] += yy[j] > 0 && p[j] <= other ? 1 : 0;
                    want[i * C + j] = s * (p[j] >= mx ? ((1.0 - yy[j]) - yy[j] * rest) / (1.0 + rest)
                                                      : exp(p[j] - mx) / se - yy[j]);
                }
            }
            ck_assert_int_eq(kr_op_xent(s, phi.t, y.t, dphi.t, scal.t, 1), KR_OK);
            tag(w, sizeof w, "xent loss, errors", &cs[c], R, C, NULL);
            check_scal(&scal, 1, 2, lw, cs[c].tol, w);
            ck_assert_msg(scal.v[2] == lw[1], "%s: %g errors, want %g", w, scal.v[2], lw[1]);
            tag(w, sizeof w, "xent dphi", &cs[c], R, C, NULL);
            tb_get(&dphi, got, w);
            check_close(w, got, want, n, cs[c].tol);
            free(got);
            free(want);
            tb_free(&phi);
            tb_free(&y);
            tb_free(&dphi);
            tb_free(&scal);
        }
}
END_TEST

/* MSE and Huber (delta 1), alternating over the shapes, residuals on both sides of ±1. The
 * shapes stop at 65 x 33: an element-wise loss gains nothing from 257 x 129 but oclgrind time. */
static const size_t reg_shapes[][2] = {{1, 1}, {3, 7}, {7, 33}, {33, 17}, {1, 1000}, {65, 33}};
#define N_REG_SHAPES (sizeof reg_shapes / sizeof reg_shapes[0])

START_TEST(test_regress)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x121);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_REG_SHAPES; si++)
            for (int huber = (int)(si % 2); huber < 2; huber += 2 - (int)(si % 2)) {
                const size_t R = reg_shapes[si][0], C = reg_shapes[si][1], n = R * C;
                const double s = 1.0 / (double)n;
                tbuf phi, y, dphi, scal;
                tb_init(&phi, &cs[c], R, C, si % 2, &r, -3, 3, "phi");
                tb_init(&y, &cs[c], R, C, si % 2, &r, -1, 1, "y");
                tb_init(&dphi, &cs[c], R, C, false, &r, -1, 1, "dphi");
                tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
                double *got = xalloc(n), *want = xalloc(n), lw[2] = {0, 0};
                for (size_t i = 0; i < n; i++) {
                    const double res = phi.v[i] - y.v[i], a = fabs(res);
                    lw[0] += !huber ? res * res : a <= 1 ? 0.5 * res * res : a - 0.5;
                    lw[1] += y.v[i] * phi.v[i] <= 0 ? 1 : 0;
                    want[i] = s * (!huber ? 2 * res : fmax(-1.0, fmin(1.0, res)));
                }
                ck_assert_int_eq(kr_op_regress(huber, s, phi.t, y.t, dphi.t, scal.t, 0), KR_OK);
                tag(w, sizeof w, huber ? "regress huber" : "regress mse", &cs[c], R, C, NULL);
                check_scal(&scal, 0, 2, lw, cs[c].tol, w);
                ck_assert_msg(scal.v[1] == lw[1], "%s: %g errors, want %g", w, scal.v[1], lw[1]);
                tb_get(&dphi, got, w);
                check_close(w, got, want, n, cs[c].tol);
                free(got);
                free(want);
                tb_free(&phi);
                tb_free(&y);
                tb_free(&dphi);
                tb_free(&scal);
            }
}
END_TEST

/* ---- optimisers ------------------------------------------------------------------------ */

START_TEST(test_sgd)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x109);
    ctx cs[8];
    int nc = contexts(cs);
    const double lr = 0.1, mom = 0.9;
    char w[256], extra[64];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            tbuf p, g, buf;
            tb_init(&p, &cs[c], R, C, false, &r, -1, 1, "p");
            tb_init(&g, &cs[c], R, C, false, &r, -1, 1, "g");
            tb_init(&buf, &cs[c], R, C, false, &r, -1, 1, "buf"); /* garbage: first overwrites */
            double *got = xalloc(n), *wp = xalloc(n), *wb = xalloc(n), *gv = xalloc(n);
            memcpy(wp, p.v, n * sizeof *wp);
            for (int step = 0; step < 3; step++) {
                kr_test_fill_uniform(&r, gv, n, -1, 1);
                tb_set(&g, gv);
                for (size_t i = 0; i < n; i++) {
                    wb[i] = step == 0 ? g.v[i] : mom * wb[i] + g.v[i];
                    wp[i] -= lr * wb[i];
                }
                ck_assert_int_eq(kr_op_sgd(lr, mom, step == 0, p.t, g.t, buf.t), KR_OK);
                if (step == 0 || step == 2) {
                    snprintf(extra, sizeof extra, "step %d", step + 1);
                    tag(w, sizeof w, "sgd p", &cs[c], R, C, extra);
                    tb_get(&p, got, w);
                    check_close(w, got, wp, n, cs[c].tol);
                    tag(w, sizeof w, "sgd buf", &cs[c], R, C, extra);
                    tb_get(&buf, got, w);
                    check_close(w, got, wb, n, cs[c].tol);
                }
            }
            /* No momentum, no buffer. */
            tb_get(&p, got, "sgd p");
            tb_set(&p, got);
            for (size_t i = 0; i < n; i++) wp[i] = p.v[i] - lr * g.v[i];
            ck_assert_int_eq(kr_op_sgd(lr, 0.0, false, p.t, g.t, NULL), KR_OK);
            tag(w, sizeof w, "sgd p", &cs[c], R, C, "momentum 0, buf NULL");
            tb_get(&p, got, w);
            check_close(w, got, wp, n, cs[c].tol);
            free(got);
            free(wp);
            free(wb);
            free(gv);
            tb_free(&p);
            tb_free(&g);
            tb_free(&buf);
        }
}
END_TEST

/* The per-row ops (a rows x 1 operand: one attack point's α, lr or momentum per row) on the
 * awkward shapes 1, 3, 7, 33 (rows and cols), as views and not, against float64 loops. */
static const size_t g_row_shapes[][2] = {{1, 1}, {1, 33}, {3, 7}, {7, 3}, {7, 33}, {33, 1},
                                         {33, 7}};
#define N_ROW_SHAPES (sizeof g_row_shapes / sizeof g_row_shapes[0])

START_TEST(test_act_forward_rows)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x10d);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256], extra[96];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_ROW_SHAPES; si++)
            for (int view = 0; view < 2; view++)
                for (int act = 0; act < 2; act++) {
                    size_t R = g_row_shapes[si][0], C = g_row_shapes[si][1], n = R * C;
                    kr_act ka = act ? KR_ACT_SOFTPLUS : KR_ACT_RELU;
                    snprintf(extra, sizeof extra, "%s%s", act ? "softplus" : "relu",
                             view ? " (view)" : "");
                    tbuf z, a, s, al;
                    tb_init(&z, &cs[c], R, C, view, &r, -5, 5, "z");
                    tb_init(&a, &cs[c], R, C, view, &r, -1, 1, "a");
                    tb_init(&s, &cs[c], R, C, view, &r, -1, 1, "s");
                    tb_init(&al, &cs[c], R, 1, view, &r, 0.5, 500, "alpha");
                    double *got = xalloc(n), *wa = xalloc(n), *ws = xalloc(n);
                    for (size_t i = 0; i < n; i++) {
                        double alpha = al.v[i / C], t = alpha * z.v[i];
                        wa[i] = act ? ref_softplus1(t) / alpha : ref_relu(z.v[i]);
                        ws[i] = ref_sigmoid(t);
                    }
                    ck_assert_int_eq(kr_op_act_forward_rows(ka, al.t, z.t, a.t, s.t), KR_OK);
                    tag(w, sizeof w, "act_forward_rows a", &cs[c], R, C, extra);
                    tb_get(&a, got, w);
                    check_close_scale(w, got, wa, n, cs[c].tol, 1.0);
                    tag(w, sizeof w, "act_forward_rows s", &cs[c], R, C, extra);
                    tb_get(&s, got, w);
                    check_close_scale(w, got, ws, n, cs[c].tol, 1.0);
                    tb_fill(&a, 0);
                    ck_assert_int_eq(kr_op_act_forward_rows(ka, al.t, z.t, a.t, NULL), KR_OK);
                    tag(w, sizeof w, "act_forward_rows a (s NULL)", &cs[c], R, C, extra);
                    tb_get(&a, got, w);
                    check_close_scale(w, got, wa, n, cs[c].tol, 1.0);
                    /* alpha must be rows x 1 */
                    ck_assert_int_eq(kr_op_act_forward_rows(ka, z.t, z.t, a.t, s.t),
                                     C == 1 ? KR_OK : KR_E_INVALID);
                    free(got);
                    free(wa);
                    free(ws);
                    tb_free(&z);
                    tb_free(&a);
                    tb_free(&s);
                    tb_free(&al);
                }
}
END_TEST

START_TEST(test_sigmoid_backward_rows)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x10e);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_ROW_SHAPES; si++)
            for (int view = 0; view < 2; view++)
                for (int with_da = 0; with_da < 2; with_da++) {
                    size_t R = g_row_shapes[si][0], C = g_row_shapes[si][1], n = R * C;
                    tbuf da, ds, s, dz, al;
                    tb_init(&da, &cs[c], R, C, view, &r, -1, 1, "da");
                    tb_init(&ds, &cs[c], R, C, view, &r, -1, 1, "ds");
                    tb_init(&s, &cs[c], R, C, view, &r, 0, 1, "s");
                    tb_init(&dz, &cs[c], R, C, view, &r, -1, 1, "dz");
                    tb_init(&al, &cs[c], R, 1, view, &r, 0.5, 50, "alpha");
                    double *got = xalloc(n), *want = xalloc(n);
                    for (size_t i = 0; i < n; i++) {
                        double si_ = s.v[i];
                        want[i] = ds.v[i] * al.v[i / C] * si_ * (1 - si_) +
                                  (with_da ? da.v[i] * si_ : 0.0);
                    }
                    ck_assert_int_eq(kr_op_sigmoid_backward_rows(al.t, with_da ? da.t : NULL,
                                                                 ds.t, s.t, dz.t), KR_OK);
                    tag(w, sizeof w, "sigmoid_backward_rows", &cs[c], R, C,
                        with_da ? (view ? "(view)" : "") : (view ? "no dA (view)" : "no dA"));
                    tb_get(&dz, got, w);
                    check_close(w, got, want, n, cs[c].tol);
                    free(got);
                    free(want);
                    tb_free(&da);
                    tb_free(&ds);
                    tb_free(&s);
                    tb_free(&dz);
                    tb_free(&al);
                }
}
END_TEST

START_TEST(test_sgd_rows)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x10f);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_ROW_SHAPES; si++)
            for (int view = 0; view < 2; view++)
                for (int first = 0; first < 2; first++) {
                    size_t R = g_row_shapes[si][0], C = g_row_shapes[si][1], n = R * C;
                    tbuf p, g, buf, lr, mo;
                    tb_init(&p, &cs[c], R, C, view, &r, -1, 1, "p");
                    tb_init(&g, &cs[c], R, C, view, &r, -1, 1, "g");
                    tb_init(&buf, &cs[c], R, C, view, &r, -1, 1, "buf");
                    tb_init(&lr, &cs[c], R, 1, view, &r, 1e-3, 0.5, "lr");
                    tb_init(&mo, &cs[c], R, 1, view, &r, 0, 0.99, "momentum");
                    double *got = xalloc(n), *wp = xalloc(n), *wb = xalloc(n);
                    for (size_t i = 0; i < n; i++) {
                        wb[i] = first ? g.v[i] : mo.v[i / C] * buf.v[i] + g.v[i];
                        wp[i] = p.v[i] - lr.v[i / C] * wb[i];
                    }
                    ck_assert_int_eq(kr_op_sgd_rows(lr.t, mo.t, first, p.t, g.t, buf.t), KR_OK);
                    tag(w, sizeof w, "sgd_rows p", &cs[c], R, C, first ? "first" : "later");
                    tb_get(&p, got, w);
                    check_close(w, got, wp, n, cs[c].tol);
                    tag(w, sizeof w, "sgd_rows buf", &cs[c], R, C, first ? "first" : "later");
                    tb_get(&buf, got, w);
                    check_close(w, got, wb, n, cs[c].tol);
                    ck_assert_int_eq(kr_op_sgd_rows(lr.t, mo.t, first, p.t, g.t, NULL),
                                     KR_E_INVALID);
                    free(got);
                    free(wp);
                    free(wb);
                    tb_free(&p);
                    tb_free(&g);
                    tb_free(&buf);
                    tb_free(&lr);
                    tb_free(&mo);
                }
}
END_TEST

/* adam_rows: torch.optim.Adam's update with a learning rate per row, steps 1..4, on the
 * per-row shapes and on views. */
START_TEST(test_adam_rows)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x1ad);
    ctx cs[8];
    int nc = contexts(cs);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    char w[256], extra[64];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_ROW_SHAPES; si++)
            for (int view = 0; view < 2; view++) {
                const size_t R = g_row_shapes[si][0], C = g_row_shapes[si][1], n = R * C;
                tbuf p, g, m, v, lr;
                tb_init(&p, &cs[c], R, C, view, &r, -1, 1, "p");
                tb_init(&g, &cs[c], R, C, view, &r, -1, 1, "g");
                tb_init(&m, &cs[c], R, C, view, &r, 0, 0, "m");
                tb_init(&v, &cs[c], R, C, view, &r, 0, 0, "v");
                tb_init(&lr, &cs[c], R, 1, view, &r, 1e-3, 0.3, "lr");
                double *got = xalloc(n), *wp = xalloc(n), *wm = xalloc(n), *wv = xalloc(n);
                double *gv = xalloc(n), *pm = xalloc(n), pscale = 0;
                memcpy(wp, p.v, n * sizeof *wp);
                memset(wm, 0, n * sizeof *wm);
                memset(wv, 0, n * sizeof *wv);
                for (size_t i = 0; i < n; i++) pm[i] = fabs(p.v[i]);
                for (long t = 1; t <= 4; t++) {
                    kr_test_fill_uniform(&r, gv, n, -1, 1);
                    tb_set(&g, gv);
                    double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
                    for (size_t i = 0; i < n; i++) {
                        double gi = g.v[i];
                        wm[i] = b1 * wm[i] + (1 - b1) * gi;
                        wv[i] = b2 * wv[i] + (1 - b2) * gi * gi;
                        const double step =
                            (lr.v[i / C] / bc1) * wm[i] / (sqrt(wv[i]) / sqrt(bc2) + eps);
                        wp[i] -= step;
                        pm[i] += fabs(step);
                    }
                    ck_assert_int_eq(kr_op_adam_rows(lr.t, b1, b2, eps, t, p.t, g.t, m.t, v.t),
                                     KR_OK);
                }
                snprintf(extra, sizeof extra, "t 4%s", view ? " (views)" : "");
                tag(w, sizeof w, "adam_rows p", &cs[c], R, C, extra);
                tb_get(&p, got, w);
                /* p is p0 minus four steps of up to lr each, which may cancel to near 0 (one
                 * element: nothing to average over): its error is measured against the size of
                 * what was added up. */
                for (size_t i = 0; i < n; i++) pscale = fmax(pscale, pm[i]);
                check_close_scale(w, got, wp, n, cs[c].tol, pscale);
                tag(w, sizeof w, "adam_rows m", &cs[c], R, C, extra);
                tb_get(&m, got, w);
                check_close(w, got, wm, n, cs[c].tol);
                tag(w, sizeof w, "adam_rows v", &cs[c], R, C, extra);
                tb_get(&v, got, w);
                check_close(w, got, wv, n, cs[c].tol);
                ck_assert_int_eq(kr_op_adam_rows(lr.t, b1, b2, eps, 0, p.t, g.t, m.t, v.t),
                                 KR_E_INVALID);
                free(got), free(wp), free(wm), free(wv), free(gv), free(pm);
                tb_free(&p), tb_free(&g), tb_free(&m), tb_free(&v), tb_free(&lr);
            }
}
END_TEST

START_TEST(test_adam)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x10a);
    ctx cs[8];
    int nc = contexts(cs);
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    char w[256], extra[64];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            tbuf p, g, m, v;
            tb_init(&p, &cs[c], R, C, false, &r, -1, 1, "p");
            tb_init(&g, &cs[c], R, C, false, &r, -1, 1, "g");
            tb_init(&m, &cs[c], R, C, false, &r, 0, 0, "m"); /* PyTorch starts m = v = 0 */
            tb_init(&v, &cs[c], R, C, false, &r, 0, 0, "v");
            double *got = xalloc(n), *wp = xalloc(n), *wm = xalloc(n), *wv = xalloc(n);
            double *gv = xalloc(n);
            memcpy(wp, p.v, n * sizeof *wp);
            memset(wm, 0, n * sizeof *wm);
            memset(wv, 0, n * sizeof *wv);
            for (long t = 1; t <= 5; t++) {
                kr_test_fill_uniform(&r, gv, n, -1, 1);
                tb_set(&g, gv);
                /* torch.optim.Adam, single-tensor path, no weight decay, no amsgrad. */
                double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
                for (size_t i = 0; i < n; i++) {
                    double gi = g.v[i];
                    wm[i] = b1 * wm[i] + (1 - b1) * gi;
                    wv[i] = b2 * wv[i] + (1 - b2) * gi * gi;
                    wp[i] -= (lr / bc1) * wm[i] / (sqrt(wv[i]) / sqrt(bc2) + eps);
                }
                ck_assert_int_eq(kr_op_adam(lr, b1, b2, eps, t, p.t, g.t, m.t, v.t), KR_OK);
                if (t == 1 || t == 5) {
                    snprintf(extra, sizeof extra, "t %ld", t);
                    tag(w, sizeof w, "adam p", &cs[c], R, C, extra);
                    tb_get(&p, got, w);
                    check_close(w, got, wp, n, cs[c].tol);
                    tag(w, sizeof w, "adam m", &cs[c], R, C, extra);
                    tb_get(&m, got, w);
                    check_close(w, got, wm, n, cs[c].tol);
                    tag(w, sizeof w, "adam v", &cs[c], R, C, extra);
                    tb_get(&v, got, w);
                    check_close(w, got, wv, n, cs[c].tol);
                }
            }
            free(got);
            free(wp);
            free(wm);
            free(wv);
            free(gv);
            tb_free(&p);
            tb_free(&g);
            tb_free(&m);
            tb_free(&v);
        }
}
END_TEST

/* ---- counters (device.h): what the layer enqueued and waited for ---------------------- */

/* ---- fused ops of the attack iteration (kkt.c) ----------------------------------------- */

/* class_sign: +1 at the class, −1 at the runner-up (ties to the lowest index), and
 * scale_rows, on awkward shapes with >= 2 columns, as views on every other shape. */
START_TEST(test_class_sign_scale_rows)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x122);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    static const size_t shapes[][2] = {{1, 2}, {3, 7}, {7, 3}, {7, 33}, {33, 10}, {257, 2}};
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
            for (int view = (int)(si % 2); view < 2; view += 2) { /* views on odd shapes */
                const size_t R = shapes[si][0], C = shapes[si][1], n = R * C;
                tbuf phi, cls, sg, x, z, col;
                tb_init(&phi, &cs[c], R, C, view, &r, -2, 2, "phi");
                /* ties: round to a coarse grid in every other row (several equal maxima) */
                for (size_t i = 0; i < R; i += 2)
                    for (size_t j = 0; j < C; j++) phi.v[i * C + j] = round(phi.v[i * C + j]);
                tb_sync(&phi);
                tb_init(&cls, &cs[c], R, 1, view, &r, 0, 1, "cls");
                for (size_t i = 0; i < R; i++) cls.v[i] = (double)(kr_rng_u64(&r) % C);
                tb_sync(&cls);
                tb_init(&sg, &cs[c], R, C, view, &r, -1, 1, "signs");
                tb_init(&x, &cs[c], R, C, view, &r, -3, 3, "x");
                tb_init(&z, &cs[c], R, C, view, &r, -1, 1, "z");
                tb_init(&col, &cs[c], R, 1, view, &r, -2, 2, "c");
                double *got = xalloc(n), *want = xalloc(n);
                for (size_t i = 0; i < R; i++) {
                    const size_t k = (size_t)cls.v[i];
                    size_t js = C;
                    for (size_t j = 0; j < C; j++)
                        if (j != k && (js == C || phi.v[i * C + j] > phi.v[i * C + js])) js = j;
                    for (size_t j = 0; j < C; j++)
                        want[i * C + j] = j == k ? 1.0 : j == js ? -1.0 : 0.0;
                }
                ck_assert_int_eq(kr_op_class_sign(cls.t, phi.t, sg.t), KR_OK);
                tag(w, sizeof w, "class_sign", &cs[c], R, C, view ? "(view)" : NULL);
                tb_get(&sg, got, w);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(got[i] == want[i], "%s: [%zu] = %g, want %g", w, i, got[i],
                                  want[i]);
                for (size_t i = 0; i < n; i++) want[i] = -0.375 * col.v[i / C] * x.v[i];
                ck_assert_int_eq(kr_op_scale_rows(-0.375, col.t, x.t, z.t), KR_OK);
                tag(w, sizeof w, "scale_rows", &cs[c], R, C, view ? "(view)" : NULL);
                tb_get(&z, got, w);
                check_close(w, got, want, n, cs[c].tol);
                free(got);
                free(want);
                tb_free(&phi);
                tb_free(&cls);
                tb_free(&sg);
                tb_free(&x);
                tb_free(&z);
                tb_free(&col);
            }
}
END_TEST

START_TEST(test_bias_act_forward)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x131);
    ctx cs[8];
    int nc = contexts(cs);
    const double alphas[] = {1.7, 500.0};
    char w[256], extra[96];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int act = 0; act < 2; act++)
                for (int ai = 0; ai < 2; ai++) {
                    size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                    kr_act ka = act ? KR_ACT_SOFTPLUS : KR_ACT_RELU;
                    double al = alphas[ai];
                    int view = (int)(si & 1);
                    snprintf(extra, sizeof extra, "%s alpha %g%s", act ? "softplus" : "relu",
                             al, view ? " (view)" : "");
                    tbuf z, b, a, s;
                    tb_init(&z, &cs[c], R, C, view, &r, -5, 5, "z");
                    tb_init(&b, &cs[c], 1, C, false, &r, -1, 1, "b");
                    tb_init(&a, &cs[c], R, C, view, &r, -1, 1, "a");
                    tb_init(&s, &cs[c], R, C, view, &r, -1, 1, "s");
                    double *got = xalloc(n), *wa = xalloc(n), *ws = xalloc(n);
                    for (size_t i = 0; i < R; i++)
                        for (size_t j = 0; j < C; j++) {
                            double u = z.v[i * C + j] + b.v[j], t = al * u;
                            wa[i * C + j] = act ? ref_softplus1(t) / al : ref_relu(u);
                            ws[i * C + j] = ref_sigmoid(t);
                        }
                    ck_assert_int_eq(kr_op_bias_act_forward(ka, al, b.t, z.t, a.t, s.t), KR_OK);
                    tag(w, sizeof w, "bias_act_forward a", &cs[c], R, C, extra);
                    tb_get(&a, got, w);
                    check_close_scale(w, got, wa, n, cs[c].tol, 1.0);
                    tag(w, sizeof w, "bias_act_forward s", &cs[c], R, C, extra);
                    tb_get(&s, got, w);
                    check_close_scale(w, got, ws, n, cs[c].tol, 1.0);

                    /* in place (a = z, as kkt.c) and s NULL */
                    ck_assert_int_eq(kr_op_bias_act_forward(ka, al, b.t, z.t, z.t, NULL), KR_OK);
                    tag(w, sizeof w, "bias_act_forward in place (s NULL)", &cs[c], R, C, extra);
                    tb_get(&z, got, w);
                    check_close_scale(w, got, wa, n, cs[c].tol, 1.0);

                    free(got);
                    free(wa);
                    free(ws);
                    tb_free(&z);
                    tb_free(&b);
                    tb_free(&a);
                    tb_free(&s);
                }
}
END_TEST

START_TEST(test_dual_mul)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x132);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int with_b = 0; with_b < 2; with_b++) {
                size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                int view = (int)(si & 1);
                tbuf dd, t, s, b;
                tb_init(&dd, &cs[c], R, C, view, &r, -2, 2, "dd");
                tb_init(&t, &cs[c], R, C, view, &r, -2, 2, "t");
                tb_init(&s, &cs[c], R, C, view, &r, 0, 1, "s");
                tb_init(&b, &cs[c], 1, C, false, &r, -1, 1, "b");
                double *got = xalloc(n), *wt = xalloc(n), *wd = xalloc(n);
                for (size_t i = 0; i < R; i++)
                    for (size_t j = 0; j < C; j++) {
                        size_t k = i * C + j;
                        double d = dd.v[k] + (with_b ? b.v[j] : 0.0);
                        wt[k] = d * t.v[k];
                        wd[k] = d * s.v[k];
                    }
                ck_assert_int_eq(kr_op_dual_mul(with_b ? b.t : NULL, dd.t, t.t, s.t), KR_OK);
                tag(w, sizeof w, with_b ? "dual_mul t (b)" : "dual_mul t", &cs[c], R, C,
                    view ? "(view)" : NULL);
                tb_get(&t, got, w);
                check_close(w, got, wt, n, cs[c].tol);
                tag(w, sizeof w, with_b ? "dual_mul dd (b)" : "dual_mul dd", &cs[c], R, C,
                    view ? "(view)" : NULL);
                tb_get(&dd, got, w);
                check_close(w, got, wd, n, cs[c].tol);
                free(got);
                free(wt);
                free(wd);
                tb_free(&dd);
                tb_free(&t);
                tb_free(&s);
                tb_free(&b);
            }
}
END_TEST

/* last_reverse (the last hidden layer's reverse pass, one group per row) against float64
 * loops, with and without the bias row, on views every other shape; g is a per-row sum over
 * the columns (1000 columns span several passes of a work-group). */
/* first_backward against float64 loops: c = ym λ ⊙ y, T = c wᵀ, δ = T ⊙ S. */
/* bias_delta and out_residual (kind colreduce: per-column sums over the rows, then a sum of
 * squares over the columns) and sgd_pair (X and λ in one pass) against float64 loops. */
START_TEST(test_col_fused)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x1c0);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            const size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            const int view = (int)(si & 1);
            tbuf t, s, b, d, e, cc, scal, x, gx, bx, lam, gl, bl;
            tb_init(&t, &cs[c], R, C, view, &r, -2, 2, "t");
            tb_init(&s, &cs[c], R, C, false, &r, 0, 1, "s");
            tb_init(&b, &cs[c], 1, C, false, &r, -1, 1, "b");
            tb_init(&d, &cs[c], R, C, view, &r, 5, 6, "d");
            tb_init(&e, &cs[c], 1, C, false, &r, 5, 6, "e");
            tb_init(&cc, &cs[c], R, 1, view, &r, -1, 1, "c");
            tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
            double *got = xalloc(n), *wd = xalloc(n), *we = xalloc(C);
            /* bias_delta */
            double ss = 0;
            for (size_t j = 0; j < C; j++) {
                double sum = 0;
                for (size_t i = 0; i < R; i++) {
                    wd[i * C + j] = t.v[i * C + j] * s.v[i * C + j];
                    sum += wd[i * C + j];
                }
                we[j] = 2 * sum - 2 * b.v[j];
                ss += we[j] * we[j];
            }
            ck_assert_int_eq(kr_op_bias_delta(t.t, s.t, b.t, d.t, e.t, scal.t, 1), KR_OK);
            tag(w, sizeof w, "bias_delta d", &cs[c], R, C, view ? "(views)" : NULL);
            tb_get(&d, got, w);
            check_close(w, got, wd, n, cs[c].tol);
            tag(w, sizeof w, "bias_delta e", &cs[c], R, C, view ? "(views)" : NULL);
            tb_get(&e, got, w);
            check_close(w, got, we, C, cs[c].tol);
            tag(w, sizeof w, "bias_delta sum", &cs[c], R, C, view ? "(views)" : NULL);
            check_scal(&scal, 1, 1, &ss, cs[c].tol, w);
            /* out_residual, with t as A and b as W_L */
            ss = 0;
            for (size_t j = 0; j < C; j++) {
                double sum = 0;
                for (size_t i = 0; i < R; i++) sum += cc.v[i] * t.v[i * C + j];
                we[j] = 2 * sum - 2 * b.v[j];
                ss += we[j] * we[j];
            }
            ck_assert_int_eq(kr_op_out_residual(cc.t, t.t, b.t, e.t, scal.t, 2), KR_OK);
            tag(w, sizeof w, "out_residual e", &cs[c], R, C, view ? "(views)" : NULL);
            tb_get(&e, got, w);
            check_close(w, got, we, C, cs[c].tol);
            tag(w, sizeof w, "out_residual sum", &cs[c], R, C, view ? "(views)" : NULL);
            check_scal(&scal, 2, 1, &ss, cs[c].tol, w);
            /* sgd_pair, first and a later step */
            tb_init(&x, &cs[c], R, C, view, &r, -1, 1, "x");
            tb_init(&gx, &cs[c], R, C, false, &r, -1, 1, "gx");
            tb_init(&bx, &cs[c], R, C, view, &r, -1, 1, "bx");
            tb_init(&lam, &cs[c], R, 1, view, &r, 0, 1, "lambda");
            tb_init(&gl, &cs[c], R, 1, false, &r, -1, 1, "glambda");
            tb_init(&bl, &cs[c], R, 1, view, &r, -1, 1, "blambda");
            for (int first = 1; first >= 0; first--) {
                const double lx = 0.3, ll = 0.02, mo = 0.9;
                double *wx = xalloc(n), *wb = xalloc(n), *wl = xalloc(R), *wbl = xalloc(R);
                for (size_t i = 0; i < n; i++) {
                    wb[i] = first ? gx.v[i] : mo * bx.v[i] + gx.v[i];
                    wx[i] = x.v[i] - lx * wb[i];
                }
                for (size_t i = 0; i < R; i++) {
                    wbl[i] = first ? gl.v[i] : mo * bl.v[i] + gl.v[i];
                    wl[i] = lam.v[i] - ll * wbl[i];
                }
                ck_assert_int_eq(kr_op_sgd_pair(lx, ll, mo, first, x.t, gx.t, bx.t, lam.t, gl.t,
                                                bl.t), KR_OK);
                tag(w, sizeof w, "sgd_pair", &cs[c], R, C, first ? "first" : "later");
                tb_get(&x, got, w);
                check_close(w, got, wx, n, cs[c].tol);
                tb_set(&x, got);
                tb_get(&bx, got, w);
                check_close(w, got, wb, n, cs[c].tol);
                tb_set(&bx, got);
                tb_get(&lam, got, w);
                check_close(w, got, wl, R, cs[c].tol);
                tb_set(&lam, got);
                tb_get(&bl, got, w);
                check_close(w, got, wbl, R, cs[c].tol);
                tb_set(&bl, got);
                free(wx), free(wb), free(wl), free(wbl);
            }
            free(got), free(wd), free(we);
            tbuf *all[] = {&t, &s, &b, &d, &e, &cc, &scal, &x, &gx, &bx, &lam, &gl, &bl};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tb_free(all[k]);
        }
}
END_TEST

START_TEST(test_first_backward)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x1f3);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            const size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            const int view = (int)(si & 1);
            const double ym = 1.0 / 7.0;
            tbuf lam, y, wr, s, cc, t, d;
            tb_init(&lam, &cs[c], R, 1, view, &r, 0, 1, "lambda");
            tb_init(&y, &cs[c], R, 1, false, &r, -1, 1, "y");
            tb_init(&wr, &cs[c], 1, C, false, &r, -1, 1, "w");
            tb_init(&s, &cs[c], R, C, view, &r, 0, 1, "s");
            tb_init(&cc, &cs[c], R, 1, view, &r, 5, 6, "c");
            tb_init(&t, &cs[c], R, C, false, &r, 5, 6, "t");
            tb_init(&d, &cs[c], R, C, view, &r, 5, 6, "d");
            double *got = xalloc(n), *wt = xalloc(n), *wd = xalloc(n), *wc = xalloc(R);
            for (size_t i = 0; i < R; i++) {
                wc[i] = ym * lam.v[i] * y.v[i];
                for (size_t j = 0; j < C; j++) {
                    wt[i * C + j] = wc[i] * wr.v[j];
                    wd[i * C + j] = wt[i * C + j] * s.v[i * C + j];
                }
            }
            ck_assert_int_eq(kr_op_first_backward(ym, lam.t, y.t, wr.t, s.t, cc.t, t.t, d.t),
                             KR_OK);
            tag(w, sizeof w, "first_backward c", &cs[c], R, C, view ? "(view)" : NULL);
            tb_get(&cc, got, w);
            check_close(w, got, wc, R, cs[c].tol);
            tag(w, sizeof w, "first_backward t", &cs[c], R, C, view ? "(view)" : NULL);
            tb_get(&t, got, w);
            check_close(w, got, wt, n, cs[c].tol);
            tag(w, sizeof w, "first_backward d", &cs[c], R, C, view ? "(view)" : NULL);
            tb_get(&d, got, w);
            check_close(w, got, wd, n, cs[c].tol);
            free(got), free(wt), free(wd), free(wc);
            tbuf *all[] = {&lam, &y, &wr, &s, &cc, &t, &d};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tb_free(all[k]);
        }
}
END_TEST

START_TEST(test_last_reverse)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x1a5);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++)
            for (int with_b = 0; with_b < 2; with_b++) {
                const size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
                const int view = (int)((si + (size_t)with_b) & 1);
                const double alpha = 7.5, ym = 1.0 / 3.0;
                tbuf cc, y, b, dd, t, s, a, e, wr, dz, g;
                tb_init(&cc, &cs[c], R, 1, view, &r, -1, 1, "c");
                tb_init(&y, &cs[c], R, 1, false, &r, -1, 1, "y");
                tb_init(&b, &cs[c], 1, C, false, &r, -1, 1, "b");
                tb_init(&dd, &cs[c], R, C, view, &r, -2, 2, "dd");
                tb_init(&t, &cs[c], R, C, false, &r, -2, 2, "t");
                tb_init(&s, &cs[c], R, C, view, &r, 0, 1, "s");
                tb_init(&a, &cs[c], R, C, false, &r, 0, 3, "a");
                tb_init(&e, &cs[c], 1, C, false, &r, -1, 1, "e");
                tb_init(&wr, &cs[c], 1, C, false, &r, -1, 1, "w");
                tb_init(&dz, &cs[c], R, C, view, &r, 5, 6, "dz");
                tb_init(&g, &cs[c], R, 1, view, &r, 5, 6, "g");
                double *got = xalloc(n), *wz = xalloc(n), *wg = xalloc(R), gscale = 0;
                for (size_t i = 0; i < R; i++) {
                    double sum = 0, mag = 0;
                    for (size_t j = 0; j < C; j++) {
                        const size_t k = i * C + j;
                        const double d = dd.v[k] + (with_b ? b.v[j] : 0.0), sj = s.v[k];
                        wz[k] = cc.v[i] * e.v[j] * sj + d * t.v[k] * alpha * sj * (1 - sj);
                        sum += a.v[k] * e.v[j] + d * sj * wr.v[j];
                        mag += fabs(a.v[k] * e.v[j]) + fabs(d * sj * wr.v[j]);
                    }
                    wg[i] = ym * y.v[i] * sum;
                    gscale = fmax(gscale, fabs(ym * y.v[i]) * mag);
                }
                ck_assert_int_eq(kr_op_last_reverse(alpha, ym, cc.t, y.t, with_b ? b.t : NULL,
                                                    dd.t, t.t, s.t, a.t, e.t, wr.t, dz.t, g.t),
                                 KR_OK);
                tag(w, sizeof w, with_b ? "last_reverse dz (b)" : "last_reverse dz", &cs[c], R,
                    C, view ? "(view)" : NULL);
                tb_get(&dz, got, w);
                check_close(w, got, wz, n, cs[c].tol);
                tag(w, sizeof w, with_b ? "last_reverse g (b)" : "last_reverse g", &cs[c], R, C,
                    view ? "(view)" : NULL);
                tb_get(&g, got, w);
                /* g's rows are sums of C terms that may cancel: a float32 sum of 1000 is exact
                 * only to about its terms' size times the rounding, so its error is measured
                 * against that size (the summation's forward-error scale), not the sum. */
                check_close_scale(w, got, wg, R, cs[c].tol, gscale);
                tb_get(&dd, got, "last_reverse leaves dd");
                check_close("last_reverse leaves dd", got, dd.v, n, 0.0);
                free(got), free(wz), free(wg);
                tbuf *all[] = {&cc, &y, &b, &dd, &t, &s, &a, &e, &wr, &dz, &g};
                for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) tb_free(all[k]);
            }
}
END_TEST

START_TEST(test_axpby_sum_sq)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x133);
    ctx cs[8];
    int nc = contexts(cs);
    char w[256];
    for (int c = 0; c < nc; c++)
        for (size_t si = 0; si < N_SHAPES; si++) {
            size_t R = g_shapes[si][0], C = g_shapes[si][1], n = R * C;
            int view = (int)(si & 1);
            tbuf x, y, scal;
            tb_init(&x, &cs[c], R, C, view, &r, -2, 2, "x");
            tb_init(&y, &cs[c], R, C, view, &r, -2, 2, "y");
            tb_init(&scal, &cs[c], 1, 4, false, &r, 7, 8, "scal");
            double *got = xalloc(n), *want = xalloc(n), ss = 0;
            const double a = -2.0, b = 1.0;
            for (size_t i = 0; i < n; i++) {
                want[i] = a * x.v[i] + b * y.v[i];
                ss += want[i] * want[i];
            }
            ck_assert_int_eq(kr_op_axpby_sum_sq(a, x.t, b, y.t, scal.t, 3), KR_OK);
            tag(w, sizeof w, "axpby_sum_sq y", &cs[c], R, C, view ? "(view)" : NULL);
            tb_get(&y, got, w);
            check_close(w, got, want, n, cs[c].tol);
            tag(w, sizeof w, "axpby_sum_sq sum", &cs[c], R, C, view ? "(view)" : NULL);
            check_scal(&scal, 3, 1, &ss, cs[c].tol, w);
            free(got);
            free(want);
            tb_free(&x);
            tb_free(&y);
            tb_free(&scal);
        }
}
END_TEST

/* Deferred second stages: 21 reductions of several sizes and value counts into distinct slots
 * (more than one finish's worth of regions, so one early finish happens), a second scal
 * buffer in between (another early finish), then the flush; every slot as a lone reduction
 * would write it, and on OpenCL one finish kernel per 16 pending entries. */
START_TEST(test_reduce_deferred)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x134);
    ctx cs[8];
    int nc = contexts(cs);
    enum { NRED = 21 };
    char w[256];
    for (int c = 0; c < nc; c++) {
        bool cl = kr_device_backend(cs[c].dev) == KR_BACKEND_OPENCL;
        tbuf x[N_SHAPES], phi, y, dphi, other;
        for (size_t si = 0; si < N_SHAPES; si++)
            tb_init(&x[si], &cs[c], g_shapes[si][0], g_shapes[si][1], si & 1, &r, -3, 3, "x");
        tb_init(&phi, &cs[c], 33, 1, false, &r, -2, 2, "phi");
        tb_init(&y, &cs[c], 33, 1, false, &r, -1, 1, "y");
        for (size_t i = 0; i < 33; i++) y.v[i] = y.v[i] < 0 ? -1 : 1;
        tb_sync(&y);
        tb_init(&dphi, &cs[c], 33, 1, false, &r, 0, 1, "dphi");
        tb_init(&other, &cs[c], 1, 1, false, &r, 7, 8, "other scal");
        kr_tensor *scal = NULL;
        ck_assert_int_eq(kr_tensor_new(cs[c].dev, cs[c].dt, 1, NRED + 1, "scal", &scal), KR_OK);
        ck_assert_int_eq(kr_tensor_fill(scal, -1.0), KR_OK);
        double want[NRED + 1], got[NRED + 1];
        size_t slot = 0, firsts = 0;
        ck_assert_int_eq(kr_op_sum_sq(x[0].t, scal, 0), KR_OK); /* kernels built */
        kr_device_counters_reset(cs[c].dev);
        kr_ops_reduce_defer(cs[c].dev);
        for (int k = 0; slot < NRED; k++) {
            size_t si = (size_t)k % N_SHAPES, n = g_shapes[si][0] * g_shapes[si][1];
            double ss = 0;
            for (size_t i = 0; i < n; i++) ss += x[si].v[i] * x[si].v[i];
            if (k % 5 == 4 && slot + 2 <= NRED) { /* two values */
                double loss = 0, errs = 0;
                for (size_t i = 0; i < 33; i++) {
                    double t = y.v[i] * phi.v[i];
                    loss += ref_softplus1(-t);
                    errs += t <= 0;
                }
                ck_assert_int_eq(kr_op_logistic(1.0, phi.t, y.t, dphi.t, scal, slot), KR_OK);
                want[slot++] = loss;
                want[slot++] = errs;
            } else {
                ck_assert_int_eq(kr_op_sum_sq(x[si].t, scal, slot), KR_OK);
                want[slot++] = ss;
            }
            firsts++;
            if (k == 7) { /* another scal buffer: what waits is finished first */
                double ss0 = x[0].v[0] * x[0].v[0];
                ck_assert_int_eq(kr_op_sum_sq(x[0].t, other.t, 0), KR_OK);
                firsts++;
                ck_assert_int_eq(kr_ops_reduce_flush(cs[c].dev), KR_OK);
                kr_ops_reduce_defer(cs[c].dev);
                snprintf(w, sizeof w, "deferred reduction into a second scal on %s %s",
                         kr_device_describe(cs[c].dev), kr_dtype_name(cs[c].dt));
                double g1;
                tb_get(&other, &g1, w);
                check_close(w, &g1, &ss0, 1, cs[c].tol);
            }
        }
        ck_assert_int_eq(kr_ops_reduce_flush(cs[c].dev), KR_OK);
        want[NRED] = -1.0; /* never written */
        ck_assert_int_eq(kr_tensor_read(scal, got), KR_OK);
        snprintf(w, sizeof w, "deferred reductions on %s %s", kr_device_describe(cs[c].dev),
                 kr_dtype_name(cs[c].dt));
        check_close(w, got, want, NRED + 1, cs[c].tol);
        kr_device_counters k;
        kr_device_counters_get(cs[c].dev, &k);
        ck_assert_uint_eq(k.ops, firsts);
        if (cl) /* firsts first stages; finishes: at k == 7 (9 entries: 8 + the other scal's,
                   finished when the scal changes and at the flush), then 16, then the rest */
            ck_assert_msg(k.kernels <= firsts + 4, "%s: %llu kernels for %zu reductions", w,
                          k.kernels, firsts);
        kr_tensor_free(scal);
        for (size_t si = 0; si < N_SHAPES; si++) tb_free(&x[si]);
        tb_free(&phi);
        tb_free(&y);
        tb_free(&dphi);
        tb_free(&other);
    }
}
END_TEST

/* Segmented reductions (kr_op_NAME_seg): segs row blocks reduced on their own, block k into
 * scal[slot + k·stride ..], in one first-stage launch on OpenCL; against float64 sums per
 * block, with the element-wise outputs (axpby_sum_sq's y, hinge_sq's g, logistic's dphi) and
 * every other slot unchanged. Views (offset != 0), awkward block sizes, 16 segments (a whole
 * finish kernel, so what waits in a deferred bracket is finished first), and one segment
 * (the plain op). */
START_TEST(test_segmented)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x5e9);
    ctx cs[8];
    int nc = contexts(cs);
    static const size_t segs_list[] = {1, 3, 7, 16};
    static const size_t block_rows[] = {1, 3, 33};
    static const size_t cols_list[] = {1, 7, 129};
    char w[256], extra[96];
    for (int c = 0; c < nc; c++)
        for (size_t a = 0; a < 4; a++)
            for (size_t b = 0; b < 3; b++)
                for (size_t cc = 0; cc < 3; cc++) {
                    const size_t segs = segs_list[a], br = block_rows[b], C = cols_list[cc];
                    const size_t R = segs * br, n = R * C, bn = br * C, stride = 3;
                    if (getenv("KKTRECON_TEST_SMALL") && (br > 3 || C > 7)) continue;
                    const bool view = (a + b + cc) & 1;
                    tbuf x, y, g, scal;
                    tb_init(&x, &cs[c], R, C, view, &r, -3, 3, "x");
                    tb_init(&y, &cs[c], R, C, !view, &r, -2, 2, "y");
                    tb_init(&g, &cs[c], R, C, view, &r, -1, 1, "g");
                    tb_init(&scal, &cs[c], 1, segs * stride + 2, false, &r, 7, 8, "scal");
                    double *want_s = xalloc(segs * stride + 2), *got_s = xalloc(segs * stride + 2);
                    double *got = xalloc(n), *want_y = xalloc(n), *want_g = xalloc(n);
                    const double av = 0.75, bv = -1.5, lo = -1, hi = 1, wt = 2;
                    memcpy(want_s, scal.v, (segs * stride + 2) * sizeof *want_s);
                    for (size_t k = 0; k < segs; k++) {
                        double ss = 0, res = 0, hinge = 0;
                        for (size_t i = k * bn; i < (k + 1) * bn; i++) {
                            ss += x.v[i] * x.v[i];
                            want_y[i] = av * x.v[i] + bv * y.v[i];
                            res += want_y[i] * want_y[i];
                            double below = ref_relu(lo - x.v[i]), above = ref_relu(x.v[i] - hi);
                            hinge += wt * (below * below + above * above);
                            want_g[i] = g.v[i] + wt * (2 * above - 2 * below);
                        }
                        want_s[1 + k * stride] = ss;
                        want_s[2 + k * stride] = res;
                        want_s[3 + k * stride] = hinge;
                    }
                    kr_device_counters k0, k1;
                    kr_device_counters_reset(cs[c].dev);
                    kr_ops_reduce_defer(cs[c].dev);
                    ck_assert_int_eq(kr_op_sum_sq_seg(x.t, segs, scal.t, 1, stride), KR_OK);
                    ck_assert_int_eq(kr_op_axpby_sum_sq_seg(av, x.t, bv, y.t, segs, scal.t, 2,
                                                            stride), KR_OK);
                    ck_assert_int_eq(kr_op_hinge_sq_seg(x.t, lo, hi, wt, g.t, segs, scal.t, 3,
                                                        stride), KR_OK);
                    kr_device_counters_get(cs[c].dev, &k0);
                    ck_assert_int_eq(kr_ops_reduce_flush(cs[c].dev), KR_OK);
                    kr_device_counters_get(cs[c].dev, &k1);
                    snprintf(extra, sizeof extra, "%zu segments of %zu rows%s", segs, br,
                             view ? " (views)" : "");
                    tag(w, sizeof w, "segmented sums", &cs[c], R, C, extra);
                    tb_get(&scal, got_s, w);
                    check_close(w, got_s, want_s, segs * stride + 2, cs[c].tol);
                    tag(w, sizeof w, "segmented axpby_sum_sq y", &cs[c], R, C, extra);
                    tb_get(&y, got, w);
                    check_close(w, got, want_y, n, cs[c].tol);
                    tag(w, sizeof w, "segmented hinge_sq g", &cs[c], R, C, extra);
                    tb_get(&g, got, w);
                    check_close(w, got, want_g, n, cs[c].tol);
                    ck_assert_uint_eq(k1.ops, 3);
                    if (kr_device_backend(cs[c].dev) == KR_BACKEND_OPENCL)
                        /* one first stage per op; finishes: one per 16 entries */
                        ck_assert_msg(k1.kernels == 3 + (3 * segs + 15) / 16 && k0.kernels >= 3,
                                      "%s: %llu kernels", w, k1.kernels);
                    free(want_s), free(got_s), free(got), free(want_y), free(want_g);
                    tb_free(&x), tb_free(&y), tb_free(&g), tb_free(&scal);
                }
    /* Two values per segment (logistic: loss and errors at slot + k·stride and + 1). */
    for (int c = 0; c < nc; c++) {
        const size_t segs = 7, br = 5, R = segs * br, stride = 2;
        tbuf phi, y, dphi, scal;
        tb_init(&phi, &cs[c], R, 1, true, &r, -2, 2, "phi");
        tb_init(&y, &cs[c], R, 1, false, &r, -1, 1, "y");
        for (size_t i = 0; i < R; i++) y.v[i] = y.v[i] < 0 ? -1 : 1;
        tb_sync(&y);
        tb_init(&dphi, &cs[c], R, 1, false, &r, 0, 1, "dphi");
        tb_init(&scal, &cs[c], 1, segs * stride, false, &r, 7, 8, "scal");
        double want[14], got[14];
        for (size_t k = 0; k < segs; k++) {
            double loss = 0, errs = 0;
            for (size_t i = k * br; i < (k + 1) * br; i++) {
                double t = y.v[i] * phi.v[i];
                loss += ref_softplus1(-t);
                errs += t <= 0;
            }
            want[k * stride] = loss;
            want[k * stride + 1] = errs;
        }
        ck_assert_int_eq(kr_op_logistic_seg(1.0, phi.t, y.t, dphi.t, segs, scal.t, 0, stride),
                         KR_OK);
        tag(w, sizeof w, "segmented logistic", &cs[c], R, 1, "7 segments");
        tb_get(&scal, got, w);
        check_close(w, got, want, segs * stride, cs[c].tol);
        tb_free(&phi), tb_free(&y), tb_free(&dphi), tb_free(&scal);
    }
}
END_TEST

START_TEST(test_counters)
{
    ctx cs[8];
    int nc = contexts(cs);
    for (int c = 0; c < nc; c++) {
        kr_device *d = cs[c].dev;
        bool cl = kr_device_backend(d) == KR_BACKEND_OPENCL;
        kr_tensor *a = NULL, *b = NULL, *scal = NULL;
        ck_assert_int_eq(kr_tensor_new(d, cs[c].dt, 5, 7, "A", &a), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, cs[c].dt, 5, 7, "B", &b), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, cs[c].dt, 1, 2, "scal", &scal), KR_OK);
        double vals[35];
        for (int i = 0; i < 35; i++) vals[i] = 0.25 * i;
        ck_assert_int_eq(kr_tensor_write(a, vals), KR_OK); /* written data, not only fill: */
        ck_assert_int_eq(kr_tensor_write(b, vals), KR_OK); /* oclgrind calls filled memory
                                                              uninitialised */
        ck_assert_int_eq(kr_op_axpby(1, a, 0, b), KR_OK); /* build dt's kernels first */
        kr_device_counters_reset(d);
        ck_assert_int_eq(kr_op_axpby(1, a, 0, b), KR_OK);
        ck_assert_int_eq(kr_op_sum_sq(b, scal, 0), KR_OK);
        ck_assert_int_eq(kr_op_axpby(1, a, 0, b), KR_OK);
        kr_device_counters k;
        kr_device_counters_get(d, &k);
        ck_assert_uint_eq(k.ops, 3);
        ck_assert_uint_eq(k.kernels, cl ? 4 : 0); /* axpby, sum_sq's two stages, axpby */
        ck_assert_uint_eq(k.blocking, 0);
        ck_assert_uint_eq(k.bytes_from_device, 0);
        double v[2];
        ck_assert_int_eq(kr_tensor_read(scal, v), KR_OK);
        ck_assert_msg(fabs(v[0] - 855.3125) < 1e-3, "sum of squares %g, want 855.3125", v[0]);
        kr_device_counters_get(d, &k);
        ck_assert_uint_eq(k.blocking, 1);
        ck_assert_uint_eq(k.bytes_from_device, 2 * kr_dtype_size(cs[c].dt));
        ck_assert_int_eq(kr_op_axpby(1, a, 1, scal), KR_E_INVALID); /* refused: not counted */
        kr_device_counters_get(d, &k);
        ck_assert_uint_eq(k.ops, 3);
        kr_tensor_free(a);
        kr_tensor_free(b);
        kr_tensor_free(scal);
    }
}
END_TEST

/* ---- argument errors ------------------------------------------------------------------- */

START_TEST(test_invalid)
{
    ctx cs[8];
    int nc = contexts(cs);
    for (int c = 0; c < nc; c++) {
        kr_device *d = cs[c].dev;
        kr_dtype dt = cs[c].dt;
        kr_tensor *a = NULL, *b = NULL, *row = NULL, *col = NULL, *scal = NULL, *phi2 = NULL;
        ck_assert_int_eq(kr_tensor_new(d, dt, 3, 7, "A", &a), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, dt, 7, 3, "B", &b), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, dt, 1, 8, "row8", &row), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, dt, 21, 1, "col", &col), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, dt, 1, 4, "scal", &scal), KR_OK);
        ck_assert_int_eq(kr_tensor_new(d, dt, 21, 2, "phi2", &phi2), KR_OK);

        ck_assert_int_eq(kr_op_axpby(1, a, 1, b), KR_E_INVALID);
        ck_assert_int_eq(kr_op_mul(1, a, a, b), KR_E_INVALID);
        ck_assert_int_eq(kr_op_mul(1, a, b, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_act_forward(KR_ACT_RELU, 1, a, b, NULL), KR_E_INVALID);
        ck_assert_int_eq(kr_op_act_forward(KR_ACT_RELU, 1, a, a, b), KR_E_INVALID);
        ck_assert_int_eq(kr_op_relu_backward(a, b, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_sigmoid_backward(1, NULL, a, b, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_sigmoid_backward(1, b, a, a, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_add_row(1, row, a), KR_E_INVALID); /* 1 x 8 onto 3 x 7 */
        ck_assert_int_eq(kr_op_col_sum(1, a, 0, row), KR_E_INVALID);
        ck_assert_int_eq(kr_op_sum_sq(a, scal, 4), KR_E_INVALID); /* slot outside 1 x 4 */
        ck_assert_int_eq(kr_op_hinge_sq(a, -1, 1, 1, b, scal, 0), KR_E_INVALID);
        ck_assert_int_eq(kr_op_hinge_sq(a, -1, 1, 1, NULL, scal, 4), KR_E_INVALID);
        ck_assert_int_eq(kr_op_logistic(1, phi2, phi2, phi2, scal, 0), KR_E_INVALID); /* n x 2 */
        ck_assert_int_eq(kr_op_logistic(1, col, col, col, scal, 3), KR_E_INVALID); /* slot+1 */
        ck_assert_int_eq(kr_op_sum_sq_seg(a, 0, scal, 0, 1), KR_E_INVALID);  /* no segment */
        ck_assert_int_eq(kr_op_sum_sq_seg(a, 2, scal, 0, 1), KR_E_INVALID);  /* 3 rows / 2 */
        ck_assert_int_eq(kr_op_sum_sq_seg(a, 3, scal, 2, 1), KR_E_INVALID);  /* slot 4 */
        ck_assert_int_eq(kr_op_sum_sq_seg(col, 21, scal, 0, 0), KR_E_INVALID); /* > 16 */
        ck_assert_int_eq(kr_op_logistic_seg(1, col, col, col, 3, scal, 0, 1), KR_E_INVALID);
        ck_assert_msg(strstr(kr_error_message(), "stride 1"), "%s", kr_error_message());
        ck_assert_int_eq(kr_op_sgd(0.1, 0.9, true, a, b, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_sgd(0.1, 0.9, true, a, a, b), KR_E_INVALID);
        ck_assert_int_eq(kr_op_adam(0.1, 0.9, 0.999, 1e-8, 1, a, a, b, a), KR_E_INVALID);
        ck_assert_int_eq(kr_op_adam(0.1, 0.9, 0.999, 1e-8, 1, a, a, a, b), KR_E_INVALID);

        /* Another dtype or another device is a mismatch too. */
        for (int o = 0; o < nc; o++) {
            if (o == c) continue;
            kr_tensor *other = NULL;
            ck_assert_int_eq(kr_tensor_new(cs[o].dev, cs[o].dt, 3, 7, "other", &other), KR_OK);
            ck_assert_int_eq(kr_op_axpby(1, a, 1, other), KR_E_INVALID);
            ck_assert_int_eq(kr_op_mul(1, a, other, a), KR_E_INVALID);
            kr_tensor_free(other);
        }
        kr_tensor_free(a);
        kr_tensor_free(b);
        kr_tensor_free(row);
        kr_tensor_free(col);
        kr_tensor_free(scal);
        kr_tensor_free(phi2);
    }
}
END_TEST

int main(void)
{
    (void)kr_test_seed(); /* printed once, before anything can fail */
    const char *small = getenv("KKTRECON_TEST_SMALL");
    if (small && !strcmp(small, "1")) g_nshapes--;
    g_ndevs = kr_test_devices(g_devs, 4);
    long live0 = kr_tensor_live_count();

    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900); /* cold PoCL compiles */
    tcase_add_test(tc, test_axpby);
    tcase_add_test(tc, test_fill);
    tcase_add_test(tc, test_mul);
    tcase_add_test(tc, test_act_forward);
    tcase_add_test(tc, test_relu_backward);
    tcase_add_test(tc, test_sigmoid_backward);
    tcase_add_test(tc, test_add_row_col_sum);
    tcase_add_test(tc, test_sum_sq_hinge);
    tcase_add_test(tc, test_logistic);
    tcase_add_test(tc, test_xent);
    tcase_add_test(tc, test_regress);
    tcase_add_test(tc, test_class_sign_scale_rows);
    tcase_add_test(tc, test_sgd);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_act_forward_rows);
    tcase_add_test(tc, test_sigmoid_backward_rows);
    tcase_add_test(tc, test_sgd_rows);
    tcase_add_test(tc, test_bias_act_forward);
    tcase_add_test(tc, test_dual_mul);
    tcase_add_test(tc, test_axpby_sum_sq);
    tcase_add_test(tc, test_segmented);
    tcase_add_test(tc, test_adam_rows);
    tcase_add_test(tc, test_col_fused);
    tcase_add_test(tc, test_first_backward);
    tcase_add_test(tc, test_last_reverse);
    tcase_add_test(tc, test_reduce_deferred);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_invalid);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);

    /* Without forking, a failed assertion skips its test's frees: only judge leaks when
     * everything passed. */
    long live1 = kr_tensor_live_count();
    if (!failed && live1 != live0) {
        fprintf(stderr, "FAIL: %ld tensor(s) leaked (live count %ld -> %ld)\n", live1 - live0,
                live0, live1);
        failed = 1;
    }
    kr_test_close_devices();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
