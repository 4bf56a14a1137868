/* data_idx.c — MNIST and Fashion-MNIST in the IDX format, plain or gzip-compressed.
 *
 * Images file: u32 magic 0x00000803 (unsigned byte, 3 dims), u32 count, u32 rows, u32 cols, then
 * count*rows*cols pixel bytes, row-major. Labels file: u32 magic 0x00000801, u32 count, then count
 * label bytes. All u32 big-endian. Files are read through zlib's gzopen/gzread, which reads plain
 * files transparently, so "offsets" in messages are offsets into the decompressed stream.
 *
 * Not here: other IDX element types (int, float) or other ranks; EMNIST's transposed images.
 * Format: Yann LeCun's MNIST page (http://yann.lecun.com/exdb/mnist/), Fashion-MNIST README
 * (Xiao et al. 2017), same format and file names.
 */
#define _POSIX_C_SOURCE 200809L
#include "io/data.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_NUM_CLASSES 10
#define IDX_CHUNK ((size_t)1 << 24) /* most bytes per gzread call and per buffer growth step */
#define IDX_FIRST ((size_t)1 << 16) /* first body buffer; it doubles as data arrives */

static const char *const fashion_names[IDX_NUM_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* An open IDX stream and how far into it we are. */
typedef struct idx_file {
    const char *path;
    gzFile gz;
    unsigned long long off; /* bytes consumed from the decompressed stream */
} idx_file;

static kr_status idx_open(idx_file *f, const char *path)
{
    f->path = path;
    f->off = 0;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return KR_FAIL(KR_E_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib error");
    gzbuffer(f->gz, 1u << 17);
    return KR_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz) gzclose(f->gz);
    f->gz = NULL;
}

/* gzerror's message without the "<path>: " prefix zlib puts in front. */
static const char *zlib_msg(idx_file *f, int *zerr)
{
    const char *m = gzerror(f->gz, zerr);
    size_t n = strlen(f->path);
    if (m && strncmp(m, f->path, n) == 0 && m[n] == ':' && m[n + 1] == ' ') m += n + 2;
    return m ? m : "unknown zlib error";
}

/* Where a gzip file stops decoding: inflates it again from the start in small steps and
 * returns the compressed offset at which zlib stopped (the damage is in the bytes just
 * before; *out = decompressed bytes produced until then). Only called after gzread failed, to name the place of the damage: gzread itself
 * decodes a whole buffer at a time and cannot say. Returns false if the file decodes cleanly
 * here or cannot be read. */
static bool gz_damage(const char *path, unsigned long long *at, unsigned long long *out)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        fclose(fp);
        return false;
    }
    unsigned char in[512], outb[1 << 14];
    unsigned long long consumed = 0;
    bool found = false;
    size_t n;
    while (!found && (n = fread(in, 1, sizeof in, fp)) > 0) {
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (z.avail_in > 0) {
            z.next_out = outb;
            z.avail_out = sizeof outb;
            int r = inflate(&z, Z_NO_FLUSH);
            if (r == Z_STREAM_END) inflateReset(&z); /* concatenated members, as gzread */
            else if (r != Z_OK && r != Z_BUF_ERROR) {
                *at = consumed + (n - z.avail_in);
                *out = z.total_out;
                found = true;
                break;
            } else if (r == Z_BUF_ERROR && z.avail_out == sizeof outb) break;
        }
        consumed += n;
    }
    inflateEnd(&z);
    fclose(fp);
    return found;
}

/* Reads up to len bytes; *got is how many arrived (fewer only at the end of the stream).
 * A zlib or system error (not a clean end of file) is an error. */
