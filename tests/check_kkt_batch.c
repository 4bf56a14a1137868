/* check_kkt_batch.c — device suite: P attack points in one kkt object (kr_kkt_new_points,
 * candidates stacked by rows, per-point α and λ_min) against P single-point objects
 * (kr_kkt_new), on host and the OpenCL device, float32 and float64, relu and softplus, with
 * and without b₁, 2 to 4 weight layers, on awkward per-point counts; and the multiclass
 * (3 and 10 classes) and regression objectives with a bias on every layer.
 *
 * Two checks per configuration: one evaluation (every point's loss terms, ‖X‖², ∂X, ∂λ) and
 * 100 iterations of SGD with momentum where lr_x, lr_λ and momentum differ per point (batched:
 * kr_optim_sgd_rows with per-row columns; single: kr_op_sgd with that point's scalars), after
 * which every point's X, λ and loss must match. Tolerances: kr_test_tol (1e-10 float64, 1e-4
 * float32, normwise). The single-point object itself is check_kkt.c's subject.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "device/ops.h"
#include "nn/kkt.h"
#include "nn/optim.h"
#include "testutil.h"

typedef struct config {
    size_t mp, d;
    size_t hidden[3];
    int n_hidden;
    bool bias;
    kr_act act;
    kr_objective obj; /* 0: binary */
    size_t C;         /* 0: 1 output */
    bool all_biases;  /* a bias on every layer (else on the first when bias) */
} config;

static const config CONFIGS[] = {
    {7, 33, {17}, 1, true, KR_ACT_RELU, 0, 0, false},
    {3, 17, {7, 5}, 2, false, KR_ACT_SOFTPLUS, 0, 0, false},
    {5, 13, {9, 7, 3}, 3, true, KR_ACT_SOFTPLUS, 0, 0, false},
    {6, 20, {11, 3}, 2, true, KR_ACT_RELU, 0, 0, false},
    {1, 7, {3, 7, 3}, 3, false, KR_ACT_RELU, 0, 0, false},
    {6, 20, {11, 3}, 2, true, KR_ACT_RELU, KR_OBJ_MULTICLASS, 3, true},
    {10, 13, {9}, 1, true, KR_ACT_SOFTPLUS, KR_OBJ_MULTICLASS, 10, true},
    {5, 13, {9, 7}, 2, true, KR_ACT_RELU, KR_OBJ_REGRESSION, 1, true},
};
#define P 3
static const double ALPHA[P] = {19.2, 3.0, 47.5};
static const double LMIN[P] = {0.42, 0.1, 0.3};
static const double LR_X[P] = {2e-3, 5e-4, 1e-3};
static const double LR_L[P] = {1e-3, 1e-4, 5e-4};
static const double MOM[P] = {0.9, 0.5, 0.0};
/* Iterations per configuration, and how many configurations run: KKTRECON_TEST_SMALL
 * (oclgrind, which runs every work-item in turn) takes the first one for 3 iterations. */
static int g_iters = 100;
static size_t g_configs = sizeof CONFIGS / sizeof CONFIGS[0];

static kr_device *devs[4];
static int n_devs;
static double g_worst; /* largest normwise error of X or λ after g_iters iterations, per run */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* max|a − b| / max|b| (b ≠ 0 somewhere). */
static double normwise(const double *a, const double *b, size_t n)
{
    double e = 0, s = 1e-300;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return e / s;
}

static double rnd(kr_dtype dt, double v) { return dt == KR_F32 ? (double)(float)v : v; }

static kr_tensor *upload(kr_device *dev, kr_dtype dt, size_t rows, size_t cols, const double *v,
                         const char *name)
{
    kr_tensor *t;
    ck_assert_int_eq(kr_tensor_new(dev, dt, rows, cols, name, &t), KR_OK);
    if (v) ck_assert_int_eq(kr_tensor_write(t, v), KR_OK);
    return t;
}

static void compare_loss(const char *what, const kr_kkt_loss *got, const kr_kkt_loss *want,
                         double tol)
{
    ck_assert_int_eq(got->n_tensors, want->n_tensors);
    ck_assert_msg(kr_test_compare("loss", &got->total, &want->total, 1, tol), "loss: %s", what);
    ck_assert_msg(kr_test_compare("prior", &got->prior, &want->prior, 1, tol), "prior: %s", what);
    ck_assert_msg(kr_test_compare("lambda", &got->lambda, &want->lambda, 1, tol), "lambda: %s",
                  what);
    ck_assert_msg(kr_test_compare("kkt per tensor", got->kkt_per_tensor, want->kkt_per_tensor,
                                  (size_t)want->n_tensors, tol), "per tensor: %s", what);
}

