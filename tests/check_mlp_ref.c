/* check_mlp_ref.c — host tests of the float64 MLP training reference (src/ref/mlp_ref.c).
 *
 * What it checks: the forward pass on hand-computed tiny nets; the mean logistic loss and
 * error count on hand-chosen margins (including huge ones, which must not overflow); the
 * gradient of every parameter tensor against central finite differences on random nets with
 * 2, 3 and 4 weight layers, with and without b_1, where the inputs are drawn so that no
 * pre-activation lies near a ReLU kink; that gradient descent steps decrease the loss; and
 * argument validation.
 * Randomness: fresh seed each run (from the clock); KKTRECON_TEST_SEED=<n> reproduces a run.
 * Every failure message names the seed.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref/mlp_ref.h"
#include "base/model.h"
#include "base/rng.h"
#include "testutil.h"

static unsigned long long g_seed;


/* Tiny net for hand checks: D = 2, W1 = [[1, −1], [2, 0.5]], b1 = [0.5, −1], and either
 * W2 = [3, −2] (L = 2) or W2 = [[1, −1], [0.5, 0.25]], W3 = [2, −3] (L = 3). */
static kr_model *hand_model(int L, bool bias)
{
    size_t hidden[2] = {2, 2};
    kr_model *m = NULL;
    ck_assert_int_eq(kr_model_new(2, hidden, L - 1, bias, &m), KR_OK);
    const double w1[4] = {1, -1, 2, 0.5}, b1[2] = {0.5, -1};
    memcpy(m->w[0], w1, sizeof w1);
    if (bias) memcpy(m->b[0], b1, sizeof b1);
    if (L == 2) {
        const double w2[2] = {3, -2};
        memcpy(m->w[1], w2, sizeof w2);
    } else {
        const double w2[4] = {1, -1, 0.5, 0.25}, w3[2] = {2, -3};
        memcpy(m->w[1], w2, sizeof w2);
        memcpy(m->w[2], w3, sizeof w3);
    }
    return m;
}

START_TEST(test_forward_hand)
{
    /* x1 = [1, 2], x2 = [2, −1].
     * L = 2 with b1: z1 = [1−2+0.5, 2+1−1] = [−0.5, 2] → a = [0, 2], Φ = 3·0 − 2·2 = −4;
     *                z2 = [2+1+0.5, 4−0.5−1] = [3.5, 2.5] → Φ = 10.5 − 5 = 5.5.
     * L = 2 without b1: z1 = [1−2, 2+1] = [−1, 3] → Φ = −6;  z2 = [3, 3.5] → Φ = 9 − 7 = 2.
     * L = 3 with b1: x1: a1 = [0, 2], z = [0−2, 0+0.5] → a2 = [0, 0.5], Φ = 0 − 1.5 = −1.5;
     *                x2: a1 = [3.5, 2.5], z = [1, 1.75+0.625] → a2 = [1, 2.375],
     *                    Φ = 2 − 7.125 = −5.125. */
    const double x[4] = {1, 2, 2, -1};
    double phi[2];
    struct { int L; bool bias; double p0, p1; } cases[3] = {
        {2, true, -4.0, 5.5}, {2, false, -6.0, 2.0}, {3, true, -1.5, -5.125}};
    for (int c = 0; c < 3; c++) {
        kr_model *m = hand_model(cases[c].L, cases[c].bias);
        ck_assert_int_eq(kr_mlp_ref_forward(m, 2, x, phi), KR_OK);
        ck_assert_msg(phi[0] == cases[c].p0 && phi[1] == cases[c].p1,
                      "case %d: phi = %.17g %.17g", c, phi[0], phi[1]);
        kr_model_free(m);
    }
}
END_TEST

