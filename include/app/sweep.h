/* sweep.h — `kktrecon sweep`: the paper's random hyperparameter search as one command
 * (DESIGN.md §3: ~100 attack runs with random init_scale, lr_x, λ_min, α whose candidates are
 * pooled before matching), on every device at once, resumable, with a pooled report.
 *
 * Points: point i's values are a function of (sweep.seed, i) alone (a counter-based hash, no
 * stream), so raising sweep.points keeps the first points, and any process computes any point.
 * Each hyperparameter has a distribution: log:LO,HI (log-uniform), uniform:LO,HI, list:a,b,…
 * (one of them, uniformly) or a fixed number; sweep.points_file gives explicit points instead.
 * Everything else comes from [attack].
 *
 * Folder DIR:
 *   run.json, config.ini         identity (model, distributions, seed, [attack]) and settings
 *   sweep.json                   the manifest: per point pending | running | done | failed (with
 *                                the reason), per batch its points, device and checkpoint;
 *                                rewritten atomically at every change
 *   points/NNNN/                 candidates.safetensors, attack.jsonl, point.json
 *   batches/BBBB.safetensors     a running batch's checkpoint (removed when it is done)
 *   sweep.csv, sweep.png         per point: values, loss terms, status, quality; quality
 *                                against each hyperparameter
 *   evaluate/                    the pooled evaluation of all finished points (as `evaluate`)
 *                                and report.html with the sweep's table and picture
 * Scheduling (sweep.c): a queue of batches, one worker thread per device; with MPI
 * (sweep_mpi.c) rank 0 hands out the batches and owns the manifest.
 */
#ifndef KR_SWEEP_H
#define KR_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/config.h"
#include "io/rundir.h"

/* The swept hyperparameters, in this order everywhere (sweep.csv, sweep.png). */
enum { KR_SWEEP_INIT_SCALE, KR_SWEEP_LR_X, KR_SWEEP_LAMBDA_MIN, KR_SWEEP_ALPHA, KR_SWEEP_NPARAM };
extern const char *const KR_SWEEP_PARAMS[KR_SWEEP_NPARAM];

typedef enum { KR_DIST_FIXED, KR_DIST_LOG, KR_DIST_UNIFORM, KR_DIST_LIST } kr_dist_kind;
#define KR_DIST_MAX_LIST 64

typedef struct kr_dist {
    kr_dist_kind kind;
    double lo, hi;               /* LOG, UNIFORM: [lo, hi); FIXED: lo */
    size_t n;                    /* LIST: n values */
    double v[KR_DIST_MAX_LIST];
} kr_dist;

/* Parses sweep.<param>'s text; every endpoint / value must be allowed for attack.<param>. */
kr_status kr_sweep_dist_parse(int param, const char *text, kr_dist *d);
/* The value at u ∈ [0, 1). */
double kr_sweep_dist_value(const kr_dist *d, double u);
/* u ∈ [0, 1) of (seed, point, stream): a counter-based hash (splitmix64 finaliser). */
double kr_sweep_uniform(uint64_t seed, uint64_t point, uint64_t stream);
/* The attack seed of point i: < 2^53, so JSON and CSV carry it exactly. */
uint64_t kr_sweep_point_seed(uint64_t seed, uint64_t point);

/* All n points' configurations (cfg with each point's values; validated), from
 * sweep.points_file or the distributions; log_axis[k]: whether parameter k was drawn log. */
kr_status kr_sweep_points(const kr_config *cfg, kr_config **pc, size_t *n,
                          bool log_axis[KR_SWEEP_NPARAM]);

typedef struct kr_sweep_opts {
    const char *devices;   /* "SPEC,SPEC,…" | "all" | NULL (the usual single device) */
    const char *device;    /* --device / config / env resolution for the default */
    kr_run_mode mode;      /* KR_RUN_NEW or KR_RUN_RESUME */
} kr_sweep_opts;

typedef struct kr_sweep_result {
    size_t points, done, failed, ran;  /* ran: points run by this call */
    size_t pruned;                     /* stopped by successive halving (sweep.prune) */
    double seconds;
    bool evaluated;                    /* DIR/evaluate written */
    size_t above_clip, above_official, n_train; /* pooled counts over 0.4 */
    double mean_clip;
    int rank;                          /* MPI rank (0 without MPI); only rank 0 reports */
} kr_sweep_result;

kr_status kr_sweep_run(const kr_config *cfg, const char *model_path, const char *out_dir,
                       const kr_sweep_opts *o, kr_sweep_result *res);

#endif
