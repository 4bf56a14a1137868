/* check_metrics.c — host tests of metrics.c (DESIGN §4) on known values.
 *
 * Provenance of every expected value is written next to it: hand calculations (bicubic 4x4 ->
 * 2x2 and 10x10 -> 4x4, SSIM of constants, NCC of x vs -x), algebraic properties (SSIM(x,x)
 * = 1, NCC invariance to per-channel a*x + b with a > 0, bicubic keeps constants and, at
 * t = 0.5, linear ramps; pooling more candidates never increases a nearest distance) and an
 * independent SSIM written here with explicit 3x3 loops, a 2-D normalised window and an
 * explicit reflect index.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"
#include "base/rng.h"
#include "base/status.h"
#include "testutil.h"

static void fill_uniform(double *x, size_t n, uint64_t seed)
{
    kr_rng r;
    kr_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = kr_rng_uniform(&r);
}

/* ---- SSIM ---------------------------------------------------------------------------------- */

/* numpy/torch 'reflect': mirror about the edge sample without repeating it */
static size_t reflect(long i, long n)
{
    if (i < 0) return (size_t)(-i);
    if (i >= n) return (size_t)(2 * (n - 1) - i);
    return (size_t)i;
}

/* Independent SSIM: the 2-D Gaussian exp(-(dy^2+dx^2)/(2 sigma^2)) normalised over its 9 taps,
 * explicit loops, local statistics E[.] straight from the definition. */
static double ssim_naive(const double *x, const double *y, size_t c, size_t h, size_t w)
{
    double win[3][3], s = 0.0;
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) s += win[dy + 1][dx + 1] = exp(-(dy * dy + dx * dx) / 4.5);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) win[a][b] /= s;
    double total = 0.0;
    for (size_t ch = 0; ch < c; ch++)
        for (long i = 0; i < (long)h; i++)
            for (long j = 0; j < (long)w; j++) {
                double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++) {
                        size_t k = ch * h * w + reflect(i + dy, (long)h) * w + reflect(j + dx, (long)w);
                        double wt = win[dy + 1][dx + 1];
                        mx += wt * x[k];
                        my += wt * y[k];
                        xx += wt * x[k] * x[k];
                        yy += wt * y[k] * y[k];
                        xy += wt * x[k] * y[k];
                    }
                double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
                total += (2 * mx * my + 1e-4) * (2 * cxy + 9e-4) /
                         ((mx * mx + my * my + 1e-4) * (vx + vy + 9e-4));
            }
    return total / (double)(c * h * w);
}

START_TEST(test_ssim_identity)
{
    double x[3 * 7 * 5], v;
    fill_uniform(x, sizeof x / sizeof *x, 1);
    ck_assert_int_eq(kr_metrics_ssim(x, x, 3, 7, 5, &v), KR_OK);
    ck_assert_double_eq_tol(v, 1.0, 1e-12); /* every term is (2m^2+C1)(2v+C2)/((2m^2+C1)(2v+C2)) */
}
END_TEST

START_TEST(test_ssim_constants)
{
    /* x = 0.2, y = 0.6 everywhere: variances and covariance are 0, so
     * SSIM = (2*0.2*0.6 + 1e-4) / (0.2^2 + 0.6^2 + 1e-4) * (0 + 9e-4)/(0 + 9e-4)
     *      = 0.2401 / 0.4001 = 0.60009997500624... (by hand) */
    double x[2 * 4 * 3], y[2 * 4 * 3], v;
    for (int i = 0; i < 24; i++) x[i] = 0.2, y[i] = 0.6;
    ck_assert_int_eq(kr_metrics_ssim(x, y, 2, 4, 3, &v), KR_OK);
    ck_assert_double_eq_tol(v, 0.2401 / 0.4001, 1e-12);
    ck_assert_double_eq_tol(v, 0.600099975006, 1e-12);
}
END_TEST

START_TEST(test_ssim_vs_naive)
{
    /* shapes include the smallest legal one (2x2) and non-square ones */
    const size_t shapes[][3] = {{1, 28, 28}, {3, 16, 16}, {3, 7, 5}, {1, 2, 2}, {2, 2, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        size_t c = shapes[s][0], h = shapes[s][1], w = shapes[s][2], n = c * h * w;
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), v;
        fill_uniform(x, n, 10 + s);
        /* y: x plus structured noise, so SSIM is well inside (0, 1) */
        fill_uniform(y, n, 20 + s);
        for (size_t i = 0; i < n; i++) y[i] = 0.7 * x[i] + 0.3 * y[i];
        ck_assert_int_eq(kr_metrics_ssim(x, y, c, h, w, &v), KR_OK);
        ck_assert_double_eq_tol(v, ssim_naive(x, y, c, h, w), 1e-12);
        fill_uniform(y, n, 30 + s); /* unrelated images */
        ck_assert_int_eq(kr_metrics_ssim(x, y, c, h, w, &v), KR_OK);
        ck_assert_double_eq_tol(v, ssim_naive(x, y, c, h, w), 1e-12);
        free(x);
        free(y);
    }
    double z[4] = {0};
    double v;
    ck_assert_int_ne(kr_metrics_ssim(z, z, 1, 1, 4, &v), KR_OK); /* H = 1 cannot be reflected */
}
END_TEST