static void check_config(kr_device *dev, kr_dtype dt, const config *c, kr_rng *r)
{
    const size_t mp = c->mp, d = c->d, M = P * mp;
    const double tol = kr_test_tol(dt);
    kr_model *model;
    const size_t C = c->C ? c->C : 1;
    const unsigned mask = c->all_biases ? (1u << (c->n_hidden + 1)) - 1u : c->bias ? 1u : 0u;
    ck_assert_int_eq(kr_model_new_general(d, c->hidden, c->n_hidden, C, mask, &model), KR_OK);
    kr_model_init(model, 0.5, kr_rng_u64(r));
    for (int l = 0; l < model->layers; l++) {
        for (size_t i = 0; i < model->dims[l] * model->dims[l + 1]; i++)
            model->w[l][i] = rnd(dt, model->w[l][i]);
        for (size_t i = 0; model->b[l] && i < model->dims[l + 1]; i++)
            model->b[l][i] = rnd(dt, model->b[l][i]);
    }
    double *x = malloc(M * d * sizeof *x), *lam = malloc(M * sizeof *lam);
    double *y = malloc(mp * sizeof *y);
    for (size_t i = 0; i < M * d; i++) x[i] = rnd(dt, 0.8 * kr_rng_normal(r));
    for (size_t i = 0; i < M; i++)
        lam[i] = rnd(dt, c->obj == KR_OBJ_REGRESSION ? kr_rng_normal(r) : kr_rng_uniform(r));
    for (size_t i = 0; i < mp; i++)
        y[i] = c->obj == KR_OBJ_MULTICLASS ? (double)(i * C / mp) : i < mp / 2 ? -1.0 : 1.0;
    kr_kkt_point pts[P];
    double lrx[M], lrl[M], mom[M];
    for (int p = 0; p < P; p++) pts[p] = (kr_kkt_point){rnd(dt, ALPHA[p]), rnd(dt, LMIN[p])};
    for (size_t i = 0; i < M; i++) {
        lrx[i] = LR_X[i / mp];
        lrl[i] = LR_L[i / mp];
        mom[i] = MOM[i / mp];
    }
    char what[200];
    snprintf(what, sizeof what, "%s %s P=%d m=%zu d=%zu L=%d C=%zu biases 0x%x %s act=%s",
             kr_device_describe(dev), kr_dtype_name(dt), P, mp, d, c->n_hidden + 1, C, mask,
             kr_objective_name(kr_objective_resolve(c->obj, C)),
             c->act == KR_ACT_RELU ? "relu" : "softplus");

    /* Batched: one object, stacked tensors. */
    kr_kkt *kb;
    ck_assert_int_eq(kr_kkt_new_objective(dev, dt, model, c->act, c->obj, pts, P, mp, y, &kb),
                     KR_OK);
    ck_assert_uint_eq(kr_kkt_points(kb), P);
    kr_tensor *bx = upload(dev, dt, M, d, x, "X"), *bl = upload(dev, dt, M, 1, lam, "lambda");
    kr_tensor *bgx = upload(dev, dt, M, d, NULL, "gX"), *bgl = upload(dev, dt, M, 1, NULL, "gl");
    kr_tensor *bbx = upload(dev, dt, M, d, NULL, "bX"), *bbl = upload(dev, dt, M, 1, NULL, "bl");
    kr_tensor *tlrx = upload(dev, dt, M, 1, lrx, "lr_x"), *tlrl = upload(dev, dt, M, 1, lrl, "lr_l");
    kr_tensor *tmom = upload(dev, dt, M, 1, mom, "momentum");
    /* Singles: P objects. */
    kr_kkt *ks[P];
    kr_tensor *sx[P], *sl[P], *sgx[P], *sgl[P], *sbx[P], *sbl[P];
    for (int p = 0; p < P; p++) {
        const kr_kkt_opts o = {c->act, pts[p].alpha, pts[p].lambda_min, c->obj};
        ck_assert_int_eq(kr_kkt_new(dev, dt, model, &o, mp, y, &ks[p]), KR_OK);
        sx[p] = upload(dev, dt, mp, d, x + p * mp * d, "X");
        sl[p] = upload(dev, dt, mp, 1, lam + p * mp, "lambda");
        sgx[p] = upload(dev, dt, mp, d, NULL, "gX");
        sgl[p] = upload(dev, dt, mp, 1, NULL, "gl");
        sbx[p] = upload(dev, dt, mp, d, NULL, "bX");
        sbl[p] = upload(dev, dt, mp, 1, NULL, "bl");
    }

    double *got = malloc(M * d * sizeof *got), *want = malloc(M * d * sizeof *want);
    kr_kkt_loss lb[P], ls;
    double xsq[P], xsq1;
    kr_kkt_loss dummy;
    for (int it = 0; it <= g_iters; it++) {
        bool last = it == g_iters;
        ck_assert_int_eq(kr_kkt_eval(kb, bx, bl, bgx, bgl), KR_OK);
        ck_assert_int_eq(kr_kkt_read_losses(kb, lb, xsq), KR_OK);
        for (int p = 0; p < P; p++) {
            ck_assert_int_eq(kr_kkt_eval(ks[p], sx[p], sl[p], sgx[p], sgl[p]), KR_OK);
            if (it == 0 || last) {
                char w2[260];
                snprintf(w2, sizeof w2, "%s point %d after %d iterations", what, p, it);
                ck_assert_int_eq(kr_kkt_read_loss(ks[p], &ls, &xsq1), KR_OK);
                compare_loss(w2, &lb[p], &ls, tol);
                ck_assert_msg(kr_test_compare("|X|^2", &xsq[p], &xsq1, 1, tol), "%s", w2);
                /* X, λ and (at it == 0) the gradients of point p. */
                kr_tensor vx = kr_tensor_rows(bx, p * mp, mp), vl = kr_tensor_rows(bl, p * mp, mp);
                ck_assert_int_eq(kr_tensor_read(&vx, got), KR_OK);
                ck_assert_int_eq(kr_tensor_read(sx[p], want), KR_OK);
                ck_assert_msg(kr_test_compare("X", got, want, mp * d, tol), "%s", w2);
                if (last) g_worst = fmax(g_worst, normwise(got, want, mp * d));
                ck_assert_int_eq(kr_tensor_read(&vl, got), KR_OK);
                ck_assert_int_eq(kr_tensor_read(sl[p], want), KR_OK);
                ck_assert_msg(kr_test_compare("lambda", got, want, mp, tol), "%s", w2);
                if (last) g_worst = fmax(g_worst, normwise(got, want, mp));
                if (it == 0) {
                    kr_tensor vg = kr_tensor_rows(bgx, p * mp, mp);
                    kr_tensor vgl = kr_tensor_rows(bgl, p * mp, mp);
                    ck_assert_int_eq(kr_tensor_read(&vg, got), KR_OK);
                    ck_assert_int_eq(kr_tensor_read(sgx[p], want), KR_OK);
                    ck_assert_msg(kr_test_compare("grad X", got, want, mp * d, tol), "%s", w2);
                    ck_assert_int_eq(kr_tensor_read(&vgl, got), KR_OK);
                    ck_assert_int_eq(kr_tensor_read(sgl[p], want), KR_OK);
                    ck_assert_msg(kr_test_compare("grad lambda", got, want, mp, tol), "%s", w2);
                }
            }
            if (!last) {
                ck_assert_int_eq(kr_op_sgd(LR_X[p], MOM[p], it == 0, sx[p], sgx[p], sbx[p]),
                                 KR_OK);
                ck_assert_int_eq(kr_op_sgd(LR_L[p], MOM[p], it == 0, sl[p], sgl[p], sbl[p]),
                                 KR_OK);
            }
        }
        if (!last) {
            ck_assert_int_eq(kr_optim_sgd_rows(tlrx, tmom, it, bx, bgx, bbx), KR_OK);
            ck_assert_int_eq(kr_optim_sgd_rows(tlrl, tmom, it, bl, bgl, bbl), KR_OK);
        }
    }
    /* Loss only (no gradient buffers) gives the same losses; the one-point reader refuses. */
    ck_assert_int_eq(kr_kkt_eval(kb, bx, bl, NULL, NULL), KR_OK);
    kr_kkt_loss lo[P];
    ck_assert_int_eq(kr_kkt_read_losses(kb, lo, NULL), KR_OK);
    for (int p = 0; p < P; p++) compare_loss(what, &lo[p], &lb[p], tol);
    ck_assert_int_eq(kr_kkt_read_loss(kb, &dummy, NULL), KR_E_INVALID);

    for (int p = 0; p < P; p++) {
        kr_kkt_free(ks[p]);
        kr_tensor_free(sx[p]);
        kr_tensor_free(sl[p]);
        kr_tensor_free(sgx[p]);
        kr_tensor_free(sgl[p]);
        kr_tensor_free(sbx[p]);
        kr_tensor_free(sbl[p]);
    }
    kr_kkt_free(kb);
    kr_tensor_free(bx);
    kr_tensor_free(bl);
    kr_tensor_free(bgx);
    kr_tensor_free(bgl);
    kr_tensor_free(bbx);
    kr_tensor_free(bbl);
    kr_tensor_free(tlrx);
    kr_tensor_free(tlrl);
    kr_tensor_free(tmom);
    free(got);
    free(want);
    free(x);
    free(lam);
    free(y);
    kr_model_free(model);
}

