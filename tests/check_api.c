/* check_api.c — host suite: the public C API (include/kktrecon.h) on the host backend.
 *
 * What is checked, and against what:
 *   - errors: NULL arguments, unknown keys, out-of-range values, unknown devices, bad shapes
 *     and non-finite parameters are refused with the status of their category and a message
 *     naming the argument / key / element; kktrecon_last_error() carries it;
 *   - settings round-trip through kktrecon_config_set / _get;
 *   - a model from float32 and from float64 arrays holds the same parameters, survives a
 *     save/load in float64 exactly, and predicts what a plain float64 forward pass computes;
 *   - kktrecon_kkt against the independent per-candidate float64 reference ref/kkt_ref.c
 *     (itself checked by finite differences in check_kkt_ref.c) at a random point;
 *   - an attack stopped by its progress callback at iteration k returns exactly (bit for bit)
 *     the candidates of an attack run for k iterations, with KKTRECON_E_INTERRUPTED;
 *   - point 0 of kktrecon_attack_points equals the single attack with its values (1e-10);
 *   - kktrecon_evaluate given the training images themselves as candidates matches every image
 *     to itself (NCC 0, clip SSIM 1);
 *   - kktrecon_data_load and kktrecon_train on the bundled MNIST subset (data/mnist-subset,
 *     part of the repository), training stopped by the callback hands back its model.
 * The command line and the Python package running the same code bit for bit is
 * tests/python/test_kktrecon.py. Random inputs are seeded by KKTRECON_TEST_SEED.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kktrecon.h"

#include "base/model.h"
#include "base/rng.h"
#include "ref/kkt_ref.h"
#include "testutil.h"

static kktrecon_device *dev;

static void open_host(void)
{
    kktrecon_set_verbosity(0);
    ck_assert_int_eq(kktrecon_device_open("host", &dev), KKTRECON_OK);
}

static void close_host(void)
{
    kktrecon_device_close(dev);
    dev = NULL;
}

static int has(const char *needle)
{
    return strstr(kktrecon_last_error(), needle) != NULL;
}

/* A random D-h1-h2-1 model from float64 arrays (biased first layer when bias). */
static kktrecon_model *random_model(kr_rng *r, size_t d, size_t h1, size_t h2, int bias)
{
    const size_t dims[4] = {d, h1, h2, 1};
    double *w[3], *b0 = NULL, *mean = malloc(d * sizeof *mean);
    for (int l = 0; l < 3; l++) {
        w[l] = malloc(dims[l] * dims[l + 1] * sizeof *w[l]);
        for (size_t i = 0; i < dims[l] * dims[l + 1]; i++)
            w[l][i] = kr_rng_normal(r) * 1.5 / sqrt((double)dims[l]);
    }
    if (bias) {
        b0 = malloc(h1 * sizeof *b0);
        for (size_t i = 0; i < h1; i++) b0[i] = 0.3 * kr_rng_normal(r);
    }
    for (size_t i = 0; i < d; i++) mean[i] = kr_rng_uniform(r);
    const void *ws[3] = {w[0], w[1], w[2]}, *bs[3] = {b0, NULL, NULL};
    kktrecon_model *m = NULL;
    ck_assert_int_eq(kktrecon_model_new(3, dims, KKTRECON_FLOAT64, ws, bias ? bs : NULL, mean, &m),
                     KKTRECON_OK);
    for (int l = 0; l < 3; l++) free(w[l]);
    free(b0);
    free(mean);
    return m;
}

