/* eval_pool.c — the evaluation step shared by `evaluate` and `sweep` (eval_pool.h): DESIGN.md
 * §4, match pooled candidates to the training set by NCC distance (CIFAR-10: after 2× bicubic
 * downsampling), score each pair by SSIM three ways, and write pairs.csv, summary.json,
 * grid.png, ssim_vs_margin.png, ssim_official_vs_margin.png and a self-contained report.html
 * into a folder. The run folder around it (lock, staging, run.json) is the caller's. The
 * metrics are metrics.c; pictures grid.c / plot.c / html.c; the training set app/task.c, the
 * candidates io/candidates.c, the margins nn/mlp.c.
 *
 * Scores per training image j with nearest candidate i (ground truth: the [0,1] image):
 *   official  SSIM(minmax(x_i + mean), truth)   the paper's protocol
 *   clip      SSIM(clip(x_i + mean, 0, 1), truth)
 *   baseline  SSIM(mean, truth)                 what the blurry mean image alone scores
 * Top-k pooling (the official analysis keeps the best runs): each file is first matched and
 * scored alone, and only the k best files by the chosen score are pooled.
 */
#include "app/eval_pool.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/eval_classes.h"
#include "app/task.h"
#include "engine/pairs.h"
#include "base/alloc.h"
#include "base/order.h"
#include "base/log.h"
#include "eval/grid.h"
#include "eval/metrics.h"
#include "eval/plot.h"
#include "io/candidates.h"
#include "io/model_io.h"
#include "io/report.h"
#include "nn/mlp.h"

enum { SC_OFFICIAL = KR_SSIM_OFFICIAL, SC_CLIP = KR_SSIM_CLIP, SC_BASE = KR_SSIM_BASELINE,
       N_SCORES = KR_N_SSIM };
static const char *SCORE_KEYS[N_SCORES] = {"official", "clip", "mean_baseline"};
enum { GRID_MAX_PAIRS = 200 };

/* One row of pairs.csv (engine/pairs.h); cand is a row of the pool. */
typedef kr_pair pair;

typedef struct pool {
    size_t m, d;
    double *x;            /* m × D, mean-subtracted space */
    size_t *file, *index; /* per pooled row: which --candidates file, row in that file */
    size_t nonfinite;     /* candidates left out: a NaN or Inf among their values */
} pool;

static bool row_finite(const double *x, size_t d)
{
    for (size_t k = 0; k < d; k++)
        if (!isfinite(x[k])) return false;
    return true;
}

static void pool_free(pool *p)
{
    free(p->x);
    free(p->file);
    free(p->index);
}

static kr_status pool_load(const char *const *paths, size_t n_paths, size_t d, pool *p)
{
    memset(p, 0, sizeof *p);
    p->d = d;
    for (size_t f = 0; f < n_paths; f++) {
        size_t m, dd;
        double *x;
        KR_TRY(kr_candidates_load(paths[f], &m, &dd, &x, NULL, NULL));
        if (dd != d) {
            free(x);
            return KR_FAIL(KR_E_INVALID, "%s: candidates have %zu values each, the model takes %zu",
                           paths[f], dd, d);
        }
        double *nx = realloc(p->x, (p->m + m) * d * sizeof *nx);
        size_t *nf = realloc(p->file, (p->m + m) * sizeof *nf);
        if (nx) p->x = nx;
        if (nf) p->file = nf;
        size_t *ni = realloc(p->index, (p->m + m) * sizeof *ni);
        if (ni) p->index = ni;
        if (!nx || !nf || !ni) {
            free(x);
            return KR_FAIL(KR_E_NOMEM, "pooling candidates");
        }
        /* A candidate with a NaN or Inf is no reconstruction: no transform may score it
         * (min-max of NaN would pass the official protocol's bar), so it is left out and
         * counted. */
        size_t kept = 0, dropped = 0;
        for (size_t i = 0; i < m; i++) {
            if (!row_finite(x + i * d, d)) {
                dropped++;
                continue;
            }
            memcpy(p->x + (p->m + kept) * d, x + i * d, d * sizeof *x);
            p->file[p->m + kept] = f;
            p->index[p->m + kept] = i;
            kept++;
        }
        if (dropped)
            kr_log_info("evaluate: %s: %zu of %zu candidates contain NaN or Inf and are left out",
                        paths[f], dropped, m);
        p->m += kept;
        p->nonfinite += dropped;
        free(x);
    }
    if (p->m == 0)
        return KR_FAIL(KR_E_NUMERIC,
                       "no finite candidate to evaluate: all %zu contain NaN or Inf (the attack "
                       "diverged; rerun it with a smaller attack.lr_x)",
                       p->nonfinite);
    return KR_OK;
}

