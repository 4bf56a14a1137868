/* data.c — dataset dispatch and lifetime, binary tasks, first-k-per-class selection, mean image.
 *
 * The format readers live in data_idx.c (MNIST / Fashion-MNIST), data_cifar.c (CIFAR-10 binary)
 * and data_folder.c (PNG/JPEG folders). This file only chooses among them and works on the
 * loaded kr_dataset.
 *
 * Not here: any file parsing, any normalisation other than pixel/255 and the mean image.
 * Protocol (DESIGN.md §2, from the paper's code): labels ±1 by class group, selection scans the
 * train split in file order and keeps the first k of each group, inputs are x/255 minus the
 * per-pixel mean of the selected train samples (the test split uses the train mean).
 */
#define _POSIX_C_SOURCE 200809L
#include "io/data.h"

#include <ctype.h>
#include <stdint.h>

#include "base/rng.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------- dataset lifetime and dispatch ---------- */

kr_status kr_dataset_new(size_t n, int c, int h, int w, int num_classes, kr_dataset **out)
{
    kr_status st = KR_OK;
    kr_dataset *d = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_dataset_new: out is NULL");
    *out = NULL;
    if (c <= 0 || h <= 0 || w <= 0 || num_classes <= 0 || num_classes > KR_TASK_MAX_CLASSES)
        return KR_FAIL(KR_E_INVALID, "kr_dataset_new: bad shape %dx%dx%d or %d classes", c, h, w,
                       num_classes);
    size_t dim = (size_t)c * (size_t)h * (size_t)w;
    if (n > 0 && dim > SIZE_MAX / n)
        return KR_FAIL(KR_E_NOMEM, "kr_dataset_new: %zu images of %zu bytes overflow", n, dim);
    d = calloc(1, sizeof *d);
    if (!d) goto oom;
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    d->d = dim;
    d->num_classes = num_classes;
    d->pixels = calloc(n > 0 && dim > 0 ? n * dim : 1, 1); /* n x d */
    d->labels = calloc(n ? n : 1, sizeof *d->labels); /* n */
    if (!d->pixels || !d->labels) goto oom;
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "dataset of %zu images of %dx%dx%d: out of memory", n, c, h, w);
    kr_dataset_free(d);
    return st;
}

