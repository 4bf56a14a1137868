/* data_folder.c — datasets stored as folders of PNG/JPEG images, labelled by sub-folder.
 *
 * Layout: path/train/<class>/<image> and path/test/<class>/<image>; without a train/ sub-folder,
 * path/<class>/<image> is the train split and there is no test split. Class ids are the indices
 * of the train class folder names in strcmp order (the test split reuses them). Records come
 * class by class, and within a class by file name (strcmp). Images ending in .png, .jpg or .jpeg
 * (any case) are read; other files and names starting with '.' are ignored. All images must
 * have the same size and channel count (1 for gray, 3 for colour; alpha is dropped).
 *
 * Not here: decoding (image_io.c), resizing, colour conversion between gray and RGB.
 * Format: the "ImageFolder" convention of torchvision.datasets.ImageFolder.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "io/image_io.h"

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static void strvec_free(strvec *s)
{
    for (size_t k = 0; k < s->n; k++) free(s->v[k]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int strvec_push(strvec *s, char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **nv = realloc(s->v, cap * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg"));
}

/* Names (not paths) of the entries of dir that are sub-directories (want_dirs) or image files,
 * skipping names that start with '.', sorted with strcmp. */
static kr_status list_dir(const char *dir, int want_dirs, strvec *out)
{
    kr_status st = KR_OK;
    DIR *dp = opendir(dir);
    if (!dp) return KR_FAIL(KR_E_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !has_image_ext(e->d_name)) continue;
        char *p = join(dir, e->d_name);
        if (!p) goto oom;
        struct stat sb;
        int ok = stat(p, &sb) == 0 && (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        free(p);
        if (!ok) continue;
        char *name = strdup(e->d_name);
        if (!name || strvec_push(out, name) != 0) {
            free(name);
            goto oom;
        }
    }
    closedir(dp);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", dir);
    closedir(dp);
    strvec_free(out);
    return st;
}

