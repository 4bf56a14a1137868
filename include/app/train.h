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
#include "engine/train_loop.h"

/* kr_train_result: engine/train_loop.h. */

/* Trains from the configuration and writes the run folder `out_dir` (io/rundir.h: locked,
 * refused if it holds a run unless mode is KR_RUN_OVERWRITE, written in a staging folder and
 * switched in at the end, with run.json). On Ctrl-C the model reached so far is still written
 * and KR_E_INTERRUPTED returned. */
kr_status kr_train_run(const kr_config *cfg, kr_device *dev, const char *out_dir,
                       kr_run_mode mode, kr_train_result *res);

#endif
