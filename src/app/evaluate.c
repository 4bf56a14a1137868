/* evaluate.c — DESIGN.md §4: match pooled candidates to the training set by NCC distance
 * (CIFAR-10: after 2× bicubic downsampling), score each pair by SSIM three ways, and write
 * pairs.csv, summary.json, grid.png, ssim_vs_margin.png, ssim_official_vs_margin.png and a
 * self-contained report.html. The metrics are metrics.c; pictures grid.c / plot.c / html.c;
 * the training set app/task.c, the candidates io/candidates.c, the margins nn/mlp.c.
 *
 * Scores per training image j with nearest candidate i (ground truth: the [0,1] image):
 *   official  SSIM(minmax(x_i + mean), truth)   the paper's protocol
 *   clip      SSIM(clip(x_i + mean, 0, 1), truth)
 *   baseline  SSIM(mean, truth)                 what the blurry mean image alone scores
 */
#include "app/evaluate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "app/runid.h"
#include "app/task.h"
#include "eval/grid.h"
#include "eval/html.h"
#include "base/log.h"
#include "eval/metrics.h"
#include "io/candidates.h"
#include "io/model_io.h"
#include "eval/plot.h"
#include "io/report.h"
#include "io/rundir.h"
#include "nn/mlp.h"

enum { SC_OFFICIAL = 0, SC_CLIP = 1, SC_BASE = 2, N_SCORES = 3 };
static const char *SCORE_KEYS[N_SCORES] = {"official", "clip", "mean_baseline"};
static const double THRESH[3] = {0.3, 0.4, 0.5};
enum { GRID_MAX_PAIRS = 200 };

