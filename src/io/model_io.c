/* model_io.c — kr_model <-> safetensors (tensor names of the paper's PyTorch state_dict).
 *
 * Does: save with architecture metadata; load our files and plain PyTorch state_dicts
 * ("layers.N.weight" from an nn.ModuleList, or "N.weight" from an nn.Sequential), checking the
 * layer chain, each layer's bias shape and, when present, the metadata. The output count C
 * comes from the last weight's rows; a bias may sit on any layer (nn.Linear's default).
 * Does not: touch devices or store optimiser state.
 */
#include "io/model_io.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KR_MIO_FORMAT "kktrecon-mlp"

static const char *const kr_mio_reserved[] = {"format", "dims", "first_bias", "biases",
                                              "image_shape", "dtype"};

/* "a,b,c" from n sizes; false if it does not fit. */
static bool kr_mio_join(char *buf, size_t cap, const size_t *v, int n)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        int w = snprintf(buf + k, cap - k, i ? ",%zu" : "%zu", v[i]);
        if (w < 0 || (size_t)w >= cap - k) return false;
        k += (size_t)w;
    }
    return true;
}

/* Parses "a,b,c" (decimal sizes) into v; returns the count, or -1 if malformed or > cap. */
static int kr_mio_split(const char *s, size_t *v, int cap)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        if (*p < '0' || *p > '9' || n >= cap) return -1;
        size_t x = 0;
        while (*p >= '0' && *p <= '9') {
            if (x > (SIZE_MAX - 9) / 10) return -1;
            x = x * 10 + (size_t)(*p++ - '0');
        }
        v[n++] = x;
        while (*p == ' ') p++;
        if (*p == '\0') return n;
        if (*p++ != ',') return -1;
        while (*p == ' ') p++;
    }
}

kr_status kr_model_save(const char *path, const kr_model *m, kr_dtype dtype,
                        const kr_st_meta *extra, size_t n_extra)
{
    int L = m->layers;
    if (L < 2 || L > KR_MAX_LAYERS || m->dims[L] < 1)
        return KR_FAIL(KR_E_INVALID, "saving model to %s: expected 2..%d layers and >= 1 "
                       "output, got %d layers", path, KR_MAX_LAYERS, L);
    for (size_t i = 0; i < n_extra; i++)
        for (size_t k = 0; k < sizeof kr_mio_reserved / sizeof *kr_mio_reserved; k++)
            if (extra[i].key && strcmp(extra[i].key, kr_mio_reserved[k]) == 0)
                return KR_FAIL(KR_E_INVALID, "saving model to %s: metadata key '%s' is reserved "
                               "for the architecture", path, extra[i].key);

    kr_st_dtype sdt = dtype == KR_F64 ? KR_ST_F64 : KR_ST_F32;
    char names[KR_MAX_LAYERS][32], bnames[KR_MAX_LAYERS][32];
    kr_st_entry ent[2 * KR_MAX_LAYERS + 1];
    size_t ne = 0;
    memset(ent, 0, sizeof ent);
    for (int l = 0; l < L; l++) {
        snprintf(names[l], sizeof names[l], "layers.%d.weight", l);
        ent[ne++] = (kr_st_entry){.name = names[l], .dtype = sdt, .ndim = 2,
                                  .shape = {m->dims[l + 1], m->dims[l]}, .data = m->w[l],
                                  .src_dtype = KR_ST_F64};
        snprintf(bnames[l], sizeof bnames[l], "layers.%d.bias", l);
        if (m->b[l])
            ent[ne++] = (kr_st_entry){.name = bnames[l], .dtype = sdt, .ndim = 1,
                                      .shape = {m->dims[l + 1]}, .data = m->b[l],
                                      .src_dtype = KR_ST_F64};
    }
    if (m->mean)
        ent[ne++] = (kr_st_entry){.name = "data.mean", .dtype = sdt, .ndim = 1,
                                  .shape = {m->dims[0]}, .data = m->mean, .src_dtype = KR_ST_F64};

    char dims[KR_MAX_LAYERS * 24], shape[80], biases[KR_MAX_LAYERS * 2 + 1];
    if (!kr_mio_join(dims, sizeof dims, m->dims, L + 1))
        return KR_FAIL(KR_E_INVALID, "saving model to %s: dims do not fit the metadata", path);
    size_t flags[KR_MAX_LAYERS];
    for (int l = 0; l < L; l++) flags[l] = m->b[l] != NULL;
    kr_mio_join(biases, sizeof biases, flags, L);
    size_t img[3] = {m->image_c, m->image_h, m->image_w};
    bool has_img = img[0] && img[1] && img[2] && img[0] * img[1] * img[2] == m->dims[0];
    kr_mio_join(shape, sizeof shape, img, 3);

    kr_st_meta *meta = malloc((n_extra + 6) * sizeof *meta);
    if (!meta) return KR_FAIL(KR_E_NOMEM, "saving model to %s", path);
    size_t nm = 0;
    meta[nm++] = (kr_st_meta){"format", KR_MIO_FORMAT};
    meta[nm++] = (kr_st_meta){"dims", dims};
    meta[nm++] = (kr_st_meta){"first_bias", m->b[0] ? "true" : "false"};
    meta[nm++] = (kr_st_meta){"biases", biases};
    if (has_img) meta[nm++] = (kr_st_meta){"image_shape", shape};
    meta[nm++] = (kr_st_meta){"dtype", kr_st_dtype_name(sdt)};
    for (size_t i = 0; i < n_extra; i++) meta[nm++] = extra[i];
    kr_status st = kr_st_write(path, ent, ne, meta, nm);
    free(meta);
    if (st != KR_OK) return kr_error_context(st, "saving model");
    return KR_OK;
}