kr_status kr_data_load_folder(const char *path, kr_split split, size_t max_records,
                              kr_dataset **out)
{
    kr_status st = KR_OK;
    char *train_dir = NULL, *split_dir = NULL;
    strvec classes = {0}, split_classes = {0}, files = {0}, names = {0};
    int *labels = NULL;
    kr_dataset *d = NULL;
    kr_image img = {0};
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load_folder: out is NULL");
    *out = NULL;
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_data_load_folder: path is NULL");
    if (!is_dir(path))
        return KR_FAIL(KR_E_IO, "%s: expected a directory of class folders (or train/ and test/)",
                       path);

    char *t = join(path, "train");
    if (!t) goto oom;
    int nested = is_dir(t);
    free(t);
    if (nested) {
        train_dir = join(path, "train");
        split_dir = join(path, split == KR_SPLIT_TRAIN ? "train" : "test");
        if (!train_dir || !split_dir) goto oom;
        if (!is_dir(split_dir)) {
            st = KR_FAIL(KR_E_IO, "%s: no test split (expected a test/ folder next to train/)",
                         path);
            goto fail;
        }
    } else {
        if (split == KR_SPLIT_TEST) {
            st = KR_FAIL(KR_E_IO, "%s: no test split (the folder has no train/ sub-folder, so its "
                         "class folders are the train split)",
                         path);
            goto fail;
        }
        train_dir = strdup(path);
        split_dir = strdup(path);
        if (!train_dir || !split_dir) goto oom;
    }

    KR_TRY_GOTO(list_dir(train_dir, 1, &classes));
    if (classes.n == 0) {
        st = KR_FAIL(KR_E_INVALID, "%s: no class folders", train_dir);
        goto fail;
    }
    if (classes.n > KR_TASK_MAX_CLASSES) {
        st = KR_FAIL(KR_E_INVALID, "%s: %zu class folders, at most %d supported", train_dir,
                     classes.n, KR_TASK_MAX_CLASSES);
        goto fail;
    }
    if (split == KR_SPLIT_TEST) {
        KR_TRY_GOTO(list_dir(split_dir, 1, &split_classes));
        for (size_t k = 0; k < split_classes.n; k++) {
            if (!bsearch(&split_classes.v[k], classes.v, classes.n, sizeof *classes.v, cmp_str)) {
                st = KR_FAIL(KR_E_INVALID, "%s/%s: class folder not among the train classes in %s",
                             split_dir, split_classes.v[k], train_dir);
                goto fail;
            }
        }
    }

    /* All image paths of the split, in record order, with their class ids. */
    size_t lab_cap = 0;
    for (size_t k = 0; k < classes.n; k++) {
        if (max_records && files.n >= max_records) break;
        char *cdir = join(split_dir, classes.v[k]);
        if (!cdir) goto oom;
        if (!is_dir(cdir)) { /* a class may be absent from the test split */
            free(cdir);
            continue;
        }
        st = list_dir(cdir, 0, &names);
        if (st != KR_OK) {
            free(cdir);
            goto fail;
        }
        for (size_t j = 0; j < names.n; j++) {
            if (max_records && files.n >= max_records) break;
            char *p = join(cdir, names.v[j]);
            if (!p || strvec_push(&files, p) != 0) {
                free(p);
                free(cdir);
                goto oom;
            }
            if (files.n > lab_cap) {
                lab_cap = files.cap;
                int *nl = realloc(labels, lab_cap * sizeof *nl);
                if (!nl) {
                    free(cdir);
                    goto oom;
                }
                labels = nl;
            }
            labels[files.n - 1] = (int)k;
        }
        strvec_free(&names);
        free(cdir);
    }
    if (files.n == 0) {
        st = KR_FAIL(KR_E_INVALID, "%s: no .png/.jpg/.jpeg images in its class folders",
                     split_dir);
        goto fail;
    }

    /* Decode; the first image fixes the shape. */
    for (size_t i = 0; i < files.n; i++) {
        KR_TRY_GOTO(kr_image_load(files.v[i], &img));
        if (i == 0) {
            KR_TRY_GOTO(kr_dataset_new(files.n, img.c, img.h, img.w, (int)classes.n, &d));
        } else if (img.w != d->w || img.h != d->h || img.c != d->c) {
            st = KR_FAIL(KR_E_INVALID,
                         "%s: image is %dx%d with %d channel(s), but the first image of the split "
                         "(%s) is %dx%d with %d channel(s); all images must match",
                         files.v[i], img.w, img.h, img.c, files.v[0], d->w, d->h, d->c);
            goto fail;
        }
        unsigned char *row = d->pixels + i * d->d; /* c x h x w */
        size_t plane = (size_t)d->h * (size_t)d->w;
        for (int ch = 0; ch < d->c; ch++)
            for (size_t p = 0; p < plane; p++)
                row[(size_t)ch * plane + p] = img.pix[p * (size_t)d->c + (size_t)ch];
        d->labels[i] = labels[i];
        kr_image_free(&img);
    }

    snprintf(d->kind, sizeof d->kind, "folder");
    d->split = split;
    d->class_names = classes.v; /* num_classes names, ownership moves */
    classes.v = NULL;
    classes.n = classes.cap = 0;
    d->files = files.v; /* n paths, ownership moves */
    files.v = NULL;
    files.n = files.cap = 0;
    d->sources = calloc(1, sizeof *d->sources);
    if (!d->sources) goto oom;
    d->num_sources = 1;
    d->sources[0] = split_dir;
    split_dir = NULL;

    free(train_dir);
    free(labels);
    strvec_free(&split_classes);
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", path);
fail:
    kr_image_free(&img);
    kr_dataset_free(d);
    free(train_dir);
    free(split_dir);
    free(labels);
    strvec_free(&classes);
    strvec_free(&split_classes);
    strvec_free(&files);
    strvec_free(&names);
    return st;
}