/* ---- NCC ----------------------------------------------------------------------------------- */

START_TEST(test_ncc_invariance)
{
    enum { C = 3, P = 20 };
    double x[C * P], y[C * P], x2[C * P], d1, d2;
    fill_uniform(x, C * P, 3);
    fill_uniform(y, C * P, 4);
    /* per-channel affine change with different a > 0 and b per channel */
    const double a[C] = {2.5, 0.01, 7.0}, b[C] = {-3.0, 0.4, 100.0};
    for (int c = 0; c < C; c++)
        for (int i = 0; i < P; i++) x2[c * P + i] = a[c] * x[c * P + i] + b[c];
    ck_assert_int_eq(kr_metrics_ncc(x, y, C, P, &d1), KR_OK);
    ck_assert_int_eq(kr_metrics_ncc(x2, y, C, P, &d2), KR_OK);
    ck_assert_double_eq_tol(d1, d2, 1e-12);
    ck_assert_int_eq(kr_metrics_ncc(y, x2, C, P, &d2), KR_OK); /* symmetric */
    ck_assert_double_eq_tol(d1, d2, 1e-12);
    ck_assert_int_eq(kr_metrics_ncc(x, x2, C, P, &d2), KR_OK);
    ck_assert_double_eq_tol(d2, 0.0, 1e-12);
    /* x vs -x: z and -z, so |2z|^2 / (C P) = 4 C (P-1) / (C P) = 4 (P-1)/P (each standardised
     * channel has sum of squares P-1 with the unbiased std) */
    for (int i = 0; i < C * P; i++) x2[i] = -x[i];
    ck_assert_int_eq(kr_metrics_ncc(x, x2, C, P, &d2), KR_OK);
    ck_assert_double_eq_tol(d2, 4.0 * (P - 1) / P, 1e-12);
    /* a constant channel standardises to zeros rather than NaN */
    for (int i = 0; i < P; i++) x2[i] = 0.5;
    ck_assert_int_eq(kr_metrics_ncc(x, x2, C, P, &d2), KR_OK);
    ck_assert(isfinite(d2));
}
END_TEST

START_TEST(test_ncc_matrix)
{
    /* 2100 candidates cross the 1024-candidate blocking twice */
    enum { T = 7, M = 2100, C = 3, P = 16, K = C * P };
    double *tr = malloc(T * K * sizeof *tr), *ca = malloc((size_t)M * K * sizeof *ca);
    double *dist = malloc((size_t)T * M * sizeof *dist);
    fill_uniform(tr, T * K, 5);
    fill_uniform(ca, (size_t)M * K, 6);
    memcpy(ca + 1500 * K, tr + 2 * K, K * sizeof *ca); /* an exact copy: distance 0 */
    ck_assert_int_eq(kr_metrics_ncc_matrix(tr, T, ca, M, C, P, dist), KR_OK);
    for (int i = 0; i < T; i++)
        for (int j = 0; j < M; j++) {
            double d;
            ck_assert_int_eq(kr_metrics_ncc(tr + i * K, ca + (size_t)j * K, C, P, &d), KR_OK);
            ck_assert_double_eq_tol(dist[(size_t)i * M + j], d, 1e-12);
        }
    ck_assert_double_eq_tol(dist[2 * M + 1500], 0.0, 1e-12);
    ck_assert(dist[2 * M + 1500] >= 0.0);
    free(tr);
    free(ca);
    free(dist);
}
END_TEST

/* ---- bicubic ------------------------------------------------------------------------------- */