/* If name is PREFIX<digits>.<suffix> with suffix "weight" or "bias": its index and kind. */
static bool kr_mio_layer_name(const char *name, const char *prefix, int *idx, bool *is_bias)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0) return false;
    const char *p = name + pl;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9')) return false;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > 1000000) return false;
    }
    if (strcmp(p, ".weight") == 0) *is_bias = false;
    else if (strcmp(p, ".bias") == 0) *is_bias = true;
    else return false;
    *idx = (int)v;
    return true;
}

static int kr_mio_cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Finds the weight tensors in layer order: idx[0..*L-1] and the name prefix. */
static kr_status kr_mio_scan(const kr_st_file *f, const char **prefix, int *idx, int *L)
{
    const char *path = kr_st_path(f);
    *prefix = kr_st_find(f, "layers.0.weight") ? "layers." : NULL;
    if (!*prefix) {
        /* nn.Sequential: any "<n>.weight" without prefix */
        for (size_t i = 0; i < kr_st_count(f) && !*prefix; i++) {
            int k;
            bool b;
            if (kr_mio_layer_name(kr_st_tensor_at(f, i)->name, "", &k, &b) && !b) *prefix = "";
        }
    }
    if (!*prefix)
        return KR_FAIL(KR_E_INVALID, "%s: missing tensor 'layers.0.weight' (expected an MLP "
                       "state_dict with layers.N.weight, N = 0..L-1)", path);
    int n = 0;
    for (size_t i = 0; i < kr_st_count(f); i++) {
        const char *name = kr_st_tensor_at(f, i)->name;
        int k;
        bool is_bias;
        if (!kr_mio_layer_name(name, *prefix, &k, &is_bias) || is_bias) continue;
        if (n >= KR_MAX_LAYERS)
            return KR_FAIL(KR_E_INVALID, "%s: more than %d weight layers (tensor '%s')", path,
                           KR_MAX_LAYERS, name);
        idx[n++] = k;
    }
    qsort(idx, (size_t)n, sizeof *idx, kr_mio_cmp_int);
    if (**prefix) /* a ModuleList numbers its layers 0..L-1 without gaps */
        for (int l = 0; l < n; l++)
            if (idx[l] != l)
                return KR_FAIL(KR_E_INVALID, "%s: missing tensor 'layers.%d.weight' (found "
                               "layers.%d.weight)", path, l, idx[l]);
    if (n < 2)
        return KR_FAIL(KR_E_INVALID, "%s: found %d weight layer(s) ('%s%d.weight'); expected at "
                       "least 2 (D-H-1)", path, n, *prefix, idx[0]);
    /* every bias belongs to a weight layer */
    for (size_t i = 0; i < kr_st_count(f); i++) {
        const char *name = kr_st_tensor_at(f, i)->name;
        int k;
        bool is_bias, found = false;
        if (!kr_mio_layer_name(name, *prefix, &k, &is_bias) || !is_bias) continue;
        for (int l = 0; l < n; l++) found = found || idx[l] == k;
        if (!found)
            return KR_FAIL(KR_E_INVALID, "%s: unexpected tensor '%s': there is no weight "
                           "'%s%d.weight' for it", path, name, *prefix, k);
    }
    *L = n;
    return KR_OK;
}

