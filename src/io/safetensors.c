/* safetensors.c — read and validate, and atomically write, safetensors files.
 *
 * Does: whole-file read, header validation with messages that name the file, the byte offset
 * and what was expected; raw and typed (double/float/integer scalar) tensor access; metadata;
 * a writer whose output the reference (huggingface/safetensors, Rust) accepts: compact JSON,
 * "__metadata__" first, header padded with spaces to a multiple of 8, contiguous data.
 * Does not: mmap, convert F16/BF16/integers to float, write to big-endian hosts' native order
 * (byte swapping is done explicitly when the host is big-endian).
 * Format reference: https://github.com/huggingface/safetensors (README "Format", safetensors/
 * src/tensor.rs: MAX_HEADER_SIZE = 100 000 000, space padding to 8, validate()).
 */
#define _POSIX_C_SOURCE 200809L
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KR_ST_MAX_HEADER 100000000ull /* the reference's MAX_HEADER_SIZE */

struct kr_st_file {
    char *path;
    unsigned char *bytes; /* whole file */
    size_t size;
    size_t n;
    kr_st_tensor *tensors; /* sorted by file_offset */
    char **names;          /* owned copies of tensor names */
    size_t n_meta;
    char **meta_keys;
    char **meta_values;
};

/* ---- dtypes ------------------------------------------------------------------------------ */

static const struct { const char *name; size_t size; } kr_st_dtypes[] = {
    [KR_ST_INVALID] = {"INVALID", 0}, [KR_ST_BOOL] = {"BOOL", 1},   [KR_ST_U8] = {"U8", 1},
    [KR_ST_I8] = {"I8", 1},           [KR_ST_F8_E5M2] = {"F8_E5M2", 1},
    [KR_ST_F8_E4M3] = {"F8_E4M3", 1}, [KR_ST_I16] = {"I16", 2},     [KR_ST_U16] = {"U16", 2},
    [KR_ST_F16] = {"F16", 2},         [KR_ST_BF16] = {"BF16", 2},   [KR_ST_I32] = {"I32", 4},
    [KR_ST_U32] = {"U32", 4},         [KR_ST_F32] = {"F32", 4},     [KR_ST_F64] = {"F64", 8},
    [KR_ST_I64] = {"I64", 8},         [KR_ST_U64] = {"U64", 8},
};
#define KR_ST_NDTYPES (sizeof kr_st_dtypes / sizeof kr_st_dtypes[0])

const char *kr_st_dtype_name(kr_st_dtype dt)
{
    return (unsigned)dt < KR_ST_NDTYPES ? kr_st_dtypes[dt].name : "INVALID";
}

size_t kr_st_dtype_size(kr_st_dtype dt)
{
    return (unsigned)dt < KR_ST_NDTYPES ? kr_st_dtypes[dt].size : 0;
}

kr_st_dtype kr_st_dtype_parse(const char *name)
{
    for (unsigned i = 1; i < KR_ST_NDTYPES; i++)
        if (strcmp(name, kr_st_dtypes[i].name) == 0) return (kr_st_dtype)i;
    return KR_ST_INVALID;
}

/* ---- byte order ---------------------------------------------------------------------------- */

static bool kr_st_host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reverses the bytes of each of n elements of size esz in place. */
static void kr_st_swap(void *buf, size_t n, size_t esz)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++, p += esz)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Copies n elements of size esz from little-endian src to host-order dst (or back). */
static void kr_st_copy_le(void *dst, const void *src, size_t n, size_t esz)
{
    memcpy(dst, src, n * esz);
    if (esz > 1 && !kr_st_host_is_le()) kr_st_swap(dst, n, esz);
}

static uint64_t kr_st_u64_le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- reader -------------------------------------------------------------------------------- */

void kr_st_close(kr_st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->names[i]);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->bytes);
    free(f->path);
    free(f);
}