static void free_strings(char **s, size_t n)
{
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

void kr_dataset_free(kr_dataset *d)
{
    if (!d) return;
    free(d->pixels);
    free(d->labels);
    free_strings(d->class_names, d->class_names ? (size_t)d->num_classes : 0);
    free_strings(d->sources, d->num_sources);
    free_strings(d->files, d->files ? d->n : 0);
    free(d);
}

kr_status kr_data_load_max(const char *kind, const char *path, kr_split split, size_t max_records,
                           kr_dataset **out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load: out is NULL");
    *out = NULL;
    if (!kind || !path) return KR_FAIL(KR_E_INVALID, "kr_data_load: kind or path is NULL");
    if (split != KR_SPLIT_TRAIN && split != KR_SPLIT_TEST)
        return KR_FAIL(KR_E_INVALID, "kr_data_load: bad split %d", (int)split);
    if (!strcasecmp(kind, "mnist"))
        return kr_data_load_idx("mnist", path, split, max_records, out);
    if (!strcasecmp(kind, "fashion-mnist") || !strcasecmp(kind, "fashion_mnist") ||
        !strcasecmp(kind, "fmnist"))
        return kr_data_load_idx("fashion-mnist", path, split, max_records, out);
    if (!strcasecmp(kind, "cifar10") || !strcasecmp(kind, "cifar-10"))
        return kr_data_load_cifar10(path, split, max_records, out);
    if (!strcasecmp(kind, "folder"))
        return kr_data_load_folder(path, split, max_records, out);
    return KR_FAIL(KR_E_INVALID,
                   "unknown dataset kind '%s' (expected mnist, fashion-mnist, cifar10 or folder)",
                   kind);
}

kr_status kr_data_load(const char *kind, const char *path, kr_split split, kr_dataset **out)
{
    return kr_data_load_max(kind, path, split, 0, out);
}

/* ---------- binary tasks ---------- */

static void task_set_group(kr_task *t, const int *ids, size_t n, signed char sign)
{
    for (size_t i = 0; i < n; i++) {
        t->sign[ids[i]] = sign;
        if (ids[i] > t->max_class) t->max_class = ids[i];
    }
}

/* Appends the ids with sign s in ascending order, comma-separated, to buf. */
static void task_append_group(const kr_task *t, signed char s, char *buf, size_t cap)
{
    int first = 1;
    for (int k = 0; k <= t->max_class; k++) {
        if (t->sign[k] != s) continue;
        size_t len = strlen(buf);
        if (len + 1 >= cap) return;
        snprintf(buf + len, cap - len, first ? "%d" : ",%d", k);
        first = 0;
    }
}

static int spec_is(const char *spec, const char *name)
{
    /* "odd_even" also matches "odd-even" */
    for (; *spec && *name; spec++, name++) {
        char a = *spec == '-' ? '_' : (char)tolower((unsigned char)*spec);
        if (a != *name) return 0;
    }
    return *spec == '\0' && *name == '\0';
}

/* Parses one comma-separated group of class ids into t with the given sign. */
static kr_status task_parse_group(const char *spec, const char *begin, const char *end,
                                  const char *which, signed char sign, kr_task *t)
{
    const char *p = begin;
    int count = 0;
    while (p < end) {
        while (p < end && isspace((unsigned char)*p)) p++;
        const char *tok = p;
        long v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            v = v * 10 + (*p - '0');
            if (v >= KR_TASK_MAX_CLASSES) break;
            p++;
        }
        int ndig = (int)(p - tok);
        while (p < end && isspace((unsigned char)*p)) p++;
        if (ndig == 0 || v >= KR_TASK_MAX_CLASSES || (p < end && *p != ',')) {
            if (ndig == 0 && p >= end && count == 0)
                return KR_FAIL(KR_E_INVALID, "task '%s': group %s is empty", spec, which);
            return KR_FAIL(KR_E_INVALID,
                           "task '%s': group %s: expected a class id 0..%d at character %d",
                           spec, which, KR_TASK_MAX_CLASSES - 1,
                           (int)((ndig ? p : tok) - spec) + 1);
        }
        if (t->sign[v] == sign)
            return KR_FAIL(KR_E_INVALID, "task '%s': class %ld is listed twice in group %s", spec,
                           v, which);
        if (t->sign[v] != 0)
            return KR_FAIL(KR_E_INVALID, "task '%s': class %ld is in both groups", spec, v);
        t->sign[v] = sign;
        if ((int)v > t->max_class) t->max_class = (int)v;
        count++;
        if (p < end) {
            p++; /* ',' */
            const char *q = p;
            while (q < end && isspace((unsigned char)*q)) q++;
            if (q >= end)
                return KR_FAIL(KR_E_INVALID, "task '%s': group %s ends with ','", spec, which);
        }
    }
    if (count == 0) return KR_FAIL(KR_E_INVALID, "task '%s': group %s is empty", spec, which);
    return KR_OK;
}

/* "multiclass:3,5,8": the listed classes, outputs in that order. */
static kr_status task_parse_multiclass(const char *spec, const char *list, kr_task *t)
{
    const char *p = list;
    for (;;) {
        while (isspace((unsigned char)*p)) p++;
        const char *tok = p;
        long v = 0;
        while (isdigit((unsigned char)*p) && v < KR_TASK_MAX_CLASSES) v = v * 10 + (*p++ - '0');
        if (p == tok || v >= KR_TASK_MAX_CLASSES)
            return KR_FAIL(KR_E_INVALID, "task '%s': expected a class id 0..%d at character %d",
                           spec, KR_TASK_MAX_CLASSES - 1, (int)(tok - spec) + 1);
        if (t->out[v])
            return KR_FAIL(KR_E_INVALID, "task '%s': class %ld is listed twice", spec, v);
        t->out[v] = (short)(++t->n_listed);
        if ((int)v > t->max_class) t->max_class = (int)v;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '\0') break;
        if (*p++ != ',')
            return KR_FAIL(KR_E_INVALID, "task '%s': expected ',' at character %d", spec,
                           (int)(p - spec));
    }
    if (t->n_listed < 2)
        return KR_FAIL(KR_E_INVALID, "task '%s': a multiclass task needs at least 2 classes",
                       spec);
    return KR_OK;
}

int kr_task_outputs(const kr_task *t, int num_classes)
{
    if (t->kind != KR_TASK_MULTICLASS) return 1;
    return t->all_classes ? num_classes : t->n_listed;
}

/* The group of class lab under t: binary/regression 0 (−1) or 1 (+1), multiclass the output
 * index; −1 when the class is not used. */