START_TEST(test_errors)
{
    ck_assert_int_eq(kktrecon_device_open("host", NULL), KKTRECON_E_INVALID);
    ck_assert(has("'out'"));
    kktrecon_device *d = (kktrecon_device *)1;
    ck_assert_int_eq(kktrecon_device_open("nosuchdevice", &d), KKTRECON_E_NODEVICE);
    ck_assert_ptr_null(d);
    ck_assert(has("nosuchdevice"));
    ck_assert_str_eq(kktrecon_status_name(KKTRECON_E_NODEVICE), "no device");

    kktrecon_config *c;
    ck_assert_int_eq(kktrecon_config_new(&c), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.lr_y", "1"), KKTRECON_E_INVALID);
    ck_assert(has("attack.lr_y"));
    ck_assert_int_eq(kktrecon_config_set(c, "attack.iterations", "-3"), KKTRECON_E_INVALID);
    ck_assert(has("attack.iterations"));
    ck_assert_int_eq(kktrecon_config_set(c, "attack.lr_x", "fast"), KKTRECON_E_INVALID);
    ck_assert(has("fast"));
    ck_assert_int_eq(kktrecon_config_load(c, "/nonexistent/kktrecon.ini"), KKTRECON_E_IO);
    ck_assert(has("/nonexistent/kktrecon.ini"));
    /* A refused value leaves the setting as it was. */
    char buf[64];
    ck_assert_int_eq(kktrecon_config_get(c, "attack.iterations", buf, sizeof buf), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.iterations", "123"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_get(c, "attack.iterations", buf, sizeof buf), KKTRECON_OK);
    ck_assert_str_eq(buf, "123");
    ck_assert_int_eq(kktrecon_config_get(c, "attack.iterations", buf, 3), KKTRECON_E_INVALID);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.lr_x", "0.25"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_get(c, "attack.lr_x", buf, sizeof buf), KKTRECON_OK);
    ck_assert_double_eq(strtod(buf, NULL), 0.25);

    /* Models: C outputs and a bias on any layer (read back as given); dims of 0 and
     * non-finite parameters refused. */
    const size_t dims[4] = {3, 2, 1, 2};
    const double w0[6] = {1, 2, 3, 4, 5, 6}, w1[2] = {1, -1}, w2[2] = {1, 1};
    const void *ws[3] = {w0, w1, w2};
    kktrecon_model *m = (kktrecon_model *)1;
    const double b1[1] = {0.5}, b2[2] = {-0.25, 0.75};
    const void *bs3[3] = {NULL, b1, b2};
    ck_assert_int_eq(kktrecon_model_new(3, dims, KKTRECON_FLOAT64, ws, bs3, NULL, &m),
                     KKTRECON_OK);
    ck_assert(!kktrecon_model_has_bias(m, 0) && kktrecon_model_has_bias(m, 1) &&
              kktrecon_model_has_bias(m, 2));
    double bget[2];
    ck_assert_int_eq(kktrecon_model_bias(m, 2, bget), KKTRECON_OK);
    ck_assert(bget[0] == -0.25 && bget[1] == 0.75);
    ck_assert_int_eq(kktrecon_model_bias(m, 0, bget), KKTRECON_E_INVALID);
    ck_assert(has("layer 0 has no bias"));
    kktrecon_model_free(m);
    const size_t dims0[4] = {3, 0, 1, 2};
    m = (kktrecon_model *)1;
    ck_assert_int_eq(kktrecon_model_new(3, dims0, KKTRECON_FLOAT64, ws, NULL, NULL, &m),
                     KKTRECON_E_INVALID);
    ck_assert_ptr_null(m);
    ck_assert(has("dims[1] is 0"));
    const double bad[6] = {1, 2, NAN, 4, 5, 6};
    const void *wb[2] = {bad, w1};
    ck_assert_int_eq(kktrecon_model_new(2, dims, KKTRECON_FLOAT64, wb, NULL, NULL, &m),
                     KKTRECON_E_INVALID);
    ck_assert(has("element 2"));
    ck_assert_int_eq(kktrecon_model_new(2, dims, 7, ws, NULL, NULL, &m), KKTRECON_E_INVALID);
    ck_assert(has("dtype 7"));
    ck_assert_int_eq(kktrecon_model_load("/nonexistent/model.safetensors", &m), KKTRECON_E_IO);
    ck_assert(has("/nonexistent/model.safetensors"));

    /* Shapes and labels checked before anything runs. */
    ck_assert_int_eq(kktrecon_model_new(2, dims, KKTRECON_FLOAT64, ws, NULL, NULL, &m),
                     KKTRECON_OK);
    double x[6] = {0}, lam[2] = {1, 1}, y[2] = {1, 0.5};
    kktrecon_loss loss;
    ck_assert_int_eq(kktrecon_kkt(m, dev, c, 2, x, lam, y, &loss, NULL, NULL), KKTRECON_E_INVALID);
    ck_assert(has("'y' element 1"));
    ck_assert_int_eq(kktrecon_model_set_image_shape(m, 1, 2, 2), KKTRECON_E_INVALID);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.points_file", "/tmp/p.csv"), KKTRECON_OK);
    double cx[6], cl[2];
    ck_assert_int_eq(kktrecon_attack(m, dev, c, NULL, NULL, cx, cl, NULL, NULL),
                     KKTRECON_E_INVALID);
    ck_assert(has("points_file"));
    kktrecon_model_free(m);
    kktrecon_config_free(c);
}
END_TEST

START_TEST(test_devices)
{
    int n = 0;
    ck_assert_int_eq(kktrecon_device_list(NULL, 0, &n), KKTRECON_OK);
    ck_assert_int_ge(n, 1);
    kktrecon_device_info *info = calloc((size_t)n, sizeof *info);
    int n2 = 0;
    ck_assert_int_eq(kktrecon_device_list(info, n, &n2), KKTRECON_OK);
    ck_assert_int_eq(n, n2);
    ck_assert_int_eq(info[0].index, 0);
    ck_assert_str_eq(info[0].spec, "host");
    ck_assert_str_eq(info[0].type, "host");
    ck_assert_int_eq(info[0].fp64, 1);
    free(info);
    ck_assert(strlen(kktrecon_device_describe(dev)) > 0);
    ck_assert_int_eq(kktrecon_device_selftest(dev, KKTRECON_FLOAT64), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_device_selftest(dev, 5), KKTRECON_E_INVALID);
    ck_assert_int_eq(kktrecon_device_list(NULL, 2, &n), KKTRECON_E_INVALID);
}
END_TEST

/* float32 and float64 arrays give the same model; float64 survives a file exactly; predict
 * equals a plain forward pass. */
START_TEST(test_model)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed());
    const size_t d = 7, h = 5;
    const size_t dims[3] = {d, h, 1};
    float w0f[35], w1f[5], bf[5], mf[7];
    double w0[35], w1[5], b[5], mean[7];
    for (size_t i = 0; i < 35; i++) w0[i] = w0f[i] = (float)kr_rng_normal(&r);
    for (size_t i = 0; i < 5; i++) w1[i] = w1f[i] = (float)kr_rng_normal(&r);
    for (size_t i = 0; i < 5; i++) b[i] = bf[i] = (float)kr_rng_normal(&r);
    for (size_t i = 0; i < 7; i++) mean[i] = mf[i] = (float)kr_rng_uniform(&r);
    const void *wf[2] = {w0f, w1f}, *bsf[2] = {bf, NULL}, *wd[2] = {w0, w1}, *bsd[2] = {b, NULL};
    kktrecon_model *a, *m;
    ck_assert_int_eq(kktrecon_model_new(2, dims, KKTRECON_FLOAT32, wf, bsf, mf, &a), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_model_new(2, dims, KKTRECON_FLOAT64, wd, bsd, mean, &m),
                     KKTRECON_OK);
    ck_assert_int_eq(kktrecon_model_layers(a), 2);
    size_t got_dims[3];
    ck_assert_int_eq(kktrecon_model_dims(a, got_dims, 3), KKTRECON_OK);
    ck_assert(got_dims[0] == d && got_dims[1] == h && got_dims[2] == 1);
    ck_assert_int_eq(kktrecon_model_dims(a, got_dims, 2), KKTRECON_E_INVALID);
    double ga[35], gm[35];
    for (int l = 0; l < 2; l++) {
        ck_assert_int_eq(kktrecon_model_weight(a, l, ga), KKTRECON_OK);
        ck_assert_int_eq(kktrecon_model_weight(m, l, gm), KKTRECON_OK);
        ck_assert_mem_eq(ga, gm, dims[l] * dims[l + 1] * sizeof *ga);
    }
    ck_assert_int_eq(kktrecon_model_weight(a, 2, ga), KKTRECON_E_INVALID);
    ck_assert(kktrecon_model_has_bias(a, 0) && !kktrecon_model_has_bias(a, 1));
    ck_assert_int_eq(kktrecon_model_bias(a, 0, ga), KKTRECON_OK);
    ck_assert_mem_eq(ga, b, sizeof b);
    ck_assert_int_eq(kktrecon_model_bias(a, 1, ga), KKTRECON_E_INVALID);
    ck_assert_int_eq(kktrecon_model_mean(a, ga), KKTRECON_OK);
    ck_assert_mem_eq(ga, mean, sizeof mean);

    char path[] = "/tmp/kktrecon-check-api-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(kktrecon_model_save(m, path, KKTRECON_FLOAT64), KKTRECON_OK);
    kktrecon_model *l = NULL;
    ck_assert_int_eq(kktrecon_model_load(path, &l), KKTRECON_OK);
    unlink(path);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(kktrecon_model_weight(l, k, ga), KKTRECON_OK);
        ck_assert_int_eq(kktrecon_model_weight(m, k, gm), KKTRECON_OK);
        ck_assert_mem_eq(ga, gm, dims[k] * dims[k + 1] * sizeof *ga);
    }

    /* Φ(x − mean) = w1 · relu(W0 (x − mean) + b). */
    double x[3 * 7], phi[3], want[3];
    for (size_t i = 0; i < 21; i++) x[i] = kr_rng_uniform(&r);
    for (size_t n = 0; n < 3; n++) {
        want[n] = 0;
        for (size_t j = 0; j < h; j++) {
            double z = b[j];
            for (size_t k = 0; k < d; k++) z += w0[j * d + k] * (x[n * d + k] - mean[k]);
            want[n] += w1[j] * (z > 0 ? z : 0);
        }
    }
    kktrecon_config *c;
    ck_assert_int_eq(kktrecon_config_new(&c), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_model_predict(l, dev, c, 3, KKTRECON_FLOAT64, x, phi), KKTRECON_OK);
    ck_assert(kr_test_compare("predict", phi, want, 3, 1e-12));
    kktrecon_config_free(c);
    kktrecon_model_free(a);
    kktrecon_model_free(m);
    kktrecon_model_free(l);
}
END_TEST