START_TEST(test_points_match_single_runs)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 11);
    long live = kr_tensor_live_count();
    for (int di = 0; di < n_devs; di++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            double t0 = now_s();
            g_worst = 0;
            for (size_t c = 0; c < g_configs; c++)
                check_config(devs[di], dt, &CONFIGS[c], &r);
            printf("  %s %s: %d points x %d iterations, worst normwise X/lambda difference "
                   "to single runs %.2g (%.1f s)\n", kr_device_describe(devs[di]),
                   kr_dtype_name(dt), P, g_iters, g_worst, now_s() - t0);
        }
    ck_assert_int_eq(kr_tensor_live_count(), live);
}
END_TEST

/* More points than one segmented reduction takes (16): 19 points, each λ_min its own, some λ
 * below it, every loss term and both gradients of one evaluation equal single runs. */
START_TEST(test_many_points)
{
    enum { NP = 19, MP = 3, D = 5 };
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 23);
    kr_model *model;
    const size_t hidden[] = {4, 3};
    ck_assert_int_eq(kr_model_new(D, hidden, 2, true, &model), KR_OK);
    kr_model_init(model, 0.5, kr_rng_u64(&r));
    const double y[MP] = {-1, 1, 1};
    kr_kkt_point pts[NP];
    double x[NP * MP * D], lam[NP * MP], got[NP * MP * D];
    for (int p = 0; p < NP; p++) pts[p] = (kr_kkt_point){5.0 + 3.0 * p, 0.05 * (p % 9)};
    for (size_t i = 0; i < NP * MP * D; i++) x[i] = 1.3 * kr_rng_normal(&r);
    for (size_t i = 0; i < NP * MP; i++) lam[i] = 0.6 * kr_rng_uniform(&r);
    for (int di = 0; di < n_devs; di++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            const double tol = kr_test_tol(dt);
            kr_kkt *kb;
            ck_assert_int_eq(kr_kkt_new_points(devs[di], dt, model, KR_ACT_SOFTPLUS, pts, NP, MP,
                                               y, &kb), KR_OK);
            kr_tensor *bx = upload(devs[di], dt, NP * MP, D, x, "X");
            kr_tensor *bl = upload(devs[di], dt, NP * MP, 1, lam, "lambda");
            kr_tensor *gx = upload(devs[di], dt, NP * MP, D, NULL, "gX");
            kr_tensor *gl = upload(devs[di], dt, NP * MP, 1, NULL, "gl");
            kr_kkt_loss lb[NP], ls;
            double xsq[NP], xsq1, want[MP * D];
            ck_assert_int_eq(kr_kkt_eval(kb, bx, bl, gx, gl), KR_OK);
            ck_assert_int_eq(kr_kkt_read_losses(kb, lb, xsq), KR_OK);
            for (int p = 0; p < NP; p++) {
                char what[200];
                snprintf(what, sizeof what, "%s %s point %d of %d", kr_device_describe(devs[di]),
                         kr_dtype_name(dt), p, NP);
                const kr_kkt_opts o = {KR_ACT_SOFTPLUS, pts[p].alpha, pts[p].lambda_min, 0};
                kr_kkt *k1;
                ck_assert_int_eq(kr_kkt_new(devs[di], dt, model, &o, MP, y, &k1), KR_OK);
                kr_tensor *sx = upload(devs[di], dt, MP, D, x + p * MP * D, "X");
                kr_tensor *sl = upload(devs[di], dt, MP, 1, lam + p * MP, "lambda");
                kr_tensor *sgx = upload(devs[di], dt, MP, D, NULL, "gX");
                kr_tensor *sgl = upload(devs[di], dt, MP, 1, NULL, "gl");
                ck_assert_int_eq(kr_kkt_eval(k1, sx, sl, sgx, sgl), KR_OK);
                ck_assert_int_eq(kr_kkt_read_loss(k1, &ls, &xsq1), KR_OK);
                compare_loss(what, &lb[p], &ls, tol);
                ck_assert_msg(kr_test_compare("|X|^2", &xsq[p], &xsq1, 1, tol), "%s", what);
                kr_tensor vg = kr_tensor_rows(gx, p * MP, MP), vl = kr_tensor_rows(gl, p * MP, MP);
                ck_assert_int_eq(kr_tensor_read(&vg, got), KR_OK);
                ck_assert_int_eq(kr_tensor_read(sgx, want), KR_OK);
                ck_assert_msg(kr_test_compare("grad X", got, want, MP * D, tol), "%s", what);
                ck_assert_int_eq(kr_tensor_read(&vl, got), KR_OK);
                ck_assert_int_eq(kr_tensor_read(sgl, want), KR_OK);
                ck_assert_msg(kr_test_compare("grad lambda", got, want, MP, tol), "%s", what);
                kr_tensor_free(sx), kr_tensor_free(sl), kr_tensor_free(sgx), kr_tensor_free(sgl);
                kr_kkt_free(k1);
            }
            kr_tensor_free(bx), kr_tensor_free(bl), kr_tensor_free(gx), kr_tensor_free(gl);
            kr_kkt_free(kb);
        }
    kr_model_free(model);
}
END_TEST