static kr_status kr_st_read_file(kr_st_file *f)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return KR_FAIL(KR_E_IO, "opening safetensors file %s: %s", f->path, strerror(errno));
    kr_status st = KR_OK;
    if (fseek(fp, 0, SEEK_END) != 0) {
        st = KR_FAIL(KR_E_IO, "seeking in %s: %s", f->path, strerror(errno));
        goto fail;
    }
    long len = ftell(fp);
    if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        st = KR_FAIL(KR_E_IO, "measuring %s: %s", f->path, strerror(errno));
        goto fail;
    }
    f->size = (size_t)len;
    f->bytes = malloc(f->size ? f->size : 1);
    if (!f->bytes) {
        st = KR_FAIL(KR_E_NOMEM, "allocating %zu bytes to read %s", f->size, f->path);
        goto fail;
    }
    if (fread(f->bytes, 1, f->size, fp) != f->size) {
        st = KR_FAIL(KR_E_IO, "reading %zu bytes of %s: %s", f->size, f->path,
                     ferror(fp) ? strerror(errno) : "file shrank while reading");
        goto fail;
    }
fail:
    fclose(fp);
    return st;
}

/* A JSON number that must be a non-negative integer < 2^53 (exact in a double). */
static bool kr_st_json_size(const cJSON *v, size_t *out)
{
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > 9007199254740992.0 || floor(d) != d) return false;
    *out = (size_t)d;
    return true;
}

static int kr_st_cmp_offset(const void *a, const void *b)
{
    const kr_st_tensor *x = a, *y = b;
    if (x->file_offset != y->file_offset) return x->file_offset < y->file_offset ? -1 : 1;
    /* zero-length tensors first at equal offsets so they never look overlapped */
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int kr_st_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static kr_status kr_st_parse_metadata(kr_st_file *f, const cJSON *meta, size_t hdr_end)
{
    if (!cJSON_IsObject(meta))
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): \"__metadata__\" must be an "
                       "object of string values", f->path, hdr_end);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_values = calloc(n ? n : 1, sizeof *f->meta_values);
    if (!f->meta_keys || !f->meta_values) return KR_FAIL(KR_E_NOMEM, "reading metadata of %s", f->path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta)
    {
        if (!cJSON_IsString(kv))
            return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): metadata value of \"%s\" "
                           "must be a string", f->path, hdr_end, kv->string);
        for (size_t i = 0; i < f->n_meta; i++)
            if (strcmp(f->meta_keys[i], kv->string) == 0)
                return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): metadata key \"%s\" "
                               "appears twice", f->path, hdr_end, kv->string);
        f->meta_keys[f->n_meta] = strdup(kv->string);
        f->meta_values[f->n_meta] = strdup(kv->valuestring);
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_values[f->n_meta - 1])
            return KR_FAIL(KR_E_NOMEM, "reading metadata of %s", f->path);
    }
    return KR_OK;
}

/* Fills t from one header entry; data offsets are checked against the buffer size here,
 * overlaps after sorting. */
static kr_status kr_st_parse_tensor(kr_st_file *f, const cJSON *e, size_t hdr_end,
                                    size_t buf_size, kr_st_tensor *t)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': expected an "
                       "object with dtype, shape, data_offsets", f->path, hdr_end, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': expected a string "
                       "\"dtype\"", f->path, hdr_end, name);
    t->dtype = kr_st_dtype_parse(dt->valuestring);
    if (t->dtype == KR_ST_INVALID)
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': unknown dtype "
                       "\"%s\"", f->path, hdr_end, name, dt->valuestring);
    if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > KR_ST_MAX_DIMS)
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': expected \"shape\" "
                       "as an array of at most %d sizes", f->path, hdr_end, name, KR_ST_MAX_DIMS);
    t->ndim = cJSON_GetArraySize(sh);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        size_t d;
        if (!kr_st_json_size(cJSON_GetArrayItem(sh, i), &d))
            return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': shape[%d] is "
                           "not a non-negative integer", f->path, hdr_end, name, i);
        t->shape[i] = d;
        if (d != 0 && t->numel > SIZE_MAX / d)
            return KR_FAIL(KR_E_INVALID, "%s: tensor '%s': shape overflows", f->path, name);
        t->numel *= d;
    }
    size_t esz = kr_st_dtype_size(t->dtype);
    if (t->numel > SIZE_MAX / esz)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s': shape overflows", f->path, name);
    t->nbytes = t->numel * esz;
    size_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !kr_st_json_size(cJSON_GetArrayItem(off, 0), &b) ||
        !kr_st_json_size(cJSON_GetArrayItem(off, 1), &en))
        return KR_FAIL(KR_E_INVALID, "%s: header (bytes 8..%zu): tensor '%s': expected "
                       "\"data_offsets\" as [begin, end] non-negative integers", f->path,
                       hdr_end, name);
    if (b > en || en > buf_size)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s': data_offsets [%zu, %zu] (file bytes "
                       "%zu..%zu) out of range: expected begin <= end <= %zu, the data buffer "
                       "size (file size %zu)", f->path, name, b, en, hdr_end + b, hdr_end + en,
                       buf_size, f->size);
    if (en - b != t->nbytes)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu: data_offsets [%zu, %zu] "
                       "span %zu bytes; expected %zu (%zu elements of %s)", f->path, name,
                       hdr_end + b, b, en, en - b, t->nbytes, t->numel,
                       kr_st_dtype_name(t->dtype));
    t->file_offset = hdr_end + b;
    t->data = f->bytes + t->file_offset;
    return KR_OK;
}

