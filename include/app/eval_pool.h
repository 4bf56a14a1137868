/* eval_pool.h — the evaluation step shared by `evaluate` and `sweep`: the paper's evaluation
 * (DESIGN.md §4) of one or more candidate files, pooled, against the training set, written
 * into a folder: pairs.csv, summary.json, grid.png, ssim_vs_margin.png,
 * ssim_official_vs_margin.png, report.html. Three scores side by side: the official protocol
 * (candidate + mean, min-max per image), the clip variant (candidate + mean clipped to [0,1])
 * and the mean-image baseline. The run folder around it (lock, staging, run.json) is the
 * caller's (evaluate.c, sweep.c).
 */
#ifndef KR_EVAL_POOL_H
#define KR_EVAL_POOL_H

#include <stddef.h>

#include "app/config.h"
#include "device/device.h"
#include "engine/pairs.h"
#include "eval/html.h"

/* kr_eval_summary: engine/pairs.h (the numbers are kr_pairs_match's). */

/* Top-k pooling scores: a file's mean SSIM over the training images when matched alone, or
 * its count above 0.4. */
enum { KR_EVAL_TOP_CLIP_MEAN, KR_EVAL_TOP_OFFICIAL_MEAN, KR_EVAL_TOP_CLIP_ABOVE,
       KR_EVAL_TOP_OFFICIAL_ABOVE, KR_EVAL_TOP_N };
extern const char *const KR_EVAL_TOP_BY[KR_EVAL_TOP_N]; /* "clip_mean", ... */
kr_status kr_eval_top_by_parse(const char *text, int *by);

struct kr_eval_pairs;

typedef struct kr_eval_opts {
    size_t top_k;         /* 0: pool every file; else only the best top_k files by top_by */
    int top_by;           /* KR_EVAL_TOP_* */
    const char *title;    /* of report.html; NULL: "kktrecon evaluation" */
    const char *top_note; /* internal */
    /* Called while report.html is open, before its configuration section (sweep's table). */
    kr_status (*html_extra)(void *user, kr_html *h, const kr_eval_summary *sum,
                            const struct kr_eval_pairs *pairs);
    void *user;
} kr_eval_opts;

/* Per training image (training-set order): which file its nearest candidate came from and
 * the pair's official and clip SSIM. */
typedef struct kr_eval_pairs {
    size_t n;
    size_t *file;
    double *ssim_official, *ssim_clip;
    /* Per candidate file (n_files): its quality alone, every training image matched to its
     * own nearest candidate of that file: mean clip and mean official SSIM (NaN: no finite
     * candidate). */
    size_t n_files;
    double *file_clip_mean, *file_official_mean;
} kr_eval_pairs;
void kr_eval_pairs_free(kr_eval_pairs *p);

/* Evaluates the pooled candidate files (opts may be NULL) and writes the report files into
 * out_dir (created if missing; each file atomically). pairs (may be NULL) receives the
 * per-image matches and the per-file scores (also given to opts->html_extra). */
kr_status kr_eval_pool_write(const kr_config *cfg, kr_device *dev, const char *model_path,
                             const char *const *candidate_paths, size_t n_paths,
                             const char *out_dir, const kr_eval_opts *opts, kr_eval_summary *sum,
                             kr_eval_pairs *pairs);

#endif