/* kktrecon_kkt against ref/kkt_ref.c, with the model rebuilt from the API's own getters. */
START_TEST(test_kkt_vs_ref)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 1);
    const size_t d = 13, h1 = 7, h2 = 5, mc = 9;
    kktrecon_model *m = random_model(&r, d, h1, h2, 1);
    const size_t hidden[2] = {h1, h2};
    kr_model *ref;
    ck_assert_int_eq(kr_model_new(d, hidden, 2, true, &ref), KR_OK);
    for (int l = 0; l < 3; l++) ck_assert_int_eq(kktrecon_model_weight(m, l, ref->w[l]), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_model_bias(m, 0, ref->b[0]), KKTRECON_OK);
    double x[9 * 13], lam[9], y[9], gx[9 * 13], gl[9], rgx[9 * 13], rgl[9];
    kr_test_fill_uniform(&r, x, mc * d, -1.2, 1.2);
    kr_test_fill_uniform(&r, lam, mc, 0.0, 1.0);
    for (size_t i = 0; i < mc; i++) y[i] = i % 2 ? 1.0 : -1.0;
    kktrecon_config *c;
    ck_assert_int_eq(kktrecon_config_new(&c), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.alpha", "7.5"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.lambda_min", "0.5"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.activation", "softplus"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.precision", "double"), KKTRECON_OK);
    kktrecon_loss loss;
    ck_assert_int_eq(kktrecon_kkt(m, dev, c, mc, x, lam, y, &loss, gx, gl), KKTRECON_OK);
    const kr_kkt_opts o = {KR_ACT_SOFTPLUS, 7.5, 0.5, KR_OBJ_BINARY};
    kr_kkt_loss want;
    ck_assert_int_eq(kr_kkt_ref_eval(ref, &o, mc, x, lam, y, &want, rgx, rgl), KR_OK);
    double got4[4] = {loss.total, loss.kkt, loss.prior, loss.lambda};
    double want4[4] = {want.total, want.kkt, want.prior, want.lambda};
    ck_assert(kr_test_compare("loss terms", got4, want4, 4, 1e-10));
    ck_assert_int_eq(loss.n_tensors, 4);
    ck_assert(kr_test_compare("per tensor", loss.kkt_per_tensor, want.kkt_per_tensor, 4, 1e-10));
    ck_assert(kr_test_compare("grad x", gx, rgx, mc * d, 1e-10));
    ck_assert(kr_test_compare("grad lambda", gl, rgl, mc, 1e-10));
    kr_model_free(ref);
    kktrecon_config_free(c);
    kktrecon_model_free(m);
}
END_TEST

