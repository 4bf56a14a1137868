/* api_eval.c — the evaluation of reconstructions against a training set and the grid picture
 * (include/kktrecon.h), over engine/pairs.h (what `kktrecon evaluate` computes) and
 * eval/grid.h (its grid.png).
 */
#include "api/api_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "engine/pairs.h"
#include "eval/grid.h"
#include "io/data.h"

kktrecon_status kktrecon_evaluate(const kktrecon_model *m, kktrecon_device *dev, size_t n,
                                  kktrecon_dtype dtype, const void *x, const double *y,
                                  size_t c, size_t h, size_t w, size_t count,
                                  const double *candidates, int downsample,
                                  kktrecon_pair *pairs, kktrecon_eval_summary *summary)
{
    const char *fn = "kktrecon_evaluate";
    API_NEED(fn, m);
    API_NEED(fn, dev);
    API_NEED(fn, x);
    API_NEED(fn, y);
    API_NEED(fn, candidates);
    API_NEED(fn, pairs);
    API_TRY(api_check_dtype(fn, dtype));
    const size_t d = m->m->dims[0];
    if (!c && !h && !w) c = m->m->image_c, h = m->m->image_h, w = m->m->image_w;
    if (c * h * w != d || c == 0)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: image shape %zux%zux%zu does not give the "
                                  "model's %zu inputs (pass c, h, w)", fn, c, h, w, d));
    if (n == 0 || count == 0)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: %zu training images, %zu candidates: "
                                  "both must be at least 1", fn, n, count));
    for (size_t i = 0; i < n; i++)
        if (y[i] != 1.0 && y[i] != -1.0)
            return api_status(KR_FAIL(KR_E_INVALID, "%s: y[%zu] is %g: labels must be -1 or +1",
                                      fn, i, y[i]));
    /* The training set as `kktrecon evaluate` holds it: centred with the model's mean. */
    kr_binary_set s = {.n = n, .d = d, .c = (int)c, .h = (int)h, .w = (int)w, .y = (double *)y};
    kr_pair *pr = NULL;
    kr_eval_summary sum;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&s.x, "training images", n, d, sizeof *s.x));
    api_widen(dtype, x, n * d, s.x);
    for (size_t i = 0; i < n * d; i++)
        if (!isfinite(s.x[i])) {
            st = KR_FAIL(KR_E_INVALID, "%s: x row %zu, value %zu is %g: images must be finite",
                         fn, i / d, i % d, s.x[i]);
            goto fail;
        }
    KR_TRY_GOTO(kr_binary_set_subtract_mean(&s, m->m->mean, d));
    KR_TRY_GOTO(kr_alloc((void **)&pr, "pairs", n, 1, sizeof *pr));
    KR_TRY_GOTO(kr_pairs_match(dev->dev, m->m, &s, candidates, count, downsample != 0, pr, &sum));
    for (size_t j = 0; j < n; j++)
        pairs[j] = (kktrecon_pair){.train_index = pr[j].train_row, .candidate = pr[j].cand,
                                   .ncc = pr[j].ncc, .margin = pr[j].margin,
                                   .ssim_official = pr[j].ssim[KR_SSIM_OFFICIAL],
                                   .ssim_clip = pr[j].ssim[KR_SSIM_CLIP],
                                   .ssim_baseline = pr[j].ssim[KR_SSIM_BASELINE]};
    if (summary) {
        memset(summary, 0, sizeof *summary);
        summary->n_train = sum.n_train;
        summary->n_candidates = sum.n_candidates;
        summary->n_nonfinite = sum.n_nonfinite;
        memcpy(summary->above, sum.above, sizeof summary->above);
        memcpy(summary->mean, sum.mean, sizeof summary->mean);
        memcpy(summary->median, sum.median, sizeof summary->median);
    }
fail:
    free(s.x);
    free(pr);
    return api_status(st);
}

kktrecon_status kktrecon_grid_png(const char *path, size_t n, size_t c, size_t h, size_t w,
                                  const double *top, const double *bottom,
                                  const char *const *labels, const char *title)
{
    const char *fn = "kktrecon_grid_png";
    API_NEED(fn, path);
    if (n && !top) return api_status(KR_FAIL(KR_E_INVALID, "%s: argument 'top' is NULL", fn));
    if ((c != 1 && c != 3) || h == 0 || w == 0 || h > 4096 || w > 4096)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: images of %zux%zux%zu; 1 or 3 channels of "
                                  "1..4096 pixels a side", fn, c, h, w));
    const size_t d = c * h * w;
    float *t = NULL, *b = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&t, "grid images", n ? n : 1, d, sizeof *t));
    if (bottom) KR_TRY_GOTO(kr_alloc((void **)&b, "grid images", n ? n : 1, d, sizeof *b));
    for (size_t i = 0; i < n * d; i++) {
        t[i] = (float)top[i];
        if (b) b[i] = (float)bottom[i];
    }
    kr_grid_spec g = {.n = n, .channels = (int)c, .height = (int)h, .width = (int)w, .top = t,
                      .bottom = b, .labels = labels, .title = title};
    st = kr_grid_write_png(path, &g);
fail:
    free(t);
    free(b);
    return api_status(st);
}
