/* train.c — the training driver: model init, the gradient-descent loop with progress, final
 * statistics and the run folder. The data is app/task.c (the configured task), the math and
 * the margins nn/mlp.c, the KKT gap nn/kkt_gap.c; the step-size rule is here.
 */
#include "app/train.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/runid.h"
#include "app/task.h"
#include "base/log.h"
#include "io/model_io.h"
#include "io/report.h"
#include "io/rundir.h"
#include "nn/mlp.h"

static const char *kr_train_loss_name(kr_loss l)
{
    static const char *const names[] = {"logistic", "cross_entropy", "mse", "huber"};
    return (unsigned)l < 4 ? names[l] : "?";
}

static const char *task_kind_name(kr_task_kind k)
{
    return k == KR_TASK_MULTICLASS ? "multiclass" : k == KR_TASK_REGRESSION ? "regression"
                                                                            : "binary";
}

static kr_status write_outputs(const kr_config *cfg, kr_device *dev, const kr_model *m,
                               const kr_train_result *r, const kr_binary_set *set,
                               const char *dir, bool interrupted)
{
    const char *task = set->task;
    char path[4200];
    KR_TRY(kr_report_path(path, sizeof path, dir, "model.safetensors"));
    char steps[32], loss[32], ntrain[32], wd[32];
    snprintf(steps, sizeof steps, "%ld", r->steps);
    snprintf(ntrain, sizeof ntrain, "%zu", r->n);
    snprintf(loss, sizeof loss, "%.6g", r->loss);
    snprintf(wd, sizeof wd, "%.17g", cfg->train.weight_decay);
    kr_st_meta extra[] = {
        {"dataset", cfg->data.dataset},
        {"task", task},
        {"task_kind", task_kind_name(set->kind)},
        {"n_train", ntrain},
        {"train_steps", steps},
        {"train_loss", loss},
        {"train_loss_kind", kr_train_loss_name(r->loss_kind)},
        {"weight_decay", wd},
        {"device", kr_device_describe(dev)},
    };
    KR_TRY(kr_model_save(path, m, cfg->train.precision, extra, sizeof extra / sizeof extra[0]));

    cJSON *j = cJSON_CreateObject();
    if (!j) return KR_FAIL(KR_E_NOMEM, "train.json");
    cJSON_AddStringToObject(j, "dataset", cfg->data.dataset);
    cJSON_AddStringToObject(j, "task", task);
    cJSON_AddStringToObject(j, "task_kind", task_kind_name(set->kind));
    cJSON_AddNumberToObject(j, "outputs", (double)set->n_outputs);
    cJSON_AddStringToObject(j, "loss_kind", kr_train_loss_name(r->loss_kind));
    cJSON_AddNumberToObject(j, "weight_decay", cfg->train.weight_decay);
    if (set->kind == KR_TASK_MULTICLASS) {
        cJSON *pc = cJSON_AddArrayToObject(j, "n_train_per_class");
        for (int k = 0; k < set->n_outputs; k++) {
            size_t c = 0;
            for (size_t i = 0; i < set->n; i++) c += set->y[i] == (double)k;
            cJSON_AddItemToArray(pc, cJSON_CreateNumber((double)c));
        }
    }
    cJSON_AddNumberToObject(j, "n_train", (double)r->n);
    cJSON_AddNumberToObject(j, "n_test", (double)r->n_test);
    cJSON_AddNumberToObject(j, "steps", (double)r->steps);
    cJSON_AddBoolToObject(j, "interrupted", interrupted);
    kr_report_json_number(j, "train_loss", r->loss);
    cJSON_AddNumberToObject(j, "train_errors", (double)r->errors);
    kr_report_json_number(j, "train_error", r->n ? (double)r->errors / (double)r->n : NAN);
    kr_report_json_number(j, "min_margin", r->min_margin);
    kr_report_json_number(j, "median_margin", r->median_margin);
    kr_report_json_number(j, "test_accuracy", r->test_accuracy);
    kr_report_json_number(j, "lr_final", r->lr_final);
    kr_report_json_number(j, "kkt_gap", r->kkt_gap);
    if (set->kind != KR_TASK_BINARY)
        cJSON_AddStringToObject(j, "kkt_gap_note", "not applicable: the KKT gap is the max-margin "
                                "gap of a binary model (DESIGN §6)");
    cJSON *per = cJSON_AddArrayToObject(j, "kkt_gap_per_tensor");
    for (int t = 0; t < r->kkt_gap_tensors; t++)
        cJSON_AddItemToArray(per, isfinite(r->kkt_gap_per_tensor[t])
                                      ? cJSON_CreateNumber(r->kkt_gap_per_tensor[t])
                                      : cJSON_CreateNull());
    kr_report_json_number(j, "seconds", r->seconds);
    cJSON_AddStringToObject(j, "precision", kr_dtype_name(cfg->train.precision));
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    kr_status st = kr_report_path(path, sizeof path, dir, "train.json");
    if (st == KR_OK) st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    KR_TRY(st);

    KR_TRY(kr_report_path(path, sizeof path, dir, "config.ini"));
    FILE *f;
    KR_TRY(kr_report_open(path, &f));
    kr_config_write(cfg, f);
    return kr_report_close(f, path, KR_OK);
}

