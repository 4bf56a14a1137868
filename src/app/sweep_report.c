/* sweep_report.c — the end of a sweep (sweep.h): DIR/evaluate (the pooled evaluation of every
 * finished point through the step `evaluate` uses, app/eval_pool.h), the per-point quality
 * from it, DIR/sweep.csv, DIR/sweep.png and the sweep's table and picture in the report page.
 *
 * Per point, two kinds of quality:
 *   in the pool  of the training images whose nearest pooled candidate is one of this point's:
 *                how many (matched), how many score above 0.4 by clip and by official SSIM,
 *                and the best clip SSIM among them;
 *   alone        every training image matched to this point's candidates only: mean clip and
 *                mean official SSIM (what a per-run sweep dashboard shows; sweep.png plots it
 *                against each hyperparameter, the mean-image baseline as a dashed line).
 * Without a training set to score against (data.* unset or unreadable) the sweep still writes
 * sweep.csv and sweep.png, with the final loss (label-free) in place of quality.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/eval_pool.h"
#include "app/sweep_impl.h"
#include "base/alloc.h"
#include "base/log.h"
#include "eval/plot.h"
#include "io/report.h"

typedef struct row {
    const char *status;
    double v[KR_SWEEP_NPARAM];
    double seed;
    double loss, kkt, prior, lam, kkt_first, seconds;
    char device[160], reason[200];
    long file; /* index among the evaluated files, -1 */
    size_t matched, clip_above, official_above;
    double best_clip, own_clip, own_official;
} row;

typedef struct report {
    kr_sweep *sw;
    row *rows;
    bool quality;
    double baseline; /* mean-image baseline, mean SSIM */
} report;

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A point's row from the manifest, its configuration and its point.json (if written). */
static void read_row(const kr_sweep *sw, size_t i, row *r)
{
    const kr_config *c = &sw->pc[i];
    const kr_manifest_point *mp = &sw->man.pt[i];
    *r = (row){.status = kr_manifest_status_name(mp->status), .file = -1, .loss = NAN,
               .kkt = NAN, .prior = NAN, .lam = NAN, .kkt_first = NAN, .seconds = mp->seconds,
               .best_clip = NAN, .own_clip = NAN, .own_official = NAN};
    r->v[KR_SWEEP_INIT_SCALE] = c->attack.init_scale;
    r->v[KR_SWEEP_LR_X] = c->attack.lr_x;
    r->v[KR_SWEEP_LAMBDA_MIN] = c->attack.lambda_min;
    r->v[KR_SWEEP_ALPHA] = c->attack.alpha;
    r->seed = (double)c->attack.seed;
    snprintf(r->device, sizeof r->device, "%s", mp->device);
    snprintf(r->reason, sizeof r->reason, "%s", mp->reason);
    for (char *q = r->reason; *q; q++)
        if (*q == '"' || *q == '\n') *q = '\''; /* a CSV field in quotes */
    char path[4500];
    snprintf(path, sizeof path, "%s/points/%04zu/point.json", sw->dir, i);
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    if (!j) return;
    if (mp->status == KR_PT_DONE || mp->status == KR_PT_PRUNED) {
        r->loss = num(j, "loss");
        r->kkt = num(j, "loss_kkt");
        r->prior = num(j, "loss_prior");
        r->lam = num(j, "loss_lambda");
        const cJSON *per = cJSON_GetObjectItemCaseSensitive(j, "loss_kkt_per_tensor");
        if (cJSON_IsArray(per) && cJSON_GetArraySize(per) > 0 &&
            cJSON_IsNumber(cJSON_GetArrayItem(per, 0)))
            r->kkt_first = cJSON_GetArrayItem(per, 0)->valuedouble;
    }
    cJSON_Delete(j);
}

static void fmt(char *buf, size_t cap, double v)
{
    if (isnan(v)) snprintf(buf, cap, "%s", "");
    else snprintf(buf, cap, "%.6g", v);
}

