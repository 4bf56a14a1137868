/* task.h — the configured task: the training or test set of the binary task that the
 * configuration's data.* keys name, mean-subtracted, as `train` and `evaluate` both need it.
 * Not a command: the commands share it instead of calling each other.
 *
 * It lives in app/, not io/, because it reads kr_config (which per_class applies to which
 * split, messages naming data.* keys) and io/ cannot see the configuration; the loading,
 * task parsing and selection themselves are io/data.h.
 */
#ifndef KR_TASK_H
#define KR_TASK_H

#include "app/config.h"
#include "io/data.h"

/* Loads split `split` of the configured dataset, selects the task (binary, multiclass or
 * regression; data.per_class samples per class or group for train, data.test_per_class for
 * test), shuffles it when data.shuffle_seed != 0, and subtracts `mean` of mean_d
 * values (if NULL, computes the set's own mean into *mean_out, which the caller frees).
 * A mean whose size is not the set's image size is refused before it is read. */
kr_status kr_task_load_set(const kr_config *cfg, kr_split split, const double *mean,
                           size_t mean_d, double **mean_out, kr_binary_set **out);

/* The same selection without subtracting anything: x holds pixel/255 in [0,1]. */
kr_status kr_task_load_raw(const kr_config *cfg, kr_split split, kr_binary_set **out);

#endif