/* What makes the trained model what it is (run.json, io/rundir.h). */
static const char *const TRAIN_IDENTITY[] = {
    "data.dataset", "data.path", "data.task", "data.per_class", "data.test_per_class",
    "model.hidden", "model.first_bias", "model.init_scale", "train.seed", "train.steps",
    "train.lr", "train.lr_max", "train.stop_loss", "train.precision", "model.later_biases",
    "train.loss", "train.weight_decay", "data.shuffle_seed", NULL};
static const char *const TRAIN_SETTINGS[] = {"train.log_every", NULL};

static kr_status write_run(const kr_config *cfg, kr_device *dev, const kr_rundir *rd)
{
    cJSON *run = kr_runid_new("train");
    if (!run) return KR_FAIL(KR_E_NOMEM, "run.json");
    kr_status st = kr_runid_add_config(run, true, cfg, TRAIN_IDENTITY);
    if (st == KR_OK) st = kr_runid_add_config(run, false, cfg, TRAIN_SETTINGS);
    if (st == KR_OK) st = kr_runid_add(run, false, "device", kr_device_describe(dev));
    if (st == KR_OK) st = kr_rundir_write_run(rd, run);
    cJSON_Delete(run);
    return st;
}

/* The loop's hook (engine/train_loop.h): Ctrl-C stops it cleanly, log steps print progress. */
static kr_status on_step(void *user, kr_train_event e, long step, double loss, double errors,
                         double lr)
{
    if (e == KR_TRAIN_BEFORE_STEP)
        return kr_interrupted() ? KR_E_INTERRUPTED : KR_OK;
    char extra[128];
    snprintf(extra, sizeof extra, "loss %.4e  errors %.0f  lr %.3g", loss, errors, lr);
    kr_progress_line(user, step, extra);
    return KR_OK;
}