static kr_status write_csv(const report *rp)
{
    const kr_sweep *sw = rp->sw;
    char path[4400];
    snprintf(path, sizeof path, "%s/sweep.csv", sw->dir);
    FILE *f;
    KR_TRY(kr_report_open(path, &f));
    fprintf(f, "point,status,init_scale,lr_x,lambda_min,alpha,seed,lr_lambda,momentum,loss,"
               "loss_kkt,loss_kkt_layer1,loss_prior,loss_lambda,seconds,matched,clip_above_0.4,"
               "official_above_0.4,best_clip,alone_clip_mean,alone_official_mean,device,reason\n");
    for (size_t i = 0; i < sw->man.n_points; i++) {
        const row *r = &rp->rows[i];
        char c[9][32];
        fmt(c[0], 32, r->loss), fmt(c[1], 32, r->kkt), fmt(c[2], 32, r->kkt_first);
        fmt(c[3], 32, r->prior), fmt(c[4], 32, r->lam), fmt(c[5], 32, r->seconds);
        fmt(c[6], 32, r->best_clip), fmt(c[7], 32, r->own_clip), fmt(c[8], 32, r->own_official);
        char q[3][24] = {"", "", ""};
        if (rp->quality && r->file >= 0) {
            snprintf(q[0], 24, "%zu", r->matched);
            snprintf(q[1], 24, "%zu", r->clip_above);
            snprintf(q[2], 24, "%zu", r->official_above);
        }
        fprintf(f, "%zu,%s,%.17g,%.17g,%.17g,%.17g,%.0f,%.17g,%.17g,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
                "%s,%s,%s,\"%s\",\"%s\"\n", i, r->status, r->v[0], r->v[1], r->v[2], r->v[3],
                r->seed, sw->pc[i].attack.lr_lambda, sw->pc[i].attack.momentum, c[0], c[1], c[2],
                c[3], c[4], c[5], q[0], q[1], q[2], c[6], c[7], c[8], r->device, r->reason);
    }
    return kr_report_close(f, path, KR_OK);
}

static kr_status write_png(const report *rp, char *path, size_t cap)
{
    const kr_sweep *sw = rp->sw;
    snprintf(path, cap, "%s/sweep.png", sw->dir);
    size_t n = 0;
    double *x = NULL, *y = NULL;
    KR_TRY(kr_alloc((void **)&x, "sweep plot", KR_SWEEP_NPARAM * sw->man.n_points + 1, 1, sizeof *x));
    kr_status st = kr_alloc((void **)&y, "sweep plot", sw->man.n_points + 1, 1, sizeof *y);
    if (st != KR_OK) {
        free(x);
        return st;
    }
    for (size_t i = 0; i < sw->man.n_points; i++) {
        const row *r = &rp->rows[i];
        double q = rp->quality ? r->own_clip : log10(r->loss);
        if (strcmp(r->status, "done") || !isfinite(q)) continue;
        for (int k = 0; k < KR_SWEEP_NPARAM; k++) x[(size_t)k * sw->man.n_points + n] = r->v[k];
        y[n++] = q;
    }
    kr_plot_panel p[KR_SWEEP_NPARAM];
    kr_plot_hline hl = {rp->baseline, "mean-image baseline"};
    static const char *const XL[KR_SWEEP_NPARAM] = {"attack.init_scale", "attack.lr_x",
                                                    "attack.lambda_min", "attack.alpha"};
    char titles[KR_SWEEP_NPARAM][96];
    for (int k = 0; k < KR_SWEEP_NPARAM; k++) {
        snprintf(titles[k], sizeof titles[k], "%s against %s%s",
                 rp->quality ? "quality" : "final loss", KR_SWEEP_PARAMS[k],
                 sw->log_axis[k] ? " (log axis)" : "");
        p[k] = (kr_plot_panel){.n = n, .x = x + (size_t)k * sw->man.n_points, .y = y,
                               .title = titles[k], .xlabel = XL[k],
                               .ylabel = rp->quality ? "clip SSIM, mean (point alone)"
                                                     : "log10 final loss",
                               .opt = {.width = 640, .height = 440, .log_x = sw->log_axis[k]}};
        if (rp->quality) {
            p[k].opt.fixed_y = 1;
            p[k].opt.y_min = 0;
            p[k].opt.y_max = 1;
            if (isfinite(rp->baseline)) {
                p[k].opt.hlines = &hl;
                p[k].opt.n_hlines = 1;
            }
        }
    }
    st = kr_plot_panels_png(path, KR_SWEEP_NPARAM, 2, p);
    free(x);
    free(y);
    return st;
}