/* Checks optional metadata against what the tensors say. */
static kr_status kr_mio_check_meta(const kr_st_file *f, const size_t *dims, int L,
                                   const bool *bias, size_t img[3])
{
    const char *path = kr_st_path(f);
    const char *v;
    if ((v = kr_st_metadata(f, "dims"))) {
        size_t md[KR_MAX_LAYERS + 1];
        int n = kr_mio_split(v, md, KR_MAX_LAYERS + 1);
        bool same = n == L + 1;
        for (int i = 0; same && i <= L; i++) same = md[i] == dims[i];
        if (!same) {
            char got[KR_MAX_LAYERS * 24];
            kr_mio_join(got, sizeof got, dims, L + 1);
            return KR_FAIL(KR_E_INVALID, "%s: metadata dims \"%s\" disagree with the tensors, "
                           "which give %s", path, v, got);
        }
    }
    if ((v = kr_st_metadata(f, "first_bias"))) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
            return KR_FAIL(KR_E_INVALID, "%s: metadata first_bias \"%s\": expected true or false",
                           path, v);
        if ((strcmp(v, "true") == 0) != bias[0])
            return KR_FAIL(KR_E_INVALID, "%s: metadata first_bias \"%s\" but the first layer's "
                           "bias tensor is %s", path, v, bias[0] ? "present" : "absent");
    }
    if ((v = kr_st_metadata(f, "biases"))) {
        size_t flags[KR_MAX_LAYERS];
        int n = kr_mio_split(v, flags, KR_MAX_LAYERS);
        bool same = n == L;
        for (int l = 0; same && l < L; l++) same = flags[l] == (size_t)bias[l];
        if (!same)
            return KR_FAIL(KR_E_INVALID, "%s: metadata biases \"%s\" disagree with the tensors "
                           "(expected one 0/1 per layer, 1 where 'layers.N.bias' exists)", path,
                           v);
    }
    if ((v = kr_st_metadata(f, "image_shape"))) {
        size_t s[3];
        if (kr_mio_split(v, s, 3) != 3 || s[0] * s[1] * s[2] != dims[0])
            return KR_FAIL(KR_E_INVALID, "%s: metadata image_shape \"%s\": expected C,H,W with "
                           "C*H*W = D = %zu", path, v, dims[0]);
        memcpy(img, s, sizeof s);
    }
    return KR_OK;
}

