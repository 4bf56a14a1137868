/* train.h — `kktrecon train`: load the configured task (app/task.h), train the MLP on a device by full-batch
 * gradient descent (DESIGN.md §2), report, and write the run folder:
 *   DIR/model.safetensors  (model_io.h naming, parameters in the training precision)
 *   DIR/train.json         (loss, error, margins, test accuracy, KKT gap, steps, time, device)
 *   DIR/config.ini         (the effective configuration)
 */
#ifndef KR_TRAIN_H
#define KR_TRAIN_H

#include "app/config.h"
#include "io/rundir.h"
#include "base/model.h"
#include "device/device.h"

typedef struct kr_train_result {
    size_t n, n_test;
    long steps;           /* steps actually run */
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

/* Trains from the configuration and writes the run folder `out_dir` (io/rundir.h: locked,
 * refused if it holds a run unless mode is KR_RUN_OVERWRITE, written in a staging folder and
 * switched in at the end, with run.json). On Ctrl-C the model reached so far is still written
 * and KR_E_INTERRUPTED returned. */
kr_status kr_train_run(const kr_config *cfg, kr_device *dev, const char *out_dir,
                       kr_run_mode mode, kr_train_result *res);

#endif
