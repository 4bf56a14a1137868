/* check_mlp.c — device suite: the batched training math of mlp.c on every backend and
 * precision against the float64 per-sample reference mlp_ref.c (itself checked by finite
 * differences in check_mlp_ref.c): Φ, the mean loss (logistic, cross-entropy with 2, 3 and 10
 * classes, MSE, Huber; with and without weight decay), the error count, every parameter
 * gradient (no bias, the first layer's, every layer's, the output layer's) and one
 * gradient-descent step, on awkward shapes with fresh random inputs. Inputs whose pre-activations come within 1e-3 of a ReLU kink are redrawn, so a
 * float32 rounding cannot flip a mask and make the comparison meaningless.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/mlp.h"
#include "ref/mlp_ref.h"
#include "base/rng.h"
#include "testutil.h"

typedef struct shape {
    size_t n, d;
    size_t hidden[4];
    int n_hidden;
    bool bias;
    kr_loss loss;   /* 0 = logistic */
    size_t C;       /* 0 = 1 output */
    unsigned mask;  /* 0 = as bias (first layer only) */
    double wd;
} shape;

#define ALL 0xffffu /* every layer (cut to L bits) */
static const shape SHAPES[] = {
    {1, 3, {7}, 1, true, 0, 0, 0, 0},
    {3, 7, {33, 17}, 2, false, 0, 0, 0, 0},
    {7, 33, {17, 3}, 2, true, 0, 0, 0, 0},
    {33, 17, {7, 3, 5}, 3, true, 0, 0, 0, 0},
    {20, 65, {47}, 1, false, 0, 0, 0, 0},
    {4, 9, {13}, 1, true, KR_LOSS_CE, 3, ALL, 0.01},
    {33, 17, {7, 3}, 2, true, KR_LOSS_CE, 10, ALL, 0},
    {1, 3, {7}, 1, true, KR_LOSS_CE, 2, 1, 0.1},
    {7, 33, {17}, 1, true, KR_LOSS_MSE, 1, ALL, 0.05},
    {20, 65, {47, 5}, 2, true, KR_LOSS_HUBER, 1, 4, 0},
    {3, 7, {33, 17}, 2, true, KR_LOSS_LOGISTIC, 1, ALL, 0.02},
};

/* Pre-activations closer than this to a ReLU kink are redrawn: float32 rounding (~1e-6 at
 * these magnitudes) must not flip a mask between the device and the float64 reference. */
#define KINK_MARGIN 1e-4

static kr_device *devs[4];
static int n_devs;

