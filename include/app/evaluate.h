/* evaluate.h — `kktrecon evaluate`: the paper's evaluation (DESIGN.md §4) of one or more
 * candidate files (pooled) against the training set, with the run folder
 *   DIR/pairs.csv, DIR/summary.json, DIR/grid.png, DIR/ssim_vs_margin.png, DIR/report.html.
 * Three scores side by side: the official protocol (candidate + mean, min-max per image),
 * the clip variant (candidate + mean clipped to [0,1]) and the mean-image baseline.
 */
#ifndef KR_EVALUATE_H
#define KR_EVALUATE_H

#include <stddef.h>

#include "app/config.h"
#include "device/device.h"
#include "engine/pairs.h"
#include "io/rundir.h"

/* kr_eval_summary: engine/pairs.h. */

/* Writes the report into out_dir as a run folder (io/rundir.h: locked, a previous report
 * refused unless mode is KR_RUN_OVERWRITE, staged and switched in at the end, run.json). */
kr_status kr_evaluate_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                          const char *const *candidate_paths, size_t n_paths, const char *out_dir,
                          kr_run_mode mode, kr_eval_summary *sum);

#endif