START_TEST(test_loss_hand)
{
    const double x[4] = {1, 2, 2, -1}; /* Φ = [−4, 5.5] on the L = 2 net with b1 */
    kr_model *m = hand_model(2, true);
    double loss;
    size_t err = 99;
    const double y1[2] = {-1, 1}; /* margins 4, 5.5 */
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 2, x, y1, &loss, NULL, &err), KR_OK);
    double want = (log1p(exp(-4.0)) + log1p(exp(-5.5))) / 2;
    ck_assert_msg(fabs(loss - want) <= 1e-15 * want, "loss %.17g want %.17g", loss, want);
    ck_assert_uint_eq(err, 0);
    const double y2[2] = {1, 1}; /* margins −4, 5.5 */
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 2, x, y2, &loss, NULL, &err), KR_OK);
    want = (4.0 + log1p(exp(-4.0)) + log1p(exp(-5.5))) / 2;
    ck_assert_msg(fabs(loss - want) <= 1e-15 * want, "loss %.17g want %.17g", loss, want);
    ck_assert_uint_eq(err, 1);

    /* Huge margins: W2 ×1000 → Φ = [−4000, 5500]; y = [+1, −1] → loss = (4000 + 5500)/2. */
    m->w[1][0] *= 1000, m->w[1][1] *= 1000;
    kr_model *g = NULL;
    ck_assert_int_eq(kr_model_clone(m, &g), KR_OK);
    const double y3[2] = {1, -1};
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 2, x, y3, &loss, g, &err), KR_OK);
    ck_assert_msg(fabs(loss - 4750.0) < 1e-9, "loss %.17g", loss);
    ck_assert_uint_eq(err, 2);
    /* dℓ/dΦ = −y σ(−yΦ) = −1 and +1; δ_L = [−1/2, +1/2];
     * ∂/∂W2 = Σ δ a1 = −[0, 2]/2 + [3.5, 2.5]/2 = [1.75, 0.25]. */
    ck_assert(fabs(g->w[1][0] - 1.75) < 1e-12 && fabs(g->w[1][1] - 0.25) < 1e-12);
    for (size_t q = 0; q < 4; q++) ck_assert(isfinite(g->w[0][q]));
    kr_model_free(g);
    kr_model_free(m);
}
END_TEST

/* Draws a random net and n kink-free samples: each sample is redrawn until all its
 * pre-activations are at least 1e-2 away from 0 (the FD steps of 1e-5 move any z by ~1e-4 at
 * most, so no kink is crossed). A deep random ReLU net can be dead for all samples, so net and
 * data are redrawn until the gradient is not identically zero. Returns the net;
 * *g gets its gradient. x: n × D, y: n. */
static kr_model *draw_fd_problem(kr_rng *r, size_t D, const size_t *hidden, int L,
                                 unsigned mask, kr_loss kind, double wd, size_t n, double *x,
                                 double *y, kr_model **g)
{
    const size_t C = kind == KR_LOSS_CE ? 4 : 1;
    for (int attempt = 0; attempt < 50; attempt++) {
        kr_model *m = kr_test_random_model_general(r, D, hidden, L - 1, C, mask, 1.5);
        for (size_t i = 0; i < n; i++) {
            int tries = 0;
            double phi;
            do {
                for (size_t k = 0; k < D; k++) x[i * D + k] = kr_rng_normal(r);
                ck_assert_msg(++tries < 10000, "seed %llu: no kink-free sample found", g_seed);
                if (kind == KR_LOSS_LOGISTIC) y[i] = kr_rng_uniform(r) < 0.5 ? -1.0 : 1.0;
                else if (kind == KR_LOSS_CE) y[i] = (double)(kr_rng_u64(r) % C);
                else y[i] = kr_rng_normal(r);
                if (C == 1) ck_assert_int_eq(kr_mlp_ref_forward(m, 1, x + i * D, &phi), KR_OK);
            } while (kr_test_min_abs_preact(m, 1, x + i * D, false) < 1e-2 ||
                     /* Huber's kink of the second derivative at |Φ − y| = 1 */
                     (kind == KR_LOSS_HUBER && fabs(fabs(phi - y[i]) - 1.0) < 1e-2));
        }
        double loss, gmax = 0;
        ck_assert_int_eq(kr_model_clone(m, g), KR_OK);
        ck_assert_int_eq(kr_mlp_ref_loss(m, kind, wd, n, x, y, &loss, *g, NULL), KR_OK);
        for (int l = 0; l < L; l++)
            for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++)
                gmax = fmax(gmax, fabs((*g)->w[l][q]));
        if (gmax > 1e-6) return m;
        kr_model_free(*g);
        kr_model_free(m);
    }
    ck_abort_msg("seed %llu: every drawn network is dead", g_seed);
    return NULL;
}

/* Configurations for the finite-difference test: _i = 0..47 → loss (logistic, cross-entropy,
 * MSE, Huber) × biases (none, first only, every layer) × depth 2, 3, 4 (2 and 3 for the
 * losses beyond logistic's, whose depth handling is shared) × weight decay 0 / 0.07. */