static int task_group(const kr_task *t, int lab)
{
    if (lab < 0 || lab >= KR_TASK_MAX_CLASSES) return -1;
    if (t->kind == KR_TASK_MULTICLASS) return t->all_classes ? lab : t->out[lab] - 1;
    return t->sign[lab] == 0 ? -1 : t->sign[lab] > 0;
}

kr_status kr_task_parse(const char *spec, kr_task *out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_task_parse: out is NULL");
    memset(out, 0, sizeof *out);
    out->max_class = -1;
    if (!spec) return KR_FAIL(KR_E_INVALID, "kr_task_parse: spec is NULL");

    if (spec_is(spec, "multiclass")) {
        out->kind = KR_TASK_MULTICLASS;
        out->all_classes = 1;
        snprintf(out->name, sizeof out->name, "multiclass");
        return KR_OK;
    }
    if (!strncasecmp(spec, "multiclass:", 11)) {
        out->kind = KR_TASK_MULTICLASS;
        kr_status st = task_parse_multiclass(spec, spec + 11, out);
        if (st != KR_OK) {
            memset(out, 0, sizeof *out);
            out->max_class = -1;
            return st;
        }
        snprintf(out->name, sizeof out->name, "multiclass:");
        for (int j = 1; j <= out->n_listed; j++)
            for (int k = 0; k <= out->max_class; k++)
                if (out->out[k] == j) {
                    size_t len = strlen(out->name);
                    if (len + 5 < sizeof out->name)
                        snprintf(out->name + len, sizeof out->name - len, j > 1 ? ",%d" : "%d", k);
                }
        return KR_OK;
    }
    if (spec_is(spec, "vehicles_animals_regression") || !strncasecmp(spec, "regression:", 11)) {
        const char *inner = spec[0] == 'r' || spec[0] == 'R' ? spec + 11 : "vehicles_animals";
        if (!strncasecmp(inner, "multiclass", 10) || !strncasecmp(inner, "regression", 10))
            return KR_FAIL(KR_E_INVALID, "task '%s': regression takes a binary task (A/B or a "
                           "named one)", spec);
        KR_TRY(kr_task_parse(inner, out));
        char name[128];
        snprintf(name, sizeof name, "%s", out->name);
        snprintf(out->name, sizeof out->name, "regression:%.100s", name);
        out->kind = KR_TASK_REGRESSION;
        return KR_OK;
    }

    if (spec_is(spec, "odd_even")) {
        static const int neg[] = {0, 2, 4, 6, 8}, pos[] = {1, 3, 5, 7, 9};
        task_set_group(out, neg, 5, -1);
        task_set_group(out, pos, 5, +1);
        snprintf(out->name, sizeof out->name, "odd_even");
        return KR_OK;
    }
    if (spec_is(spec, "vehicles_animals")) {
        static const int neg[] = {0, 1, 8, 9}, pos[] = {2, 3, 4, 5, 6, 7};
        task_set_group(out, neg, 4, -1);
        task_set_group(out, pos, 6, +1);
        snprintf(out->name, sizeof out->name, "vehicles_animals");
        return KR_OK;
    }
    if (spec_is(spec, "clothing_footwear")) {
        static const int neg[] = {0, 1, 2, 3, 4, 6}, pos[] = {5, 7, 8, 9};
        task_set_group(out, neg, 6, -1);
        task_set_group(out, pos, 4, +1);
        snprintf(out->name, sizeof out->name, "clothing_footwear");
        return KR_OK;
    }

    kr_status st = KR_OK;
    const char *slash = strchr(spec, '/');
    if (!slash || strchr(slash + 1, '/')) {
        st = KR_FAIL(KR_E_INVALID,
                     "unknown task '%s' (expected odd_even, vehicles_animals, clothing_footwear, "
                     "A/B with comma-separated class ids, e.g. 0,1/2,3, multiclass, "
                     "multiclass:IDS or regression:TASK)",
                     spec);
        goto fail;
    }
    KR_TRY_GOTO(task_parse_group(spec, spec, slash, "A (label -1)", -1, out));
    KR_TRY_GOTO(task_parse_group(spec, slash + 1, slash + strlen(slash), "B (label +1)", +1, out));
    task_append_group(out, -1, out->name, sizeof out->name);
    size_t len = strlen(out->name);
    if (len + 1 < sizeof out->name) {
        out->name[len] = '/';
        out->name[len + 1] = '\0';
    }
    task_append_group(out, +1, out->name, sizeof out->name);
    return KR_OK;
fail:
    memset(out, 0, sizeof *out);
    out->max_class = -1;
    return st;
}