static void check_one(kr_device *dev, kr_dtype dt, const shape *sh, kr_rng *r)
{
    kr_model *m, *g_ref, *g_dev, *p_dev;
    const size_t C = sh->C ? sh->C : 1;
    const unsigned mask = (sh->mask ? sh->mask : sh->bias ? 1u : 0u) & ((1u << (sh->n_hidden + 1)) - 1u);
    ck_assert_int_eq(kr_model_new_general(sh->d, sh->hidden, sh->n_hidden, C, mask, &m), KR_OK);
    double *x = malloc(sh->n * sh->d * sizeof *x), *y = malloc(sh->n * sizeof *y);
    double *phi_ref = malloc(sh->n * C * sizeof *phi_ref), *phi = malloc(sh->n * C * sizeof *phi);
    /* Redraw the network and the inputs together: a unit whose pre-activation sits near 0
     * for every input is a property of the weights, which no redraw of x alone can fix. */
    int tries = 0;
    do {
        kr_model_init(m, 0.7, kr_rng_u64(r));
        kr_test_fill_uniform(r, x, sh->n * sh->d, -1, 1);
        ck_assert_int_lt(++tries, 1000);
    } while (kr_test_min_abs_preact(m, sh->n, x, true) < KINK_MARGIN);
    ck_assert_int_eq(kr_model_clone(m, &g_ref), KR_OK);
    ck_assert_int_eq(kr_model_clone(m, &g_dev), KR_OK);
    ck_assert_int_eq(kr_model_clone(m, &p_dev), KR_OK);
    for (size_t i = 0; i < sh->n; i++)
        y[i] = sh->loss == KR_LOSS_CE ? (double)(kr_rng_u64(r) % C)
             : sh->loss == KR_LOSS_LOGISTIC ? (kr_rng_uniform(r) < 0.5 ? -1.0 : 1.0)
                                           : 2.0 * kr_rng_uniform(r) - 1.0;

    const double tol = kr_test_tol(dt);
    char what[160];
    snprintf(what, sizeof what, "%s %s n=%zu d=%zu L=%d C=%zu loss %d biases 0x%x wd %g",
             kr_device_describe(dev), kr_dtype_name(dt), sh->n, sh->d, sh->n_hidden + 1, C,
             (int)sh->loss, mask, sh->wd);

    kr_mlp *net;
    ck_assert_int_eq(kr_mlp_new(dev, dt, m, sh->n, &net), KR_OK);
    ck_assert_int_eq(kr_mlp_set_loss(net, sh->loss == KR_LOSS_LOGISTIC && C > 1 ? KR_LOSS_CE
                                                                                : sh->loss,
                                     sh->wd), KR_OK);
    ck_assert_int_eq(kr_mlp_set_batch(net, x, y), KR_OK);
    ck_assert_int_eq(kr_mlp_forward(net, phi), KR_OK);
    ck_assert_int_eq(kr_mlp_ref_forward(m, sh->n, x, phi_ref), KR_OK);
    ck_assert_msg(kr_test_compare("phi", phi, phi_ref, sh->n * C, tol), "phi: %s", what);

    double loss, errors, loss_ref;
    size_t errors_ref;
    ck_assert_int_eq(kr_mlp_loss_grad(net, &loss, &errors), KR_OK);
    ck_assert_int_eq(kr_mlp_ref_loss(m, sh->loss, sh->wd, sh->n, x, y, &loss_ref, g_ref,
                                     &errors_ref), KR_OK);
    ck_assert_msg(kr_test_compare("loss", &loss, &loss_ref, 1, tol), "loss: %s", what);
    ck_assert_msg(errors == (double)errors_ref, "errors %g vs %zu: %s", errors, errors_ref, what);
    ck_assert_int_eq(kr_mlp_read_grads(net, g_dev), KR_OK);
    for (int l = 0; l < m->layers; l++) {
        char t[32];
        snprintf(t, sizeof t, "dW%d", l + 1);
        ck_assert_msg(kr_test_compare(t, g_dev->w[l], g_ref->w[l], m->dims[l] * m->dims[l + 1], tol),
                      "%s: %s", t, what);
    }
    for (int l = 0; l < m->layers; l++) {
        char t[32];
        snprintf(t, sizeof t, "db%d", l + 1);
        if (m->b[l])
            ck_assert_msg(kr_test_compare(t, g_dev->b[l], g_ref->b[l], m->dims[l + 1], tol),
                          "%s: %s", t, what);
    }

    /* One step: θ − lr ∇θ on both sides. */
    ck_assert_int_eq(kr_mlp_step(net, 0.3), KR_OK);
    ck_assert_int_eq(kr_mlp_read_params(net, p_dev), KR_OK);
    kr_mlp_ref_step(m, g_ref, 0.3);
    for (int l = 0; l < m->layers; l++)
        ck_assert_msg(kr_test_compare("W after step", p_dev->w[l], m->w[l], m->dims[l] * m->dims[l + 1], tol),
                      "step W%d: %s", l + 1, what);
    for (int l = 0; l < m->layers; l++)
        if (m->b[l])
            ck_assert_msg(kr_test_compare("b after step", p_dev->b[l], m->b[l], m->dims[l + 1], tol),
                          "step b%d: %s", l + 1, what);

    kr_mlp_free(net);
    kr_model_free(m);
    kr_model_free(g_ref);
    kr_model_free(g_dev);
    kr_model_free(p_dev);
    free(x);
    free(y);
    free(phi);
    free(phi_ref);
}

START_TEST(test_mlp_matches_reference)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed());
    long live = kr_tensor_live_count();
    for (int di = 0; di < n_devs; di++)
        for (int t = 0; t < 2; t++) {
            kr_dtype dt = t ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) check_one(devs[di], dt, &SHAPES[s], &r);
        }
    ck_assert_int_eq(kr_tensor_live_count(), live);
}
END_TEST

