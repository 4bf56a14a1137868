/* sweep_manifest.c — DIR/sweep.json (sweep_manifest.h). */
#include "io/sweep_manifest.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "io/report.h"

static const char *const NAMES[] = {"pending", "running", "done", "failed", "pruned"};

const char *kr_manifest_status_name(kr_pt_status s) { return NAMES[s]; }

kr_status kr_manifest_init(kr_manifest *m, size_t n_points)
{
    memset(m, 0, sizeof *m);
    return kr_manifest_grow(m, n_points);
}

kr_status kr_manifest_grow(kr_manifest *m, size_t n)
{
    if (n <= m->n_points) return KR_OK;
    kr_manifest_point *p = realloc(m->pt, n * sizeof *p);
    if (!p) return KR_FAIL(KR_E_NOMEM, "sweep manifest (%zu points)", n);
    for (size_t i = m->n_points; i < n; i++) p[i] = (kr_manifest_point){.status = KR_PT_PENDING, .batch = -1};
    m->pt = p;
    m->n_points = n;
    return KR_OK;
}

kr_status kr_manifest_add_batch(kr_manifest *m, const size_t *points, size_t n, size_t *b)
{
    if (m->n_batches == m->cap_batches) {
        size_t cap = m->cap_batches ? 2 * m->cap_batches : 16;
        kr_manifest_batch *nb = realloc(m->bt, cap * sizeof *nb);
        if (!nb) return KR_FAIL(KR_E_NOMEM, "sweep manifest batches");
        m->bt = nb;
        m->cap_batches = cap;
    }
    kr_manifest_batch *t = &m->bt[m->n_batches];
    memset(t, 0, sizeof *t);
    KR_TRY(kr_alloc((void **)&t->points, "sweep batch", n ? n : 1, 1, sizeof *t->points));
    memcpy(t->points, points, n * sizeof *points);
    t->n = n;
    t->status = KR_PT_PENDING;
    for (size_t i = 0; i < n; i++) m->pt[points[i]].batch = (long)m->n_batches;
    *b = m->n_batches++;
    return KR_OK;
}

void kr_manifest_free(kr_manifest *m)
{
    for (size_t b = 0; b < m->n_batches; b++) free(m->bt[b].points);
    free(m->bt);
    free(m->pt);
    memset(m, 0, sizeof *m);
}

kr_status kr_manifest_save(const char *path, const kr_manifest *m)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return KR_FAIL(KR_E_NOMEM, "%s", path);
    cJSON_AddStringToObject(j, "format", "kktrecon-sweep/1");
    cJSON *pts = cJSON_AddArrayToObject(j, "points");
    for (size_t i = 0; i < m->n_points; i++) {
        const kr_manifest_point *p = &m->pt[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(pts, o);
        cJSON_AddNumberToObject(o, "point", (double)i);
        cJSON_AddStringToObject(o, "status", NAMES[p->status]);
        cJSON_AddNumberToObject(o, "batch", (double)p->batch);
        if (p->reason[0]) cJSON_AddStringToObject(o, "reason", p->reason);
        if (p->device[0]) cJSON_AddStringToObject(o, "device", p->device);
        if (p->status == KR_PT_DONE || p->status == KR_PT_FAILED || p->status == KR_PT_PRUNED)
            kr_report_json_number(o, "seconds", p->seconds);
    }
    cJSON *bts = cJSON_AddArrayToObject(j, "batches");
    for (size_t b = 0; b < m->n_batches; b++) {
        const kr_manifest_batch *t = &m->bt[b];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(bts, o);
        cJSON_AddNumberToObject(o, "batch", (double)b);
        cJSON *a = cJSON_AddArrayToObject(o, "points");
        for (size_t i = 0; i < t->n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->points[i]));
        cJSON_AddStringToObject(o, "status", NAMES[t->status]);
        if (t->device[0]) cJSON_AddStringToObject(o, "device", t->device);
        cJSON_AddNumberToObject(o, "checkpoint_iteration", (double)t->checkpoint_iteration);
    }
    kr_status st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    return st;
}

static int status_of(const cJSON *s)
{
    if (!cJSON_IsString(s)) return -1;
    for (int k = 0; k < (int)(sizeof NAMES / sizeof NAMES[0]); k++)
        if (!strcmp(s->valuestring, NAMES[k])) return k;
    return -1;
}

/* A whole number in [lo, hi] or -2 (the range is checked before the conversion, which is
 * undefined for a double outside long's range: found by fuzz_manifest). */
