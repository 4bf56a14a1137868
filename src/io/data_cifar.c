/* data_cifar.c — CIFAR-10 in the official "binary version".
 *
 * Each file is a sequence of 3073-byte records: 1 label byte (0..9), then 1024 R, 1024 G and
 * 1024 B bytes, each plane 32x32 row-major. That is already CHW order, so records are copied
 * as they are. Class names come from batches.meta.txt (one per line) when it is present.
 *
 * Not here: CIFAR-100 (2 label bytes), the Python pickle version, gzip-compressed batches.
 * Format: https://www.cs.toronto.edu/~kriz/cifar.html (Krizhevsky 2009), "Binary version".
 */
#define _POSIX_C_SOURCE 200809L
#include "io/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE) /* 3072 */
#define CIFAR_RECORD (1 + CIFAR_PIXELS)            /* 3073 */
#define CIFAR_CLASSES 10

static const char *const cifar_names[CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static int is_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

kr_status kr_data_load_cifar10_files(const char *const *paths, size_t num_paths,
                                     size_t max_records, kr_dataset **out)
{
    kr_status st = KR_OK;
    FILE *f = NULL;
    kr_dataset *d = NULL;
    size_t *counts = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load_cifar10_files: out is NULL");
    *out = NULL;
    if (!paths || num_paths == 0)
        return KR_FAIL(KR_E_INVALID, "kr_data_load_cifar10_files: no files given");

    /* Sizes first, so a bad file fails before anything is read. */
    counts = calloc(num_paths, sizeof *counts); /* num_paths */
    if (!counts) return KR_FAIL(KR_E_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t k = 0; k < num_paths; k++) {
        struct stat sb;
        if (stat(paths[k], &sb) != 0) {
            st = KR_FAIL(KR_E_IO, "%s: cannot open: %s", paths[k], strerror(errno));
            goto fail;
        }
        unsigned long long size = (unsigned long long)sb.st_size;
        if (size % CIFAR_RECORD != 0) {
            st = KR_FAIL(KR_E_INVALID,
                         "%s: offset %llu: file size %llu is not a multiple of %d (1 label byte + "
                         "%d pixel bytes per record); the last record is cut off after %llu bytes",
                         paths[k], size - size % CIFAR_RECORD, size, CIFAR_RECORD, CIFAR_PIXELS,
                         size % CIFAR_RECORD);
            goto fail;
        }
        counts[k] = (size_t)(size / CIFAR_RECORD);
        n += counts[k];
    }
    if (max_records && n > max_records) n = max_records;
    KR_TRY_GOTO(kr_dataset_new(n, 3, CIFAR_SIDE, CIFAR_SIDE, CIFAR_CLASSES, &d));
    snprintf(d->kind, sizeof d->kind, "cifar10");
    d->sources = calloc(num_paths, sizeof *d->sources);
    if (!d->sources) goto oom;
    d->num_sources = num_paths;
    for (size_t k = 0; k < num_paths; k++)
        if (!(d->sources[k] = strdup(paths[k]))) goto oom;

    size_t i = 0; /* next record of the dataset */
    for (size_t k = 0; k < num_paths && i < n; k++) {
        f = fopen(paths[k], "rb");
        if (!f) {
            st = KR_FAIL(KR_E_IO, "%s: cannot open: %s", paths[k], strerror(errno));
            goto fail;
        }
        for (size_t r = 0; r < counts[k] && i < n; r++, i++) {
            unsigned char rec[CIFAR_RECORD];
            unsigned long long off = (unsigned long long)r * CIFAR_RECORD;
            size_t got = fread(rec, 1, CIFAR_RECORD, f);
            if (got != CIFAR_RECORD) {
                st = KR_FAIL(ferror(f) ? KR_E_IO : KR_E_INVALID,
                             "%s: offset %llu: record %zu: expected %d bytes, read %zu%s%s",
                             paths[k], off + got, r, CIFAR_RECORD, got,
                             ferror(f) ? ": " : " (file shrank while reading)",
                             ferror(f) ? strerror(errno) : "");
                goto fail;
            }
            if (rec[0] >= CIFAR_CLASSES) {
                st = KR_FAIL(KR_E_INVALID, "%s: offset %llu: label of record %zu is %u, expected "
                             "0..%d",
                             paths[k], off, r, rec[0], CIFAR_CLASSES - 1);
                goto fail;
            }
            d->labels[i] = rec[0];
            memcpy(d->pixels + i * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS); /* R, G, B planes */
        }
        fclose(f);
        f = NULL;
    }
    free(counts);
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", paths[0]);
fail:
    if (f) fclose(f);
    free(counts);
    kr_dataset_free(d);
    return st;
}

/* The *.bin files in dir whose names start with prefix, sorted by name. */
static kr_status list_bins(const char *dir, const char *prefix, char ***out, size_t *count)
{
    kr_status st = KR_OK;
    char **v = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *count = 0;
    DIR *dp = opendir(dir);
    if (!dp) return KR_FAIL(KR_E_IO, "%s: cannot open dataset directory: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dp))) {
        size_t len = strlen(e->d_name), plen = strlen(prefix);
        if (len < plen + 4 || strncmp(e->d_name, prefix, plen) != 0 ||
            strcmp(e->d_name + len - 4, ".bin") != 0)
            continue;
        char *p = join(dir, e->d_name);
        if (!p) goto oom;
        if (!is_file(p)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(p);
                goto oom;
            }
            v = nv;
        }
        v[n++] = p;
    }
    closedir(dp);
    if (n) qsort(v, n, sizeof *v, cmp_str);
    *out = v;
    *count = n;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", dir);
    closedir(dp);
    for (size_t k = 0; k < n; k++) free(v[k]);
    free(v);
    return st;
}

