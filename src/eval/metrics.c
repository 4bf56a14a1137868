/* metrics.c — NCC distance (single and as a GEMM-based matrix), PyTorch-exact bicubic
 * resizing, nearest candidates, SSIM and the reconstruction transforms of DESIGN §4.
 *
 * Sources: DESIGN §4 (the paper's evaluation notebooks); bicubic as in PyTorch
 * aten/src/ATen/native/UpSample.h (area_pixel_compute_source_index with cubic = true,
 * get_cubic_upsample_coefficients, upsample_get_value_bounded) and UpSampleBicubic2d.cpp;
 * SSIM as in Wang et al. 2004 with a Gaussian window, as computed by the usual
 * pytorch-ssim / torchmetrics code (window-weighted means, E[x^2] - mu^2, reflect padding).
 * Does not: run on a device, downsample implicitly (the caller decides), print.
 */
#include "eval/metrics.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KR_SSIM_C1 1e-4 /* (0.01 * data range 1)^2 */
#define KR_SSIM_C2 9e-4 /* (0.03 * data range 1)^2 */
#define KR_SSIM_SIGMA 1.5
#define KR_BICUBIC_A (-0.75)
#define KR_NCC_BLOCK 1024 /* candidates standardised at a time in the matrix version */

/* ---- NCC ----------------------------------------------------------------------------------- */

kr_status kr_metrics_standardize(const double *x, size_t c, size_t p, double *out)
{
    if (p < 2) return KR_FAIL(KR_E_INVALID, "standardising: %zu values per channel; need >= 2", p);
    for (size_t ch = 0; ch < c; ch++) {
        const double *xc = x + ch * p;
        double *oc = out + ch * p;
        double mu = 0.0;
        for (size_t i = 0; i < p; i++) mu += xc[i];
        mu /= (double)p;
        double ss = 0.0;
        for (size_t i = 0; i < p; i++) ss += (xc[i] - mu) * (xc[i] - mu);
        double sd = sqrt(ss / (double)(p - 1)); /* unbiased, like torch.std */
        double inv = sd > 0.0 ? 1.0 / sd : 0.0;  /* constant channel -> zeros */
        for (size_t i = 0; i < p; i++) oc[i] = (xc[i] - mu) * inv;
    }
    return KR_OK;
}

kr_status kr_metrics_ncc(const double *a, const double *b, size_t c, size_t p, double *out)
{
    *out = NAN;
    size_t k = c * p;
    if (k == 0) return KR_FAIL(KR_E_INVALID, "NCC of empty images");
    double *za = malloc(2 * k * sizeof *za);
    if (!za) return KR_FAIL(KR_E_NOMEM, "NCC: allocating %zu values", 2 * k);
    double *zb = za + k;
    kr_status st = kr_metrics_standardize(a, c, p, za);
    if (st == KR_OK) st = kr_metrics_standardize(b, c, p, zb);
    if (st == KR_OK) {
        double s = 0.0;
        for (size_t i = 0; i < k; i++) s += (za[i] - zb[i]) * (za[i] - zb[i]);
        *out = s / (double)k;
    }
    free(za);
    return st;
}

/* z (n x k) = standardised rows of x, sq[i] = |z_i|^2. */
static kr_status kr_metrics_std_rows(const double *x, size_t n, size_t c, size_t p, double *z,
                                     double *sq)
{
    size_t k = c * p;
    for (size_t i = 0; i < n; i++) {
        KR_TRY(kr_metrics_standardize(x + i * k, c, p, z + i * k));
        double s = 0.0;
        for (size_t j = 0; j < k; j++) s += z[i * k + j] * z[i * k + j];
        sq[i] = s;
    }
    return KR_OK;
}

kr_status kr_metrics_ncc_matrix(const double *train, size_t t, const double *cand, size_t m,
                                size_t c, size_t p, double *dist)
{
    size_t k = c * p;
    if (k == 0) return KR_FAIL(KR_E_INVALID, "NCC matrix of empty images");
    if (t == 0 || m == 0) return KR_OK;
    if (t > INT_MAX || m > INT_MAX || k > INT_MAX)
        return KR_FAIL(KR_E_INVALID, "NCC matrix %zu x %zu over %zu values exceeds BLAS int "
                       "sizes", t, m, k);
    size_t mb = m < KR_NCC_BLOCK ? m : KR_NCC_BLOCK;
    kr_status st = KR_OK;
    double *zt = malloc(t * k * sizeof *zt), *st2 = malloc(t * sizeof *st2);
    double *zc = malloc(mb * k * sizeof *zc), *sc = malloc(mb * sizeof *sc);
    if (!zt || !st2 || !zc || !sc) {
        st = KR_FAIL(KR_E_NOMEM, "NCC matrix: allocating %zu + %zu standardised images", t, mb);
        goto fail;
    }
    KR_TRY_GOTO(kr_metrics_std_rows(train, t, c, p, zt, st2));
    for (size_t j0 = 0; j0 < m; j0 += mb) {
        size_t nb = m - j0 < mb ? m - j0 : mb;
        KR_TRY_GOTO(kr_metrics_std_rows(cand + j0 * k, nb, c, p, zc, sc));
        /* dist[:, j0:j0+nb] = -2 Zt Zcᵀ   (T x nb, leading dimension M) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)t, (int)nb, (int)k, -2.0, zt,
                    (int)k, zc, (int)k, 0.0, dist + j0, (int)m);
        for (size_t i = 0; i < t; i++)
            for (size_t j = 0; j < nb; j++) {
                double *d = &dist[i * m + j0 + j];
                double v = (st2[i] + sc[j] + *d) / (double)k;
                *d = v < 0.0 ? 0.0 : v; /* rounding can dip below 0 for identical images */
            }
    }