static kr_status kr_st_parse(kr_st_file *f)
{
    if (f->size < 8)
        return KR_FAIL(KR_E_INVALID, "%s: truncated: file has %zu bytes; expected at least 8 "
                       "(the header length) at byte 0", f->path, f->size);
    uint64_t hlen = kr_st_u64_le(f->bytes);
    if (hlen < 2 || hlen > KR_ST_MAX_HEADER || hlen > (uint64_t)(f->size - 8))
        return KR_FAIL(KR_E_INVALID, "%s: bad header length %llu at byte 0: expected 2..%llu "
                       "and at most the %zu bytes after it (truncated or not a safetensors "
                       "file)", f->path, (unsigned long long)hlen, KR_ST_MAX_HEADER, f->size - 8);
    size_t hdr_end = 8 + (size_t)hlen;
    size_t buf_size = f->size - hdr_end;

    kr_status st = KR_OK;
    cJSON *root = NULL;
    char *json = malloc((size_t)hlen + 1);
    if (!json) return KR_FAIL(KR_E_NOMEM, "allocating the header of %s", f->path);
    memcpy(json, f->bytes + 8, (size_t)hlen);
    json[hlen] = '\0';
    const char *end = NULL;
    root = cJSON_ParseWithOpts(json, &end, 0);
    if (!root) {
        size_t pos = end && end >= json ? (size_t)(end - json) : 0;
        st = KR_FAIL(KR_E_INVALID, "%s: header JSON parse error at file byte %zu (header byte "
                     "%zu): expected valid JSON near \"%.20s\"", f->path, 8 + pos, pos,
                     json + (pos < hlen ? pos : hlen));
        goto fail;
    }
    for (size_t pos = (size_t)(end - json); pos < hlen; pos++)
        if (!strchr(" \t\r\n", json[pos])) {
            st = KR_FAIL(KR_E_INVALID, "%s: header: unexpected byte 0x%02x at file byte %zu "
                         "after the JSON object: expected only space padding up to byte %zu",
                         f->path, (unsigned char)json[pos], 8 + pos, hdr_end);
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        st = KR_FAIL(KR_E_INVALID, "%s: header at byte 8: expected a JSON object", f->path);
        goto fail;
    }

    size_t n_items = (size_t)cJSON_GetArraySize(root);
    f->tensors = calloc(n_items ? n_items : 1, sizeof *f->tensors);
    f->names = calloc(n_items ? n_items : 1, sizeof *f->names);
    if (!f->tensors || !f->names) {
        st = KR_FAIL(KR_E_NOMEM, "reading the header of %s", f->path);
        goto fail;
    }
    bool seen_meta = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta) {
                st = KR_FAIL(KR_E_INVALID, "%s: header: \"__metadata__\" appears twice", f->path);
                goto fail;
            }
            seen_meta = true;
            KR_TRY_GOTO(kr_st_parse_metadata(f, e, hdr_end));
            continue;
        }
        kr_st_tensor *t = &f->tensors[f->n];
        if (!(f->names[f->n] = strdup(e->string))) {
            st = KR_FAIL(KR_E_NOMEM, "reading the header of %s", f->path);
            goto fail;
        }
        t->name = f->names[f->n];
        f->n++;
        KR_TRY_GOTO(kr_st_parse_tensor(f, e, hdr_end, buf_size, t));
    }

    /* unique names: sort a copy of the name pointers */
    if (f->n > 1) {
        char **sorted = malloc(f->n * sizeof *sorted);
        if (!sorted) {
            st = KR_FAIL(KR_E_NOMEM, "reading the header of %s", f->path);
            goto fail;
        }
        memcpy(sorted, f->names, f->n * sizeof *sorted);
        qsort(sorted, f->n, sizeof *sorted, kr_st_cmp_name);
        for (size_t i = 1; i < f->n; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0) {
                st = KR_FAIL(KR_E_INVALID, "%s: header: tensor '%s' appears twice", f->path,
                             sorted[i]);
                free(sorted);
                goto fail;
            }
        free(sorted);
    }
    qsort(f->tensors, f->n, sizeof *f->tensors, kr_st_cmp_offset);
    for (size_t i = 1; i < f->n; i++) {
        const kr_st_tensor *a = &f->tensors[i - 1], *b = &f->tensors[i];
        if (a->file_offset + a->nbytes > b->file_offset) {
            st = KR_FAIL(KR_E_INVALID, "%s: tensor '%s' (file bytes %zu..%zu) overlaps tensor "
                         "'%s' starting at file byte %zu: expected disjoint data_offsets",
                         f->path, a->name, a->file_offset, a->file_offset + a->nbytes, b->name,
                         b->file_offset);
            goto fail;
        }
    }