static kr_status idx_read(idx_file *f, void *buf, size_t len, size_t *got)
{
    unsigned char *p = buf;
    *got = 0;
    while (*got < len) {
        size_t want = len - *got;
        if (want > IDX_CHUNK) want = IDX_CHUNK;
        int r = gzread(f->gz, p + *got, (unsigned)want);
        if (r < 0) {
            int zerr = 0;
            const char *msg = zlib_msg(f, &zerr);
            unsigned long long at, out;
            if (zerr != Z_ERRNO && gz_damage(f->path, &at, &out))
                return KR_FAIL(KR_E_INVALID,
                               "%s: damaged gzip stream: decoding stops at compressed offset "
                               "%llu, after %llu bytes of IDX data: %s",
                               f->path, at, out, msg);
            return KR_FAIL(zerr == Z_ERRNO ? KR_E_IO : KR_E_INVALID,
                           "%s: offset %llu: read failed: %s", f->path, f->off + *got,
                           zerr == Z_ERRNO ? strerror(errno) : msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    f->off += *got;
    return KR_OK;
}

/* Reads a big-endian u32 at the current offset; what names it for the truncation message. */
static kr_status idx_u32(idx_file *f, const char *what, uint32_t *v)
{
    unsigned char b[4];
    size_t got = 0;
    unsigned long long at = f->off;
    KR_TRY(idx_read(f, b, 4, &got));
    if (got < 4)
        return KR_FAIL(KR_E_INVALID,
                       "%s: offset %llu: file ends after %zu of the 4 bytes of the %s (truncated "
                       "or not an IDX file)",
                       f->path, at + got, got, what);
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
    return KR_OK;
}

static kr_status idx_magic(idx_file *f, uint32_t want)
{
    uint32_t m = 0;
    KR_TRY(idx_u32(f, "magic number", &m));
    if (m != want)
        return KR_FAIL(KR_E_INVALID,
                       "%s: offset 0: expected magic 0x%08x, found 0x%08x (not an IDX %s file)",
                       f->path, want, m, want == IDX_MAGIC_IMAGES ? "images" : "labels");
    return KR_OK;
}

/* Reads exactly len bytes of the body into *buf (allocated here, grown as data arrives so a
 * lying header cannot make us allocate gigabytes up front). */
static kr_status idx_body(idx_file *f, size_t len, const char *what, unsigned char **buf)
{
    kr_status st = KR_OK;
    unsigned char *b = NULL;
    size_t cap = 0, have = 0;
    unsigned long long start = f->off;
    *buf = NULL;
    while (have < len) {
        /* Read at most as much again as has arrived (from IDX_FIRST on), so that the buffer
         * never holds more than twice the data that really exists. */
        size_t step = have > IDX_FIRST ? have : IDX_FIRST;
        if (step > IDX_CHUNK) step = IDX_CHUNK;
        if (step > len - have) step = len - have;
        if (have + step > cap) {
            size_t ncap = cap ? cap * 2 : IDX_FIRST;
            if (ncap > len) ncap = len;
            if (ncap < have + step) ncap = have + step;
            unsigned char *nb = realloc(b, ncap);
            if (!nb) {
                st = KR_FAIL(KR_E_NOMEM, "%s: %zu bytes of %s: out of memory", f->path, len, what);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = 0;
        KR_TRY_GOTO(idx_read(f, b + have, step, &got));
        have += got;
        if (got < step) {
            int zerr = Z_OK;
            const char *zmsg = zlib_msg(f, &zerr);
            st = KR_FAIL(KR_E_INVALID,
                         "%s: offset %llu: file ends there, but %zu bytes of %s were expected from "
                         "offset %llu (truncated file%s%s)",
                         f->path, f->off, len, what, start, zerr != Z_OK ? "; zlib: " : "",
                         zerr != Z_OK ? zmsg : "");
            goto fail;
        }
    }
    *buf = b ? b : malloc(1);
    if (!*buf) {
        st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", f->path);
        goto fail;
    }
    return KR_OK;
fail:
    free(b);
    return st;
}

static kr_status idx_expect_end(idx_file *f)
{
    unsigned char c;
    size_t got = 0;
    unsigned long long at = f->off;
    KR_TRY(idx_read(f, &c, 1, &got));
    if (got)
        return KR_FAIL(KR_E_INVALID,
                       "%s: offset %llu: expected end of file after the records the header "
                       "announces, found more data",
                       f->path, at);
    return KR_OK;
}

kr_status kr_data_load_idx_files(const char *images_path, const char *labels_path,
                                 size_t max_records, kr_dataset **out)
{
    kr_status st = KR_OK;
    idx_file fi = {0}, fl = {0};
    unsigned char *pix = NULL, *lab = NULL;
    kr_dataset *d = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load_idx_files: out is NULL");
    *out = NULL;
    if (!images_path || !labels_path)
        return KR_FAIL(KR_E_INVALID, "kr_data_load_idx_files: NULL path");

    uint32_t ni = 0, rows = 0, cols = 0, nl = 0;
    KR_TRY_GOTO(idx_open(&fi, images_path));
    KR_TRY_GOTO(idx_magic(&fi, IDX_MAGIC_IMAGES));
    KR_TRY_GOTO(idx_u32(&fi, "image count", &ni));
    KR_TRY_GOTO(idx_u32(&fi, "row count", &rows));
    KR_TRY_GOTO(idx_u32(&fi, "column count", &cols));
    if (rows == 0 || cols == 0 || rows > 65536 || cols > 65536 ||
        (uint64_t)rows * cols > (uint64_t)1 << 28) {
        st = KR_FAIL(KR_E_INVALID, "%s: offset 8: expected image size 1..65536 x 1..65536, found "
                     "%u x %u", images_path, rows, cols);
        goto fail;
    }
    KR_TRY_GOTO(idx_open(&fl, labels_path));
    KR_TRY_GOTO(idx_magic(&fl, IDX_MAGIC_LABELS));
    KR_TRY_GOTO(idx_u32(&fl, "label count", &nl));
    if (ni != nl) {
        st = KR_FAIL(KR_E_INVALID,
                     "%s: offset 4: %u images, but %s (offset 4) has %u labels; expected equal "
                     "counts",
                     images_path, ni, labels_path, nl);
        goto fail;
    }
    size_t n = ni;
    int all = max_records == 0 || max_records >= n;
    if (!all) n = max_records;
    size_t dim = (size_t)rows * cols;
    if (n > SIZE_MAX / dim) {
        st = KR_FAIL(KR_E_NOMEM, "%s: %zu images of %zu bytes overflow", images_path, n, dim);
        goto fail;
    }

    KR_TRY_GOTO(idx_body(&fl, n, "labels", &lab));
    if (all) KR_TRY_GOTO(idx_expect_end(&fl));
    for (size_t i = 0; i < n; i++) {
        if (lab[i] >= IDX_NUM_CLASSES) {
            st = KR_FAIL(KR_E_INVALID, "%s: offset %zu: label of record %zu is %u, expected 0..%d",
                         labels_path, 8 + i, i, lab[i], IDX_NUM_CLASSES - 1);
            goto fail;
        }
    }
    KR_TRY_GOTO(idx_body(&fi, n * dim, "pixel data", &pix));
    if (all) KR_TRY_GOTO(idx_expect_end(&fi));

    d = calloc(1, sizeof *d);
    if (!d) goto oom;
    d->n = n;
    d->c = 1;
    d->h = (int)rows;
    d->w = (int)cols;
    d->d = dim;
    d->num_classes = IDX_NUM_CLASSES;
    d->pixels = pix; /* n x d; one channel, so HW order is CHW order */
    pix = NULL;
    d->labels = malloc((n ? n : 1) * sizeof *d->labels); /* n */
    d->sources = calloc(2, sizeof *d->sources);
    if (!d->labels || !d->sources) goto oom;
    d->num_sources = 2;
    d->sources[0] = strdup(images_path);
    d->sources[1] = strdup(labels_path);
    if (!d->sources[0] || !d->sources[1]) goto oom;
    for (size_t i = 0; i < n; i++) d->labels[i] = lab[i];
    free(lab);
    idx_close(&fi);
    idx_close(&fl);
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", images_path);
fail:
    kr_dataset_free(d);
    free(pix);
    free(lab);
    idx_close(&fi);
    idx_close(&fl);
    return st;
}

/* Finds "<dir>/<stem>.gz", "<dir>/<stem>" or "<dir>/<alt>" (the dotted names some mirrors use);
 * *out is malloc'd. */
static kr_status find_idx(const char *dir, const char *stem, const char *alt, char **out)
{
    const char *fmts[3] = {"%s/%s.gz", "%s/%s", "%s/%s"};
    const char *names[3] = {stem, stem, alt};
    *out = NULL;
    for (int k = 0; k < 3; k++) {
        size_t len = strlen(dir) + strlen(names[k]) + 5;
        char *p = malloc(len);
        if (!p) return KR_FAIL(KR_E_NOMEM, "out of memory");
        snprintf(p, len, fmts[k], dir, names[k]);
        struct stat sb;
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
            *out = p;
            return KR_OK;
        }
        free(p);
    }
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return KR_FAIL(KR_E_IO, "%s: cannot open dataset directory: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return KR_FAIL(KR_E_IO, "%s: expected a directory holding the IDX files", dir);
    return KR_FAIL(KR_E_IO, "%s: no %s[.gz] in this directory", dir, stem);
}

kr_status kr_data_load_idx(const char *kind, const char *path, kr_split split, size_t max_records,
                           kr_dataset **out)
{
    kr_status st = KR_OK;
    char *img = NULL, *lab = NULL;
    kr_dataset *d = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_data_load_idx: out is NULL");
    *out = NULL;
    if (!kind || !path) return KR_FAIL(KR_E_INVALID, "kr_data_load_idx: NULL argument");
    int fashion = strcmp(kind, "fashion-mnist") == 0;
    if (!fashion && strcmp(kind, "mnist") != 0)
        return KR_FAIL(KR_E_INVALID, "kr_data_load_idx: kind '%s' is not mnist or fashion-mnist",
                       kind);
    int train = split == KR_SPLIT_TRAIN;
    KR_TRY_GOTO(find_idx(path, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte",
                         train ? "train-images.idx3-ubyte" : "t10k-images.idx3-ubyte", &img));
    KR_TRY_GOTO(find_idx(path, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte",
                         train ? "train-labels.idx1-ubyte" : "t10k-labels.idx1-ubyte", &lab));
    KR_TRY_GOTO(kr_data_load_idx_files(img, lab, max_records, &d));
    snprintf(d->kind, sizeof d->kind, "%s", kind);
    d->split = split;
    d->class_names = calloc(IDX_NUM_CLASSES, sizeof *d->class_names);
    if (!d->class_names) goto oom;
    for (int k = 0; k < IDX_NUM_CLASSES; k++) {
        char digit[2] = {(char)('0' + k), '\0'};
        d->class_names[k] = strdup(fashion ? fashion_names[k] : digit);
        if (!d->class_names[k]) goto oom;
    }
    free(img);
    free(lab);
    *out = d;
    return KR_OK;
oom:
    st = KR_FAIL(KR_E_NOMEM, "%s: out of memory", path);
fail:
    kr_dataset_free(d);
    free(img);
    free(lab);
    return st;
}