/* One row of pairs.csv. */
typedef struct pair {
    size_t train_row;      /* row in the selected training set */
    size_t cand;           /* row in the pooled candidates */
    double ncc, margin;
    double ssim[N_SCORES];
} pair;

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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sort pairs by descending clip SSIM (the grid's order). */
static int cmp_pair_desc(const void *a, const void *b)
{
    double x = ((const pair *)a)->ssim[SC_CLIP], y = ((const pair *)b)->ssim[SC_CLIP];
    return (x < y) - (x > y);
}

/* NCC inputs: CIFAR-10 (3×32×32) is compared at 16×16 after bicubic downsampling. */
static kr_status ncc_view(const double *x, size_t n, size_t c, size_t h, size_t w, bool down,
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

static void summarise(const pair *pr, size_t n, kr_eval_summary *sum, cJSON *j)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    for (int k = 0; k < N_SCORES; k++) {
        double total = 0;
        for (int t = 0; t < 3; t++) sum->above[k][t] = 0;
        for (size_t i = 0; i < n; i++) {
            double s = pr[i].ssim[k];
            total += s;
            for (int t = 0; t < 3; t++) sum->above[k][t] += s > THRESH[t];
            if (v) v[i] = s;
        }
        sum->mean[k] = n ? total / (double)n : NAN;
        sum->median[k] = NAN;
        if (v && n) {
            qsort(v, n, sizeof *v, cmp_double);
            sum->median[k] = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        }
        cJSON *o = cJSON_AddObjectToObject(j, SCORE_KEYS[k]);
        cJSON_AddNumberToObject(o, "above_0.3", (double)sum->above[k][0]);
        cJSON_AddNumberToObject(o, "above_0.4", (double)sum->above[k][1]);
        cJSON_AddNumberToObject(o, "above_0.5", (double)sum->above[k][2]);
        kr_report_json_number(o, "mean", sum->mean[k]);
        kr_report_json_number(o, "median", sum->median[k]);
        cJSON *curve = cJSON_AddArrayToObject(o, "sorted_curve");
        for (size_t i = 0; v && i < n; i++) /* descending, as the paper plots it */
            cJSON_AddItemToArray(curve, cJSON_CreateNumber(round(v[n - 1 - i] * 1e6) / 1e6));
    }
    free(v);
}

/* Per-class counts: the training images of each class (original class id), how many score
 * clip SSIM > 0.4 and above their own mean-image baseline, and the class's mean clip and
 * baseline SSIM. */
typedef struct class_stats {
    int n_classes;
    int id[KR_TASK_MAX_CLASSES];
    size_t n[KR_TASK_MAX_CLASSES], above[KR_TASK_MAX_CLASSES], over_base[KR_TASK_MAX_CLASSES];
    double clip[KR_TASK_MAX_CLASSES], base[KR_TASK_MAX_CLASSES];
} class_stats;

static void per_class(const pair *pr, const kr_binary_set *s, class_stats *cs, cJSON *j)
{
    memset(cs, 0, sizeof *cs);
    int slot[KR_TASK_MAX_CLASSES];
    for (int k = 0; k < KR_TASK_MAX_CLASSES; k++) slot[k] = -1;
    for (size_t i = 0; i < s->n; i++) {
        const int c = s->class_ids[pr[i].train_row];
        if (c < 0 || c >= KR_TASK_MAX_CLASSES) continue;
        if (slot[c] < 0) slot[c] = 1; /* seen */
    }
    for (int c = 0; c < KR_TASK_MAX_CLASSES; c++) /* ascending class ids */
        if (slot[c] >= 0) cs->id[slot[c] = cs->n_classes++] = c;
    for (size_t i = 0; i < s->n; i++) {
        const int c = s->class_ids[pr[i].train_row];
        if (c < 0 || c >= KR_TASK_MAX_CLASSES) continue;
        const int k = slot[c];
        cs->n[k]++;
        cs->above[k] += pr[i].ssim[SC_CLIP] > 0.4;
        cs->over_base[k] += pr[i].ssim[SC_CLIP] > pr[i].ssim[SC_BASE];
        cs->clip[k] += pr[i].ssim[SC_CLIP];
        cs->base[k] += pr[i].ssim[SC_BASE];
    }
    cJSON *arr = cJSON_AddArrayToObject(j, "per_class");
    for (int k = 0; k < cs->n_classes; k++) {
        cs->clip[k] /= (double)cs->n[k];
        cs->base[k] /= (double)cs->n[k];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "class", cs->id[k]);
        cJSON_AddNumberToObject(o, "n", (double)cs->n[k]);
        cJSON_AddNumberToObject(o, "clip_above_0.4", (double)cs->above[k]);
        cJSON_AddNumberToObject(o, "clip_above_baseline", (double)cs->over_base[k]);
        kr_report_json_number(o, "clip_mean", cs->clip[k]);
        kr_report_json_number(o, "mean_baseline_mean", cs->base[k]);
        cJSON_AddItemToArray(arr, o);
    }
}

/* The per-class table of the report. */
static kr_status html_per_class(kr_html *h, const class_stats *cs)
{
    static const char *hdr[6] = {"class", "images", "clip > 0.4", "clip > own baseline",
                                 "clip mean", "baseline mean"};
    const size_t n = (size_t)cs->n_classes;
    char (*cells)[6][24] = calloc(n ? n : 1, sizeof *cells);
    const char **rows = calloc((n ? n : 1) * 6, sizeof *rows);
    kr_status st = KR_OK;
    if (!cells || !rows) st = KR_FAIL(KR_E_NOMEM, "per-class table");
    for (size_t k = 0; st == KR_OK && k < n; k++) {
        snprintf(cells[k][0], 24, "%d", cs->id[k]);
        snprintf(cells[k][1], 24, "%zu", cs->n[k]);
        snprintf(cells[k][2], 24, "%zu", cs->above[k]);
        snprintf(cells[k][3], 24, "%zu", cs->over_base[k]);
        snprintf(cells[k][4], 24, "%.3f", cs->clip[k]);
        snprintf(cells[k][5], 24, "%.3f", cs->base[k]);
        for (int c = 0; c < 6; c++) rows[k * 6 + c] = cells[k][c];
    }
    if (st == KR_OK) st = kr_html_h2(h, "Per class");
    if (st == KR_OK) st = kr_html_table(h, 6, hdr, n, rows);
    free(cells);
    free(rows);
    return st;
}

