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
#include "io/rundir.h"
#include "base/kkt_types.h"

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

/* The candidates' labels: the first half −1, the rest +1 (DESIGN §3); y has m values. */
void kr_attack_labels(size_t m, double *y);
/* The same for an objective (resolved): binary as above; multiclass equal class blocks
 * y_i = ⌊i·C/m⌋ (0…0, 1…1, …; decoreco's for m a multiple of C); regression 0 (unused). */
void kr_attack_labels_obj(kr_objective obj, size_t C, size_t m, double *y);
/* A run's starting point, from one stream seeded with `seed`: X ~ N(0,1)·init_scale (m × D,
 * row-major) into host[0 .. m·D), then λ ~ U[0,1) into host[m·D .. m·D + m). */
void kr_attack_init(uint64_t seed, double init_scale, size_t m, size_t d, double *host);
/* The same for an objective: regression draws λ ~ N(0,1) instead (decoreco). */
void kr_attack_init_obj(kr_objective obj, uint64_t seed, double init_scale, size_t m, size_t d,
                        double *host);
/* attack.objective resolved for the model (AUTO: binary for one output, multiclass for more);
 * KR_E_INVALID naming the model file when it does not fit the model's outputs. */
kr_status kr_attack_objective(const kr_config *cfg, const kr_model *model, const char *path,
                              kr_objective *out);

/* m: attack.candidates, else twice the training-set size the model's metadata reports, else
 * 4 · data.per_class. */
size_t kr_attack_candidate_count(const kr_config *cfg, const char *model_path);

/* attack.points_file set: the points of that CSV file (columns among init_scale, lr_x,
 * lr_lambda, momentum, lambda_min, alpha, seed; the rest from [attack]) run in one device job
 * (nn/kkt.h points, SGD), each as a separate attack would run it. DIR/points/NNNN/ holds point
 * NNNN's candidates.safetensors (readable by evaluate) and point.json (values, final loss
 * terms, status); DIR/attack.json the summary. A point that diverges is marked so and the
 * others go on. No checkpoints yet: the run is staged and switched in at its end, and --resume
 * is refused (src/app/attack_points.c). */
kr_status kr_attack_points_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                               const char *out_dir, kr_run_mode mode, kr_attack_result *res);

#endif