typedef struct stopper {
    long stop_at, calls, with_loss;
} stopper;

static int stop_at(void *user, long it, long total, const kktrecon_loss *loss)
{
    stopper *s = user;
    ck_assert_int_le(it, total);
    s->calls++;
    s->with_loss += loss != NULL;
    return it == s->stop_at;
}

static kktrecon_config *attack_config(const char *iterations)
{
    kktrecon_config *c;
    ck_assert_int_eq(kktrecon_config_new(&c), KKTRECON_OK);
    const char *kv[][2] = {{"attack.candidates", "6"}, {"attack.iterations", iterations},
                           {"attack.lr_x", "0.05"}, {"attack.init_scale", "0.3"},
                           {"attack.log_every", "4"}, {"attack.precision", "double"},
                           {"attack.seed", "11"}, {"attack.momentum", "0.8"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_int_eq(kktrecon_config_set(c, kv[i][0], kv[i][1]), KKTRECON_OK);
    return c;
}

/* Stopped by the callback at iteration 7 = run for 7 iterations, bit for bit. */
START_TEST(test_attack_stop)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 2);
    kktrecon_model *m = random_model(&r, 11, 6, 4, 0);
    kktrecon_config *c20 = attack_config("20"), *c7 = attack_config("7");
    size_t mc, d;
    ck_assert_int_eq(kktrecon_attack_size(m, c20, &mc, &d), KKTRECON_OK);
    ck_assert(mc == 6 && d == 11);
    double x[66], lam[6], y[6], x7[66], lam7[6];
    stopper s = {7, 0, 0};
    kktrecon_attack_result res;
    ck_assert_int_eq(kktrecon_attack(m, dev, c20, stop_at, &s, x, lam, y, &res),
                     KKTRECON_E_INTERRUPTED);
    ck_assert(has("iteration 7"));
    ck_assert_int_eq(res.iterations, 7);
    ck_assert_int_eq(res.interrupted, 1);
    ck_assert_int_eq(s.with_loss, 2); /* the loss-reading iterations 0 and 4 */
    ck_assert_int_eq(kktrecon_attack(m, dev, c7, NULL, NULL, x7, lam7, NULL, &res), KKTRECON_OK);
    ck_assert_int_eq(res.iterations, 7);
    ck_assert_int_eq(res.precision, KKTRECON_FLOAT64);
    ck_assert(isfinite(res.loss.total) && res.loss.n_tensors == 3);
    ck_assert_mem_eq(x, x7, sizeof x);
    ck_assert_mem_eq(lam, lam7, sizeof lam);
    for (size_t i = 0; i < 6; i++) ck_assert_double_eq(y[i], i < 3 ? -1.0 : 1.0);
    kktrecon_config_free(c20);
    kktrecon_config_free(c7);
    kktrecon_model_free(m);
}
END_TEST