fail:
    free(zt);
    free(st2);
    free(zc);
    free(sc);
    return st;
}

/* ---- bicubic ------------------------------------------------------------------------------- */

/* PyTorch cubic_convolution1 (|x| <= 1) and cubic_convolution2 (1 < |x| < 2). */
static double kr_cubic1(double x, double a) { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0; }
static double kr_cubic2(double x, double a) { return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a; }

/* For output index o: the 4 clamped source taps and their weights. */
static void kr_bicubic_taps(size_t o, double scale, size_t n, size_t idx[4], double wt[4])
{
    double real = scale * ((double)o + 0.5) - 0.5; /* no clamp to 0 for cubic */
    double fl = floor(real);
    double t = real - fl;
    wt[0] = kr_cubic2(t + 1.0, KR_BICUBIC_A);
    wt[1] = kr_cubic1(t, KR_BICUBIC_A);
    wt[2] = kr_cubic1(1.0 - t, KR_BICUBIC_A);
    wt[3] = kr_cubic2(2.0 - t, KR_BICUBIC_A);
    for (int i = 0; i < 4; i++) {
        double s = fl - 1.0 + i;
        idx[i] = s < 0.0 ? 0 : (s > (double)(n - 1) ? n - 1 : (size_t)s);
    }
}

kr_status kr_metrics_resize_bicubic(const double *src, size_t c, size_t h, size_t w, size_t oh,
                                    size_t ow, double *dst)
{
    if (!h || !w || !oh || !ow)
        return KR_FAIL(KR_E_INVALID, "bicubic resize %zux%zu -> %zux%zu: empty size", h, w, oh, ow);
    size_t *xi = malloc(ow * 4 * sizeof *xi);
    double *xw = malloc(ow * 4 * sizeof *xw);
    if (!xi || !xw) {
        free(xi);
        free(xw);
        return KR_FAIL(KR_E_NOMEM, "bicubic resize: allocating taps");
    }
    double sy = (double)h / (double)oh, sx = (double)w / (double)ow;
    for (size_t ox = 0; ox < ow; ox++) kr_bicubic_taps(ox, sx, w, xi + 4 * ox, xw + 4 * ox);
    for (size_t ch = 0; ch < c; ch++) {
        const double *s = src + ch * h * w;
        double *d = dst + ch * oh * ow;
        for (size_t oy = 0; oy < oh; oy++) {
            size_t yi[4];
            double yw[4];
            kr_bicubic_taps(oy, sy, h, yi, yw);
            for (size_t ox = 0; ox < ow; ox++) {
                const size_t *ix = xi + 4 * ox;
                const double *wx = xw + 4 * ox;
                double acc = 0.0;
                for (int j = 0; j < 4; j++) { /* interpolate each tap row along x, then y */
                    const double *r = s + yi[j] * w;
                    acc += yw[j] * (wx[0] * r[ix[0]] + wx[1] * r[ix[1]] + wx[2] * r[ix[2]] +
                                    wx[3] * r[ix[3]]);
                }
                d[oy * ow + ox] = acc;
            }
        }
    }
    free(xi);
    free(xw);
    return KR_OK;
}

kr_status kr_metrics_downsample2_bicubic(const double *src, size_t n, size_t c, size_t h,
                                         size_t w, double *dst)
{
    if (h % 2 || w % 2 || h == 0 || w == 0)
        return KR_FAIL(KR_E_INVALID, "2x downsampling needs even, non-zero H and W; got %zux%zu",
                       h, w);
    size_t in = c * h * w, on = c * (h / 2) * (w / 2);
    for (size_t i = 0; i < n; i++)
        KR_TRY(kr_metrics_resize_bicubic(src + i * in, c, h, w, h / 2, w / 2, dst + i * on));
    return KR_OK;
}