kr_status kr_task_default(const char *kind, int num_classes, kr_task *out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_task_default: out is NULL");
    memset(out, 0, sizeof *out);
    out->max_class = -1;
    if (!kind) return KR_FAIL(KR_E_INVALID, "kr_task_default: kind is NULL");
    if (!strcasecmp(kind, "mnist")) return kr_task_parse("odd_even", out);
    if (!strcasecmp(kind, "fashion-mnist") || !strcasecmp(kind, "fashion_mnist") ||
        !strcasecmp(kind, "fmnist"))
        return kr_task_parse("clothing_footwear", out);
    if (!strcasecmp(kind, "cifar10") || !strcasecmp(kind, "cifar-10"))
        return kr_task_parse("vehicles_animals", out);
    if (!strcasecmp(kind, "folder")) {
        if (num_classes == 2) return kr_task_parse("0/1", out);
        return KR_FAIL(KR_E_INVALID,
                       "a folder dataset with %d classes has no default task; give one as A/B "
                       "with comma-separated class ids, e.g. 0,1/2,3",
                       num_classes);
    }
    return KR_FAIL(KR_E_INVALID, "no default task for dataset kind '%s'", kind);
}

kr_status kr_task_validate(const kr_task *t, int num_classes)
{
    if (!t) return KR_FAIL(KR_E_INVALID, "kr_task_validate: task is NULL");
    if (t->kind == KR_TASK_MULTICLASS) {
        if (t->all_classes && num_classes < 2)
            return KR_FAIL(KR_E_INVALID, "task '%s' needs a dataset with at least 2 classes, "
                           "this one has %d", t->name, num_classes);
        if (t->max_class >= num_classes)
            return KR_FAIL(KR_E_INVALID,
                           "task '%s' uses class %d, but the dataset has %d classes (0..%d)",
                           t->name, t->max_class, num_classes, num_classes - 1);
        return KR_OK;
    }
    int neg = 0, pos = 0;
    for (int k = 0; k < KR_TASK_MAX_CLASSES; k++) {
        if (t->sign[k] == 0) continue;
        if (k >= num_classes)
            return KR_FAIL(KR_E_INVALID,
                           "task '%s' uses class %d, but the dataset has %d classes (0..%d)",
                           t->name, k, num_classes, num_classes - 1);
        if (t->sign[k] < 0) neg++;
        else pos++;
    }
    if (!neg || !pos)
        return KR_FAIL(KR_E_INVALID, "task '%s' needs at least one class in each group", t->name);
    return KR_OK;
}

/* ---------- selection ---------- */

void kr_binary_set_free(kr_binary_set *s)
{
    if (!s) return;
    free(s->x);
    free(s->y);
    free(s->class_ids);
    free(s->index);
    free(s);
}

