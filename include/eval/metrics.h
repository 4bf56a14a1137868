/* metrics.h — evaluation metrics of DESIGN §4, on the host in float64.
 *
 * Images are CHW, row-major: C channels of P = H*W values each; a batch of N images is an
 * N x (C*H*W) row-major matrix. Everything here is float64 and deterministic.
 *   NCC distance  squared L2 between the two images after standardising each one per channel
 *                 to zero mean and unbiased (n-1) unit std, divided by C*P (the paper's
 *                 notebooks). A constant channel standardises to zeros (no NaN).
 *   bicubic       PyTorch F.interpolate(mode='bicubic', align_corners=False), A = -0.75,
 *                 no antialias (used 32 -> 16 for CIFAR-10 before NCC).
 *   SSIM          3x3 Gaussian window (sigma 1.5, normalised), data range 1, C1 = 1e-4,
 *                 C2 = 9e-4, reflect padding, mean over all positions and channels.
 *   transforms    reconstruction = candidate + mean, then per-image min-max to [0,1]
 *                 (official) or clipped to [0,1] (clip).
 * Not here: margins (mlp), grids/plots (report), thresholds and curves (evaluate).
 */
#ifndef KR_METRICS_H
#define KR_METRICS_H

#include <stddef.h>

#include "base/status.h"

/* out (C x P) = x (C x P) standardised per channel: (x - mean) / std, std with n-1.
 * A channel with std 0 becomes zeros. Needs P >= 2. out may equal x. */
kr_status kr_metrics_standardize(const double *x, size_t c, size_t p, double *out);

/* NCC distance between images a, b (each C x P). */
kr_status kr_metrics_ncc(const double *a, const double *b, size_t c, size_t p, double *out);

/* dist (T x M) [i][j] = NCC distance between train row i (T x C*P) and cand row j (M x C*P).
 * Standardises each image once; the cross term is one cblas_dgemm per block of candidates:
 * |a-b|^2 = |a|^2 + |b|^2 - 2 a.b (clamped at 0). */
kr_status kr_metrics_ncc_matrix(const double *train, size_t t, const double *cand, size_t m,
                                size_t c, size_t p, double *dist);

/* Bicubic resize of one C x H x W image to C x OH x OW, PyTorch semantics for a given output
 * size: scale = H/OH, src = (dst + 0.5) * scale - 0.5, taps floor(src)-1 .. floor(src)+2
 * clamped to the border, cubic-convolution weights with A = -0.75. */
kr_status kr_metrics_resize_bicubic(const double *src, size_t c, size_t h, size_t w, size_t oh,
                                    size_t ow, double *dst);
/* n images C x H x W (H, W even) -> n images C x H/2 x W/2 (DESIGN §4: CIFAR 32 -> 16). */
kr_status kr_metrics_downsample2_bicubic(const double *src, size_t n, size_t c, size_t h,
                                         size_t w, double *dst);

/* For each of T rows of dist (T x M): idx[i] = argmin_j dist[i][j] (ties -> lowest j; NaN
 * never wins; an all-NaN row gives j = 0), best[i] = that distance (best may be NULL). */
kr_status kr_metrics_nearest(const double *dist, size_t t, size_t m, size_t *idx, double *best);

/* SSIM between x and y (C x H x W, values nominally in [0,1]); H, W >= 2 (reflect pad 1). */
kr_status kr_metrics_ssim(const double *x, const double *y, size_t c, size_t h, size_t w,
                          double *out);

/* out (D) = cand + mean, min-max scaled to [0,1] over the whole image; a constant image gives
 * zeros. mean may be NULL (zeros). out may equal cand. */
void kr_metrics_recon_official(const double *cand, const double *mean, size_t d, double *out);
/* out (D) = clamp(cand + mean, 0, 1). mean may be NULL. out may equal cand. */
void kr_metrics_recon_clip(const double *cand, const double *mean, size_t d, double *out);

#endif
