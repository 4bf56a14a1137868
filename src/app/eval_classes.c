/* eval_classes.c — per-class counts of an evaluation (eval_classes.h). */
#include "app/eval_classes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/report.h"

void kr_eval_classes_count(const kr_pair *pr, const kr_binary_set *s, kr_eval_classes *cs,
                           cJSON *j)
{
    memset(cs, 0, sizeof *cs);
    int slot[KR_TASK_MAX_CLASSES];
    for (int k = 0; k < KR_TASK_MAX_CLASSES; k++) slot[k] = -1;
    for (size_t i = 0; i < s->n; i++) {
        const int c = s->class_ids[pr[i].train_row];
        if (c >= 0 && c < KR_TASK_MAX_CLASSES) slot[c] = 1; /* seen */
    }
    for (int c = 0; c < KR_TASK_MAX_CLASSES; c++) /* ascending class ids */
        if (slot[c] >= 0) cs->id[slot[c] = cs->n_classes++] = c;
    for (size_t i = 0; i < s->n; i++) {
        const int c = s->class_ids[pr[i].train_row];
        if (c < 0 || c >= KR_TASK_MAX_CLASSES) continue;
        const int k = slot[c];
        cs->n[k]++;
        cs->above[k] += pr[i].ssim[KR_SSIM_CLIP] > 0.4;
        cs->over_base[k] += pr[i].ssim[KR_SSIM_CLIP] > pr[i].ssim[KR_SSIM_BASELINE];
        cs->clip[k] += pr[i].ssim[KR_SSIM_CLIP];
        cs->base[k] += pr[i].ssim[KR_SSIM_BASELINE];
    }
    cJSON *arr = j ? cJSON_AddArrayToObject(j, "per_class") : NULL;
    for (int k = 0; k < cs->n_classes; k++) {
        cs->clip[k] /= (double)cs->n[k];
        cs->base[k] /= (double)cs->n[k];
        cJSON *o = arr ? cJSON_CreateObject() : NULL;
        if (!o) continue;
        cJSON_AddNumberToObject(o, "class", cs->id[k]);
        cJSON_AddNumberToObject(o, "n", (double)cs->n[k]);
        cJSON_AddNumberToObject(o, "clip_above_0.4", (double)cs->above[k]);
        cJSON_AddNumberToObject(o, "clip_above_baseline", (double)cs->over_base[k]);
        kr_report_json_number(o, "clip_mean", cs->clip[k]);
        kr_report_json_number(o, "mean_baseline_mean", cs->base[k]);
        cJSON_AddItemToArray(arr, o);
    }
}

kr_status kr_eval_classes_html(kr_html *h, const kr_eval_classes *cs)
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
