/* train_loop.h — training as the command line and the library API both run it (DESIGN.md §2):
 * full-batch gradient descent on the mean training loss (logistic, cross-entropy, MSE or Huber,
 * plus weight decay: base/model.h's kr_loss) over arrays on a device (nn/mlp.h),
 * with the step-size rule of train.lr / train.lr_max / train.stop_loss, then the final
 * statistics of the trained model: loss, errors, margins, test accuracy and the KKT gap
 * (nn/kkt_gap.h).
 * Shapes (row-major): x n×D (mean-subtracted), y n (the loss's labels: ±1, a class index, a
 * real target).
 * Not here: datasets and the configuration (app/task.h), run folders, the model file.
 */
#ifndef KR_TRAIN_LOOP_H
#define KR_TRAIN_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/model.h"
#include "device/device.h"

typedef struct kr_train_loop_opts {
    kr_dtype dt;
    kr_loss loss;        /* must fit the model's outputs (nn/mlp.h kr_mlp_set_loss) */
    double weight_decay; /* >= 0: + wd/2 · ‖θ‖² */
    long steps;
    double lr;
    double lr_max;    /* > 0: the step grows like lr·0.01/loss below loss 0.01, capped here */
    double stop_loss; /* > 0: stop once the loss is below it */
    long log_every;   /* > 0 */
} kr_train_loop_opts;

typedef struct kr_train_result {
    size_t n, n_test;
    long steps;           /* steps actually run */
    bool interrupted;     /* stopped by the hook (the model so far is kept) */
    double seconds;       /* wall time of the loop */
    double loss;          /* final mean training loss (plus the weight-decay term) */
    kr_loss loss_kind;    /* logistic, cross-entropy, MSE or Huber */
    size_t errors;        /* training errors (margin <= 0: yΦ, or Φ_y − max_{j≠y} Φ_j) */
    double min_margin, median_margin;
    double test_accuracy; /* NaN without a test split */
    double lr_final;
    /* KKT gap of the final model on its training set (DESIGN §6, kkt_gap.h): overall and
     * ‖r_p‖/‖θ_p‖ per tensor in state_dict order (W1, b1, W2, ...). NaN if not computed. */
    double kkt_gap;
    double kkt_gap_per_tensor[2 * KR_MAX_LAYERS];
    int kkt_gap_tensors;
} kr_train_result;

typedef enum kr_train_event { KR_TRAIN_BEFORE_STEP, KR_TRAIN_LOGGED } kr_train_event;
/* BEFORE_STEP: before step `step` updates the parameters (a non-OK status other than
 * KR_E_INTERRUPTED fails the loop; KR_E_INTERRUPTED stops it cleanly, the model so far kept);
 * LOGGED: after step `step` − 1 on a log step, with the loss and errors before that step and
 * the step size used. */
typedef kr_status (*kr_train_hook)(void *user, kr_train_event e, long step, double loss,
                                   double errors, double lr);

/* Trains `model` (initialised; updated in place) on x, y: the loop, then reads the
 * parameters back and refuses non-finite ones. Fills res->steps, seconds, lr_final,
 * interrupted, n. hook may be NULL. */
kr_status kr_train_loop_run(kr_device *dev, const kr_train_loop_opts *o, kr_model *model,
                            size_t n, const double *x, const double *y, kr_train_hook hook,
                            void *user, kr_train_result *res);

/* Final statistics of `model` in o->dt on its training set (the loss of o->loss with
 * o->weight_decay at the final θ, errors, min/median margin, and the KKT gap of a binary model:
 * one output, logistic loss — the max-margin gap means nothing for the others) and, when
 * n_test > 0, the test accuracy on xt, yt (else NaN). */
kr_status kr_train_loop_stats(kr_device *dev, const kr_train_loop_opts *o, const kr_model *model,
                              size_t n, const double *x, const double *y, size_t n_test,
                              const double *xt, const double *yt, kr_train_result *res);

#endif