START_TEST(test_bad_points)
{
    kr_model *model;
    const size_t hidden[] = {3};
    ck_assert_int_eq(kr_model_new(5, hidden, 1, true, &model), KR_OK);
    const double y[2] = {-1, 1};
    kr_kkt_point pts[3] = {{19.2, 0.4}, {3.0, 0.1}, {-1.0, 0.2}};
    kr_kkt *k;
    ck_assert_int_eq(kr_kkt_new_points(devs[0], KR_F64, model, KR_ACT_RELU, pts, 3, 2, y, &k),
                     KR_E_INVALID);
    ck_assert_ptr_null(k);
    pts[2].alpha = NAN;
    ck_assert_int_eq(kr_kkt_new_points(devs[0], KR_F64, model, KR_ACT_RELU, pts, 3, 2, y, &k),
                     KR_E_INVALID);
    ck_assert_int_eq(kr_kkt_new_points(devs[0], KR_F64, model, KR_ACT_RELU, pts, 0, 2, y, &k),
                     KR_E_INVALID);
    ck_assert_int_eq(kr_kkt_new_points(devs[0], KR_F64, model, KR_ACT_RELU, pts, 2, 2, y, &k),
                     KR_OK);
    kr_tensor *x, *l;
    /* X must have P·m rows. */
    ck_assert_int_eq(kr_tensor_new(devs[0], KR_F64, 2, 5, "X", &x), KR_OK);
    ck_assert_int_eq(kr_tensor_new(devs[0], KR_F64, 2, 1, "lambda", &l), KR_OK);
    ck_assert_int_eq(kr_kkt_eval(k, x, l, NULL, NULL), KR_E_INVALID);
    kr_tensor_free(x);
    kr_tensor_free(l);
    kr_kkt_free(k);
    kr_model_free(model);
}
END_TEST

int main(void)
{
    n_devs = kr_test_devices(devs, 4);
    if (getenv("KKTRECON_TEST_SMALL")) {
        g_iters = 3;
        g_configs = 1;
    }
    Suite *s = suite_create("kkt_batch");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_points_match_single_runs);
    tcase_add_test(tc, test_many_points);
    tcase_add_test(tc, test_bad_points);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_test_close_devices();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