START_TEST(test_grad_fd)
{
    const kr_loss kind = (kr_loss)(_i % 4);
    const int bm = (_i / 4) % 3;
    const int L = 2 + (_i / 12) % 2 + (kind == KR_LOSS_LOGISTIC && _i >= 24 ? 1 : 0);
    const double wd = _i >= 24 ? 0.07 : 0.0;
    const unsigned mask = bm == 2 ? (1u << L) - 1u : (unsigned)bm;
    const bool bias = mask != 0;
    const size_t hidden[3] = {6, 5, 4};
    const size_t D = 5, n = 7;
    kr_rng r;
    kr_rng_seed(&r, g_seed + 101u * (unsigned)_i);
    double x[7 * 5], y[7], gmax = 0;
    kr_model *g = NULL;
    kr_model *m = draw_fd_problem(&r, D, hidden, L, mask, kind, wd, n, x, y, &g);

    /* Tensors in state_dict order: W1, b1, W2, ... */
    double *par[2 * KR_MAX_LAYERS], *gr[2 * KR_MAX_LAYERS];
    size_t cnt[2 * KR_MAX_LAYERS];
    int np = 0;
    for (int l = 0; l < L; l++) {
        par[np] = m->w[l], gr[np] = g->w[l], cnt[np++] = m->dims[l] * m->dims[l + 1];
        if (m->b[l]) par[np] = m->b[l], gr[np] = g->b[l], cnt[np++] = m->dims[l + 1];
    }
    for (int p = 0; p < np; p++)
        for (size_t q = 0; q < cnt[p]; q++) gmax = fmax(gmax, fabs(gr[p][q]));

    double worst = 0;
    for (int p = 0; p < np; p++) {
        for (size_t q = 0; q < cnt[p]; q++) {
            double v = par[p][q], h = 1e-5 * fmax(1.0, fabs(v)), lp, lm;
            par[p][q] = v + h;
            ck_assert_int_eq(kr_mlp_ref_loss(m, kind, wd, n, x, y, &lp, NULL, NULL), KR_OK);
            par[p][q] = v - h;
            ck_assert_int_eq(kr_mlp_ref_loss(m, kind, wd, n, x, y, &lm, NULL, NULL), KR_OK);
            par[p][q] = v;
            double fd = (lp - lm) / (2 * h), an = gr[p][q];
            double err = fabs(fd - an) / fmax(fabs(an), 1e-2 * gmax);
            worst = fmax(worst, err);
            ck_assert_msg(err < 1e-6,
                          "seed %llu loss %d L=%d biases 0x%x wd %g tensor %d entry %zu: "
                          "analytic %.12g fd %.12g rel err %.3g", g_seed, (int)kind, L, mask, wd,
                          p, q, an, fd, err);
        }
    }
    printf("check_mlp_ref: loss %d L=%d biases 0x%x wd %g max rel FD error %.3g\n", (int)kind,
           L, mask, wd, worst);
    (void)bias;
    kr_model_free(g);
    kr_model_free(m);
}
END_TEST

START_TEST(test_gd_decreases)
{
    const size_t hidden[2] = {8, 6};
    const size_t D = 5, n = 10;
    kr_rng r;
    kr_rng_seed(&r, g_seed + 7);
    kr_model *m = kr_test_random_model(&r, D, hidden, 2, true, 1.0);
    double x[10 * 5], y[10];
    for (size_t q = 0; q < n * D; q++) x[q] = kr_rng_normal(&r);
    for (size_t i = 0; i < n; i++) y[i] = i % 2 ? 1.0 : -1.0;
    kr_model *g = NULL;
    ck_assert_int_eq(kr_model_clone(m, &g), KR_OK);
    double prev, loss, first;
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, n, x, y, &prev, g, NULL), KR_OK);
    first = prev;
    /* A small step on a piecewise-smooth loss: every step must descend (sufficient decrease
     * of the first step below is the Armijo condition with c = 1/2). */
    const double lr = 0.01;
    double g2 = 0;
    for (int l = 0; l < m->layers; l++)
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++) g2 += g->w[l][q] * g->w[l][q];
    for (size_t j = 0; j < m->dims[1]; j++) g2 += g->b[0][j] * g->b[0][j];
    for (int it = 0; it < 20; it++) {
        kr_mlp_ref_step(m, g, lr);
        if (it == 0) {
            double l1;
            ck_assert_int_eq(kr_mlp_ref_loss_grad(m, n, x, y, &l1, NULL, NULL), KR_OK);
            ck_assert_msg(l1 <= first - 0.5 * lr * g2, "seed %llu: first step %.17g -> %.17g, "
                          "|g|^2 %.6g", g_seed, first, l1, g2);
        }
        ck_assert_int_eq(kr_mlp_ref_loss_grad(m, n, x, y, &loss, g, NULL), KR_OK);
        ck_assert_msg(loss < prev, "seed %llu step %d: loss %.17g after %.17g", g_seed, it, loss,
                      prev);
        prev = loss;
    }
    ck_assert_msg(prev < first, "seed %llu", g_seed);
    kr_model_free(g);
    kr_model_free(m);
}
END_TEST