/* Point 1 of a points job (own lr_x, seed) equals the single attack with its values. */
START_TEST(test_attack_points)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() + 3);
    kktrecon_model *m = random_model(&r, 11, 6, 4, 1);
    kktrecon_config *c = attack_config("12");
    const char *cols[2] = {"lr_x", "seed"};
    const double vals[2 * 2] = {0.05, 3, 0.02, 5};
    double x[2 * 66], lam[12], one_x[66], one_lam[6];
    int div[2] = {-1, -1};
    kktrecon_loss losses[2];
    kktrecon_attack_result res;
    ck_assert_int_eq(kktrecon_attack_points(m, dev, c, 2, 2, cols, vals, NULL, NULL, x, lam, NULL,
                                            losses, div, &res),
                     KKTRECON_OK);
    ck_assert(div[0] == 0 && div[1] == 0);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.lr_x", "0.02"), KKTRECON_OK);
    ck_assert_int_eq(kktrecon_config_set(c, "attack.seed", "5"), KKTRECON_OK);
    kktrecon_attack_result one;
    ck_assert_int_eq(kktrecon_attack(m, dev, c, NULL, NULL, one_x, one_lam, NULL, &one),
                     KKTRECON_OK);
    ck_assert(kr_test_compare("point 1 x", x + 66, one_x, 66, 1e-10));
    ck_assert(kr_test_compare("point 1 lambda", lam + 6, one_lam, 6, 1e-10));
    ck_assert(kr_test_compare("point 1 loss", &losses[1].total, &one.loss.total, 1, 1e-10));
    const char *badcol[1] = {"lr_z"};
    ck_assert_int_eq(kktrecon_attack_points(m, dev, c, 2, 1, badcol, vals, NULL, NULL, x, lam,
                                            NULL, NULL, NULL, NULL),
                     KKTRECON_E_INVALID);
    ck_assert(has("lr_z"));
    kktrecon_config_free(c);
    kktrecon_model_free(m);
}
END_TEST