/* Sort pairs by descending clip SSIM (the grid's order). */
static int cmp_pair_desc(const void *a, const void *b)
{
    double x = ((const pair *)a)->ssim[SC_CLIP], y = ((const pair *)b)->ssim[SC_CLIP];
    return (x < y) - (x > y);
}

static kr_status write_csv(const char *dir, const kr_binary_set *s, const pair *pr,
                           const pool *pl, const char *const *paths)
{
    char path[4200];
    KR_TRY(kr_report_path(path, sizeof path, dir, "pairs.csv"));
    FILE *f;
    KR_TRY(kr_report_open(path, &f));
    fprintf(f, "index,class,label,margin,candidate_file,candidate_index,ncc_distance,"
               "ssim_official,ssim_clip,ssim_mean_baseline\n");
    for (size_t j = 0; j < s->n; j++) {
        const pair *q = &pr[j];
        fprintf(f, "%zu,%d,%+.0f,%.9g,\"%s\",%zu,%.9g,%.6f,%.6f,%.6f\n", s->index[q->train_row],
                s->class_ids[q->train_row], s->y[q->train_row], q->margin, paths[pl->file[q->cand]],
                pl->index[q->cand], q->ncc, q->ssim[SC_OFFICIAL], q->ssim[SC_CLIP],
                q->ssim[SC_BASE]);
    }
    return kr_report_close(f, path, KR_OK);
}

static kr_status write_grid(const char *path, const kr_binary_set *s, const pair *sorted,
                            const pool *pl, const double *mean)
{
    size_t n = s->n < GRID_MAX_PAIRS ? s->n : GRID_MAX_PAIRS, d = s->d;
    float *top = malloc((n ? n : 1) * d * sizeof *top), *bot = malloc((n ? n : 1) * d * sizeof *bot);
    char **labels = calloc(n ? n : 1, sizeof *labels);
    double *tmp = malloc(d * sizeof *tmp);
    kr_status st = KR_OK;
    if (!top || !bot || !labels || !tmp) {
        st = KR_FAIL(KR_E_NOMEM, "grid buffers");
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        const pair *q = &sorted[k];
        kr_metrics_recon_clip(pl->x + q->cand * d, mean, d, tmp);
        for (size_t i = 0; i < d; i++) top[k * d + i] = (float)tmp[i];
        const double *xt = s->x + q->train_row * d;
        for (size_t i = 0; i < d; i++) bot[k * d + i] = (float)(xt[i] + mean[i]);
        if (!(labels[k] = malloc(32))) {
            st = KR_FAIL(KR_E_NOMEM, "grid labels");
            goto done;
        }
        if (s->kind == KR_TASK_MULTICLASS) /* multiclass grids name each image's class */
            snprintf(labels[k], 32, "#%zu %.2f c%d", k + 1, q->ssim[SC_CLIP],
                     s->class_ids[q->train_row]);
        else
            snprintf(labels[k], 32, "#%zu %.2f", k + 1, q->ssim[SC_CLIP]);
    }
    char title[160];
    snprintf(title, sizeof title, "reconstruction (top, candidate+mean clipped) above training image; "
             "%s%zu of %zu by SSIM", n < s->n ? "best " : "", n, s->n);
    kr_grid_spec g = {.n = n, .channels = s->c, .height = s->h, .width = s->w, .top = top,
                      .bottom = bot, .labels = (const char *const *)labels, .title = title};
    st = kr_grid_write_png(path, &g);
done:
    for (size_t k = 0; labels && k < n; k++) free(labels[k]);
    free(labels);
    free(top);
    free(bot);
    free(tmp);
    return st;
}

