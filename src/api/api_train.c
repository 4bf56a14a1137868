/* api_train.c — training from arrays (include/kktrecon.h) as `kktrecon train` trains from
 * the configured data set: the same mean image, initialisation, loop and statistics
 * (engine/train_loop.h), without files.
 */
#include "api/api_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "engine/train_loop.h"
#include "io/data.h"

typedef struct api_train_hook {
    kktrecon_train_progress progress;
    void *user;
    long total;
    int stop;
} api_train_hook;

/* The caller's callback before every step (loss NaN: nothing is read) and after every log
 * step (with the loss); a stop asked at either ends the loop cleanly before the next step. */
static kr_status on_step(void *user, kr_train_event e, long step, double loss, double errors,
                         double lr)
{
    (void)errors, (void)lr;
    api_train_hook *h = user;
    if (e == KR_TRAIN_BEFORE_STEP) {
        if (!h->stop && h->progress && h->progress(h->user, step, h->total, NAN)) h->stop = 1;
        return h->stop ? KR_E_INTERRUPTED : KR_OK;
    }
    if (h->progress && h->progress(h->user, step, h->total, loss)) h->stop = 1;
    return KR_OK;
}

kktrecon_status kktrecon_train(kktrecon_device *dev, const kktrecon_config *cfg, size_t n,
                               size_t d, kktrecon_dtype dtype, const void *x, const double *y,
                               size_t c, size_t h, size_t w, kktrecon_train_progress progress,
                               void *user, kktrecon_model **out, kktrecon_train_result *result)
{
    const char *fn = "kktrecon_train";
    API_NEED(fn, out);
    *out = NULL;
    API_NEED(fn, dev);
    API_NEED(fn, cfg);
    API_NEED(fn, x);
    API_NEED(fn, y);
    API_TRY(api_check_dtype(fn, dtype));
    if (n < 2 || d == 0)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: %zu samples of %zu values; training needs "
                                  "at least 2 samples", fn, n, d));
    if ((c || h || w) && c * h * w != d)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: image shape %zux%zux%zu is not %zu values",
                                  fn, c, h, w, d));
    kr_config cf;
    api_resolved(cfg, dev->dev, &cf);
    API_TRY(kr_config_validate(&cf));
    API_TRY(kr_device_check_dtype(dev->dev, cf.train.precision));
    int seen_neg = 0, seen_pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 1.0 && y[i] != -1.0)
            return api_status(KR_FAIL(KR_E_INVALID, "%s: y[%zu] is %g: labels must be -1 or +1",
                                      fn, i, y[i]));
        seen_neg |= y[i] < 0, seen_pos |= y[i] > 0;
    }
    if (!seen_neg || !seen_pos)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: all %zu labels are %+.0f; a binary task "
                                  "needs both -1 and +1", fn, n, y[0]));

    /* The set as the data loader would hand it to `kktrecon train`: its mean image becomes
     * the model's and is subtracted (the same functions, so the same doubles). */
    kr_binary_set s = {.n = n, .d = d, .c = (int)c, .h = (int)h, .w = (int)w, .y = (double *)y};
    kktrecon_model *hm = NULL;
    kr_train_result r = {0};
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&s.x, "training inputs", n, d, sizeof *s.x));
    api_widen(dtype, x, n * d, s.x);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(s.x[i])) {
            st = KR_FAIL(KR_E_INVALID, "%s: x row %zu, value %zu is %g: inputs must be finite",
                         fn, i / d, i % d, s.x[i]);
            goto fail;
        }
    if (!(hm = calloc(1, sizeof *hm))) {
        st = KR_FAIL(KR_E_NOMEM, "model handle");
        goto fail;
    }
    KR_TRY_GOTO(kr_model_new(d, cf.model.hidden, cf.model.n_hidden, cf.model.first_bias, &hm->m));
    kr_model_init(hm->m, cf.model.init_scale, cf.train.seed);
    KR_TRY_GOTO(kr_binary_set_mean(&s, hm->m->mean));
    KR_TRY_GOTO(kr_binary_set_subtract_mean(&s, hm->m->mean, d));
    hm->m->image_c = c, hm->m->image_h = h, hm->m->image_w = w;
    hm->n_train = n;

    api_train_hook hk = {progress, user, cf.train.steps, 0};
    /* Binary data (y = ±1): the logistic loss, with train.weight_decay. */
    const kr_train_loop_opts lo = {cf.train.precision, KR_LOSS_LOGISTIC, cf.train.weight_decay,
                                   cf.train.steps,     cf.train.lr,      cf.train.lr_max,
                                   cf.train.stop_loss, cf.train.log_every};
    KR_TRY_GOTO(kr_train_loop_run(dev->dev, &lo, hm->m, n, s.x, s.y, on_step, &hk, &r));
    const bool interrupted = r.interrupted;
    const long steps = r.steps;
    const double seconds = r.seconds;
    KR_TRY_GOTO(kr_train_loop_stats(dev->dev, &lo, hm->m, n, s.x, s.y, 0, NULL,
                                    NULL, &r));
    if (result) {
        memset(result, 0, sizeof *result);
        result->steps = steps;
        result->interrupted = interrupted;
        result->seconds = seconds;
        result->loss = r.loss;
        result->errors = r.errors;
        result->min_margin = r.min_margin;
        result->median_margin = r.median_margin;
        result->kkt_gap = r.kkt_gap;
    }
    *out = hm;
    hm = NULL;
    st = interrupted ? KR_FAIL(KR_E_INTERRUPTED, "training stopped by the progress callback "
                               "after %ld steps (the model so far is returned)", steps)
                     : KR_OK;
fail:
    kktrecon_model_free(hm);
    free(s.x);
    return api_status(st);
}
