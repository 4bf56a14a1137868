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
#include "nn/kkt_gap.h"
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool model_finite(const kr_model *m)
{
    for (int l = 0; l < m->layers; l++)
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++)
            if (!isfinite(m->w[l][q])) return false;
    for (int l = 0; l < m->layers; l++)
        for (size_t q = 0; m->b[l] && q < m->dims[l + 1]; q++)
            if (!isfinite(m->b[l][q])) return false;
    return true;
}

/* Step size: constant, or (lr_max > 0) growing like lr · 0.01 / loss once the loss is below
 * 0.01, capped at lr_max. For the logistic loss on separable data the gradient shrinks in
 * proportion to the loss, so this keeps the step's effect roughly constant (normalised GD). */
static double step_size(const kr_config *cfg, double loss)
{
    double lr = cfg->train.lr;
    if (cfg->train.lr_max <= 0 || !(loss < 0.01)) return lr;
    double g = lr * 0.01 / fmax(loss, 1e-300);
    return g < cfg->train.lr_max ? g : cfg->train.lr_max;
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

kr_status kr_train_run(const kr_config *cfg, kr_device *dev, const char *out_dir,
                       kr_run_mode mode, kr_train_result *res)
{
    memset(res, 0, sizeof *res);
    res->test_accuracy = NAN;
    res->kkt_gap = NAN;
    kr_status st;
    kr_binary_set *train = NULL, *test = NULL;
    double *mean = NULL, *margins = NULL;
    kr_model *model = NULL;
    kr_mlp *net = NULL;
    bool interrupted = false;

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

    KR_TRY_GOTO(kr_mlp_new(dev, cfg->train.precision, model, train->n, &net));
    st = kr_mlp_set_loss(net, loss_kind, cfg->train.weight_decay);
    if (st != KR_OK) {
        st = KR_FAIL(KR_E_INVALID, "train.loss = %s does not fit task '%s' (%d output(s)): "
                     "logistic for binary tasks, cross_entropy for multiclass, mse or huber "
                     "for regression", kr_train_loss_name(loss_kind), train->task,
                     train->n_outputs);
        goto fail;
    }
    KR_TRY_GOTO(kr_mlp_set_batch(net, train->x, train->y));
    res->loss_kind = loss_kind;

    kr_progress prog;
    kr_progress_begin(&prog, "train", 0, cfg->train.steps);
    double loss = NAN, errors = NAN, lr = cfg->train.lr;
    /* The loss is read back (a blocking wait for the device) only where it is used: every
     * step when the step size or the stop depend on it, else at log steps and the last one.
     * In between the device runs ahead; a NaN is caught at the next read, and the model is
     * checked once more before it is written. */
    const bool loss_each_step = cfg->train.lr_max > 0 || cfg->train.stop_loss > 0;
    long step = 0, checked = 0;
    for (; step < cfg->train.steps; step++) {
        const bool log_now = (step + 1) % cfg->train.log_every == 0;
        const bool read = loss_each_step || log_now || step + 1 == cfg->train.steps;
        KR_TRY_GOTO(kr_mlp_loss_grad(net, read ? &loss : NULL, read ? &errors : NULL));
        if (read && !isfinite(loss)) {
            st = KR_FAIL(KR_E_NUMERIC,
                         "training diverged between steps %ld and %ld (loss %g, lr %g): lower "
                         "train.lr", checked, step, loss, lr);
            goto fail;
        }
        if (read) checked = step;
        if (cfg->train.stop_loss > 0 && loss < cfg->train.stop_loss) break;
        if (kr_interrupted()) {
            interrupted = true;
            break;
        }
        lr = step_size(cfg, loss);
        KR_TRY_GOTO(kr_mlp_step(net, lr));
        if (log_now) {
            char extra[128];
            snprintf(extra, sizeof extra, "loss %.4e  errors %.0f  lr %.3g", loss, errors, lr);
            kr_progress_line(&prog, step + 1, extra);
        }
    }
    res->seconds = kr_time_now() - prog.t0;
    res->steps = step;
    res->lr_final = lr;
    KR_TRY_GOTO(kr_mlp_read_params(net, model));
    if (!model_finite(model)) {
        st = KR_FAIL(KR_E_NUMERIC, "training diverged after step %ld (non-finite parameters): "
                     "lower train.lr; no model written", checked);
        goto fail;
    }

    /* Final statistics from the final parameters (the loop's loss is one step behind). */
    if (!(margins = malloc(train->n * sizeof *margins))) {
        st = KR_FAIL(KR_E_NOMEM, "margins");
        goto fail;
    }
    KR_TRY_GOTO(kr_mlp_margins(dev, cfg->train.precision, model, train->n, train->x,
                               train->y, margins));
    double final_errors;
    KR_TRY_GOTO(kr_mlp_loss_grad(net, &res->loss, &final_errors)); /* at the final θ */
    for (size_t i = 0; i < train->n; i++) res->errors += margins[i] <= 0;
    qsort(margins, train->n, sizeof *margins, cmp_double);
    res->min_margin = margins[0];
    res->median_margin = train->n % 2 ? margins[train->n / 2]
                                      : 0.5 * (margins[train->n / 2 - 1] + margins[train->n / 2]);
    if (test) {
        double *tm = malloc(test->n * sizeof *tm);
        if (!tm) {
            st = KR_FAIL(KR_E_NOMEM, "test margins");
            goto fail;
        }
        st = kr_mlp_margins(dev, cfg->train.precision, model, test->n, test->x, test->y, tm);
        size_t ok = 0;
        for (size_t i = 0; st == KR_OK && i < test->n; i++) ok += tm[i] > 0;
        free(tm);
        if (st != KR_OK) goto fail;
        res->test_accuracy = (double)ok / (double)test->n;
    }
    /* How close training came to a KKT point of the max-margin problem (DESIGN §6): what the
     * attack relies on. Float64 on the host; about 0.1 s at n = 500, 784-1000-1000-1. */
    kr_kkt_gap_result gap;
    if (train->kind != KR_TASK_BINARY) {
        kr_log_info("train: KKT gap not computed: it is the max-margin gap of a binary model "
                    "(DESIGN §6); not applicable to a %s task",
                    train->kind == KR_TASK_MULTICLASS ? "multiclass" : "regression");
    } else if (kr_kkt_gap(model, train->n, train->x, train->y, NULL, &gap) == KR_OK) {
        res->kkt_gap = gap.gap;
        res->kkt_gap_tensors = gap.n_tensors;
        memcpy(res->kkt_gap_per_tensor, gap.per_tensor_rel, sizeof gap.per_tensor_rel);
    } else {
        kr_log_info("train: KKT gap not computed: %s", kr_error_message());
    }
    /* Written to the staging folder, then switched in whole (io/rundir.h). */
    KR_TRY_GOTO(write_outputs(cfg, dev, model, res, train, rd.work, interrupted));
    KR_TRY_GOTO(write_run(cfg, dev, &rd));
    KR_TRY_GOTO(kr_rundir_commit(&rd));
    char test_acc[48] = "no test set";
    if (!isnan(res->test_accuracy))
        snprintf(test_acc, sizeof test_acc, "test accuracy %.4f", res->test_accuracy);
    kr_log_info("train: %ld steps in %.1fs: loss %.3e, %zu/%zu errors, margin min %.4g median "
                "%.4g, %s, KKT gap %.3f",
                res->steps, res->seconds, res->loss, res->errors, res->n, res->min_margin,
                res->median_margin, test_acc, res->kkt_gap);
    st = interrupted ? KR_FAIL(KR_E_INTERRUPTED, "training interrupted at step %ld; model so "
                                                 "far written to %s", step, out_dir)
                     : KR_OK;
fail:
    kr_mlp_free(net);
    kr_model_free(model);
    kr_binary_set_free(train);
    kr_binary_set_free(test);
    free(mean);
    free(margins);
    return kr_rundir_close(&rd, st);
}