START_TEST(test_bicubic_hand)
{
    /* src[r][c] = 4r + c (4x4) -> 2x2. Scale 2: src coord = 2*o + 0.5, floor 2o, t = 0.5, so
     * the weights are cubic2(1.5), cubic1(0.5), cubic1(0.5), cubic2(1.5) with A = -0.75:
     * cubic1(0.5) = ((1.25*0.5) - 2.25)*0.25 + 1 = 0.59375,
     * cubic2(1.5) = ((-0.75*1.5 + 3.75)*1.5 - 6)*1.5 + 3 = -0.09375.
     * o = 0: taps -1,0,1,2 clamp to 0,0,1,2:  -0.09375*0 + 0.59375*0 + 0.59375*1 - 0.09375*2
     *        = 0.40625;
     * o = 1: taps 1,2,3,4 clamp to 1,2,3,3:   -0.09375*1 + 0.59375*2 + 0.59375*3 - 0.09375*3
     *        = 2.59375.
     * The weights sum to 1 and the image is 4r + c, so out[y][x] = 4 f(y) + f(x):
     * out = [[5*0.40625, 4*0.40625 + 2.59375], [4*2.59375 + 0.40625, 5*2.59375]]
     *     = [[2.03125, 4.21875], [10.78125, 12.96875]]  (all exact in binary) */
    double src[16], dst[4];
    for (int i = 0; i < 16; i++) src[i] = i;
    ck_assert_int_eq(kr_metrics_downsample2_bicubic(src, 1, 1, 4, 4, dst), KR_OK);
    ck_assert(dst[0] == 2.03125);
    ck_assert(dst[1] == 4.21875);
    ck_assert(dst[2] == 10.78125);
    ck_assert(dst[3] == 12.96875);
}
END_TEST

START_TEST(test_bicubic_constant_and_ramp)
{
    /* a constant stays constant (weights sum to 1, clamped taps read the same value) */
    double c[2 * 6 * 8], dc[2 * 3 * 4];
    for (int i = 0; i < 96; i++) c[i] = 0.7;
    ck_assert_int_eq(kr_metrics_downsample2_bicubic(c, 1, 2, 6, 8, dc), KR_OK);
    for (int i = 0; i < 24; i++) ck_assert_double_eq_tol(dc[i], 0.7, 1e-15);

    /* src = 3*col - 2*row + 1 (16x16) -> 8x8. At scale 2, t = 0.5 and the weights are
     * symmetric and sum to 1, so where no tap is clamped (o = 1..6: taps 2o-1..2o+2 inside
     * 0..15) the output is the ramp at the source coordinate 2o + 0.5 (for any A). */
    double r[256], dr[64];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) r[y * 16 + x] = 3.0 * x - 2.0 * y + 1.0;
    ck_assert_int_eq(kr_metrics_downsample2_bicubic(r, 1, 1, 16, 16, dr), KR_OK);
    for (int oy = 1; oy <= 6; oy++)
        for (int ox = 1; ox <= 6; ox++)
            ck_assert_double_eq_tol(dr[oy * 8 + ox], 3.0 * (2 * ox + 0.5) - 2.0 * (2 * oy + 0.5) + 1.0,
                                    1e-12);
    /* Non-integer scale, 10 -> 4 (scale 2.5), ramp 0.5*col + 0.25*row. With A = -0.75 the
     * kernel does NOT reproduce linear functions off t = 0.5, so the values are worked by hand:
     * o = 1: src 2.5*1.5 - 0.5 = 3.25, floor 3, t = 0.25, taps 2..5, weights
     *   cubic2(1.25) = -0.10546875, cubic1(0.25) = 0.87890625, cubic1(0.75) = 0.26171875,
     *   cubic2(1.75) = -0.03515625 (sum 1); tap position 3 + (0.10546875 + 0.26171875
     *   - 2*0.03515625) = 3.296875;
     * o = 2: src 5.75, t = 0.75: the mirrored weights, position 5 + (1 - 0.296875) = 5.703125.
     * out[oy][ox] = 0.5 * g(ox) + 0.25 * g(oy) with g(1) = 3.296875, g(2) = 5.703125. */
    double r10[100], d4[16];
    const double g[3] = {0, 3.296875, 5.703125};
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++) r10[y * 10 + x] = 0.5 * x + 0.25 * y;
    ck_assert_int_eq(kr_metrics_resize_bicubic(r10, 1, 10, 10, 4, 4, d4), KR_OK);
    for (int oy = 1; oy <= 2; oy++)
        for (int ox = 1; ox <= 2; ox++)
            ck_assert_double_eq_tol(d4[oy * 4 + ox], 0.5 * g[ox] + 0.25 * g[oy], 1e-12);
    ck_assert_int_ne(kr_metrics_downsample2_bicubic(r, 1, 1, 15, 16, dr), KR_OK); /* odd H */
}
END_TEST

/* ---- matching ------------------------------------------------------------------------------ */