/* The per-point quality from the pooled pairs; rows of done points carry their file index. */
static void apply_pairs(report *rp, const kr_eval_pairs *pr)
{
    if (!pr) return;
    for (size_t i = 0; i < rp->sw->man.n_points; i++) {
        row *r = &rp->rows[i];
        if (r->file < 0 || (size_t)r->file >= pr->n_files) continue;
        r->own_clip = pr->file_clip_mean[r->file];
        r->own_official = pr->file_official_mean[r->file];
        for (size_t j = 0; j < pr->n; j++) {
            if (pr->file[j] != (size_t)r->file) continue;
            r->matched++;
            r->clip_above += pr->ssim_clip[j] > 0.4;
            r->official_above += pr->ssim_official[j] > 0.4;
            if (isnan(r->best_clip) || pr->ssim_clip[j] > r->best_clip) r->best_clip = pr->ssim_clip[j];
        }
    }
    rp->quality = true;
}

/* report.html's sweep section (called by the evaluation step while the page is open). */
static kr_status html_sweep(void *user, kr_html *h, const kr_eval_summary *sum,
                            const kr_eval_pairs *pairs)
{
    report *rp = user;
    rp->baseline = sum->mean[2];
    kr_sweep *sw = rp->sw;
    apply_pairs(rp, pairs);
    char png[4400];
    KR_TRY(write_csv(rp));
    KR_TRY(write_png(rp, png, sizeof png));
    KR_TRY(kr_html_h2(h, "Sweep"));
    char text[512];
    snprintf(text, sizeof text, "%zu points, %zu done, %zu failed, %zu pruned (sweep.csv beside "
             "this folder; the pool holds the done points). Alone: every training image matched "
             "to that point's candidates only (mean SSIM). In the pool: the training images whose "
             "nearest pooled candidate is this point's, and how many of them score above 0.4.",
             sw->man.n_points, sw->man.n_points - sw->failed_total - sw->pruned_total,
             sw->failed_total, sw->pruned_total);
    KR_TRY(kr_html_p(h, text));
    KR_TRY(kr_html_png(h, png, "quality of each point alone (clip SSIM, mean over the training "
                               "images) against each hyperparameter"));
    enum { NC = 12 };
    static const char *hdr[NC] = {"point", "status", "init_scale", "lr_x", "lambda_min", "alpha",
                                  "final loss", "KKT layer 1", "alone clip", "matched",
                                  "clip > 0.4", "official > 0.4"};
    size_t n = sw->man.n_points;
    char (*cells)[32] = NULL;
    const char **rows = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&cells, "sweep table", n * NC + 1, 1, sizeof *cells));
    KR_TRY_GOTO(kr_alloc((void **)&rows, "sweep table", n * NC + 1, 1, sizeof *rows));
    for (size_t i = 0; i < n; i++) {
        const row *r = &rp->rows[i];
        char(*c)[32] = cells + i * NC;
        snprintf(c[0], 32, "%zu", i);
        snprintf(c[1], 32, "%s", r->status);
        for (int k = 0; k < KR_SWEEP_NPARAM; k++) snprintf(c[2 + k], 32, "%.4g", r->v[k]);
        fmt(c[6], 32, r->loss), fmt(c[7], 32, r->kkt_first);
        if (isnan(r->own_clip)) c[8][0] = '\0';
        else snprintf(c[8], 32, "%.3f", r->own_clip);
        c[9][0] = c[10][0] = c[11][0] = '\0';
        if (r->file >= 0) {
            snprintf(c[9], 32, "%zu", r->matched);
            snprintf(c[10], 32, "%zu", r->clip_above);
            snprintf(c[11], 32, "%zu", r->official_above);
        }
        for (int k = 0; k < NC; k++) rows[i * NC + (size_t)k] = c[k];
    }
    st = kr_html_table(h, NC, hdr, n, rows);