/* ---- matching ------------------------------------------------------------------------------ */

kr_status kr_metrics_nearest(const double *dist, size_t t, size_t m, size_t *idx, double *best)
{
    if (m == 0 && t > 0) return KR_FAIL(KR_E_INVALID, "nearest candidate among 0 candidates");
    for (size_t i = 0; i < t; i++) {
        const double *r = dist + i * m;
        size_t bj = 0;
        for (size_t j = 1; j < m; j++)
            if (r[j] < r[bj] || (isnan(r[bj]) && !isnan(r[j]))) bj = j;
        idx[i] = bj;
        if (best) best[i] = r[bj];
    }
    return KR_OK;
}

/* ---- SSIM ---------------------------------------------------------------------------------- */

/* Separable 3-tap Gaussian blur with reflect padding of one plane (h x w) into out.
 * tmp: h x w scratch. Reflect: index -1 -> 1, index n -> n-2 (no edge repeat). */
static void kr_ssim_blur(const double *in, size_t h, size_t w, const double g[3], double *tmp,
                         double *out)
{
    for (size_t y = 0; y < h; y++) {
        const double *r = in + y * w;
        for (size_t x = 0; x < w; x++) {
            double l = r[x == 0 ? 1 : x - 1], rr = r[x == w - 1 ? w - 2 : x + 1];
            tmp[y * w + x] = g[0] * l + g[1] * r[x] + g[2] * rr;
        }
    }
    for (size_t y = 0; y < h; y++) {
        const double *up = tmp + (y == 0 ? 1 : y - 1) * w, *mid = tmp + y * w;
        const double *dn = tmp + (y == h - 1 ? h - 2 : y + 1) * w;
        for (size_t x = 0; x < w; x++) out[y * w + x] = g[0] * up[x] + g[1] * mid[x] + g[2] * dn[x];
    }
}

kr_status kr_metrics_ssim(const double *x, const double *y, size_t c, size_t h, size_t w,
                          double *out)
{
    *out = NAN;
    if (h < 2 || w < 2 || c == 0)
        return KR_FAIL(KR_E_INVALID, "SSIM of a %zux%zux%zu image: reflect padding needs H, W >= 2",
                       c, h, w);
    size_t p = h * w;
    /* 5 products, their 5 blurs, one scratch */
    double *buf = malloc(11 * p * sizeof *buf);
    if (!buf) return KR_FAIL(KR_E_NOMEM, "SSIM: allocating %zu values", 11 * p);
    double *prod = buf, *mu = buf + 5 * p, *tmp = buf + 10 * p;
    double g1 = exp(-1.0 / (2.0 * KR_SSIM_SIGMA * KR_SSIM_SIGMA));
    /* the 2-D window is the outer product of this normalised 1-D one, so it sums to 1 */
    double g[3] = {g1 / (1.0 + 2.0 * g1), 1.0 / (1.0 + 2.0 * g1), g1 / (1.0 + 2.0 * g1)};
    double total = 0.0;
    for (size_t ch = 0; ch < c; ch++) {
        const double *xc = x + ch * p, *yc = y + ch * p;
        for (size_t i = 0; i < p; i++) {
            prod[i] = xc[i];
            prod[p + i] = yc[i];
            prod[2 * p + i] = xc[i] * xc[i];
            prod[3 * p + i] = yc[i] * yc[i];
            prod[4 * p + i] = xc[i] * yc[i];
        }
        for (int q = 0; q < 5; q++) kr_ssim_blur(prod + q * p, h, w, g, tmp, mu + q * p);
        for (size_t i = 0; i < p; i++) {
            double mx = mu[i], my = mu[p + i];
            double vx = mu[2 * p + i] - mx * mx, vy = mu[3 * p + i] - my * my;
            double cxy = mu[4 * p + i] - mx * my;
            total += ((2.0 * mx * my + KR_SSIM_C1) * (2.0 * cxy + KR_SSIM_C2)) /
                     ((mx * mx + my * my + KR_SSIM_C1) * (vx + vy + KR_SSIM_C2));
        }
    }
    free(buf);
    *out = total / (double)(c * p);
    return KR_OK;
}

/* ---- reconstruction transforms ------------------------------------------------------------ */

void kr_metrics_recon_official(const double *cand, const double *mean, size_t d, double *out)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < d; i++) {
        double v = cand[i] + (mean ? mean[i] : 0.0);
        out[i] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    double range = hi - lo;
    for (size_t i = 0; i < d; i++) out[i] = range > 0.0 ? (out[i] - lo) / range : 0.0;
}

void kr_metrics_recon_clip(const double *cand, const double *mean, size_t d, double *out)
{
    for (size_t i = 0; i < d; i++) {
        double v = cand[i] + (mean ? mean[i] : 0.0);
        out[i] = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
    }
}
