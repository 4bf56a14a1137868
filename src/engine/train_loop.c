/* train_loop.c — the training loop and the final statistics (train_loop.h), moved here from
 * app/train.c so that `kktrecon train` and kktrecon_train() (include/kktrecon.h) run the same
 * code. The math and the margins are nn/mlp.c, the KKT gap nn/kkt_gap.c; the step-size rule is
 * here.
 */
#include "engine/train_loop.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/order.h"
#include "nn/kkt_gap.h"
#include "nn/mlp.h"

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
static double step_size(const kr_train_loop_opts *o, double loss)
{
    double lr = o->lr;
    if (o->lr_max <= 0 || !(loss < 0.01)) return lr;
    double g = lr * 0.01 / fmax(loss, 1e-300);
    return g < o->lr_max ? g : o->lr_max;
}

kr_status kr_train_loop_run(kr_device *dev, const kr_train_loop_opts *o, kr_model *model,
                            size_t n, const double *x, const double *y, kr_train_hook hook,
                            void *user, kr_train_result *res)
{
    if (o->log_every <= 0 || o->steps < 0 || n == 0)
        return KR_FAIL(KR_E_INVALID, "training: %zu samples, %ld steps, log_every %ld", n,
                       o->steps, o->log_every);
    res->n = n;
    kr_mlp *net = NULL;
    kr_status st;
    KR_TRY(kr_mlp_new(dev, o->dt, model, n, &net));
    KR_TRY_GOTO(kr_mlp_set_loss(net, o->loss, o->weight_decay));
    KR_TRY_GOTO(kr_mlp_set_batch(net, x, y));
    res->loss_kind = o->loss;
    const double t0 = kr_time_now();
    double loss = NAN, errors = NAN, lr = o->lr;
    /* The loss is read back (a blocking wait for the device) only where it is used: every
     * step when the step size or the stop depend on it, else at log steps and the last one.
     * In between the device runs ahead; a NaN is caught at the next read, and the model is
     * checked once more before it is returned. */
    const bool loss_each_step = o->lr_max > 0 || o->stop_loss > 0;
    long step = 0, checked = 0;
    for (; step < o->steps; step++) {
        const bool log_now = (step + 1) % o->log_every == 0;
        const bool read = loss_each_step || log_now || step + 1 == o->steps;
        KR_TRY_GOTO(kr_mlp_loss_grad(net, read ? &loss : NULL, read ? &errors : NULL));
        if (read && !isfinite(loss)) {
            st = KR_FAIL(KR_E_NUMERIC,
                         "training diverged between steps %ld and %ld (loss %g, lr %g): lower "
                         "train.lr", checked, step, loss, lr);
            goto fail;
        }
        if (read) checked = step;
        if (o->stop_loss > 0 && loss < o->stop_loss) break;
        if (hook) {
            st = hook(user, KR_TRAIN_BEFORE_STEP, step, loss, errors, lr);
            if (st == KR_E_INTERRUPTED) {
                res->interrupted = true;
                break;
            }
            if (st != KR_OK) goto fail;
        }
        lr = step_size(o, loss);
        KR_TRY_GOTO(kr_mlp_step(net, lr));
        if (log_now && hook) KR_TRY_GOTO(hook(user, KR_TRAIN_LOGGED, step + 1, loss, errors, lr));
    }
    res->seconds = kr_time_now() - t0;
    res->steps = step;
    res->lr_final = lr;
    KR_TRY_GOTO(kr_mlp_read_params(net, model));
    st = model_finite(model) ? KR_OK
                             : KR_FAIL(KR_E_NUMERIC, "training diverged after step %ld "
                                       "(non-finite parameters): lower train.lr; no model "
                                       "written", checked);
fail:
    kr_mlp_free(net);
    return st;
}

kr_status kr_train_loop_stats(kr_device *dev, const kr_train_loop_opts *o, const kr_model *model,
                              size_t n, const double *x, const double *y, size_t n_test,
                              const double *xt, const double *yt, kr_train_result *res)
{
    double *margins = NULL;
    kr_mlp *net = NULL;
    kr_status st;
    res->n = n;
    res->n_test = n_test;
    res->loss_kind = o->loss;
    res->test_accuracy = NAN;
    res->kkt_gap = NAN;
    if (!(margins = malloc((n ? n : 1) * sizeof *margins)))
        return KR_FAIL(KR_E_NOMEM, "margins");
    KR_TRY_GOTO(kr_mlp_margins(dev, o->dt, model, n, x, y, margins));
    /* The loss at the final θ (the loop's last read is one step behind). */
    double errors;
    KR_TRY_GOTO(kr_mlp_new(dev, o->dt, model, n, &net));
    KR_TRY_GOTO(kr_mlp_set_loss(net, o->loss, o->weight_decay));
    KR_TRY_GOTO(kr_mlp_set_batch(net, x, y));
    KR_TRY_GOTO(kr_mlp_loss_grad(net, &res->loss, &errors));
    res->errors = 0;
    for (size_t i = 0; i < n; i++) res->errors += margins[i] <= 0;
    res->median_margin = kr_median(margins, n); /* sorts them */
    res->min_margin = margins[0];
    if (n_test) {
        double *tm = malloc(n_test * sizeof *tm);
        if (!tm) {
            st = KR_FAIL(KR_E_NOMEM, "test margins");
            goto fail;
        }
        st = kr_mlp_margins(dev, o->dt, model, n_test, xt, yt, tm);
        size_t ok = 0;
        for (size_t i = 0; st == KR_OK && i < n_test; i++) ok += tm[i] > 0;
        free(tm);
        if (st != KR_OK) goto fail;
        res->test_accuracy = (double)ok / (double)n_test;
    }
    /* How close training came to a KKT point of the max-margin problem (DESIGN §6): what the
     * attack relies on. Float64 on the host; about 0.1 s at n = 500, 784-1000-1000-1. */
    kr_kkt_gap_result gap;
    if (model->dims[model->layers] != 1 || o->loss != KR_LOSS_LOGISTIC) {
        kr_log_info("train: KKT gap not computed: it is the max-margin gap of a binary model "
                    "(DESIGN §6); not applicable to this %s model",
                    model->dims[model->layers] != 1 ? "multiclass" : "regression");
    } else if (kr_kkt_gap(model, n, x, y, NULL, &gap) == KR_OK) {
        res->kkt_gap = gap.gap;
        res->kkt_gap_tensors = gap.n_tensors;
        memcpy(res->kkt_gap_per_tensor, gap.per_tensor_rel, sizeof gap.per_tensor_rel);
    } else {
        kr_log_info("train: KKT gap not computed: %s", kr_error_message());
    }
    st = KR_OK;
fail:
    kr_mlp_free(net);
    free(margins);
    return st;
}
