/* attack.h — `kktrecon attack` and `kktrecon kkt`: the KKT reconstruction attack driver
 * (DESIGN.md §3) and a one-shot evaluation of the loss and gradient at a given point.
 *
 * Run folder of an attack:
 *   DIR/candidates.safetensors  x (m×D, mean-subtracted space), lambda (m), y (m, ±1),
 *                               iteration (I64), optimiser state (opt.*), metadata
 *   DIR/attack.jsonl            one JSON object per logged iteration (loss terms, time)
 *   DIR/attack.json             final summary
 *   DIR/run.json                identity of the run (model size and crc32, every setting of
 *                               the trajectory), checked by --resume
 * The candidate file is rewritten every attack.checkpoint_every iterations (new file, then
 * rename), so a killed run resumes bit-for-bit with resume = true on the same device.
 * Its format and writer are io/candidates.h and io/checkpoint.h.
 */
#ifndef KR_ATTACK_H
#define KR_ATTACK_H

#include <stdbool.h>
#include <stdint.h>

#include "app/config.h"
#include "device/device.h"
#include "io/points.h"
#include "io/rundir.h"
#include "base/kkt_types.h"
#include "engine/attack_loop.h" /* kr_attack_labels, kr_attack_init */

typedef struct kr_attack_result {
    size_t m, d;
    long start_iteration, iterations;
    double seconds;
    kr_kkt_loss loss; /* at the last iteration */
} kr_attack_result;

/* out_dir is a run folder (io/rundir.h): locked for the run; KR_RUN_NEW refuses a folder
 * holding any run, KR_RUN_OVERWRITE writes a staging folder switched in at the first
 * checkpoint (killed or failed before it, the old run is untouched), KR_RUN_RESUME continues
 * the checkpoint only if the folder's run.json identity matches this run's. */
kr_status kr_attack_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                        const char *out_dir, kr_run_mode mode, kr_attack_result *res);

/* Loss and gradient at the point stored in candidates_path, written to out_path as
 * loss, loss_kkt, loss_prior, loss_lambda, loss_kkt_per_tensor, grad_x, grad_lambda. */
kr_status kr_attack_eval_point(kr_device *dev, kr_dtype dt, const char *model_path,
                               const char *candidates_path, const kr_kkt_opts *o,
                               const char *out_path, kr_kkt_loss *loss);

/* attack.objective resolved for the model (AUTO: binary for one output, multiclass for more);
 * KR_E_INVALID naming the model file when it does not fit the model's outputs. */
kr_status kr_attack_objective(const kr_config *cfg, const kr_model *model, const char *path,
                              kr_objective *out);

/* m: attack.candidates, else twice the training-set size the model's metadata reports, else
 * 4 · data.per_class. */
size_t kr_attack_candidate_count(const kr_config *cfg, const char *model_path);

/* attack.points_file set: the points of that CSV file (columns among init_scale, lr_x,
 * lr_lambda, momentum, lambda_min, alpha, seed; the rest from [attack]) run in one device job
 * (nn/kkt.h points; SGD or Adam), each as a separate attack would run it. DIR/points/NNNN/ holds point
 * NNNN's candidates.safetensors (readable by evaluate) and point.json (values, final loss
 * terms, status); DIR/attack.json the summary. A point that diverges is marked so and the
 * others go on. The run is staged and switched in at its end; it is not checkpointed and
 * --resume is refused (`kktrecon sweep` checkpoints its batches: app/sweep.h). */
kr_status kr_attack_points_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                               const char *out_dir, kr_run_mode mode, kr_attack_result *res);

/* The batch engine behind the points mode and `kktrecon sweep` (src/app/attack_points.c). */
typedef struct kr_points_outcome {
    bool failed;       /* in: already failed (frozen from the start); out: failed by now */
    char reason[200];  /* why it failed */
    long iterations;   /* the last iteration whose loss was read */
    double seconds;    /* wall time of the batch up to then */
    kr_kkt_loss loss;  /* the loss terms then (final when not failed) */
    bool pruned;       /* out: stopped at a successive-halving rung (kr_points_batch.prune) at
                        * `iterations`; its candidates and point.json are those of then */
} kr_points_outcome;

typedef struct kr_points_batch {
    const kr_config *pc;      /* P configurations: cfg with each point's values, validated */
    size_t P;                 /* 1..1024 */
    const size_t *ids;        /* the points' numbers for messages and point.json; NULL: 0..P-1 */
    const char *const *dirs;  /* per point: an existing folder for candidates.safetensors,
                               * attack.jsonl and point.json */
    const char *checkpoint;   /* the batch's checkpoint file; NULL: none */
    bool resume;              /* continue from `checkpoint` when it exists */
    bool prune;               /* successive halving by loss at 10% and 30% of the iterations
                               * (sweep.prune = loss; attack_points.c) */
    const char *label;        /* progress lines under this name; NULL: none */
    void (*on_failed)(void *user, size_t p, const char *reason); /* when point p fails */
    void (*on_checkpoint)(void *user, long iteration);           /* after each checkpoint */
    void *user;
} kr_points_batch;

/* Runs the batch's points (attack.optimizer: SGD or Adam) to attack.iterations in one KKT
 * object on dev, isolated from each other: a point that diverges is frozen and reported
 * (on_failed, out[p]), the others go on; with `prune`, successive halving. Writes each point's folder at the end (a failed point: point.json only). With a
 * checkpoint path, the stacked state is checkpointed every attack.checkpoint_every iterations
 * and `resume` continues bit for bit. KR_E_INTERRUPTED on Ctrl-C (after a checkpoint). */
kr_status kr_attack_points_batch(const kr_config *cfg, kr_device *dev, const char *model_path,
                                 const kr_points_batch *b, kr_points_outcome *out);

/* The rows of a points CSV (columns among init_scale, lr_x, lr_lambda, momentum, lambda_min,
 * alpha, seed) as configurations: cfg with each row's values set and validated. *out is
 * malloc'd (n entries). */
kr_status kr_attack_points_configs(const kr_config *cfg, const char *file, kr_config **out,
                                   size_t *n);
/* The same for a table in memory: pc[p] (t->rows entries) is cfg with row p's columns set
 * through kr_config_set and validated; messages name `what` and the point. */
kr_status kr_attack_points_configs_table(const kr_config *cfg, const kr_points_table *t,
                                         const char *what, kr_config *pc);
/* A point's values (engine/attack_loop.h) from its configuration. */
kr_attack_point kr_attack_points_values(const kr_config *pc);

#endif