kr_status kr_model_load(const char *path, kr_model **out)
{
    *out = NULL;
    kr_st_file *f = NULL;
    kr_model *m = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_st_open(path, &f));
    /* "format" is not checked: ours says kktrecon-mlp, PyTorch tools write "pt", others
     * "np" or nothing; the tensors and, when present, dims/first_bias/image_shape decide. */
    const char *prefix = "";
    int idx[KR_MAX_LAYERS], L = 0;
    KR_TRY_GOTO(kr_mio_scan(f, &prefix, idx, &L));

    char wname[KR_MAX_LAYERS][48], bname[KR_MAX_LAYERS][48];
    size_t dims[KR_MAX_LAYERS + 1];
    for (int l = 0; l < L; l++) {
        snprintf(wname[l], sizeof wname[l], "%s%d.weight", prefix, idx[l]);
        const kr_st_tensor *t = kr_st_find(f, wname[l]);
        size_t want_cols = l ? dims[l] : (t->ndim == 2 ? t->shape[1] : 0);
        size_t want_rows = t->ndim == 2 ? t->shape[0] : 0;
        if (t->ndim != 2 || t->shape[1] != want_cols || t->shape[0] != want_rows ||
            want_rows == 0 || want_cols == 0) {
            char got[160], want[200];
            size_t k = (size_t)snprintf(got, sizeof got, "[");
            for (int d = 0; d < t->ndim && k < sizeof got; d++)
                k += (size_t)snprintf(got + k, sizeof got - k, d ? ", %zu" : "%zu", t->shape[d]);
            if (k < sizeof got) snprintf(got + k, sizeof got - k, "]");
            if (l == 0)
                snprintf(want, sizeof want, "[H1, D] with H1, D > 0");
            else
                snprintf(want, sizeof want, "[H, %zu] (%zu columns = rows of '%s')", want_cols,
                         want_cols, wname[l - 1]);
            st = KR_FAIL(KR_E_INVALID, "%s: tensor '%s' has shape %s; expected %s", path,
                         wname[l], got, want);
            goto fail;
        }
        if (l == 0) dims[0] = t->shape[1];
        dims[l + 1] = t->shape[0];
    }
    bool bias[KR_MAX_LAYERS];
    unsigned mask = 0;
    for (int l = 0; l < L; l++) {
        snprintf(bname[l], sizeof bname[l], "%s%d.bias", prefix, idx[l]);
        bias[l] = kr_st_find(f, bname[l]) != NULL;
        mask |= (bias[l] ? 1u : 0u) << l;
    }
    size_t img[3] = {0, 0, 0};
    KR_TRY_GOTO(kr_mio_check_meta(f, dims, L, bias, img));

    KR_TRY_GOTO(kr_model_new_general(dims[0], dims + 1, L - 1, dims[L], mask, &m));
    for (int l = 0; l < L; l++) {
        size_t shape[2] = {dims[l + 1], dims[l]};
        KR_TRY_GOTO(kr_st_read_f64(f, wname[l], 2, shape, m->w[l]));
        if (bias[l]) KR_TRY_GOTO(kr_st_read_f64(f, bname[l], 1, &dims[l + 1], m->b[l]));
    }

    const kr_st_tensor *mt = kr_st_find(f, "data.mean");
    if (mt) {
        /* [D], or [C, H, W] with C*H*W = D (an image-shaped mean) */
        if (mt->ndim == 3 && mt->numel == dims[0]) {
            KR_TRY_GOTO(kr_st_read_f64(f, "data.mean", 3, mt->shape, m->mean));
            if (!img[0]) memcpy(img, mt->shape, sizeof img);
        } else {
            KR_TRY_GOTO(kr_st_read_f64(f, "data.mean", 1, &dims[0], m->mean));
        }
    }
    /* A NaN or Inf weight makes every output NaN: what it trains or attacks is meaningless,
     * so the model is refused here, with the tensor named. */
    for (int q = 0; q <= 2 * L; q++) {
        const int l = q / 2;
        const double *v = q == 2 * L ? (mt ? m->mean : NULL) : q % 2 ? m->b[l] : m->w[l];
        const char *name = q == 2 * L ? "data.mean" : q % 2 ? bname[l] : wname[l];
        size_t n = q == 2 * L ? dims[0] : q % 2 ? dims[l + 1] : dims[l + 1] * dims[l];
        for (size_t i = 0; v && i < n; i++)
            if (!isfinite(v[i])) {
                st = KR_FAIL(KR_E_INVALID, "%s: tensor '%s' element %zu is %g: a model must hold "
                             "finite values (damaged or diverged?)", path, name, i, v[i]);
                goto fail;
            }
    }
    if (!img[0] && dims[0] == 784) img[0] = 1, img[1] = 28, img[2] = 28;
    if (!img[0] && dims[0] == 3072) img[0] = 3, img[1] = 32, img[2] = 32;
    m->image_c = img[0];
    m->image_h = img[1];
    m->image_w = img[2];
    kr_st_close(f);
    *out = m;
    return KR_OK;
fail:
    kr_model_free(m);
    kr_st_close(f);
    return kr_error_context(st, "loading model");
}