fail:
    cJSON_Delete(root);
    free(json);
    return st;
}

kr_status kr_st_open(const char *path, kr_st_file **out)
{
    *out = NULL;
    kr_status st = KR_OK;
    kr_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        st = KR_FAIL(KR_E_NOMEM, "opening %s", path);
        goto fail;
    }
    KR_TRY_GOTO(kr_st_read_file(f));
    KR_TRY_GOTO(kr_st_parse(f));
    *out = f;
    return KR_OK;
fail:
    kr_st_close(f);
    return st;
}

const char *kr_st_path(const kr_st_file *f) { return f->path; }
size_t kr_st_count(const kr_st_file *f) { return f->n; }

const kr_st_tensor *kr_st_tensor_at(const kr_st_file *f, size_t i)
{
    return i < f->n ? &f->tensors[i] : NULL;
}

const kr_st_tensor *kr_st_find(const kr_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

kr_status kr_st_get(const kr_st_file *f, const char *name, const kr_st_tensor **out)
{
    *out = kr_st_find(f, name);
    if (!*out)
        return KR_FAIL(KR_E_INVALID, "%s: missing tensor '%s' (the file has %zu tensors)",
                       f->path, name, f->n);
    return KR_OK;
}

/* "[2, 3]" into buf. */
static const char *kr_st_shape_str(char *buf, size_t cap, int ndim, const size_t *shape)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %zu" : "%zu", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

/* The tensor NAME with a float dtype and exactly the expected shape. */
static kr_status kr_st_get_float(const kr_st_file *f, const char *name, int ndim,
                                 const size_t *shape, const kr_st_tensor **out)
{
    const kr_st_tensor *t;
    KR_TRY(kr_st_get(f, name, &t));
    *out = NULL;
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[160], got[160];
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu has shape %s; expected %s",
                       f->path, name, t->file_offset, kr_st_shape_str(got, sizeof got, t->ndim, t->shape),
                       kr_st_shape_str(want, sizeof want, ndim, shape));
    }
    if (t->dtype != KR_ST_F32 && t->dtype != KR_ST_F64)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu has dtype %s; expected "
                       "F32 or F64", f->path, name, t->file_offset, kr_st_dtype_name(t->dtype));
    *out = t;
    return KR_OK;
}