kr_status kr_train_run(const kr_config *cfg, kr_device *dev, const char *out_dir,
                       kr_run_mode mode, kr_train_result *res)
{
    memset(res, 0, sizeof *res);
    res->test_accuracy = NAN;
    res->kkt_gap = NAN;
    kr_status st;
    kr_binary_set *train = NULL, *test = NULL;
    double *mean = NULL;
    kr_model *model = NULL;

    KR_TRY(kr_config_validate(cfg));
    KR_TRY(kr_device_check_dtype(dev, cfg->train.precision));
    kr_rundir rd;
    KR_TRY(kr_rundir_open(&rd, out_dir, "train", mode));
    KR_TRY_GOTO(kr_task_load_set(cfg, KR_SPLIT_TRAIN, NULL, 0, &mean, &train));
    if (cfg->data.test_per_class > 0)
        KR_TRY_GOTO(kr_task_load_set(cfg, KR_SPLIT_TEST, mean, train->d, NULL, &test));
    res->n = train->n;
    res->n_test = test ? test->n : 0;

    const int L = cfg->model.n_hidden + 1;
    const unsigned bias_mask = (cfg->model.first_bias ? 1u : 0u) |
                               (cfg->model.later_biases ? ((1u << L) - 1u) & ~1u : 0u);
    const kr_loss loss_kind = cfg->train.loss >= 0 ? (kr_loss)cfg->train.loss
                            : train->kind == KR_TASK_MULTICLASS ? KR_LOSS_CE
                            : train->kind == KR_TASK_REGRESSION ? KR_LOSS_MSE : KR_LOSS_LOGISTIC;
    KR_TRY_GOTO(kr_model_new_general(train->d, cfg->model.hidden, cfg->model.n_hidden,
                                     (size_t)train->n_outputs, bias_mask, &model));
    kr_model_init(model, cfg->model.init_scale, cfg->train.seed);
    memcpy(model->mean, mean, train->d * sizeof *mean);
    model->image_c = (size_t)train->c;
    model->image_h = (size_t)train->h;
    model->image_w = (size_t)train->w;
    char arch[256];
    kr_model_describe(model, arch, sizeof arch);
    kr_log_info("train: %zu samples (%zu test), model %s, %s, %s", train->n, res->n_test, arch,
                kr_dtype_name(cfg->train.precision), kr_device_describe(dev));

    const kr_train_loop_opts lo = {cfg->train.precision,  loss_kind,         cfg->train.weight_decay,
                                   cfg->train.steps,       cfg->train.lr,     cfg->train.lr_max,
                                   cfg->train.stop_loss,   cfg->train.log_every};
    if ((loss_kind == KR_LOSS_CE) != (train->n_outputs >= 2)) { /* kr_mlp_set_loss's rule */
        st = KR_FAIL(KR_E_INVALID, "train.loss = %s does not fit task '%s' (%d output(s)): "
                     "logistic for binary tasks, cross_entropy for multiclass, mse or huber "
                     "for regression", kr_train_loss_name(loss_kind), train->task,
                     train->n_outputs);
        goto fail;
    }
    kr_progress prog;
    kr_progress_begin(&prog, "train", 0, cfg->train.steps);
    KR_TRY_GOTO(kr_train_loop_run(dev, &lo, model, train->n, train->x, train->y, on_step, &prog,
                                  res));
    const bool interrupted = res->interrupted;
    const long step = res->steps;
    KR_TRY_GOTO(kr_train_loop_stats(dev, &lo, model, train->n, train->x, train->y,
                                    test ? test->n : 0, test ? test->x : NULL,
                                    test ? test->y : NULL, res));
    /* Written to the staging folder, then switched in whole (io/rundir.h). */
    KR_TRY_GOTO(write_outputs(cfg, dev, model, res, train, rd.work, interrupted));
    KR_TRY_GOTO(write_run(cfg, dev, &rd));
    KR_TRY_GOTO(kr_rundir_commit(&rd));
    char test_acc[48] = "no test set";
    if (!isnan(res->test_accuracy))
        snprintf(test_acc, sizeof test_acc, "test accuracy %.4f", res->test_accuracy);
    char gap[32] = "n/a";
    if (!isnan(res->kkt_gap)) snprintf(gap, sizeof gap, "%.3f", res->kkt_gap);
    kr_log_info("train: %ld steps in %.1fs: loss %.3e, %zu/%zu errors, margin min %.4g median "
                "%.4g, %s, KKT gap %s",
                res->steps, res->seconds, res->loss, res->errors, res->n, res->min_margin,
                res->median_margin, test_acc, gap);
    st = interrupted ? KR_FAIL(KR_E_INTERRUPTED, "training interrupted at step %ld; model so "
                                                 "far written to %s", step, out_dir)
                     : KR_OK;
fail:
    kr_model_free(model);
    kr_binary_set_free(train);
    kr_binary_set_free(test);
    free(mean);
    return kr_rundir_close(&rd, st);
}