START_TEST(test_invalid)
{
    const size_t h1[1] = {3}, h2[1] = {4};
    kr_model *m = NULL, *g = NULL, *gb = NULL;
    ck_assert_int_eq(kr_model_new(2, h1, 1, true, &m), KR_OK);
    ck_assert_int_eq(kr_model_new(2, h2, 1, true, &g), KR_OK);
    ck_assert_int_eq(kr_model_new(2, h1, 1, false, &gb), KR_OK);
    const double x[2] = {0.5, -0.5}, y[1] = {1};
    double loss, phi;
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 1, x, y, &loss, g, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 1, x, y, &loss, gb, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 0, x, y, &loss, NULL, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 1, x, y, NULL, NULL, NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_forward(m, 0, x, &phi), KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_forward(m, 1, NULL, &phi), KR_E_INVALID);
    /* All-zero model: Φ = 0, loss = log 2, one error (margin 0 counts). */
    size_t err = 0;
    ck_assert_int_eq(kr_mlp_ref_loss_grad(m, 1, x, y, &loss, NULL, &err), KR_OK);
    ck_assert(fabs(loss - log(2.0)) < 1e-15);
    ck_assert_uint_eq(err, 1);
    /* The same zero model, Φ = 0: MSE (0 − 2)² = 4, Huber |−2| − ½ = 1.5 and ½ 0.5² = 0.125,
     * plus (wd/2)‖θ‖² = 0; a loss that does not fit C is refused. */
    const double y2[1] = {2.0}, yh[1] = {0.5};
    ck_assert_int_eq(kr_mlp_ref_loss(m, KR_LOSS_MSE, 0.1, 1, x, y2, &loss, NULL, NULL), KR_OK);
    ck_assert(loss == 4.0);
    ck_assert_int_eq(kr_mlp_ref_loss(m, KR_LOSS_HUBER, 0.0, 1, x, y2, &loss, NULL, NULL), KR_OK);
    ck_assert(loss == 1.5);
    ck_assert_int_eq(kr_mlp_ref_loss(m, KR_LOSS_HUBER, 0.0, 1, x, yh, &loss, NULL, NULL), KR_OK);
    ck_assert(loss == 0.125);
    ck_assert_int_eq(kr_mlp_ref_loss(m, KR_LOSS_CE, 0.0, 1, x, y, &loss, NULL, NULL),
                     KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_loss(m, KR_LOSS_MSE, -1.0, 1, x, y, &loss, NULL, NULL),
                     KR_E_INVALID);
    /* A zero three-class model: every class has softmax 1/3, CE = log 3, and the tie counts as
     * an error; class 3 does not exist. */
    kr_model *m3 = NULL;
    ck_assert_int_eq(kr_model_new_general(2, h1, 1, 3, 3u, &m3), KR_OK);
    const double c1[1] = {1}, c3[1] = {3};
    ck_assert_int_eq(kr_mlp_ref_loss(m3, KR_LOSS_CE, 0.0, 1, x, c1, &loss, NULL, &err), KR_OK);
    ck_assert(fabs(loss - log(3.0)) < 1e-15);
    ck_assert_uint_eq(err, 1);
    ck_assert_int_eq(kr_mlp_ref_loss(m3, KR_LOSS_CE, 0.0, 1, x, c3, &loss, NULL, NULL),
                     KR_E_INVALID);
    ck_assert_int_eq(kr_mlp_ref_loss(m3, KR_LOSS_LOGISTIC, 0.0, 1, x, c1, &loss, NULL, NULL),
                     KR_E_INVALID);
    kr_model_free(m3);
    kr_model_free(m);
    kr_model_free(g);
    kr_model_free(gb);
}
END_TEST

int main(void)
{
    g_seed = kr_test_seed();
    printf("check_mlp_ref: seed %llu (set KKTRECON_TEST_SEED to reproduce)\n", g_seed);
    fflush(stdout);
    Suite *s = suite_create("mlp_ref");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_forward_hand);
    tcase_add_test(tc, test_loss_hand);
    tcase_add_loop_test(tc, test_grad_fd, 0, 48);
    tcase_add_test(tc, test_gd_decreases);
    tcase_add_test(tc, test_invalid);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, false);
    if (failed) fprintf(stderr, "check_mlp_ref: %d failed; seed %llu\n", failed, g_seed);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