kr_status kr_st_read_f64(const kr_st_file *f, const char *name, int ndim, const size_t *shape,
                         double *out)
{
    const kr_st_tensor *t;
    KR_TRY(kr_st_get_float(f, name, ndim, shape, &t));
    const unsigned char *p = t->data;
    if (t->dtype == KR_ST_F64) {
        kr_st_copy_le(out, p, t->numel, 8);
    } else {
        for (size_t i = 0; i < t->numel; i++) {
            float v;
            kr_st_copy_le(&v, p + 4 * i, 1, 4);
            out[i] = v;
        }
    }
    return KR_OK;
}

kr_status kr_st_read_f32(const kr_st_file *f, const char *name, int ndim, const size_t *shape,
                         float *out)
{
    const kr_st_tensor *t;
    KR_TRY(kr_st_get_float(f, name, ndim, shape, &t));
    const unsigned char *p = t->data;
    if (t->dtype == KR_ST_F32) {
        kr_st_copy_le(out, p, t->numel, 4);
    } else {
        for (size_t i = 0; i < t->numel; i++) {
            double v;
            kr_st_copy_le(&v, p + 8 * i, 1, 8);
            out[i] = (float)v;
        }
    }
    return KR_OK;
}

kr_status kr_st_read_i64_scalar(const kr_st_file *f, const char *name, int64_t *out)
{
    const kr_st_tensor *t;
    KR_TRY(kr_st_get(f, name, &t));
    if (t->numel != 1 || t->ndim > 1)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu has %zu elements in %d "
                       "dims; expected one value of shape [] or [1]", f->path, name,
                       t->file_offset, t->numel, t->ndim);
    unsigned char b[8];
    size_t esz = kr_st_dtype_size(t->dtype);
    kr_st_copy_le(b, t->data, 1, esz);
    double d;
    switch (t->dtype) {
    case KR_ST_I64: { int64_t v; memcpy(&v, b, 8); *out = v; return KR_OK; }
    case KR_ST_U64: {
        uint64_t v;
        memcpy(&v, b, 8);
        if (v > (uint64_t)INT64_MAX) break;
        *out = (int64_t)v;
        return KR_OK;
    }
    case KR_ST_I32: { int32_t v; memcpy(&v, b, 4); *out = v; return KR_OK; }
    case KR_ST_U32: { uint32_t v; memcpy(&v, b, 4); *out = v; return KR_OK; }
    case KR_ST_I16: { int16_t v; memcpy(&v, b, 2); *out = v; return KR_OK; }
    case KR_ST_U16: { uint16_t v; memcpy(&v, b, 2); *out = v; return KR_OK; }
    case KR_ST_I8: { int8_t v; memcpy(&v, b, 1); *out = v; return KR_OK; }
    case KR_ST_U8: case KR_ST_BOOL: *out = b[0]; return KR_OK;
    case KR_ST_F32: { float v; memcpy(&v, b, 4); d = v; goto from_double; }
    case KR_ST_F64: memcpy(&d, b, 8); goto from_double;
    default: break;
    }
    return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu has dtype %s; expected an "
                   "integer (I64) or an integral F32/F64 value", f->path, name, t->file_offset,
                   kr_st_dtype_name(t->dtype));
from_double:
    if (!(fabs(d) <= 9007199254740992.0) || floor(d) != d)
        return KR_FAIL(KR_E_INVALID, "%s: tensor '%s' at file byte %zu holds %.17g; expected an "
                       "integer within +-2^53", f->path, name, t->file_offset, d);
    *out = (int64_t)d;
    return KR_OK;
}

const char *kr_st_metadata(const kr_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_values[i];
    return NULL;
}

size_t kr_st_metadata_count(const kr_st_file *f) { return f->n_meta; }

void kr_st_metadata_at(const kr_st_file *f, size_t i, const char **key, const char **value)
{
    *key = i < f->n_meta ? f->meta_keys[i] : NULL;
    *value = i < f->n_meta ? f->meta_values[i] : NULL;
}

/* ---- writer -------------------------------------------------------------------------------- */

