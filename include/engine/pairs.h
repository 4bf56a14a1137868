/* pairs.h — the paper's evaluation of reconstructions (DESIGN.md §4) as the command line and
 * the library API both run it: every training image is matched to its nearest candidate by
 * NCC distance (CIFAR-10: after 2× bicubic downsampling) and the pair is scored by SSIM three
 * ways, with the summary over the training set:
 *   official  SSIM(minmax(x_i + mean), truth)   the paper's protocol
 *   clip      SSIM(clip(x_i + mean, 0, 1), truth)
 *   baseline  SSIM(mean, truth)                 what the blurry mean image alone scores
 * (truth: the training image in [0,1], mean: the model's train mean image).
 * Shapes (row-major): training set n×D and candidates m×D, CHW rows, both in the model's
 * mean-subtracted space.
 * Not here: reading files, the report (pairs.csv, summary.json, pictures: app/evaluate.c).
 */
#ifndef KR_PAIRS_H
#define KR_PAIRS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/model.h"
#include "device/device.h"
#include "io/data.h" /* kr_binary_set */

enum { KR_SSIM_OFFICIAL = 0, KR_SSIM_CLIP = 1, KR_SSIM_BASELINE = 2, KR_N_SSIM = 3 };
/* The thresholds of the summary's counts. */
extern const double kr_pairs_thresholds[3]; /* 0.3, 0.4, 0.5 */

/* One training image and its nearest candidate. */
typedef struct kr_pair {
    size_t train_row;        /* row in the training set */
    size_t cand;             /* row in the candidates given */
    double ncc, margin;      /* NCC distance; margin yΦ(x) of the training image */
    double ssim[KR_N_SSIM];
} kr_pair;

typedef struct kr_eval_summary {
    size_t n_train, n_candidates; /* n_candidates: the finite ones, which were matched */
    size_t n_nonfinite;           /* candidates left out: a NaN or Inf among their values */
    /* [0] official, [1] clip, [2] mean-image baseline */
    size_t above[3][3];   /* counts with SSIM > 0.3, 0.4, 0.5 */
    double mean[3], median[3];
} kr_eval_summary;

/* Matches and scores: s is the training set (mean-subtracted by model->mean, s->c·h·w = D),
 * cand m×D. Candidates with a NaN or Inf are left out and counted (KR_E_NUMERIC when none is
 * left); pairs[s->n] in training-set order; margins under the model on dev (float64 where the
 * device has it). */
kr_status kr_pairs_match(kr_device *dev, const kr_model *model, const kr_binary_set *s,
                         const double *cand, size_t m, bool downsample, kr_pair *pairs,
                         kr_eval_summary *sum);

/* The images as NCC compares them: x itself (*out = NULL, *p = h·w per channel) or, with
 * down (CIFAR-10, 3×32×32), 2× bicubic-downsampled into *out (malloc'd, n·c rows of *p). */
kr_status kr_pairs_ncc_view(const double *x, size_t n, size_t c, size_t h, size_t w, bool down,
                            double **out, size_t *p);

/* The summary's counts, means and medians over n pairs (n_* fields untouched). */
void kr_pairs_summarise(const kr_pair *pr, size_t n, kr_eval_summary *sum);

#endif