static kr_status write_html(const char *dir, const kr_config *cfg, kr_device *dev,
                            const char *model_path, const kr_eval_summary *s,
                            const class_stats *cs)
{
    char path[4200], png[4200];
    KR_TRY(kr_report_path(path, sizeof path, dir, "report.html"));
    kr_html *h;
    KR_TRY(kr_html_open(path, "kktrecon evaluation", &h));
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
    KR_TRY_GOTO(html_per_class(h, cs));
    KR_TRY_GOTO(kr_html_h2(h, "Reconstructions, best first"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "grid.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "reconstruction (top) above its nearest training image (bottom); label: rank and clip SSIM"));
    KR_TRY_GOTO(kr_html_h2(h, "SSIM against margin"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "ssim_vs_margin.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "clip SSIM against the training sample's margin"));
    KR_TRY_GOTO(kr_report_path(png, sizeof png, dir, "ssim_official_vs_margin.png"));
    KR_TRY_GOTO(kr_html_png(h, png, "official SSIM against the training sample's margin"));
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

/* The data the report scores against (run.json, io/rundir.h); model and candidate files go
 * in by size and crc32. */
static const char *const EVAL_IDENTITY[] = {"data.dataset", "data.path", "data.task",
                                            "data.per_class", NULL};

static kr_status write_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                           const char *const *candidate_paths, size_t n_paths,
                           const kr_rundir *rd)
{
    cJSON *run = kr_runid_new("evaluate");
    if (!run) return KR_FAIL(KR_E_NOMEM, "run.json");
    kr_status st = kr_runid_add_file(run, "model", model_path);
    for (size_t i = 0; st == KR_OK && i < n_paths; i++) {
        char key[32];
        snprintf(key, sizeof key, "candidates.%zu", i);
        st = kr_runid_add_file(run, key, candidate_paths[i]);
    }
    if (st == KR_OK) st = kr_runid_add_config(run, true, cfg, EVAL_IDENTITY);
    if (st == KR_OK) st = kr_runid_add(run, false, "device", kr_device_describe(dev));
    if (st == KR_OK) st = kr_rundir_write_run(rd, run);
    cJSON_Delete(run);
    return st;
}

kr_status kr_evaluate_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                          const char *const *candidate_paths, size_t n_paths, const char *out_dir,
                          kr_run_mode mode, kr_eval_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    kr_model *model = NULL;
    kr_binary_set *s = NULL;
    double *own_mean = NULL, *dist = NULL, *best = NULL, *tv = NULL, *cv = NULL, *margins = NULL;
    double *a = NULL, *b = NULL;
    size_t *idx = NULL;
    pair *pr = NULL;
    class_stats *cls = NULL;
    pool pl = {0};
    cJSON *j = NULL;
    kr_status st;
    char path[4200];

    kr_rundir rd;
    KR_TRY(kr_rundir_open(&rd, out_dir, "evaluate", mode));
    /* Everything below is written to the staging folder rd.work, switched in at the end. */
    out_dir = rd.work;
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
    sum->n_train = s->n;
    sum->n_candidates = pl.m;
    kr_log_info("evaluate: %zu training images, %zu candidates from %zu file(s)", s->n, pl.m, n_paths);

    /* Matching (DESIGN §4.1–4.2). */
    const size_t c = (size_t)s->c, h = (size_t)s->h, w = (size_t)s->w;
    bool down = !strcmp(cfg->data.dataset, "cifar10") || !strcmp(cfg->data.dataset, "cifar-10");
    size_t p;
    KR_TRY_GOTO(ncc_view(s->x, s->n, c, h, w, down, &tv, &p));
    KR_TRY_GOTO(ncc_view(pl.x, pl.m, c, h, w, down, &cv, &p));
    KR_TRY_GOTO(kr_alloc((void **)&dist, "NCC distances (training images x candidates)", s->n,
                         pl.m, sizeof *dist));
    if (!(idx = malloc(s->n * sizeof *idx)) ||
        !(best = malloc(s->n * sizeof *best)))
        goto nomem;
    KR_TRY_GOTO(kr_metrics_ncc_matrix(tv ? tv : s->x, s->n, cv ? cv : pl.x, pl.m, c, p, dist));
    KR_TRY_GOTO(kr_metrics_nearest(dist, s->n, pl.m, idx, best));

    /* Margins under the model, then SSIM three ways (DESIGN §4.3–4.5). */
    if (!(margins = malloc(s->n * sizeof *margins))) goto nomem;
    KR_TRY_GOTO(kr_mlp_margins(dev, kr_device_has_fp64(dev) ? KR_F64 : KR_F32, model, s->n,
                               s->x, s->y, margins));
    if (!(pr = calloc(s->n ? s->n : 1, sizeof *pr)) || !(a = malloc(d * sizeof *a)) ||
        !(b = malloc(d * sizeof *b)))
        goto nomem;
    double *base = malloc(d * sizeof *base);
    if (!base) goto nomem;
    kr_metrics_recon_clip(model->mean, NULL, d, base);
    for (size_t jj = 0; jj < s->n; jj++) {
        pair *q = &pr[jj];
        q->train_row = jj;
        q->cand = idx[jj];
        q->ncc = best[jj];
        q->margin = margins[jj];
        const double *xt = s->x + jj * d;
        for (size_t i = 0; i < d; i++) b[i] = xt[i] + model->mean[i]; /* the [0,1] original */
        kr_metrics_recon_official(pl.x + q->cand * d, model->mean, d, a);
        st = kr_metrics_ssim(a, b, c, h, w, &q->ssim[SC_OFFICIAL]);
        kr_metrics_recon_clip(pl.x + q->cand * d, model->mean, d, a);
        if (st == KR_OK) st = kr_metrics_ssim(a, b, c, h, w, &q->ssim[SC_CLIP]);
        if (st == KR_OK) st = kr_metrics_ssim(base, b, c, h, w, &q->ssim[SC_BASE]);
        if (st != KR_OK) {
            free(base);
            goto fail;
        }
    }
    free(base);

    KR_TRY_GOTO(write_csv(out_dir, s, pr, &pl, candidate_paths));
    if (!(j = cJSON_CreateObject())) goto nomem;
    cJSON_AddNumberToObject(j, "n_train", (double)s->n);
    cJSON_AddNumberToObject(j, "n_candidates", (double)pl.m);
    cJSON_AddNumberToObject(j, "n_candidates_nonfinite", (double)pl.nonfinite);
    cJSON *files = cJSON_AddArrayToObject(j, "candidate_files");
    for (size_t f = 0; f < n_paths; f++) cJSON_AddItemToArray(files, cJSON_CreateString(candidate_paths[f]));
    cJSON_AddStringToObject(j, "model", model_path);
    char arch[256];
    kr_model_describe(model, arch, sizeof arch);
    cJSON_AddStringToObject(j, "architecture", arch);
    cJSON_AddStringToObject(j, "dataset", cfg->data.dataset);
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    cJSON_AddStringToObject(j, "matching", down ? "NCC on 2x bicubic-downsampled images" : "NCC");
    summarise(pr, s->n, sum, j);
    if (!(cls = malloc(sizeof *cls))) goto nomem;
    per_class(pr, s, cls, j);
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
    KR_TRY_GOTO(write_html(out_dir, cfg, dev, model_path, sum, cls));
    KR_TRY_GOTO(write_run(cfg, dev, model_path, candidate_paths, n_paths, &rd));
    KR_TRY_GOTO(kr_rundir_commit(&rd));
    st = KR_OK;
    goto fail;
nomem:
    st = KR_FAIL(KR_E_NOMEM, "evaluation buffers (%zu training images, %zu candidates)",
                 s ? s->n : 0, pl.m);
fail:
    cJSON_Delete(j);
    pool_free(&pl);
    kr_model_free(model);
    kr_binary_set_free(s);
    free(own_mean);
    free(dist);
    free(best);
    free(idx);
    free(tv);
    free(cv);
    free(margins);
    free(pr);
    free(cls);
    free(a);
    free(b);
    return kr_rundir_close(&rd, st);
}