static kr_status kr_st_entry_numel(const char *path, const kr_st_entry *e, size_t *numel)
{
    if (!e->name || !e->name[0] || strcmp(e->name, "__metadata__") == 0)
        return KR_FAIL(KR_E_INVALID, "writing %s: tensor name '%s' is not allowed", path,
                       e->name ? e->name : "(null)");
    if (kr_st_dtype_size(e->dtype) == 0)
        return KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s' has no valid dtype", path, e->name);
    kr_st_dtype src = e->src_dtype ? e->src_dtype : e->dtype;
    bool conv_ok = src == e->dtype || (src == KR_ST_F64 && e->dtype == KR_ST_F32) ||
                   (src == KR_ST_F32 && e->dtype == KR_ST_F64);
    if (!conv_ok)
        return KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s': cannot convert %s to %s", path,
                       e->name, kr_st_dtype_name(src), kr_st_dtype_name(e->dtype));
    if (e->ndim < 0 || e->ndim > KR_ST_MAX_DIMS)
        return KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s' has %d dims; expected 0..%d", path,
                       e->name, e->ndim, KR_ST_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < e->ndim; i++) {
        if (e->shape[i] != 0 && n > SIZE_MAX / 16 / e->shape[i])
            return KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s': shape overflows", path, e->name);
        n *= e->shape[i];
    }
    if (n && !e->data)
        return KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s' has no data", path, e->name);
    *numel = n;
    return KR_OK;
}

/* Builds the compact JSON header (metadata first, then tensors in entry order). */
static kr_status kr_st_build_header(const char *path, const kr_st_entry *entries, size_t n,
                                    const kr_st_meta *meta, size_t n_meta, char **out)
{
    *out = NULL;
    kr_status st = KR_OK;
    cJSON *root = cJSON_CreateObject();
    if (!root) return KR_FAIL(KR_E_NOMEM, "writing %s", path);
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        if (!m) goto nomem;
        for (size_t i = 0; i < n_meta; i++) {
            if (!meta[i].key || !meta[i].value) {
                st = KR_FAIL(KR_E_INVALID, "writing %s: metadata entry %zu is NULL", path, i);
                goto fail;
            }
            if (cJSON_GetObjectItemCaseSensitive(m, meta[i].key)) {
                st = KR_FAIL(KR_E_INVALID, "writing %s: metadata key '%s' given twice", path,
                             meta[i].key);
                goto fail;
            }
            if (!cJSON_AddStringToObject(m, meta[i].key, meta[i].value)) goto nomem;
        }
    }
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const kr_st_entry *e = &entries[i];
        size_t numel;
        KR_TRY_GOTO(kr_st_entry_numel(path, e, &numel));
        if (cJSON_GetObjectItemCaseSensitive(root, e->name)) {
            st = KR_FAIL(KR_E_INVALID, "writing %s: tensor '%s' given twice", path, e->name);
            goto fail;
        }
        size_t nb = numel * kr_st_dtype_size(e->dtype);
        /* key order as the reference writes it: dtype, shape, data_offsets */
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        if (!t || !cJSON_AddStringToObject(t, "dtype", kr_st_dtype_name(e->dtype))) goto nomem;
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        if (!shape) goto nomem;
        for (int d = 0; d < e->ndim; d++) {
            cJSON *v = cJSON_CreateNumber((double)e->shape[d]);
            if (!v || !cJSON_AddItemToArray(shape, v)) goto nomem;
        }
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON *b = cJSON_CreateNumber((double)offset), *en = cJSON_CreateNumber((double)(offset + nb));
        if (!offs || !b || !cJSON_AddItemToArray(offs, b)) { cJSON_Delete(en); goto nomem; }
        if (!en || !cJSON_AddItemToArray(offs, en)) goto nomem;
        offset += nb;
    }
    if (!(*out = cJSON_PrintUnformatted(root))) goto nomem;
    cJSON_Delete(root);
    return KR_OK;
nomem:
    st = KR_FAIL(KR_E_NOMEM, "building the header of %s", path);
fail:
    cJSON_Delete(root);
    return st;
}