START_TEST(test_predict_batches)
{
    /* kr_mlp_predict splits n into batches of 1024: 2500 samples cross two boundaries. */
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 1);
    size_t hidden[1] = {5}, n = 2500, d = 3;
    kr_model *m;
    ck_assert_int_eq(kr_model_new(d, hidden, 1, true, &m), KR_OK);
    kr_model_init(m, 0.7, 3);
    double *x = malloc(n * d * sizeof *x), *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    kr_test_fill_uniform(&r, x, n * d, -1, 1);
    ck_assert_int_eq(kr_mlp_ref_forward(m, n, x, q), KR_OK);
    for (int di = 0; di < n_devs; di++) {
        ck_assert_int_eq(kr_mlp_predict(devs[di], KR_F32, m, n, x, p), KR_OK);
        ck_assert(kr_test_compare("predict", p, q, n, kr_test_tol(KR_F32)));
    }
    kr_model_free(m);
    free(x);
    free(p);
    free(q);
}
END_TEST

/* 100 seeded gradient-descent steps on every backend and precision follow the float64
 * reference's loss trajectory (ISSUE 2: PoCL and host give the same losses); 5 in small mode
 * (KKTRECON_TEST_SMALL, tests/oclgrind.sh: the simulator runs every launch in turn). */
START_TEST(test_training_trajectory)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 2);
    const size_t n = 24, d = 37, hidden[2] = {19, 11};
    const int steps = getenv("KKTRECON_TEST_SMALL") ? 5 : 100;
    const double lr = 0.5;
    kr_model *m0, *ref, *g;
    ck_assert_int_eq(kr_model_new(d, hidden, 2, true, &m0), KR_OK);
    double *x = malloc(n * d * sizeof *x), *y = malloc(n * sizeof *y);
    int tries = 0;
    do {
        kr_model_init(m0, 0.3, kr_rng_u64(&r));
        kr_test_fill_uniform(&r, x, n * d, -1, 1);
        ck_assert_int_lt(++tries, 1000);
    } while (kr_test_min_abs_preact(m0, n, x, true) < KINK_MARGIN);
    for (size_t i = 0; i < n; i++) y[i] = i % 3 ? 1.0 : -1.0;
    double want[100], got[100];
    ck_assert_int_eq(kr_model_clone(m0, &ref), KR_OK);
    ck_assert_int_eq(kr_model_clone(m0, &g), KR_OK);
    for (int t = 0; t < steps; t++) {
        ck_assert_int_eq(kr_mlp_ref_loss_grad(ref, n, x, y, &want[t], g, NULL), KR_OK);
        kr_mlp_ref_step(ref, g, lr);
    }
    for (int di = 0; di < n_devs; di++)
        for (int ti = 0; ti < 2; ti++) {
            kr_dtype dt = ti ? KR_F64 : KR_F32;
            if (!kr_test_dtypes(devs[di], dt)) continue;
            kr_mlp *net;
            ck_assert_int_eq(kr_mlp_new(devs[di], dt, m0, n, &net), KR_OK);
            ck_assert_int_eq(kr_mlp_set_batch(net, x, y), KR_OK);
            for (int t = 0; t < steps; t++) {
                ck_assert_int_eq(kr_mlp_loss_grad(net, &got[t], NULL), KR_OK);
                ck_assert_int_eq(kr_mlp_step(net, lr), KR_OK);
            }
            /* Rounding differences grow slowly along a GD trajectory: allow 10x the
             * single-op tolerance. */
            ck_assert_msg(kr_test_compare("loss trajectory", got, want, steps, 10 * kr_test_tol(dt)),
                          "%s %s: loss after 100 steps %.10g vs %.10g", kr_device_describe(devs[di]),
                          kr_dtype_name(dt), got[steps - 1], want[steps - 1]);
            kr_mlp_free(net);
        }
    kr_model_free(m0);
    kr_model_free(ref);
    kr_model_free(g);
    free(x);
    free(y);
}
END_TEST

int main(void)
{
    n_devs = kr_test_devices(devs, 4);
    Suite *s = suite_create("mlp");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_mlp_matches_reference);
    tcase_add_test(tc, test_predict_batches);
    tcase_add_test(tc, test_training_trajectory);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_test_close_devices();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