kr_status kr_data_select(const kr_dataset *d, const kr_task *t, size_t per_class,
                         kr_binary_set **out)
{
    kr_status st = KR_OK;
    kr_binary_set *s = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_select: out is NULL");
    *out = NULL;
    if (!d || !t) return KR_FAIL(KR_E_INVALID, "kr_data_select: dataset or task is NULL");
    KR_TRY(kr_task_validate(t, d->num_classes));
    const char *src = d->num_sources ? d->sources[0] : d->kind;

    /* Pass 1: how many of each group exist, and how many will be kept. Groups: [0] the −1
     * group, [1] the +1 group; multiclass: one per output. */
    const int G = t->kind == KR_TASK_MULTICLASS ? kr_task_outputs(t, d->num_classes) : 2;
    size_t have[KR_TASK_MAX_CLASSES] = {0}, keep[KR_TASK_MAX_CLASSES] = {0};
    for (size_t i = 0; i < d->n; i++) {
        int g = task_group(t, d->labels[i]);
        if (g < 0) continue;
        have[g]++;
        if (per_class == 0 || keep[g] < per_class) keep[g]++;
    }
    for (int g = 0; g < G; g++) {
        if ((per_class && have[g] < per_class) || have[g] == 0) {
            if (t->kind == KR_TASK_MULTICLASS) {
                int cls = g;
                for (int k = 0; !t->all_classes && k <= t->max_class; k++)
                    if (t->out[k] == g + 1) cls = k;
                return KR_FAIL(KR_E_INVALID,
                               "%s (%zu records): task '%s', class %d has %zu samples, %zu "
                               "requested", src, d->n, t->name, cls, have[g],
                               per_class ? per_class : (size_t)1);
            }
            char classes[KR_TASK_MAX_CLASSES * 4] = "";
            task_append_group(t, g ? +1 : -1, classes, sizeof classes);
            return KR_FAIL(KR_E_INVALID,
                           "%s (%zu records): task '%s', group %s (classes %s) has %zu samples, "
                           "%zu requested",
                           src, d->n, t->name, g ? "+1" : "-1", classes, have[g],
                           per_class ? per_class : (size_t)1);
        }
    }

    size_t n = 0;
    for (int g = 0; g < G; g++) n += keep[g];
    s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->n = n;
    s->d = d->d;
    s->c = d->c;
    s->h = d->h;
    s->w = d->w;
    snprintf(s->task, sizeof s->task, "%s", t->name);
    s->kind = t->kind;
    s->n_outputs = kr_task_outputs(t, d->num_classes);
    if (d->d && n > SIZE_MAX / sizeof(double) / d->d) goto oom;
    s->x = malloc(n * d->d * sizeof *s->x);      /* n x d */
    s->y = malloc(n * sizeof *s->y);             /* n */
    s->class_ids = malloc(n * sizeof *s->class_ids); /* n */
    s->index = malloc(n * sizeof *s->index);     /* n */
    if (!s->x || !s->y || !s->class_ids || !s->index) goto oom;

    /* Pass 2: copy the kept samples in file order. */
    size_t took[KR_TASK_MAX_CLASSES] = {0}, j = 0;
    for (size_t i = 0; i < d->n && j < n; i++) {
        int lab = d->labels[i];
        int g = task_group(t, lab);
        if (g < 0) continue;
        if (took[g] >= keep[g]) continue;
        took[g]++;
        const unsigned char *px = d->pixels + i * d->d;
        double *xr = s->x + j * d->d;
        for (size_t k = 0; k < d->d; k++) xr[k] = (double)px[k] / 255.0;
        s->y[j] = t->kind == KR_TASK_MULTICLASS ? (double)g : g ? 1.0 : -1.0;
        s->class_ids[j] = lab;
        s->index[j] = i;
        j++;
    }
    *out = s;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "selecting %zu samples of %zu values: out of memory", n, d->d);
    kr_binary_set_free(s);
    return st;
}

void kr_binary_set_shuffle(kr_binary_set *s, uint64_t seed)
{
    kr_rng r;
    kr_rng_seed(&r, seed);
    for (size_t i = s->n; i > 1; i--) {
        size_t j = (size_t)(kr_rng_u64(&r) % i), a = i - 1;
        if (j == a) continue;
        for (size_t k = 0; k < s->d; k++) {
            double t = s->x[a * s->d + k];
            s->x[a * s->d + k] = s->x[j * s->d + k];
            s->x[j * s->d + k] = t;
        }
        double ty = s->y[a];
        s->y[a] = s->y[j], s->y[j] = ty;
        int tc = s->class_ids[a];
        s->class_ids[a] = s->class_ids[j], s->class_ids[j] = tc;
        size_t ti = s->index[a];
        s->index[a] = s->index[j], s->index[j] = ti;
    }
}

/* ---------- mean image ---------- */

kr_status kr_binary_set_mean(const kr_binary_set *s, double *mean)
{
    if (!s || !mean) return KR_FAIL(KR_E_INVALID, "kr_binary_set_mean: NULL argument");
    if (s->n == 0) return KR_FAIL(KR_E_INVALID, "mean image of an empty set");
    for (size_t k = 0; k < s->d; k++) mean[k] = 0.0;
    for (size_t i = 0; i < s->n; i++) {
        const double *xr = s->x + i * s->d;
        for (size_t k = 0; k < s->d; k++) mean[k] += xr[k];
    }
    for (size_t k = 0; k < s->d; k++) mean[k] /= (double)s->n;
    return KR_OK;
}

kr_status kr_binary_set_subtract_mean(kr_binary_set *s, const double *mean, size_t d)
{
    if (!s || !mean) return KR_FAIL(KR_E_INVALID, "kr_binary_set_subtract_mean: NULL argument");
    if (d != s->d)
        return KR_FAIL(KR_E_INVALID, "mean image has %zu values, the samples have %zu", d, s->d);
    for (size_t i = 0; i < s->n; i++) {
        double *xr = s->x + i * s->d;
        for (size_t k = 0; k < d; k++) xr[k] -= mean[k];
    }
    s->mean_subtracted = 1;
    return KR_OK;
}