static kr_status kr_st_fwrite(FILE *fp, const void *p, size_t n, const char *tmp)
{
    if (n && fwrite(p, 1, n, fp) != n)
        return KR_FAIL(KR_E_IO, "writing %s: %s", tmp, strerror(errno));
    return KR_OK;
}

/* Writes one tensor's data in little-endian dtype, converting in chunks if needed. */
static kr_status kr_st_write_data(FILE *fp, const kr_st_entry *e, size_t numel, const char *tmp)
{
    kr_st_dtype src = e->src_dtype ? e->src_dtype : e->dtype;
    size_t esz = kr_st_dtype_size(e->dtype);
    if (src == e->dtype && (esz == 1 || kr_st_host_is_le()))
        return kr_st_fwrite(fp, e->data, numel * esz, tmp);
    unsigned char chunk[8 * 1024];
    size_t per = sizeof chunk / esz;
    for (size_t i = 0; i < numel; i += per) {
        size_t k = numel - i < per ? numel - i : per;
        for (size_t j = 0; j < k; j++) {
            unsigned char *dst = chunk + j * esz;
            if (src == e->dtype) {
                memcpy(dst, (const unsigned char *)e->data + (i + j) * esz, esz);
            } else if (src == KR_ST_F64) {
                float v = (float)((const double *)e->data)[i + j];
                memcpy(dst, &v, 4);
            } else {
                double v = ((const float *)e->data)[i + j];
                memcpy(dst, &v, 8);
            }
        }
        if (esz > 1 && !kr_st_host_is_le()) kr_st_swap(chunk, k, esz);
        KR_TRY(kr_st_fwrite(fp, chunk, k * esz, tmp));
    }
    return KR_OK;
}

kr_status kr_st_write(const char *path, const kr_st_entry *entries, size_t n_entries,
                      const kr_st_meta *meta, size_t n_meta)
{
    kr_status st = KR_OK;
    char *header = NULL, *tmp = NULL;
    FILE *fp = NULL;
    bool created = false;
    KR_TRY(kr_st_build_header(path, entries, n_entries, meta, n_meta, &header));
    size_t hlen = strlen(header);
    size_t padded = (hlen + 7) / 8 * 8;
    size_t plen = strlen(path);
    if (!(tmp = malloc(plen + 5))) {
        st = KR_FAIL(KR_E_NOMEM, "writing %s", path);
        goto fail;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    if (!(fp = fopen(tmp, "wb"))) {
        st = KR_FAIL(KR_E_IO, "creating %s: %s", tmp, strerror(errno));
        goto fail;
    }
    created = true;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    KR_TRY_GOTO(kr_st_fwrite(fp, len8, 8, tmp));
    KR_TRY_GOTO(kr_st_fwrite(fp, header, hlen, tmp));
    for (size_t i = hlen; i < padded; i++)
        if (fputc(' ', fp) == EOF) {
            st = KR_FAIL(KR_E_IO, "writing %s: %s", tmp, strerror(errno));
            goto fail;
        }
    for (size_t i = 0; i < n_entries; i++) {
        size_t numel;
        KR_TRY_GOTO(kr_st_entry_numel(path, &entries[i], &numel));
        KR_TRY_GOTO(kr_st_write_data(fp, &entries[i], numel, tmp));
    }
    if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        st = KR_FAIL(KR_E_IO, "flushing %s to disk: %s", tmp, strerror(errno));
        goto fail;
    }
    int rc = fclose(fp);
    fp = NULL;
    if (rc != 0) {
        st = KR_FAIL(KR_E_IO, "closing %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = KR_FAIL(KR_E_IO, "renaming %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    /* make the rename itself durable; failure here is not worth failing the save over */
    char *slash = strrchr(tmp, '/');
    if (slash) *slash = '\0';
    int dfd = open(slash ? (slash == tmp ? "/" : tmp) : ".", O_RDONLY);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(tmp);
    cJSON_free(header);
    return KR_OK;
fail:
    if (fp) fclose(fp);
    if (created) remove(tmp);
    free(tmp);
    cJSON_free(header);
    return st;
}
