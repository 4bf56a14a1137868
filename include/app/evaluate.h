/* evaluate.h — `kktrecon evaluate`: the paper's evaluation (DESIGN.md §4) of one or more
 * candidate files (pooled, or the top k of them) against the training set, as a run folder
 *   DIR/pairs.csv, DIR/summary.json, DIR/grid.png, DIR/ssim_vs_margin.png, DIR/report.html,
 *   DIR/run.json.
 * The evaluation itself is app/eval_pool.h (shared with `sweep`).
 */
#ifndef KR_EVALUATE_H
#define KR_EVALUATE_H

#include <stddef.h>

#include "app/config.h"
#include "app/eval_pool.h"
#include "device/device.h"
#include "io/rundir.h"

/* Writes the report into out_dir as a run folder (io/rundir.h: locked, a previous report
 * refused unless mode is KR_RUN_OVERWRITE, staged and switched in at the end, run.json).
 * opts may be NULL (pool every file). */
kr_status kr_evaluate_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                          const char *const *candidate_paths, size_t n_paths, const char *out_dir,
                          kr_run_mode mode, const kr_eval_opts *opts, kr_eval_summary *sum);

#endif
