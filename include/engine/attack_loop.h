/* attack_loop.h — the KKT attack's optimisation as the command line and the library API both
 * run it (DESIGN.md §3): the candidates' labels and starting point, the loop of loss/gradient
 * evaluations (nn/kkt.h) and optimiser steps (nn/optim.h) over a state on the device, for one
 * run or for P hyperparameter points stacked in one KKT object, and the one-shot evaluation of
 * the objective at a given point.
 *
 * The loop reads the loss terms back (a blocking wait) only on log iterations: the first one,
 * every log_every-th and the final point; a NaN or Inf is caught at the next such read. What a
 * caller does around the loop (checkpoints, log files, progress lines, Ctrl-C, a Python
 * callback) it does in its hook, which sees every iteration and may stop the loop.
 * Shapes (row-major): X m×D, λ m×1, y m×1 (±1); points: X (P·m)×D, point p rows [p·m, (p+1)·m).
 * Not here: reading models or configuration, run folders, checkpoint files (io/checkpoint.h).
 */
#ifndef KR_ATTACK_LOOP_H
#define KR_ATTACK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/kkt_types.h"
#include "io/checkpoint.h" /* kr_attack_state */
#include "nn/kkt.h"
#include "nn/optim.h"

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

/* The settings of the loop (the objective's are in the kr_kkt object). */
typedef struct kr_attack_loop_opts {
    kr_optimizer optimizer; /* points: SGD or Adam with per-row rates (the rate tensors) */
    double lr_x, lr_lambda, momentum;
    long iterations; /* the loop runs iterations start .. iterations−1, then evaluates the end */
    long log_every;  /* > 0 */
} kr_attack_loop_opts;

typedef enum kr_attack_event_kind {
    KR_ATTACK_BEGIN,    /* before iteration `it` evaluates anything (stop / checkpoint here) */
    KR_ATTACK_LOSS,     /* loss of iteration it's point (finite), on log iterations only */
    KR_ATTACK_STEPPED,  /* after the step of iteration it − 1: the state is at iteration `it` */
    KR_ATTACK_DIVERGED, /* non-finite loss or X at iteration `it` (== iterations: at the end);
                         * points: once per point that diverges, before that read's LOSS */
    KR_ATTACK_END       /* the final point's loss (it == iterations); the loop is done */
} kr_attack_event_kind;

typedef struct kr_attack_event {
    kr_attack_event_kind kind;
    long it;
    /* LOSS, DIVERGED, END: one loss per point (P of them; a single run has P = 1) and ‖X^p‖²;
     * points: diverged[p] marks the points already out (their values are garbage). */
    const kr_kkt_loss *loss;
    const double *x_sumsq;
    const bool *diverged;
    size_t points;
    size_t point; /* DIVERGED of points: the point that just diverged */
} kr_attack_event;

/* Returns KR_OK to go on; any other status stops the loop, which returns it unchanged (the
 * hook sets the message). On KR_ATTACK_DIVERGED a single run always stops: a hook returning
 * KR_OK gets the loop's own KR_E_NUMERIC message. */
typedef kr_status (*kr_attack_hook)(void *user, const kr_attack_event *e);

/* One run: iterations start .. o->iterations − 1 on state s (x, λ set; buffers as the
 * optimiser left them, or anything at start 0) with the objective kkt (one point), then the
 * loss at the final point into *final. hook may be NULL. */
kr_status kr_attack_loop_run(kr_kkt *kkt, kr_attack_state *s, long start,
                             const kr_attack_loop_opts *o, kr_attack_hook hook, void *user,
                             kr_kkt_loss *final);

/* P points (kr_kkt_points(kkt) of them) from iteration 0: SGD (or Adam, o->optimizer; the
 * state then holds the second moments) with per-row rates lr_x, lr_lambda and momentum (each
 * (P·m)×1 on the device; Adam ignores momentum), o->lr_* unused. A point whose loss or ‖X‖² turns
 * non-finite at a log read is marked in diverged[P] (all false on entry) and the others go on;
 * KR_E_NUMERIC only when all diverged. final: P losses at the final point. */
kr_status kr_attack_loop_points(kr_kkt *kkt, kr_attack_state *s, const kr_tensor *lr_x,
                                const kr_tensor *lr_lambda, const kr_tensor *momentum,
                                const kr_attack_loop_opts *o, kr_attack_hook hook, void *user,
                                kr_kkt_loss *final, bool *diverged);

/* One optimiser step of P stacked points at iteration it: Adam (opt, the state holding the
 * second moments) or SGD with momentum, each with the per-row rates (P·m)×1 lr_x, lr_lambda,
 * momentum (Adam ignores momentum). The step of kr_attack_loop_points and of the app's
 * batch engine (app/attack_points.c). */
kr_status kr_attack_step_rows(kr_optimizer opt, const kr_tensor *lr_x, const kr_tensor *lr_lambda,
                              const kr_tensor *momentum, long it, kr_attack_state *s);

/* One hyperparameter point: the columns of attack.points_file. */
typedef struct kr_attack_point {
    double init_scale, lr_x, lr_lambda, momentum, lambda_min, alpha;
    uint64_t seed;
} kr_attack_point;

/* Everything a points job holds on the device: the KKT object of all points, the state
 * ((P·m)×D, the optimiser's buffers) initialised point by point as single runs with their seeds, the
 * per-row rates, and the labels y (m, every point's). */
typedef struct kr_attack_points_job {
    size_t P, m, d;
    kr_kkt *kkt;
    kr_attack_state s;
    kr_tensor *lr_x, *lr_lambda, *momentum; /* (P·m)×1 */
    double *y;
} kr_attack_points_job;

/* Sets up P points of m candidates on the model (activation act and objective for all, AUTO
 * resolved from the model's outputs; labels and starts as a single run's). On failure nothing
 * is left allocated. */
kr_status kr_attack_points_new(kr_device *dev, kr_dtype dt, const kr_model *model, kr_act act,
                               kr_objective objective, kr_optimizer opt,
                               const kr_attack_point *pts, size_t P, size_t m,
                               kr_attack_points_job *job);
void kr_attack_points_free(kr_attack_points_job *job);

/* The objective at one point: loss terms and, when gx / glambda are non-NULL, the gradients
 * (m×D, m doubles) of the model in dtype dt at X = x (m×D), λ = lambda (m), labels y (m: ±1
 * binary, a class index multiclass, unused regression) under o->objective (AUTO resolved from
 * the model's outputs). Refuses an objective that does not fit the model, non-finite x or λ and
 * labels the objective cannot use, naming the element (`what` names the source in messages,
 * e.g. a file). */
kr_status kr_attack_eval_at(kr_device *dev, kr_dtype dt, const kr_model *model,
                            const kr_kkt_opts *o, size_t m, const double *x,
                            const double *lambda, const double *y, const char *what,
                            kr_kkt_loss *loss, double *gx, double *glambda);

#endif
