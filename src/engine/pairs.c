/* pairs.c — matching and scoring of reconstructions (pairs.h), moved here from
 * app/evaluate.c so that `kktrecon evaluate` and kktrecon_evaluate() compute the same pairs.
 * The metrics are eval/metrics.c, the margins nn/mlp.c.
 */
#include "engine/pairs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/order.h"
#include "eval/metrics.h"
#include "nn/mlp.h"

const double kr_pairs_thresholds[3] = {0.3, 0.4, 0.5};

static bool row_finite(const double *x, size_t d)
{
    for (size_t k = 0; k < d; k++)
        if (!isfinite(x[k])) return false;
    return true;
}

kr_status kr_pairs_ncc_view(const double *x, size_t n, size_t c, size_t h, size_t w, bool down,
                            double **out, size_t *p)
{
    *p = down ? (h / 2) * (w / 2) : h * w;
    if (!down) {
        *out = NULL;
        return KR_OK;
    }
    KR_TRY(kr_alloc((void **)out, "downsampled images", n * c, *p, sizeof **out));
    return kr_metrics_downsample2_bicubic(x, n, c, h, w, *out);
}

void kr_pairs_summarise(const kr_pair *pr, size_t n, kr_eval_summary *sum)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (int k = 0; k < KR_N_SSIM; k++) {
        double total = 0;
        for (int t = 0; t < 3; t++) sum->above[k][t] = 0;
        for (size_t i = 0; i < n; i++) {
            double s = pr[i].ssim[k];
            total += s;
            for (int t = 0; t < 3; t++) sum->above[k][t] += s > kr_pairs_thresholds[t];
            if (v) v[i] = s;
        }
        sum->mean[k] = n ? total / (double)n : NAN;
        sum->median[k] = NAN;
        if (v && n) {
            sum->median[k] = kr_median(v, n);
        }
    }
    free(v);
}

kr_status kr_pairs_match(kr_device *dev, const kr_model *model, const kr_binary_set *s,
                         const double *cand, size_t m, bool downsample, kr_pair *pairs,
                         kr_eval_summary *sum)
{
    const size_t d = model->dims[0], c = (size_t)s->c, h = (size_t)s->h, w = (size_t)s->w;
    if (s->d != d || c * h * w != d || h < 2 || w < 2 || (downsample && (h % 2 || w % 2)))
        return KR_FAIL(KR_E_INVALID, "evaluation: the training set's images are %zu values "
                       "(%zux%zux%zu) but the model takes %zu", s->d, c, h, w, d);
    memset(sum, 0, sizeof *sum);
    double *fx = NULL, *dist = NULL, *best = NULL, *tv = NULL, *cv = NULL, *margins = NULL;
    double *a = NULL, *b = NULL, *base = NULL;
    size_t *idx = NULL, *keep = NULL, mf = 0;
    kr_status st;
    /* A candidate with a NaN or Inf is no reconstruction: no transform may score it (min-max
     * of NaN would pass the official protocol's bar), so it is left out and counted. */
    KR_TRY_GOTO(kr_alloc((void **)&fx, "finite candidates", m ? m : 1, d, sizeof *fx));
    KR_TRY_GOTO(kr_alloc((void **)&keep, "finite candidates", m ? m : 1, 1, sizeof *keep));
    for (size_t i = 0; i < m; i++)
        if (row_finite(cand + i * d, d)) {
            memcpy(fx + mf * d, cand + i * d, d * sizeof *fx);
            keep[mf++] = i;
        }
    sum->n_train = s->n;
    sum->n_candidates = mf;
    sum->n_nonfinite = m - mf;
    if (mf == 0) {
        st = KR_FAIL(KR_E_NUMERIC, "no finite candidate to evaluate: all %zu contain NaN or Inf "
                     "(the attack diverged; rerun it with a smaller attack.lr_x)", m);
        goto fail;
    }

    /* Matching (DESIGN §4.1–4.2). */
    size_t p;
    KR_TRY_GOTO(kr_pairs_ncc_view(s->x, s->n, c, h, w, downsample, &tv, &p));
    KR_TRY_GOTO(kr_pairs_ncc_view(fx, mf, c, h, w, downsample, &cv, &p));
    KR_TRY_GOTO(kr_alloc((void **)&dist, "NCC distances (training images x candidates)", s->n,
                         mf, sizeof *dist));
    KR_TRY_GOTO(kr_alloc((void **)&idx, "nearest candidates", s->n, 1, sizeof *idx));
    KR_TRY_GOTO(kr_alloc((void **)&best, "nearest distances", s->n, 1, sizeof *best));
    KR_TRY_GOTO(kr_metrics_ncc_matrix(tv ? tv : s->x, s->n, cv ? cv : fx, mf, c, p, dist));
    KR_TRY_GOTO(kr_metrics_nearest(dist, s->n, mf, idx, best));

    /* Margins under the model, then SSIM three ways (DESIGN §4.3–4.5). */
    KR_TRY_GOTO(kr_alloc((void **)&margins, "margins", s->n, 1, sizeof *margins));
    KR_TRY_GOTO(kr_mlp_margins(dev, kr_device_has_fp64(dev) ? KR_F64 : KR_F32, model, s->n,
                               s->x, s->y, margins));
    KR_TRY_GOTO(kr_alloc((void **)&a, "evaluation buffers", d, 1, sizeof *a));
    KR_TRY_GOTO(kr_alloc((void **)&b, "evaluation buffers", d, 1, sizeof *b));
    KR_TRY_GOTO(kr_alloc((void **)&base, "evaluation buffers", d, 1, sizeof *base));
    kr_metrics_recon_clip(model->mean, NULL, d, base);
    for (size_t j = 0; j < s->n; j++) {
        kr_pair *q = &pairs[j];
        memset(q, 0, sizeof *q);
        q->train_row = j;
        q->cand = keep[idx[j]];
        q->ncc = best[j];
        q->margin = margins[j];
        const double *xt = s->x + j * d, *xc = fx + idx[j] * d;
        for (size_t i = 0; i < d; i++) b[i] = xt[i] + model->mean[i]; /* the [0,1] original */
        kr_metrics_recon_official(xc, model->mean, d, a);
        KR_TRY_GOTO(kr_metrics_ssim(a, b, c, h, w, &q->ssim[KR_SSIM_OFFICIAL]));
        kr_metrics_recon_clip(xc, model->mean, d, a);
        KR_TRY_GOTO(kr_metrics_ssim(a, b, c, h, w, &q->ssim[KR_SSIM_CLIP]));
        KR_TRY_GOTO(kr_metrics_ssim(base, b, c, h, w, &q->ssim[KR_SSIM_BASELINE]));
    }
    kr_pairs_summarise(pairs, s->n, sum);
fail:
    free(fx), free(keep), free(dist), free(best), free(idx), free(tv), free(cv);
    free(margins), free(a), free(b), free(base);
    return st;
}