static int stop_train(void *user, long step, long total, double loss)
{
    (void)total, (void)loss;
    return step >= *(long *)user;
}

/* The bundled subset through the data, train, evaluate and grid functions. */
START_TEST(test_data_train_evaluate)
{
    char ini[4200];
    const char *src = getenv("KKTRECON_SOURCE_DIR");
    snprintf(ini, sizeof ini, "%s/data/mnist-subset", src ? src : ".");
    kktrecon_config *c;
    ck_assert_int_eq(kktrecon_config_new(&c), KKTRECON_OK);
    const char *kv[][2] = {{"data.dataset", "mnist"}, {"data.path", ini},
                           {"data.per_class", "3"}, {"model.hidden", "8,8"},
                           {"train.steps", "60"}, {"train.lr", "0.5"},
                           {"train.log_every", "20"}, {"train.precision", "double"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        ck_assert_int_eq(kktrecon_config_set(c, kv[i][0], kv[i][1]), KKTRECON_OK);
    size_t n, d, ch, h, w;
    double *x, *y;
    ck_assert_int_eq(kktrecon_data_load(c, 0, &n, &d, &ch, &h, &w, &x, &y), KKTRECON_OK);
    ck_assert(n == 6 && d == 784 && ch == 1 && h == 28 && w == 28);
    for (size_t i = 0; i < n * d; i++) ck_assert(x[i] >= 0 && x[i] <= 1);
    for (size_t i = 0; i < n; i++) ck_assert(y[i] == -1.0 || y[i] == 1.0);

    kktrecon_model *m = NULL;
    kktrecon_train_result tr;
    ck_assert_int_eq(kktrecon_train(dev, c, n, d, KKTRECON_FLOAT64, x, y, ch, h, w, NULL, NULL,
                                    &m, &tr),
                     KKTRECON_OK);
    ck_assert_int_eq(tr.steps, 60);
    ck_assert(tr.errors == 0 && tr.min_margin > 0 && isfinite(tr.kkt_gap));
    ck_assert_uint_eq(kktrecon_model_n_train(m), 6);
    double mean[784];
    ck_assert_int_eq(kktrecon_model_mean(m, mean), KKTRECON_OK);
    double mean0 = 0;
    for (size_t i = 0; i < n; i++) mean0 += x[i * d + 400];
    ck_assert_double_eq_tol(mean[400], mean0 / (double)n, 1e-15);

    /* Stopped by the callback: the model so far comes back with the status. */
    long stop = 20;
    kktrecon_model *part = NULL;
    ck_assert_int_eq(kktrecon_train(dev, c, n, d, KKTRECON_FLOAT64, x, y, ch, h, w, stop_train,
                                    &stop, &part, &tr),
                     KKTRECON_E_INTERRUPTED);
    ck_assert_ptr_nonnull(part);
    ck_assert_int_eq(tr.steps, 20);
    ck_assert_int_eq(tr.interrupted, 1);
    kktrecon_model_free(part);

    /* The training images themselves as candidates: every image is its own nearest one. */
    double *cand = malloc(n * d * sizeof *cand);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++) cand[(n - 1 - i) * d + k] = x[i * d + k] - mean[k];
    cand[0] = NAN; /* ... except image n − 1, whose candidate is left out as non-finite */
    kktrecon_pair pairs[6];
    kktrecon_eval_summary s;
    ck_assert_int_eq(kktrecon_evaluate(m, dev, n, KKTRECON_FLOAT64, x, y, 0, 0, 0, n, cand, 0,
                                       pairs, &s),
                     KKTRECON_OK);
    ck_assert(s.n_train == 6 && s.n_candidates == 5 && s.n_nonfinite == 1);
    for (size_t j = 0; j + 1 < n; j++) {
        ck_assert_uint_eq(pairs[j].train_index, j);
        ck_assert_uint_eq(pairs[j].candidate, n - 1 - j);
        ck_assert_double_lt(pairs[j].ncc, 1e-12);
        ck_assert_double_gt(pairs[j].ssim_clip, 1 - 1e-9);
        ck_assert_double_gt(pairs[j].margin, 0);
    }
    ck_assert_uint_ge(s.above[1][2], 5);
    ck_assert_int_eq(kktrecon_evaluate(m, dev, n, KKTRECON_FLOAT64, x, y, 2, 14, 14, n, cand, 0,
                                       pairs, &s),
                     KKTRECON_E_INVALID);
    ck_assert(has("2x14x14"));

    char png[] = "/tmp/kktrecon-check-api-XXXXXX";
    int fd = mkstemp(png);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(kktrecon_grid_png(png, n, 1, 28, 28, x, x, NULL, "check_api"), KKTRECON_OK);
    FILE *f = fopen(png, "rb");
    unsigned char sig[8] = {0};
    ck_assert_uint_eq(fread(sig, 1, 8, f), 8);
    fclose(f);
    unlink(png);
    ck_assert(sig[1] == 'P' && sig[2] == 'N' && sig[3] == 'G');

    free(cand);
    kktrecon_free(x);
    kktrecon_free(y);
    kktrecon_model_free(m);
    kktrecon_config_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("api");
    tcase_add_unchecked_fixture(tc, open_host, close_host);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_devices);
    tcase_add_test(tc, test_model);
    tcase_add_test(tc, test_kkt_vs_ref);
    tcase_add_test(tc, test_attack_stop);
    tcase_add_test(tc, test_attack_points);
    tcase_add_test(tc, test_data_train_evaluate);
    suite_add_tcase(s, tc);
    return kr_test_run_suite(s, true) ? EXIT_FAILURE : EXIT_SUCCESS;
}