/* Reads batches.meta.txt (one class name per line, trailing blank lines ignored) into
 * d->class_names; a missing file leaves the standard names. */
static kr_status read_meta(const char *dir, kr_dataset *d)
{
    kr_status st = KR_OK;
    char *p = join(dir, "batches.meta.txt");
    FILE *f = NULL;
    char *names[CIFAR_CLASSES] = {0};
    if (!p) return KR_FAIL(KR_E_NOMEM, "out of memory");
    d->class_names = calloc(CIFAR_CLASSES, sizeof *d->class_names);
    if (!d->class_names) goto oom;
    f = fopen(p, "r");
    if (!f) {
        if (errno != ENOENT) {
            st = KR_FAIL(KR_E_IO, "%s: cannot open: %s", p, strerror(errno));
            goto fail;
        }
        for (int k = 0; k < CIFAR_CLASSES; k++)
            if (!(d->class_names[k] = strdup(cifar_names[k]))) goto oom;
        free(p);
        return KR_OK;
    }
    char line[256];
    int k = 0, line_no = 0;
    long off = 0;
    while (fgets(line, sizeof line, f)) {
        line_no++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = '\0';
        if (len == 0) {
            off = ftell(f);
            continue; /* blank lines (the official file ends with some) */
        }
        if (k >= CIFAR_CLASSES) {
            st = KR_FAIL(KR_E_INVALID, "%s: offset %ld: line %d: expected %d class names, found "
                         "more",
                         p, off, line_no, CIFAR_CLASSES);
            goto fail;
        }
        if (!(names[k++] = strdup(line))) goto oom;
        off = ftell(f);
    }
    if (k != CIFAR_CLASSES) {
        st = KR_FAIL(KR_E_INVALID, "%s: offset %ld: expected %d class names, found %d", p, off,
                     CIFAR_CLASSES, k);
        goto fail;
    }
    for (k = 0; k < CIFAR_CLASSES; k++) d->class_names[k] = names[k];
    fclose(f);
    free(p);
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", p);
fail:
    for (int j = 0; j < CIFAR_CLASSES; j++) free(names[j]);
    if (f) fclose(f);
    free(p);
    return st;
}

kr_status kr_data_load_cifar10(const char *path, kr_split split, size_t max_records,
                               kr_dataset **out)
{
    kr_status st = KR_OK;
    char **files = NULL;
    size_t nf = 0;
    kr_dataset *d = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load_cifar10: out is NULL");
    *out = NULL;
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_data_load_cifar10: path is NULL");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return KR_FAIL(KR_E_IO, "%s: cannot open dataset directory: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return KR_FAIL(KR_E_IO, "%s: expected a directory holding CIFAR-10 .bin files", path);

    /* The official names first: data_batch_1..5.bin resp. test_batch.bin. */
    files = calloc(5, sizeof *files);
    if (!files) goto oom;
    int nofficial = split == KR_SPLIT_TRAIN ? 5 : 1;
    for (int b = 1; b <= nofficial; b++) {
        char name[32];
        if (split == KR_SPLIT_TRAIN) snprintf(name, sizeof name, "data_batch_%d.bin", b);
        else snprintf(name, sizeof name, "test_batch.bin");
        char *p = join(path, name);
        if (!p) goto oom;
        if (is_file(p)) files[nf++] = p;
        else free(p);
    }
    if (nf == 0) {
        free(files);
        files = NULL;
        KR_TRY_GOTO(list_bins(path, split == KR_SPLIT_TRAIN ? "train" : "test", &files, &nf));
    }
    if (nf == 0) {
        st = KR_FAIL(KR_E_IO, "%s: no CIFAR-10 %s files (expected %s, or *.bin files whose names "
                     "start with \"%s\")",
                     path, split == KR_SPLIT_TRAIN ? "train" : "test",
                     split == KR_SPLIT_TRAIN ? "data_batch_1..5.bin" : "test_batch.bin",
                     split == KR_SPLIT_TRAIN ? "train" : "test");
        goto fail;
    }
    KR_TRY_GOTO(kr_data_load_cifar10_files((const char *const *)files, nf, max_records, &d));
    d->split = split;
    KR_TRY_GOTO(read_meta(path, d));
    for (size_t k = 0; k < nf; k++) free(files[k]);
    free(files);
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", path);
fail:
    if (files)
        for (size_t k = 0; k < nf; k++) free(files[k]);
    free(files);
    kr_dataset_free(d);
    return st;
}