static kr_status write_plot(const char *path, const pair *pr, size_t n, int score,
                            const char *title)
{
    double *x = malloc((n ? n : 1) * sizeof *x), *y = malloc((n ? n : 1) * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return KR_FAIL(KR_E_NOMEM, "plot buffers");
    }
    for (size_t j = 0; j < n; j++) {
        x[j] = pr[j].margin;
        y[j] = pr[j].ssim[score];
    }
    kr_plot_hline hl = {0.4, "SSIM 0.4"};
    kr_plot_options o = {.fixed_y = 1, .y_min = 0, .y_max = 1, .hlines = &hl, .n_hlines = 1};
    kr_status st = kr_plot_scatter_png(path, n, x, y, title, "margin  y·Φ(x)", "SSIM", &o, NULL);
    free(x);
    free(y);
    return st;
}

/* The summary's JSON (the numbers are kr_pairs_summarise's) with the sorted curves. */
static void summarise(const pair *pr, size_t n, const kr_eval_summary *sum, cJSON *j)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (int k = 0; k < N_SCORES; k++) {
        cJSON *o = cJSON_AddObjectToObject(j, SCORE_KEYS[k]);
        cJSON_AddNumberToObject(o, "above_0.3", (double)sum->above[k][0]);
        cJSON_AddNumberToObject(o, "above_0.4", (double)sum->above[k][1]);
        cJSON_AddNumberToObject(o, "above_0.5", (double)sum->above[k][2]);
        kr_report_json_number(o, "mean", sum->mean[k]);
        kr_report_json_number(o, "median", sum->median[k]);
        cJSON *curve = cJSON_AddArrayToObject(o, "sorted_curve");
        if (!v) continue;
        for (size_t i = 0; i < n; i++) v[i] = pr[i].ssim[k];
        kr_sort_doubles(v, n);
        for (size_t i = 0; i < n; i++) /* descending, as the paper plots it */
            cJSON_AddItemToArray(curve, cJSON_CreateNumber(round(v[n - 1 - i] * 1e6) / 1e6));
    }
    free(v);
}