fail:
    free(cells);
    free(rows);
    return st;
}

kr_status kr_sweep_report(kr_sweep *sw, const char *device_spec, kr_sweep_result *res)
{
    report rp = {.sw = sw, .baseline = NAN};
    const size_t n = sw->man.n_points;
    char **paths = NULL;
    kr_device *dev = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc_zero((void **)&rp.rows, "sweep rows", n ? n : 1, 1, sizeof *rp.rows));
    KR_TRY_GOTO(kr_alloc_zero((void **)&paths, "sweep files", n ? n : 1, 1, sizeof *paths));
    size_t nd = 0;
    sw->failed_total = sw->pruned_total = 0;
    for (size_t i = 0; i < n; i++) {
        read_row(sw, i, &rp.rows[i]);
        sw->failed_total += sw->man.pt[i].status == KR_PT_FAILED;
        sw->pruned_total += sw->man.pt[i].status == KR_PT_PRUNED;
        if (sw->man.pt[i].status != KR_PT_DONE) continue;
        if (!(paths[nd] = malloc(4400))) {
            st = KR_FAIL(KR_E_NOMEM, "sweep files");
            goto fail;
        }
        snprintf(paths[nd], 4400, "%s/points/%04zu/candidates.safetensors", sw->dir, i);
        rp.rows[i].file = (long)nd++;
    }
    res->points = n;
    res->done = nd;
    res->failed = sw->failed_total;
    res->pruned = sw->pruned_total;
    bool evaluated = false;
    if (nd > 0) {
        char edir[4400];
        snprintf(edir, sizeof edir, "%s/evaluate", sw->dir);
        kr_config ec = *sw->cfg;
        kr_eval_opts eo = {.title = "kktrecon sweep", .html_extra = html_sweep, .user = &rp};
        kr_eval_summary sum;
        st = kr_device_open(device_spec, &dev);
        if (st == KR_OK) {
            kr_config_resolve_precision(&ec, dev);
            kr_log_info("sweep: evaluating the %zu finished points pooled", nd);
            st = kr_eval_pool_write(&ec, dev, sw->model, (const char *const *)paths, nd, edir, &eo,
                                    &sum, NULL);
        }
        if (st == KR_OK) {
            evaluated = true;
            res->evaluated = true;
            res->n_train = sum.n_train;
            res->above_clip = sum.above[1][1];
            res->above_official = sum.above[0][1];
            res->mean_clip = sum.mean[1];
        } else if (st == KR_E_INTERRUPTED || st == KR_E_NOMEM) {
            goto fail;
        } else {
            kr_log_info("sweep: no pooled evaluation (%s); sweep.csv and sweep.png show the final "
                        "loss instead of quality", kr_error_message());
        }
    }
    if (!evaluated) {
        char png[4400];
        rp.quality = false;
        KR_TRY_GOTO(write_csv(&rp));
        KR_TRY_GOTO(write_png(&rp, png, sizeof png));
    }
    st = KR_OK;
fail:
    kr_device_close(dev);
    for (size_t i = 0; paths && i < n; i++) free(paths[i]);
    free(paths);
    free(rp.rows);
    return st;
}
