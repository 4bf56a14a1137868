/* task.c — the configured task (task.h): turns the data.* keys into io/data.h calls (load the
 * split, parse or default the task, select per_class samples per class, subtract the mean).
 */
#include "app/task.h"

#include <stdlib.h>

kr_status kr_task_load_raw(const kr_config *cfg, kr_split split, kr_binary_set **out)
{
    *out = NULL;
    if (!cfg->data.path[0])
        return KR_FAIL(KR_E_INVALID, "data.path is not set (the directory of the %s files)",
                       cfg->data.dataset);
    kr_dataset *d = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_data_load(cfg->data.dataset, cfg->data.path, split, &d));
    kr_task task;
    if (cfg->data.task[0]) KR_TRY_GOTO(kr_task_parse(cfg->data.task, &task));
    else KR_TRY_GOTO(kr_task_default(d->kind, d->num_classes, &task));
    KR_TRY_GOTO(kr_task_validate(&task, d->num_classes));
    long k = split == KR_SPLIT_TRAIN ? cfg->data.per_class : cfg->data.test_per_class;
    KR_TRY_GOTO(kr_data_select(d, &task, (size_t)k, out));
    if (cfg->data.shuffle_seed) /* the test split gets its own permutation */
        kr_binary_set_shuffle(*out, cfg->data.shuffle_seed + (split == KR_SPLIT_TEST ? 1u : 0u));
fail:
    kr_dataset_free(d);
    return st;
}

kr_status kr_task_load_set(const kr_config *cfg, kr_split split, const double *mean,
                           size_t mean_d, double **mean_out, kr_binary_set **out)
{
    *out = NULL;
    if (mean_out) *mean_out = NULL;
    kr_binary_set *s = NULL;
    double *mu = NULL;
    kr_status st;
    KR_TRY(kr_task_load_raw(cfg, split, &s));
    if (mean && mean_d != s->d) {
        st = KR_FAIL(KR_E_INVALID,
                     "the configured dataset (%s in %s) has %zu values per image, the model's "
                     "mean image %zu",
                     cfg->data.dataset, cfg->data.path, s->d, mean_d);
        goto fail;
    }
    if (!mean) {
        if (!(mu = malloc(s->d * sizeof *mu))) {
            st = KR_FAIL(KR_E_NOMEM, "mean image");
            goto fail;
        }
        KR_TRY_GOTO(kr_binary_set_mean(s, mu));
        mean = mu;
    }
    KR_TRY_GOTO(kr_binary_set_subtract_mean(s, mean, s->d));
    *out = s;
    if (mean_out) *mean_out = mu;
    else free(mu);
    return KR_OK;
fail:
    kr_binary_set_free(s);
    free(mu);
    return st;
}