static kr_status write_html(const char *dir, const kr_config *cfg, kr_device *dev,
                            const char *model_path, const kr_eval_summary *s,
                            const kr_eval_classes *cs, const kr_eval_opts *o,
                            const kr_eval_pairs *pairs)
{
    char path[4200], png[4200];
    KR_TRY(kr_report_path(path, sizeof path, dir, "report.html"));
    kr_html *h;
    KR_TRY(kr_html_open(path, o->title ? o->title : "kktrecon evaluation", &h));
    kr_status st;
    char cells[3][6][32];
    const char *rows[3 * 6];
    static const char *names[3] = {"official (candidate+mean, min-max)", "clip (candidate+mean, [0,1])",
                                   "mean-image baseline"};
    for (int k = 0; k < 3; k++) {
        snprintf(cells[k][0], 32, "%s", "");
        snprintf(cells[k][1], 32, "%zu", s->above[k][0]);
        snprintf(cells[k][2], 32, "%zu", s->above[k][1]);
        snprintf(cells[k][3], 32, "%zu", s->above[k][2]);
        snprintf(cells[k][4], 32, "%.3f", s->mean[k]);
        snprintf(cells[k][5], 32, "%.3f", s->median[k]);
        rows[k * 6] = names[k];
        for (int c = 1; c < 6; c++) rows[k * 6 + c] = cells[k][c];
    }
    static const char *hdr[6] = {"SSIM score", "> 0.3", "> 0.4", "> 0.5", "mean", "median"};
    char ntr[32], nc[32];
    snprintf(ntr, sizeof ntr, "%zu", s->n_train);
    snprintf(nc, sizeof nc, "%zu", s->n_candidates);
    const char *keys[] = {"model", "training images", "candidates (pooled)", "device"};
    const char *vals[] = {model_path, ntr, nc, kr_device_describe(dev)};
    KR_TRY_GOTO(kr_html_h2(h, "Summary"));
    KR_TRY_GOTO(kr_html_kv_table(h, 4, keys, vals));
    KR_TRY_GOTO(kr_html_table(h, 6, hdr, 3, rows));
    KR_TRY_GOTO(kr_html_p(h, "Each training image is matched to its nearest candidate by NCC "
                             "distance (DESIGN §4). 'official' is the paper's protocol; 'clip' "
                             "scores the same pairs without min-max stretching; the mean-image "
                             "baseline is what the training-set mean alone scores. SSIM > 0.4 "
                             "counts as a good reconstruction."));
    KR_TRY_GOTO(kr_eval_classes_html(h, cs));
    KR_TRY_GOTO(kr_html_h2(h, "Reconstructions, best first"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "grid.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "reconstruction (top) above its nearest training image (bottom); label: rank and clip SSIM"));
    KR_TRY_GOTO(kr_html_h2(h, "SSIM against margin"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "ssim_vs_margin.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "clip SSIM against the training sample's margin"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "ssim_official_vs_margin.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "official SSIM against the training sample's margin"));
    if (o->top_k)
        KR_TRY_GOTO(kr_html_p(h, o->top_note));
    if (o->html_extra) KR_TRY_GOTO(o->html_extra(o->user, h, s, pairs));
    KR_TRY_GOTO(kr_html_h2(h, "Configuration"));
    char *text = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&text, &len);
    if (!mf) {
        st = KR_FAIL(KR_E_NOMEM, "configuration text");
        goto fail;
    }
    kr_config_write(cfg, mf);
    fclose(mf);
    st = kr_html_pre(h, text);
    free(text);
    if (st != KR_OK) goto fail;
    return kr_html_close(h);
fail:
    kr_html_abort(h);
    return st;
}


const char *const KR_EVAL_TOP_BY[KR_EVAL_TOP_N] = {"clip_mean", "official_mean", "clip_above",
                                                   "official_above"};

kr_status kr_eval_top_by_parse(const char *text, int *by)
{
    for (int k = 0; k < KR_EVAL_TOP_N; k++)
        if (!strcmp(text, KR_EVAL_TOP_BY[k])) {
            *by = k;
            return KR_OK;
        }
    return KR_FAIL(KR_E_INVALID, "--top-by '%s': expected clip_mean, official_mean, clip_above "
                   "or official_above", text);
}

void kr_eval_pairs_free(kr_eval_pairs *p)
{
    free(p->file_clip_mean);
    free(p->file_official_mean);
    free(p->file);
    free(p->ssim_official);
    free(p->ssim_clip);
    memset(p, 0, sizeof *p);
}

/* SSIM of candidate row cand against training image j, official (min-max) or clip. */
static kr_status pair_ssim(const kr_binary_set *s, const pool *pl, const double *mean, size_t j,
                           size_t cand, int score, double *a, double *b, double *out)
{
    const size_t d = s->d;
    const double *xt = s->x + j * d;
    for (size_t i = 0; i < d; i++) b[i] = xt[i] + mean[i]; /* the [0,1] original */
    if (score == SC_OFFICIAL) kr_metrics_recon_official(pl->x + cand * d, mean, d, a);
    else kr_metrics_recon_clip(pl->x + cand * d, mean, d, a);
    return kr_metrics_ssim(a, b, (size_t)s->c, (size_t)s->h, (size_t)s->w, out);
}

/* Nearest candidate of each training image among the columns whose file is used. */
static void nearest_among(const double *dist, size_t t, const pool *pl, const bool *use,
                          size_t *idx, double *best)
{
    for (size_t j = 0; j < t; j++) {
        size_t bi = SIZE_MAX;
        double bd = INFINITY;
        for (size_t c = 0; c < pl->m; c++) {
            if (!use[pl->file[c]]) continue;
            double v = dist[j * pl->m + c];
            if (bi == SIZE_MAX || v < bd) {
                bi = c;
                bd = v;
            }
        }
        idx[j] = bi;
        best[j] = bd;
    }
}

/* Each file alone: every training image matched to its nearest candidate of that file, then
 * score[f] = mean SSIM (score kind sc) or, with count, the number above 0.4; -inf for a file
 * without a finite candidate. */
static kr_status file_scores(const kr_binary_set *s, const pool *pl, const double *mean,
                             const double *dist, size_t n_paths, int sc, bool count,
                             double *score, double *a, double *b)
{
    bool *one = NULL;
    size_t *idx = NULL;
    double *best = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc_zero((void **)&one, "file mask", n_paths, 1, sizeof *one));
    KR_TRY_GOTO(kr_alloc((void **)&idx, "nearest", s->n ? s->n : 1, 1, sizeof *idx));
    KR_TRY_GOTO(kr_alloc((void **)&best, "nearest", s->n ? s->n : 1, 1, sizeof *best));
    for (size_t f = 0; f < n_paths; f++) {
        bool any = false;
        for (size_t c = 0; c < pl->m && !any; c++) any = pl->file[c] == f;
        score[f] = -INFINITY;
        if (!any) continue;
        one[f] = true;
        nearest_among(dist, s->n, pl, one, idx, best);
        one[f] = false;
        double total = 0;
        for (size_t j = 0; j < s->n; j++) {
            double v;
            KR_TRY_GOTO(pair_ssim(s, pl, mean, j, idx[j], sc, a, b, &v));
            total += count ? (double)(v > 0.4) : v / (double)s->n;
        }
        score[f] = total;
    }
    st = KR_OK;
fail:
    free(one);
    free(idx);
    free(best);
    return st;
}

/* The top-k files by the chosen score, each matched and scored alone; use[f] marks them. */
static kr_status choose_top(const kr_binary_set *s, const pool *pl, const double *mean,
                            const double *dist, size_t n_paths, const kr_eval_opts *o, bool *use,
                            double *a, double *b)
{
    double *score = NULL;
    KR_TRY(kr_alloc((void **)&score, "file scores", n_paths, 1, sizeof *score));
    const int sc = o->top_by == KR_EVAL_TOP_CLIP_MEAN || o->top_by == KR_EVAL_TOP_CLIP_ABOVE ? SC_CLIP
                                                                                            : SC_OFFICIAL;
    const bool count = o->top_by == KR_EVAL_TOP_CLIP_ABOVE || o->top_by == KR_EVAL_TOP_OFFICIAL_ABOVE;
    kr_status st = file_scores(s, pl, mean, dist, n_paths, sc, count, score, a, b);
    for (size_t f = 0; f < n_paths; f++) use[f] = false;
    for (size_t k = 0; st == KR_OK && k < o->top_k && k < n_paths; k++) {
        size_t bf = SIZE_MAX;
        for (size_t f = 0; f < n_paths; f++)
            if (!use[f] && (bf == SIZE_MAX || score[f] > score[bf])) bf = f;
        use[bf] = true;
    }
    free(score);
    return st;
}

kr_status kr_eval_pool_write(const kr_config *cfg, kr_device *dev, const char *model_path,
                             const char *const *candidate_paths, size_t n_paths,
                             const char *out_dir, const kr_eval_opts *opts, kr_eval_summary *sum,
                             kr_eval_pairs *pairs_out)
{
    static const kr_eval_opts no_opts = {0};
    const kr_eval_opts *o = opts ? opts : &no_opts;
    memset(sum, 0, sizeof *sum);
    /* The report page's extra section gets the pairs too. */
    kr_eval_pairs local = {0};
    if (!pairs_out && o->html_extra) pairs_out = &local;
    memset(pairs_out ? pairs_out : &local, 0, sizeof local);
    kr_model *model = NULL;
    kr_binary_set *s = NULL;
    double *own_mean = NULL, *dist = NULL, *tv = NULL, *cv = NULL, *xs = NULL;
    double *a = NULL, *b = NULL;
    size_t *sel = NULL;
    bool *use = NULL;
    pair *pr = NULL;
    kr_eval_classes *cls = NULL;
    pool pl = {0};
    cJSON *j = NULL;
    kr_status st;
    char path[4200];

    KR_TRY_GOTO(kr_model_load(model_path, &model));
    const size_t d = model->dims[0];
    KR_TRY_GOTO(kr_task_load_set(cfg, KR_SPLIT_TRAIN, model->mean, d, NULL, &s));
    if (s->d != d) {
        st = KR_FAIL(KR_E_INVALID, "the configured dataset has %zu values per image but %s takes %zu",
                     s->d, model_path, d);
        goto fail;
    }
    if ((size_t)s->n_outputs != model->dims[model->layers]) {
        st = KR_FAIL(KR_E_INVALID, "data.task = '%s' has %d output(s) but %s has %zu: evaluate "
                     "with the task the model was trained on", s->task, s->n_outputs, model_path,
                     model->dims[model->layers]);
        goto fail;
    }
    /* The model carries its training mean; a different one means a different training set. */
    if (!(own_mean = malloc(d * sizeof *own_mean))) goto nomem;
    KR_TRY_GOTO(kr_binary_set_mean(s, own_mean)); /* mean of (x − model mean): ≈ 0 if same set */
    double dev_mean = 0;
    for (size_t i = 0; i < d; i++) dev_mean = fmax(dev_mean, fabs(own_mean[i]));
    if (dev_mean > 1e-6)
        kr_log_info("evaluate: warning: the configured training set is not the one %s was trained "
                    "on (its mean differs by up to %.3g); check data.* keys", model_path, dev_mean);
    KR_TRY_GOTO(pool_load(candidate_paths, n_paths, d, &pl));
    kr_log_info("evaluate: %zu training images, %zu candidates from %zu file(s)", s->n, pl.m, n_paths);

    /* Top-k selection and per-file scores match each file alone, on one NCC matrix of the
     * whole pool (DESIGN §4.1–4.2); the pooled pairs themselves are engine/pairs.c's. */
    const size_t c = (size_t)s->c, h = (size_t)s->h, w = (size_t)s->w;
    bool down = !strcmp(cfg->data.dataset, "cifar10") || !strcmp(cfg->data.dataset, "cifar-10");
    const bool top = o->top_k && o->top_k < n_paths;
    if (!(a = malloc(d * sizeof *a)) || !(b = malloc(d * sizeof *b))) goto nomem;
    if (top || pairs_out) {
        size_t p;
        KR_TRY_GOTO(kr_pairs_ncc_view(s->x, s->n, c, h, w, down, &tv, &p));
        KR_TRY_GOTO(kr_pairs_ncc_view(pl.x, pl.m, c, h, w, down, &cv, &p));
        KR_TRY_GOTO(kr_alloc((void **)&dist, "NCC distances (training images x candidates)",
                             s->n, pl.m, sizeof *dist));
        KR_TRY_GOTO(kr_metrics_ncc_matrix(tv ? tv : s->x, s->n, cv ? cv : pl.x, pl.m, c, p, dist));
    }
    if (top) {
        KR_TRY_GOTO(kr_alloc((void **)&use, "file mask", n_paths, 1, sizeof *use));
        KR_TRY_GOTO(choose_top(s, &pl, model->mean, dist, n_paths, o, use, a, b));
    }
    /* The pooled candidates (of the chosen files): sel[k] is their row in the pool. */
    KR_TRY_GOTO(kr_alloc((void **)&sel, "pooled rows", pl.m, 1, sizeof *sel));
    size_t ns = 0;
    for (size_t q = 0; q < pl.m; q++)
        if (!use || use[pl.file[q]]) sel[ns++] = q;
    KR_TRY_GOTO(kr_alloc((void **)&xs, "pooled candidates", ns, d, sizeof *xs));
    for (size_t k = 0; k < ns; k++) memcpy(xs + k * d, pl.x + sel[k] * d, d * sizeof *xs);
    if (top)
        kr_log_info("evaluate: pooling the best %zu of %zu files by %s (%zu candidates)", o->top_k,
                    n_paths, KR_EVAL_TOP_BY[o->top_by], ns);
    if (!(pr = calloc(s->n ? s->n : 1, sizeof *pr))) goto nomem;
    KR_TRY_GOTO(kr_pairs_match(dev, model, s, xs, ns, down, pr, sum));
    for (size_t jj = 0; jj < s->n; jj++) pr[jj].cand = sel[pr[jj].cand]; /* rows of the pool */
    sum->n_nonfinite = pl.nonfinite;
    if (pairs_out) {
        KR_TRY_GOTO(kr_alloc((void **)&pairs_out->file, "pairs", s->n ? s->n : 1, 1, sizeof(size_t)));
        KR_TRY_GOTO(kr_alloc((void **)&pairs_out->ssim_official, "pairs", s->n ? s->n : 1, 1, sizeof(double)));
        KR_TRY_GOTO(kr_alloc((void **)&pairs_out->ssim_clip, "pairs", s->n ? s->n : 1, 1, sizeof(double)));
        pairs_out->n = s->n;
        for (size_t jj = 0; jj < s->n; jj++) {
            pairs_out->file[jj] = pl.file[pr[jj].cand];
            pairs_out->ssim_official[jj] = pr[jj].ssim[SC_OFFICIAL];
            pairs_out->ssim_clip[jj] = pr[jj].ssim[SC_CLIP];
        }
        pairs_out->n_files = n_paths;
        KR_TRY_GOTO(kr_alloc((void **)&pairs_out->file_clip_mean, "file scores", n_paths, 1, sizeof(double)));
        KR_TRY_GOTO(kr_alloc((void **)&pairs_out->file_official_mean, "file scores", n_paths, 1, sizeof(double)));
        KR_TRY_GOTO(file_scores(s, &pl, model->mean, dist, n_paths, SC_CLIP, false,
                                pairs_out->file_clip_mean, a, b));
        KR_TRY_GOTO(file_scores(s, &pl, model->mean, dist, n_paths, SC_OFFICIAL, false,
                                pairs_out->file_official_mean, a, b));
        for (size_t f = 0; f < n_paths; f++) {
            if (isinf(pairs_out->file_clip_mean[f])) pairs_out->file_clip_mean[f] = NAN;
            if (isinf(pairs_out->file_official_mean[f])) pairs_out->file_official_mean[f] = NAN;
        }
    }

    KR_TRY_GOTO(kr_report_mkdir(out_dir));
    KR_TRY_GOTO(write_csv(out_dir, s, pr, &pl, candidate_paths));
    if (!(j = cJSON_CreateObject())) goto nomem;
    cJSON_AddNumberToObject(j, "n_train", (double)s->n);
    cJSON_AddNumberToObject(j, "n_candidates", (double)sum->n_candidates);
    cJSON_AddNumberToObject(j, "n_candidates_nonfinite", (double)pl.nonfinite);
    cJSON *files = cJSON_AddArrayToObject(j, "candidate_files");
    for (size_t f = 0; f < n_paths; f++)
        if (!use || use[f]) cJSON_AddItemToArray(files, cJSON_CreateString(candidate_paths[f]));
    if (use) {
        cJSON_AddNumberToObject(j, "top_k", (double)o->top_k);
        cJSON_AddStringToObject(j, "top_by", KR_EVAL_TOP_BY[o->top_by]);
        cJSON_AddNumberToObject(j, "files_given", (double)n_paths);
    }
    cJSON_AddStringToObject(j, "model", model_path);
    char arch[256];
    kr_model_describe(model, arch, sizeof arch);
    cJSON_AddStringToObject(j, "architecture", arch);
    cJSON_AddStringToObject(j, "dataset", cfg->data.dataset);
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    cJSON_AddStringToObject(j, "matching", down ? "NCC on 2x bicubic-downsampled images" : "NCC");
    summarise(pr, s->n, sum, j);
    if (!(cls = malloc(sizeof *cls))) goto nomem;
    kr_eval_classes_count(pr, s, cls, j);
    cJSON_AddStringToObject(j, "task", s->task);
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "summary.json"));
    KR_TRY_GOTO(kr_report_write_json(path, j));

    qsort(pr, s->n, sizeof *pr, cmp_pair_desc);
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "grid.png"));
    KR_TRY_GOTO(write_grid(path, s, pr, &pl, model->mean));
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "ssim_vs_margin.png"));
    KR_TRY_GOTO(write_plot(path, pr, s->n, SC_CLIP, "reconstruction quality vs margin (clip SSIM)"));
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "ssim_official_vs_margin.png"));
    KR_TRY_GOTO(write_plot(path, pr, s->n, SC_OFFICIAL,
                           "reconstruction quality vs margin (official SSIM, min-max)"));
    kr_eval_opts ho = *o;
    char note[256];
    if (use) {
        snprintf(note, sizeof note, "Top-k pooling: the best %zu of %zu candidate files by %s, "
                 "each matched and scored alone first.", o->top_k, n_paths, KR_EVAL_TOP_BY[o->top_by]);
        ho.top_note = note;
    } else {
        ho.top_k = 0;
    }
    KR_TRY_GOTO(write_html(out_dir, cfg, dev, model_path, sum, cls, &ho, pairs_out));
    st = KR_OK;
    goto fail;
nomem:
    st = KR_FAIL(KR_E_NOMEM, "evaluation buffers (%zu training images, %zu candidates)",
                 s ? s->n : 0, pl.m);
fail:
    if (pairs_out && (st != KR_OK || pairs_out == &local)) kr_eval_pairs_free(pairs_out);
    cJSON_Delete(j);
    pool_free(&pl);
    kr_model_free(model);
    kr_binary_set_free(s);
    free(own_mean);
    free(dist);
    free(sel);
    free(xs);
    free(use);
    free(tv);
    free(cv);
    free(pr);
    free(cls);
    free(a);
    free(b);
    return st;
}