START_TEST(test_nearest_constructed)
{
    /* row 0: tie between 1 and 2 -> lowest index 1; row 1: NaN never wins, tie 2/3 -> 2;
     * row 2: all NaN -> 0; row 3: minimum at the last column */
    const double d[4][4] = {{3, 1, 1, 2}, {NAN, 5, 4, 4}, {NAN, NAN, NAN, NAN}, {9, 8, 7, 0.5}};
    size_t idx[4];
    double best[4];
    ck_assert_int_eq(kr_metrics_nearest(&d[0][0], 4, 4, idx, best), KR_OK);
    ck_assert_uint_eq(idx[0], 1);
    ck_assert_uint_eq(idx[1], 2);
    ck_assert_uint_eq(idx[2], 0);
    ck_assert_uint_eq(idx[3], 3);
    ck_assert(best[0] == 1 && best[1] == 4 && isnan(best[2]) && best[3] == 0.5);
    ck_assert_int_eq(kr_metrics_nearest(&d[0][0], 4, 4, idx, NULL), KR_OK);

    /* NCC end to end: candidates are affine copies of train images in shuffled order */
    enum { T = 4, C = 1, P = 9 };
    double tr[T * P], ca[T * P], dist[T * T];
    fill_uniform(tr, T * P, 8);
    const int perm[T] = {2, 0, 3, 1}; /* candidate j is a copy of train perm[j] */
    for (int j = 0; j < T; j++)
        for (int i = 0; i < P; i++) ca[j * P + i] = 3.0 * tr[perm[j] * P + i] - 1.0;
    ck_assert_int_eq(kr_metrics_ncc_matrix(tr, T, ca, T, C, P, dist), KR_OK);
    ck_assert_int_eq(kr_metrics_nearest(dist, T, T, idx, best), KR_OK);
    for (int j = 0; j < T; j++) {
        ck_assert_uint_eq(idx[perm[j]], (size_t)j);
        ck_assert_double_eq_tol(best[perm[j]], 0.0, 1e-12);
    }
}
END_TEST

START_TEST(test_pooling_property)
{
    /* Pooling candidates from more runs never increases a training image's nearest distance:
     * for random subsets S of a pool, min over S >= min over the pool (up to rounding). */
    enum { T = 10, M = 60, C = 3, P = 16, K = C * P };
    double tr[T * K], pool[M * K], sub[M * K], dall[T * M], dsub[T * M], ball[T], bsub[T];
    size_t idx[T];
    fill_uniform(tr, T * K, 11);
    fill_uniform(pool, M * K, 12);
    ck_assert_int_eq(kr_metrics_ncc_matrix(tr, T, pool, M, C, P, dall), KR_OK);
    ck_assert_int_eq(kr_metrics_nearest(dall, T, M, idx, ball), KR_OK);
    kr_rng r;
    kr_rng_seed(&r, 13);
    for (int trial = 0; trial < 50; trial++) {
        size_t ms = 0;
        for (size_t j = 0; j < M; j++)
            if (kr_rng_uniform(&r) < 0.3) memcpy(sub + K * ms++, pool + K * j, K * sizeof *sub);
        if (ms == 0) continue;
        ck_assert_int_eq(kr_metrics_ncc_matrix(tr, T, sub, ms, C, P, dsub), KR_OK);
        ck_assert_int_eq(kr_metrics_nearest(dsub, T, ms, idx, bsub), KR_OK);
        for (int i = 0; i < T; i++) ck_assert(ball[i] <= bsub[i] + 1e-12);
    }
}
END_TEST

/* ---- transforms ---------------------------------------------------------------------------- */

START_TEST(test_recon_transforms)
{
    /* cand + mean = [-0.5, 0.5, 1.5, 0.0]; official: (v - (-0.5)) / 2 = [0, 0.5, 1, 0.25];
     * clip: [0, 0.5, 1, 0] */
    const double cand[4] = {-1, 0, 1, -0.5}, mean[4] = {0.5, 0.5, 0.5, 0.5};
    double o[4];
    kr_metrics_recon_official(cand, mean, 4, o);
    ck_assert(o[0] == 0 && o[1] == 0.5 && o[2] == 1 && o[3] == 0.25);
    kr_metrics_recon_clip(cand, mean, 4, o);
    ck_assert(o[0] == 0 && o[1] == 0.5 && o[2] == 1 && o[3] == 0);
    const double k[3] = {0.3, 0.3, 0.3};
    kr_metrics_recon_official(k, NULL, 3, o); /* constant image -> zeros */
    ck_assert(o[0] == 0 && o[1] == 0 && o[2] == 0);
    memcpy(o, cand, sizeof cand); /* in place, no mean */
    kr_metrics_recon_clip(o, NULL, 4, o);
    ck_assert(o[0] == 0 && o[1] == 0 && o[2] == 1 && o[3] == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, test_ssim_identity);
    tcase_add_test(tc, test_ssim_constants);
    tcase_add_test(tc, test_ssim_vs_naive);
    tcase_add_test(tc, test_ncc_invariance);
    tcase_add_test(tc, test_ncc_matrix);
    tcase_add_test(tc, test_bicubic_hand);
    tcase_add_test(tc, test_bicubic_constant_and_ramp);
    tcase_add_test(tc, test_nearest_constructed);
    tcase_add_test(tc, test_pooling_property);
    tcase_add_test(tc, test_recon_transforms);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, false);
    return failed ? 1 : 0;
}