static long whole(const cJSON *v, long lo, long hi)
{
    if (!cJSON_IsNumber(v)) return -2;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return -2;
    return (long)d;
}

kr_status kr_manifest_load(const char *path, kr_manifest *m)
{
    memset(m, 0, sizeof *m);
    char *text;
    kr_status rs = kr_report_read_text(path, 64u << 20, &text);
    if (rs != KR_OK) return kr_error_context(rs, "--resume: the sweep manifest");
    cJSON *j = cJSON_Parse(text);
    free(text);
    kr_status st = KR_OK;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        st = KR_FAIL(KR_E_INVALID, __VA_ARGS__);                                                   \
        goto fail;                                                                                 \
    } while (0)
    if (!j) BAD("%s: not JSON (damaged manifest?)", path);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(j, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "kktrecon-sweep/1"))
        BAD("%s: \"format\" is not \"kktrecon-sweep/1\"", path);
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(j, "points");
    const cJSON *bts = cJSON_GetObjectItemCaseSensitive(j, "batches");
    if (!cJSON_IsArray(pts) || !cJSON_IsArray(bts)) BAD("%s: \"points\" and \"batches\" must be arrays", path);
    int np = cJSON_GetArraySize(pts), nb = cJSON_GetArraySize(bts);
    if ((st = kr_manifest_init(m, (size_t)np)) != KR_OK) goto fail;
    for (int i = 0; i < np; i++) {
        const cJSON *o = cJSON_GetArrayItem(pts, i);
        int s = status_of(cJSON_GetObjectItemCaseSensitive(o, "status"));
        long b = whole(cJSON_GetObjectItemCaseSensitive(o, "batch"), -1, nb - 1);
        if (s < 0 || b < -1 || whole(cJSON_GetObjectItemCaseSensitive(o, "point"), i, i) != i)
            BAD("%s: points[%d] is damaged (point, status, batch)", path, i);
        m->pt[i].status = (kr_pt_status)s;
        m->pt[i].batch = b;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reason");
        if (cJSON_IsString(r)) snprintf(m->pt[i].reason, sizeof m->pt[i].reason, "%s", r->valuestring);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "device");
        if (cJSON_IsString(d)) snprintf(m->pt[i].device, sizeof m->pt[i].device, "%s", d->valuestring);
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
        if (cJSON_IsNumber(sec)) m->pt[i].seconds = sec->valuedouble;
    }
    for (int b = 0; b < nb; b++) {
        const cJSON *o = cJSON_GetArrayItem(bts, b);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "points");
        int s = status_of(cJSON_GetObjectItemCaseSensitive(o, "status"));
        long ck = whole(cJSON_GetObjectItemCaseSensitive(o, "checkpoint_iteration"), 0, 1L << 52);
        if (!cJSON_IsArray(a) || s < 0 || s > KR_PT_DONE || ck < 0 || cJSON_GetArraySize(a) < 1 ||
            cJSON_GetArraySize(a) > 1024)
            BAD("%s: batches[%d] is damaged (points, status, checkpoint_iteration)", path, b);
        size_t n = (size_t)cJSON_GetArraySize(a), ids[1024], got;
        for (size_t i = 0; i < n; i++) {
            long p = whole(cJSON_GetArrayItem(a, (int)i), 0, np - 1);
            if (p < 0 || m->pt[p].batch != b) BAD("%s: batches[%d] lists point %ld, which is not in it", path, b, p);
            ids[i] = (size_t)p;
        }
        if ((st = kr_manifest_add_batch(m, ids, n, &got)) != KR_OK) goto fail;
        m->bt[got].status = (kr_pt_status)s;
        m->bt[got].checkpoint_iteration = ck;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "device");
        if (cJSON_IsString(d)) snprintf(m->bt[got].device, sizeof m->bt[got].device, "%s", d->valuestring);
    }
    for (size_t i = 0; i < m->n_points; i++) {
        long b = m->pt[i].batch;
        if (b < 0 && m->pt[i].status != KR_PT_PENDING)
            BAD("%s: point %zu is %s but in no batch", path, i, NAMES[m->pt[i].status]);
        bool listed = false;
        for (size_t k = 0; b >= 0 && k < m->bt[b].n; k++) listed |= m->bt[b].points[k] == i;
        if (b >= 0 && !listed)
            BAD("%s: point %zu names batch %ld, which does not list it", path, i, b);
    }
#undef BAD
    cJSON_Delete(j);
    return KR_OK;
fail:
    cJSON_Delete(j);
    kr_manifest_free(m);
    return st;
}
