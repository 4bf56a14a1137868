/* check_data.c — host tests for data (IDX, CIFAR-10 binary, image folders, tasks, selection,
 * mean image). image_io has its own check_image_io.c.
 *
 * Synthetic datasets are written to a fresh mkdtemp directory per test, with pixel values given
 * by a formula, so every loaded value, label and the record order are checked exactly. Real-data
 * checks use ../shared/data (MANIFEST.txt there gives the class counts checked here; the MNIST
 * pixel mean 0.1307 and Fashion-MNIST 0.2860 are the well-known normalisation constants of the
 * official train splits). Where the real data is absent those test cases are not added and a
 * note goes to stderr; the suite exits 77 only if no test at all could be run.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "io/data.h"
#include "io/image_io.h"
#include "testutil.h"

#include "testfs.h"

/* ---------- synthetic IDX ---------- */

static unsigned char idx_pixel(size_t i, int r, int c, int cols)
{
    return (unsigned char)((i * 37 + (size_t)r * (size_t)cols + (size_t)c * 3 + 1) & 0xff);
}

/* Writes <prefix>-images-idx3-ubyte[.gz] and <prefix>-labels-idx1-ubyte[.gz] into dir.
 * n_data images are written although the header says n_hdr; magic_img/magic_lab override. */
static void make_idx(const char *dir, const char *prefix, int gz, uint32_t n_hdr, size_t n_data,
                     int rows, int cols, const unsigned char *labels, uint32_t magic_img,
                     uint32_t nlab_hdr, size_t nlab_data)
{
    size_t len = 16 + n_data * (size_t)rows * (size_t)cols;
    unsigned char *b = malloc(len);
    put_u32(b, magic_img);
    put_u32(b + 4, n_hdr);
    put_u32(b + 8, (uint32_t)rows);
    put_u32(b + 12, (uint32_t)cols);
    for (size_t i = 0; i < n_data; i++)
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                b[16 + (i * (size_t)rows + (size_t)r) * (size_t)cols + (size_t)c] =
                    idx_pixel(i, r, c, cols);
    char p[512];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_bytes(p, b, len, gz);
    free(b);
    unsigned char *l = malloc(8 + nlab_data);
    put_u32(l, 0x00000801);
    put_u32(l + 4, nlab_hdr);
    memcpy(l + 8, labels, nlab_data);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte%s", dir, prefix, gz ? ".gz" : "");
    write_bytes(p, l, 8 + nlab_data, gz);
    free(l);
}

static const unsigned char idx_labels[5] = {3, 0, 7, 9, 1};

static void check_idx_loaded(const kr_dataset *d, size_t n, int rows, int cols)
{
    ck_assert_uint_eq(d->n, n);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, rows);
    ck_assert_int_eq(d->w, cols);
    ck_assert_uint_eq(d->d, (size_t)rows * cols);
    ck_assert_int_eq(d->num_classes, 10);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(d->labels[i], idx_labels[i]);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                ck_assert_uint_eq(d->pixels[i * d->d + (size_t)r * cols + c],
                                  idx_pixel(i, r, c, cols));
    }
}

START_TEST(test_idx_plain_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        const char *dir = tp("idx%d", gz);
        mkdir_p(dir);
        make_idx(dir, "train", gz, 5, 5, 3, 4, idx_labels, 0x803, 5, 5);
        make_idx(dir, "t10k", gz, 2, 2, 3, 4, idx_labels, 0x803, 2, 2);
        kr_dataset *d = NULL;
        OK(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d));
        check_idx_loaded(d, 5, 3, 4);
        ck_assert_str_eq(d->kind, "mnist");
        ck_assert_str_eq(d->class_names[7], "7");
        ck_assert_uint_eq(d->num_sources, 2);
        ck_assert_ptr_nonnull(strstr(d->sources[0], gz ? "train-images-idx3-ubyte.gz"
                                                       : "train-images-idx3-ubyte"));
        ck_assert_ptr_null(d->files);
        kr_dataset_free(d);

        OK(kr_data_load("fashion-mnist", dir, KR_SPLIT_TEST, &d));
        check_idx_loaded(d, 2, 3, 4);
        ck_assert_str_eq(d->kind, "fashion-mnist");
        ck_assert_str_eq(d->class_names[5], "Sandal");
        ck_assert_int_eq(d->split, KR_SPLIT_TEST);
        kr_dataset_free(d);

        OK(kr_data_load_max("mnist", dir, KR_SPLIT_TRAIN, 3, &d));
        check_idx_loaded(d, 3, 3, 4);
        kr_dataset_free(d);
    }
}
END_TEST

/* A gzip file damaged in the middle: the message names the compressed offset of the damage
 * (not the start of the read that failed) and how much decoded before it. */
START_TEST(test_idx_gzip_damage_located)
{
    const char *dir = tp("gzdamage");
    mkdir_p(dir);
    static unsigned char labels[2000];
    for (size_t i = 0; i < sizeof labels; i++) labels[i] = (unsigned char)(i % 10);
    make_idx(dir, "train", 1, 2000, 2000, 28, 28, labels, 0x803, 2000, 2000);
    char path[600];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f), at = size / 2;
    ck_assert(size > 2000);
    unsigned char b[64];
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    ck_assert_uint_eq(fread(b, 1, sizeof b, f), sizeof b);
    for (size_t i = 0; i < sizeof b; i++) b[i] ^= 0xa5;
    ck_assert_int_eq(fseek(f, at, SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(b, 1, sizeof b, f), sizeof b);
    ck_assert_int_eq(fclose(f), 0);
    kr_dataset *d = (kr_dataset *)1;
    ck_assert_int_eq(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID);
    ck_assert_ptr_null(d);
    const char *msg = kr_error_message(), *o = strstr(msg, "compressed offset ");
    ck_assert_msg(o && strstr(msg, "damaged gzip stream"), "message: %s", msg);
    long where = strtol(o + strlen("compressed offset "), NULL, 10);
    /* zlib notices invalid codes a little after them, a bad checksum only at the trailer */
    ck_assert_msg(where > at && where <= size, "damage at %ld reported at %ld (file %ld bytes): %s",
                  at, where, size, msg);
}
END_TEST

START_TEST(test_idx_errors)
{
    const char *dir = tp("bad");
    mkdir_p(dir);
    kr_dataset *d = (kr_dataset *)1;

    /* bad magic, gzip: the message of the brief */
    make_idx(dir, "train", 1, 5, 5, 3, 4, idx_labels, 0x804, 5, 5);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-images-idx3-ubyte.gz: offset 0: expected magic 0x00000803",
               "found 0x00000804", NULL);
    ck_assert_ptr_null(d);

    /* truncated pixel data: header says 5 images of 3x4, only 3 present */
    make_idx(dir, "train", 1, 5, 3, 3, 4, idx_labels, 0x803, 5, 5);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-images-idx3-ubyte.gz: offset 52", "60 bytes", "truncated");

    /* truncated header */
    write_bytes(tp("bad/train-images-idx3-ubyte.gz"), "\0\0\x08\x03\0\0", 6, 1);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-images-idx3-ubyte.gz: offset 6", "image count", NULL);

    /* count mismatch */
    make_idx(dir, "train", 1, 5, 5, 3, 4, idx_labels, 0x803, 4, 4);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-images-idx3-ubyte.gz: offset 4: 5 images", "train-labels-idx1-ubyte.gz",
               "4 labels");

    /* label out of range: record 2 (offset 8 + 2) */
    const unsigned char badlab[5] = {3, 0, 10, 9, 1};
    make_idx(dir, "train", 1, 5, 5, 3, 4, badlab, 0x803, 5, 5);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-labels-idx1-ubyte.gz: offset 10", "record 2 is 10", "expected 0..9");

    /* truncated labels */
    make_idx(dir, "train", 1, 5, 5, 3, 4, idx_labels, 0x803, 5, 2);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-labels-idx1-ubyte.gz: offset 10", "5 bytes of labels", NULL);

    /* bad label magic, plain file (gz removed so the plain name is found) */
    remove(tp("bad/train-images-idx3-ubyte.gz"));
    remove(tp("bad/train-labels-idx1-ubyte.gz"));
    make_idx(dir, "train", 0, 5, 5, 3, 4, idx_labels, 0x803, 5, 5);
    unsigned char junk[12] = {0, 0, 8, 3, 0, 0, 0, 5, 3, 0, 7, 9};
    write_bytes(tp("bad/train-labels-idx1-ubyte"), junk, sizeof junk, 0);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-labels-idx1-ubyte: offset 0: expected magic 0x00000801", "found 0x00000803",
               NULL);

    /* trailing bytes after the announced records */
    make_idx(dir, "train", 0, 4, 5, 3, 4, idx_labels, 0x803, 4, 4);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train-images-idx3-ubyte: offset 64", "expected end of file", NULL);

    /* a corrupt gzip stream */
    unsigned char gzjunk[40] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff};
    write_bytes(tp("bad/t10k-images-idx3-ubyte.gz"), gzjunk, sizeof gzjunk, 0);
    make_idx(dir, "t10k", 0, 2, 2, 3, 4, idx_labels, 0x803, 2, 2);
    expect_err(kr_data_load("mnist", dir, KR_SPLIT_TEST, &d), KR_E_INVALID,
               "t10k-images-idx3-ubyte.gz: damaged gzip stream: decoding stops at compressed "
               "offset 11", "after 0 bytes of IDX data", NULL); /* byte 10: the first block */

    /* missing files, missing directory, unknown kind */
    expect_err(kr_data_load("mnist", tp("nowhere"), KR_SPLIT_TRAIN, &d), KR_E_IO, "nowhere",
               NULL, NULL);
    const char *empty = tp("empty");
    mkdir_p(empty);
    expect_err(kr_data_load("mnist", empty, KR_SPLIT_TRAIN, &d), KR_E_IO,
               "no train-images-idx3-ubyte[.gz]", "empty", NULL);
    expect_err(kr_data_load("svhn", empty, KR_SPLIT_TRAIN, &d), KR_E_INVALID, "svhn", NULL, NULL);
    ck_assert_ptr_null(d);
}
END_TEST

/* ---------- synthetic CIFAR ---------- */

static unsigned char cifar_pixel(size_t rec, int ch, int y, int x)
{
    return (unsigned char)((rec * 11 + (size_t)ch * 101 + (size_t)y * 7 + (size_t)x * 3) & 0xff);
}

/* Writes n records numbered first..first+n-1 with labels[k]; extra bytes appended. */
static void make_cifar(const char *path, size_t first, size_t n, const unsigned char *labels,
                       size_t extra)
{
    size_t len = n * 3073 + extra;
    unsigned char *b = calloc(len ? len : 1, 1);
    for (size_t r = 0; r < n; r++) {
        unsigned char *rec = b + r * 3073;
        rec[0] = labels[r];
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    rec[1 + ch * 1024 + y * 32 + x] = cifar_pixel(first + r, ch, y, x);
    }
    write_bytes(path, b, len, 0);
    free(b);
}

static void check_cifar_record(const kr_dataset *d, size_t i, size_t rec, int label)
{
    ck_assert_int_eq(d->labels[i], label);
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                ck_assert_uint_eq(d->pixels[i * 3072 + (size_t)ch * 1024 + (size_t)y * 32 + x],
                                  cifar_pixel(rec, ch, y, x));
}

START_TEST(test_cifar_official_names)
{
    const unsigned char l1[2] = {6, 9}, l2[3] = {9, 4, 1}, lt[1] = {3};
    const char *dir = tp("c");
    mkdir_p(dir);
    make_cifar(tp("c/data_batch_2.bin"), 2, 3, l2, 0); /* created first: order must not matter */
    make_cifar(tp("c/data_batch_1.bin"), 0, 2, l1, 0);
    make_cifar(tp("c/test_batch.bin"), 100, 1, lt, 0);
    make_cifar(tp("c/train_ignored.bin"), 50, 1, lt, 0); /* official names take precedence */
    kr_dataset *d = NULL;
    OK(kr_data_load("cifar10", dir, KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 5);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 32);
    ck_assert_int_eq(d->w, 32);
    ck_assert_uint_eq(d->d, 3072);
    ck_assert_uint_eq(d->num_sources, 2);
    ck_assert_ptr_nonnull(strstr(d->sources[0], "data_batch_1.bin"));
    const int want[5] = {6, 9, 9, 4, 1};
    for (size_t i = 0; i < 5; i++) check_cifar_record(d, i, i, want[i]);
    ck_assert_str_eq(d->class_names[0], "airplane");
    ck_assert_str_eq(d->class_names[9], "truck");
    kr_dataset_free(d);

    OK(kr_data_load_max("cifar-10", dir, KR_SPLIT_TRAIN, 3, &d));
    ck_assert_uint_eq(d->n, 3);
    check_cifar_record(d, 2, 2, 9);
    kr_dataset_free(d);

    const char meta[] = "a0\na1\na2\na3\na4\na5\na6\na7\na8\nlast\n\n";
    write_bytes(tp("c/batches.meta.txt"), meta, strlen(meta), 0);
    OK(kr_data_load("cifar10", dir, KR_SPLIT_TEST, &d));
    ck_assert_uint_eq(d->n, 1);
    check_cifar_record(d, 0, 100, 3);
    ck_assert_str_eq(d->class_names[9], "last");
    kr_dataset_free(d);

    const char meta_short[] = "a0\na1\n";
    write_bytes(tp("c/batches.meta.txt"), meta_short, strlen(meta_short), 0);
    expect_err(kr_data_load("cifar10", dir, KR_SPLIT_TEST, &d), KR_E_INVALID,
               "batches.meta.txt: offset 6", "found 2", NULL);
}
END_TEST

START_TEST(test_cifar_fallback_and_errors)
{
    const unsigned char la[2] = {1, 2}, lb[1] = {8}, lt[2] = {0, 5};
    const char *dir = tp("f");
    mkdir_p(dir);
    make_cifar(tp("f/train_b.bin"), 10, 1, lb, 0);
    make_cifar(tp("f/train_a.bin"), 0, 2, la, 0);
    make_cifar(tp("f/test_first.bin"), 20, 2, lt, 0);
    kr_dataset *d = NULL;
    OK(kr_data_load("cifar10", dir, KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 3);
    check_cifar_record(d, 0, 0, 1);
    check_cifar_record(d, 1, 1, 2);
    check_cifar_record(d, 2, 10, 8);
    kr_dataset_free(d);
    OK(kr_data_load("cifar10", dir, KR_SPLIT_TEST, &d));
    ck_assert_uint_eq(d->n, 2);
    check_cifar_record(d, 1, 21, 5);
    kr_dataset_free(d);

    /* size not a multiple of 3073: 2 records + 5 bytes */
    make_cifar(tp("f/train_b.bin"), 10, 2, la, 5);
    expect_err(kr_data_load("cifar10", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train_b.bin: offset 6146", "not a multiple of 3073", NULL);
    ck_assert_ptr_null(d);

    /* label out of range in record 1 (offset 3073) */
    const unsigned char bad[2] = {4, 10};
    make_cifar(tp("f/train_b.bin"), 10, 2, bad, 0);
    expect_err(kr_data_load("cifar10", dir, KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "train_b.bin: offset 3073", "record 1 is 10", "expected 0..9");

    const char *empty = tp("e");
    mkdir_p(empty);
    expect_err(kr_data_load("cifar10", empty, KR_SPLIT_TRAIN, &d), KR_E_IO, "data_batch_1..5.bin",
               NULL, NULL);
    expect_err(kr_data_load("cifar10", tp("absent"), KR_SPLIT_TRAIN, &d), KR_E_IO, "absent", NULL,
               NULL);
}
END_TEST

/* ---------- synthetic image folders ---------- */

/* An RGB (c=3) or gray (c=1) w x h image whose pixel (ch,y,x) is a formula of seed. */
static unsigned char folder_pixel(int seed, int ch, int y, int x)
{
    return (unsigned char)((seed * 29 + ch * 80 + y * 13 + x * 5) & 0xff);
}

static void make_png(const char *path, int seed, int w, int h, int c)
{
    unsigned char *hwc = malloc((size_t)w * h * c); /* h x w x c */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                hwc[((size_t)y * w + x) * c + ch] = folder_pixel(seed, ch, y, x);
    OK(kr_image_write_png_hwc(path, hwc, w, h, c));
    free(hwc);
}

static void check_folder_record(const kr_dataset *d, size_t i, int seed, int label)
{
    ck_assert_int_eq(d->labels[i], label);
    for (int ch = 0; ch < d->c; ch++)
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++)
                ck_assert_uint_eq(
                    d->pixels[i * d->d + ((size_t)ch * d->h + y) * d->w + x],
                    folder_pixel(seed, ch, y, x));
}

START_TEST(test_folder_nested)
{
    mkdir_p(tp("im"));
    mkdir_p(tp("im/train"));
    mkdir_p(tp("im/train/dog"));
    mkdir_p(tp("im/train/cat"));
    mkdir_p(tp("im/train/.hidden"));
    mkdir_p(tp("im/test"));
    mkdir_p(tp("im/test/dog"));
    make_png(tp("im/train/dog/b.png"), 1, 5, 3, 3);
    make_png(tp("im/train/dog/a.png"), 2, 5, 3, 3);
    make_png(tp("im/train/cat/z.PNG"), 3, 5, 3, 3);
    make_png(tp("im/test/dog/q.png"), 4, 5, 3, 3);
    write_bytes(tp("im/train/cat/readme.txt"), "x", 1, 0);
    /* an RGBA image: alpha is dropped, the colour planes stay */
    unsigned char rgba[5 * 3 * 4];
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++)
            for (int ch = 0; ch < 4; ch++)
                rgba[(y * 5 + x) * 4 + ch] = ch < 3 ? folder_pixel(5, ch, y, x) : 77;
    OK(kr_image_write_png_hwc(tp("im/train/cat/y.png"), rgba, 5, 3, 4));

    kr_dataset *d = NULL;
    OK(kr_data_load("folder", tp("im"), KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 4);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 3);
    ck_assert_int_eq(d->w, 5);
    ck_assert_int_eq(d->num_classes, 2);
    ck_assert_str_eq(d->class_names[0], "cat");
    ck_assert_str_eq(d->class_names[1], "dog");
    /* order: cat/y.png, cat/z.PNG, dog/a.png, dog/b.png */
    check_folder_record(d, 0, 5, 0);
    check_folder_record(d, 1, 3, 0);
    check_folder_record(d, 2, 2, 1);
    check_folder_record(d, 3, 1, 1);
    ck_assert_ptr_nonnull(strstr(d->files[1], "cat/z.PNG"));
    ck_assert_ptr_nonnull(strstr(d->files[3], "dog/b.png"));
    ck_assert_ptr_nonnull(strstr(d->sources[0], "im/train"));
    kr_dataset_free(d);

    OK(kr_data_load_max("folder", tp("im"), KR_SPLIT_TRAIN, 3, &d));
    ck_assert_uint_eq(d->n, 3);
    check_folder_record(d, 2, 2, 1);
    kr_dataset_free(d);

    OK(kr_data_load("folder", tp("im"), KR_SPLIT_TEST, &d));
    ck_assert_uint_eq(d->n, 1);
    ck_assert_int_eq(d->num_classes, 2);
    check_folder_record(d, 0, 4, 1); /* dog keeps id 1 though test/ has no cat */
    kr_dataset_free(d);

    mkdir_p(tp("im/test/cow"));
    expect_err(kr_data_load("folder", tp("im"), KR_SPLIT_TEST, &d), KR_E_INVALID, "test/cow",
               "not among the train classes", NULL);
}
END_TEST

START_TEST(test_folder_flat_gray_jpeg)
{
    mkdir_p(tp("g"));
    mkdir_p(tp("g/0"));
    mkdir_p(tp("g/1"));
    make_png(tp("g/0/a.png"), 1, 4, 6, 1);
    make_png(tp("g/1/a.png"), 2, 4, 6, 1);
    kr_dataset *d = NULL;
    OK(kr_data_load("folder", tp("g"), KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 2);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, 6);
    ck_assert_int_eq(d->w, 4);
    check_folder_record(d, 0, 1, 0);
    check_folder_record(d, 1, 2, 1);
    kr_dataset_free(d);
    expect_err(kr_data_load("folder", tp("g"), KR_SPLIT_TEST, &d), KR_E_IO, "no test split", NULL,
               NULL);

    /* JPEGs load (stb writes 3-component JPEGs; lossy: shape and a loose value check) */
    mkdir_p(tp("j"));
    mkdir_p(tp("j/x"));
    mkdir_p(tp("j/y"));
    unsigned char flat[6 * 4 * 3];
    for (size_t k = 0; k < sizeof flat; k++) flat[k] = (unsigned char)(k % 3 == 0 ? 200 : 40);
    ck_assert_int_ne(stbi_write_jpg(tp("j/x/a.jpg"), 4, 6, 3, flat, 95), 0);
    ck_assert_int_ne(stbi_write_jpg(tp("j/y/b.JPEG"), 4, 6, 3, flat, 95), 0);
    OK(kr_data_load("folder", tp("j"), KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 2);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->labels[1], 1);
    ck_assert_int_le(abs((int)d->pixels[72 + 5] - 200), 6);      /* R plane */
    ck_assert_int_le(abs((int)d->pixels[72 + 24 + 5] - 40), 6);  /* G plane */
    kr_dataset_free(d);

    /* a different size: the message names both files and both sizes */
    make_png(tp("g/1/c.png"), 3, 5, 6, 1);
    expect_err(kr_data_load("folder", tp("g"), KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "g/1/c.png: image is 5x6 with 1 channel", "g/0/a.png) is 4x6 with 1", NULL);
    /* a different channel count */
    make_png(tp("g/1/c.png"), 3, 4, 6, 3);
    expect_err(kr_data_load("folder", tp("g"), KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "g/1/c.png: image is 4x6 with 3 channel", NULL, NULL);
    /* an unreadable image */
    write_bytes(tp("g/1/c.png"), "not a png at all", 16, 0);
    expect_err(kr_data_load("folder", tp("g"), KR_SPLIT_TRAIN, &d), KR_E_INVALID, "g/1/c.png",
               "stb_image", NULL);
    ck_assert_ptr_null(d);
    mkdir_p(tp("nocls"));
    expect_err(kr_data_load("folder", tp("nocls"), KR_SPLIT_TRAIN, &d), KR_E_INVALID,
               "no class folders", NULL, NULL);
}
END_TEST

/* ---------- tasks ---------- */

START_TEST(test_task_parse)
{
    kr_task t;
    OK(kr_task_parse("odd_even", &t));
    for (int k = 0; k < 10; k++) ck_assert_int_eq(t.sign[k], k % 2 ? 1 : -1);
    ck_assert_int_eq(t.sign[10], 0);
    ck_assert_int_eq(t.max_class, 9);
    ck_assert_str_eq(t.name, "odd_even");
    OK(kr_task_parse("vehicles_animals", &t));
    const int va[10] = {-1, -1, 1, 1, 1, 1, 1, 1, -1, -1};
    for (int k = 0; k < 10; k++) ck_assert_int_eq(t.sign[k], va[k]);
    OK(kr_task_parse("clothing-footwear", &t));
    const int cf[10] = {-1, -1, -1, -1, -1, 1, -1, 1, 1, 1};
    for (int k = 0; k < 10; k++) ck_assert_int_eq(t.sign[k], cf[k]);
    OK(kr_task_parse("3/8", &t));
    ck_assert_int_eq(t.sign[3], -1);
    ck_assert_int_eq(t.sign[8], 1);
    ck_assert_int_eq(t.sign[0], 0);
    ck_assert_int_eq(t.max_class, 8);
    ck_assert_str_eq(t.name, "3/8");
    OK(kr_task_parse(" 5, 1 / 2,12 ", &t));
    ck_assert_str_eq(t.name, "1,5/2,12");
    ck_assert_int_eq(t.max_class, 12);

    expect_err(kr_task_parse("oddeven", &t), KR_E_INVALID, "unknown task 'oddeven'", NULL, NULL);
    expect_err(kr_task_parse("1,2/2,3", &t), KR_E_INVALID, "class 2 is in both groups", NULL,
               NULL);
    expect_err(kr_task_parse("1,1/2", &t), KR_E_INVALID, "class 1 is listed twice", NULL, NULL);
    expect_err(kr_task_parse("/1", &t), KR_E_INVALID, "group A", "empty", NULL);
    expect_err(kr_task_parse("1/ ", &t), KR_E_INVALID, "group B", "empty", NULL);
    expect_err(kr_task_parse("1,/2", &t), KR_E_INVALID, "ends with ','", NULL, NULL);
    expect_err(kr_task_parse("a/b", &t), KR_E_INVALID, "expected a class id", NULL, NULL);
    expect_err(kr_task_parse("300/1", &t), KR_E_INVALID, "expected a class id 0..255", NULL, NULL);
    expect_err(kr_task_parse("1/2/3", &t), KR_E_INVALID, "unknown task", NULL, NULL);

    OK(kr_task_parse("3/12", &t));
    expect_err(kr_task_validate(&t, 10), KR_E_INVALID, "class 12", "10 classes", NULL);
    OK(kr_task_validate(&t, 13));

    OK(kr_task_default("mnist", 10, &t));
    ck_assert_str_eq(t.name, "odd_even");
    OK(kr_task_default("fashion-mnist", 10, &t));
    ck_assert_str_eq(t.name, "clothing_footwear");
    OK(kr_task_default("cifar10", 10, &t));
    ck_assert_str_eq(t.name, "vehicles_animals");
    OK(kr_task_default("folder", 2, &t));
    ck_assert_str_eq(t.name, "0/1");
    expect_err(kr_task_default("folder", 3, &t), KR_E_INVALID, "3 classes", NULL, NULL);
}
END_TEST

/* ---------- selection and mean ---------- */

/* 12 records of 2x1x2 with labels below; pixel k of record i = 10*i + k. */
static kr_dataset *toy_dataset(void)
{
    static const int lab[12] = {1, 4, 3, 0, 2, 5, 7, 6, 9, 1, 8, 3};
    kr_dataset *d = NULL;
    OK(kr_dataset_new(12, 2, 1, 2, 10, &d));
    for (size_t i = 0; i < 12; i++) {
        d->labels[i] = lab[i];
        for (size_t k = 0; k < 4; k++) d->pixels[i * 4 + k] = (unsigned char)(10 * i + k);
    }
    return d;
}

START_TEST(test_select)
{
    kr_dataset *d = toy_dataset();
    kr_task t;
    OK(kr_task_parse("odd_even", &t));
    kr_binary_set *s = NULL;
    OK(kr_data_select(d, &t, 3, &s));
    /* evens at 1(4),3(0),4(2); odds at 0(1),2(3),5(5) -> records 0..5 in file order */
    ck_assert_uint_eq(s->n, 6);
    ck_assert_uint_eq(s->d, 4);
    ck_assert_int_eq(s->c, 2);
    ck_assert_int_eq(s->h, 1);
    ck_assert_int_eq(s->w, 2);
    const double y[6] = {1, -1, 1, -1, -1, 1};
    for (size_t j = 0; j < 6; j++) {
        ck_assert_uint_eq(s->index[j], j);
        ck_assert_int_eq(s->class_ids[j], d->labels[j]);
        ck_assert(s->y[j] == y[j]);
        for (size_t k = 0; k < 4; k++) ck_assert(s->x[j * 4 + k] == (double)(10 * j + k) / 255.0);
    }
    kr_binary_set_free(s);

    /* 1 per class: first odd (rec 0) and first even (rec 1) */
    OK(kr_data_select(d, &t, 1, &s));
    ck_assert_uint_eq(s->n, 2);
    ck_assert_uint_eq(s->index[0], 0);
    ck_assert_uint_eq(s->index[1], 1);
    kr_binary_set_free(s);

    /* user task 3/8: records 2, 10, 11 -> 2 per class is too many for class 8 */
    OK(kr_task_parse("3/8", &t));
    expect_err(kr_data_select(d, &t, 2, &s), KR_E_INVALID, "group +1 (classes 8) has 1 samples",
               "2 requested", NULL);
    ck_assert_ptr_null(s);
    OK(kr_data_select(d, &t, 0, &s)); /* 0 = all */
    ck_assert_uint_eq(s->n, 3);
    ck_assert_uint_eq(s->index[0], 2);
    ck_assert_uint_eq(s->index[1], 10);
    ck_assert_uint_eq(s->index[2], 11);
    ck_assert(s->y[1] == 1.0 && s->y[0] == -1.0 && s->y[2] == -1.0);
    kr_binary_set_free(s);

    OK(kr_task_parse("3/11", &t));
    expect_err(kr_data_select(d, &t, 1, &s), KR_E_INVALID, "class 11", NULL, NULL);
    kr_dataset_free(d);
}
END_TEST

/* Multiclass and regression tasks on the toy set (labels 1 4 3 0 2 5 7 6 9 1 8 3). */
START_TEST(test_select_multiclass_regression)
{
    kr_dataset *d = toy_dataset();
    kr_task t;
    kr_binary_set *s = NULL;
    OK(kr_task_parse("multiclass", &t));
    ck_assert_int_eq(t.kind, KR_TASK_MULTICLASS);
    ck_assert_int_eq(kr_task_outputs(&t, 10), 10);
    /* class 2, 4, 5, ... occur once: 2 per class is too many, and the message says which */
    expect_err(kr_data_select(d, &t, 2, &s), KR_E_INVALID, "class 0 has 1 samples",
               "2 requested", NULL);
    OK(kr_data_select(d, &t, 1, &s)); /* the first of each class: records 0..8 and 10 */
    ck_assert_uint_eq(s->n, 10);
    ck_assert_int_eq(s->kind, KR_TASK_MULTICLASS);
    ck_assert_int_eq(s->n_outputs, 10);
    static const size_t idx[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10};
    for (size_t j = 0; j < 10; j++) {
        ck_assert_uint_eq(s->index[j], idx[j]);
        ck_assert(s->y[j] == (double)d->labels[idx[j]]); /* every class: output = class id */
    }
    kr_binary_set_free(s);

    /* a class list: outputs in the listed order; first k per class in file order */
    OK(kr_task_parse("multiclass: 3, 1,8", &t));
    ck_assert_str_eq(t.name, "multiclass:3,1,8");
    ck_assert_int_eq(kr_task_outputs(&t, 10), 3);
    OK(kr_data_select(d, &t, 0, &s)); /* all: 1@0, 3@2, 1@9, 8@10, 3@11 */
    ck_assert_uint_eq(s->n, 5);
    static const size_t idx2[5] = {0, 2, 9, 10, 11};
    static const double y2[5] = {1, 0, 1, 2, 0};
    for (size_t j = 0; j < 5; j++) {
        ck_assert_uint_eq(s->index[j], idx2[j]);
        ck_assert(s->y[j] == y2[j]);
    }
    /* a seeded shuffle keeps the set (rows move together) and is repeatable */
    kr_binary_set *s2 = NULL;
    OK(kr_data_select(d, &t, 0, &s2));
    kr_binary_set_shuffle(s, 7);
    kr_binary_set_shuffle(s2, 7);
    size_t moved = 0;
    for (size_t j = 0; j < 5; j++) {
        ck_assert_uint_eq(s->index[j], s2->index[j]);
        moved += s->index[j] != idx2[j];
        size_t o = 0;
        while (idx2[o] != s->index[j]) o++;
        ck_assert(s->y[j] == y2[o]);
        ck_assert_int_eq(s->class_ids[j], d->labels[s->index[j]]);
        for (size_t k = 0; k < 4; k++)
            ck_assert(s->x[j * 4 + k] == (double)(10 * s->index[j] + k) / 255.0);
    }
    ck_assert_uint_gt(moved, 0); /* seed 7 moves something (a fixed seed: not random) */
    kr_binary_set_free(s);
    kr_binary_set_free(s2);

    expect_err(kr_task_parse("multiclass:3", &t), KR_E_INVALID, "at least 2 classes", NULL,
               NULL);
    expect_err(kr_task_parse("multiclass:3,3", &t), KR_E_INVALID, "listed twice", NULL, NULL);
    expect_err(kr_task_parse("multiclass:3,x", &t), KR_E_INVALID, "expected a class id", NULL,
               NULL);
    OK(kr_task_parse("multiclass:3,12", &t));
    expect_err(kr_task_validate(&t, 10), KR_E_INVALID, "class 12", NULL, NULL);

    /* regression: the binary task's ±1 as targets */
    OK(kr_task_parse("vehicles_animals_regression", &t));
    ck_assert_int_eq(t.kind, KR_TASK_REGRESSION);
    ck_assert_str_eq(t.name, "regression:vehicles_animals");
    OK(kr_data_select(d, &t, 2, &s));
    ck_assert_int_eq(s->kind, KR_TASK_REGRESSION);
    ck_assert_int_eq(s->n_outputs, 1);
    for (size_t j = 0; j < s->n; j++) {
        int c = s->class_ids[j];
        ck_assert(s->y[j] == ((c == 0 || c == 1 || c == 8 || c == 9) ? -1.0 : 1.0));
    }
    kr_binary_set_free(s);
    OK(kr_task_parse("regression:3/8", &t));
    ck_assert_str_eq(t.name, "regression:3/8");
    expect_err(kr_task_parse("regression:multiclass", &t), KR_E_INVALID, "binary task", NULL,
               NULL);
    kr_dataset_free(d);
}
END_TEST

START_TEST(test_mean)
{
    kr_dataset *d = toy_dataset();
    kr_task t;
    OK(kr_task_parse("odd_even", &t));
    kr_binary_set *tr = NULL, *te = NULL;
    OK(kr_data_select(d, &t, 2, &tr)); /* records 0..3 */
    OK(kr_data_select(d, &t, 0, &te)); /* all 12 */
    double mean[4];
    OK(kr_binary_set_mean(tr, mean));
    for (size_t k = 0; k < 4; k++)
        ck_assert_double_eq_tol(mean[k], (15.0 + (double)k) / 255.0, 1e-15);
    OK(kr_binary_set_subtract_mean(te, mean, 4));
    ck_assert_int_eq(te->mean_subtracted, 1);
    for (size_t j = 0; j < 12; j++)
        for (size_t k = 0; k < 4; k++)
            ck_assert_double_eq_tol(te->x[j * 4 + k], (10.0 * (double)j - 15.0) / 255.0, 1e-15);
    OK(kr_binary_set_subtract_mean(tr, mean, 4));
    double m2[4];
    OK(kr_binary_set_mean(tr, m2));
    for (size_t k = 0; k < 4; k++) ck_assert_double_eq_tol(m2[k], 0.0, 1e-15);
    expect_err(kr_binary_set_subtract_mean(tr, mean, 3), KR_E_INVALID, "3 values", NULL, NULL);
    kr_binary_set_free(tr);
    kr_binary_set_free(te);
    kr_dataset_free(d);
}
END_TEST

/* ---------- real data ---------- */

static char g_shared[1024];

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static const char *find_shared(void)
{
    const char *env = getenv("KKTRECON_SHARED_DATA");
    if (env && *env) {
        snprintf(g_shared, sizeof g_shared, "%s", env);
        return is_dir(g_shared) ? g_shared : NULL;
    }
    /* ../shared/data, ../../shared/data, ... up to 4 levels above the working directory */
    char cand[64] = "";
    for (int up = 1; up <= 4; up++) {
        strcat(cand, "../");
        snprintf(g_shared, sizeof g_shared, "%sshared/data", cand);
        if (is_dir(g_shared)) return g_shared;
    }
#ifdef KR_SOURCE_DIR
    snprintf(g_shared, sizeof g_shared, "%s/../shared/data", KR_SOURCE_DIR);
    if (is_dir(g_shared)) return g_shared;
#endif
    return NULL;
}

static const char *sub(const char *name)
{
    static char b[1200];
    snprintf(b, sizeof b, "%s/%s", g_shared, name);
    return b;
}

static void check_counts(const kr_dataset *d, const size_t *want)
{
    size_t cnt[10] = {0};
    for (size_t i = 0; i < d->n; i++) {
        ck_assert(d->labels[i] >= 0 && d->labels[i] < 10);
        cnt[d->labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_msg(cnt[k] == want[k], "class %d: %zu, expected %zu", k, cnt[k], want[k]);
}

static double pixel_mean(const kr_dataset *d)
{
    double s = 0;
    for (size_t i = 0; i < d->n * d->d; i++) s += d->pixels[i];
    return s / (double)(d->n * d->d) / 255.0;
}

START_TEST(test_real_mnist)
{
    kr_dataset *d = NULL;
    OK(kr_data_load("mnist", sub("mnist"), KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 60000);
    ck_assert_int_eq(d->h, 28);
    ck_assert_int_eq(d->w, 28);
    ck_assert_int_eq(d->labels[0], 5);
    const size_t want[10] = {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
    check_counts(d, want);
    ck_assert_double_eq_tol(pixel_mean(d), 0.1307, 5e-5);

    kr_task t;
    OK(kr_task_default(d->kind, d->num_classes, &t));
    kr_binary_set *s = NULL;
    OK(kr_data_select(d, &t, 250, &s));
    ck_assert_uint_eq(s->n, 500);
    size_t neg = 0;
    for (size_t j = 0; j < s->n; j++) {
        ck_assert(s->y[j] == (s->class_ids[j] % 2 ? 1.0 : -1.0));
        neg += s->y[j] < 0;
        if (j) ck_assert_uint_gt(s->index[j], s->index[j - 1]);
        ck_assert_int_eq(s->class_ids[j], d->labels[s->index[j]]);
    }
    ck_assert_uint_eq(neg, 250);
    /* first-k: a record is selected exactly when fewer than 250 of its group came before it */
    size_t seen[2] = {0, 0}, j = 0;
    for (size_t i = 0; i < d->n; i++) {
        int g = d->labels[i] % 2;
        int sel = j < s->n && s->index[j] == i;
        ck_assert_int_eq(sel, seen[g] < 250);
        seen[g]++;
        j += (size_t)sel;
    }
    ck_assert_uint_eq(j, s->n);
    double *mean = malloc(s->d * sizeof *mean);
    OK(kr_binary_set_mean(s, mean));
    OK(kr_binary_set_subtract_mean(s, mean, s->d));
    free(mean);
    kr_binary_set_free(s);
    kr_dataset_free(d);

    OK(kr_data_load("mnist", sub("mnist"), KR_SPLIT_TEST, &d));
    ck_assert_uint_eq(d->n, 10000);
    kr_dataset_free(d);
}
END_TEST

START_TEST(test_real_cifar)
{
    kr_dataset *d = NULL;
    OK(kr_data_load("cifar10", sub("cifar10"), KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 4000);
    ck_assert_uint_eq(d->d, 3072);
    const size_t want[10] = {396, 366, 420, 384, 422, 393, 414, 385, 407, 413};
    check_counts(d, want);
    ck_assert_str_eq(d->class_names[1], "automobile");
    ck_assert_ptr_nonnull(strstr(d->sources[0], "train_first4000.bin"));
    kr_task t;
    OK(kr_task_default(d->kind, d->num_classes, &t));
    kr_binary_set *s = NULL;
    OK(kr_data_select(d, &t, 250, &s));
    ck_assert_uint_eq(s->n, 500);
    for (size_t j = 0; j < s->n; j++) {
        int c = s->class_ids[j];
        ck_assert(s->y[j] == ((c == 0 || c == 1 || c == 8 || c == 9) ? -1.0 : 1.0));
    }
    kr_binary_set_free(s);
    expect_err(kr_data_select(d, &t, 2000, &s), KR_E_INVALID, "train_first4000.bin",
               "has 1582 samples", "2000 requested");
    kr_dataset_free(d);
    OK(kr_data_load("cifar10", sub("cifar10"), KR_SPLIT_TEST, &d));
    ck_assert_uint_eq(d->n, 1000);
    kr_dataset_free(d);
}
END_TEST

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

START_TEST(test_real_fashion)
{
    kr_dataset *d = NULL;
    OK(kr_data_load("fashion-mnist", FASHION_DIR, KR_SPLIT_TRAIN, &d));
    ck_assert_uint_eq(d->n, 60000);
    const size_t want[10] = {6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000};
    check_counts(d, want);
    ck_assert_double_eq_tol(pixel_mean(d), 0.2860, 5e-5);
    kr_task t;
    OK(kr_task_default(d->kind, d->num_classes, &t));
    kr_binary_set *s = NULL;
    OK(kr_data_select(d, &t, 10, &s));
    ck_assert_uint_eq(s->n, 20);
    kr_binary_set_free(s);
    kr_dataset_free(d);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("data");
    int ntests = 0;
    TCase *tc = tcase_create("synthetic");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_idx_plain_and_gzip);
    tcase_add_test(tc, test_idx_errors);
    tcase_add_test(tc, test_idx_gzip_damage_located);
    tcase_add_test(tc, test_cifar_official_names);
    tcase_add_test(tc, test_cifar_fallback_and_errors);
    tcase_add_test(tc, test_folder_nested);
    tcase_add_test(tc, test_folder_flat_gray_jpeg);
    tcase_add_test(tc, test_task_parse);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_select_multiclass_regression);
    tcase_add_test(tc, test_mean);
    suite_add_tcase(su, tc);
    ntests += 9;

    const char *shared = find_shared();
    if (shared && is_dir(sub("mnist"))) {
        TCase *r = tcase_create("real_mnist");
        tcase_set_timeout(r, 120);
        tcase_add_test(r, test_real_mnist);
        suite_add_tcase(su, r);
        ntests++;
    } else {
        fprintf(stderr, "check_data: note: no shared data with mnist/ (set KKTRECON_SHARED_DATA); "
                        "skipping the real MNIST tests\n");
    }
    if (shared && is_dir(sub("cifar10"))) {
        TCase *r = tcase_create("real_cifar");
        tcase_set_timeout(r, 60);
        tcase_add_test(r, test_real_cifar);
        suite_add_tcase(su, r);
        ntests++;
    } else {
        fprintf(stderr, "check_data: note: no shared data with cifar10/; skipping the real CIFAR-10 "
                        "tests\n");
    }
    if (is_dir(FASHION_DIR)) {
        TCase *r = tcase_create("real_fashion");
        tcase_set_timeout(r, 120);
        tcase_add_test(r, test_real_fashion);
        suite_add_tcase(su, r);
        ntests++;
    } else {
        fprintf(stderr, "check_data: note: " FASHION_DIR " absent (Debian dataset-fashion-mnist); "
                        "skipping the real Fashion-MNIST test\n");
    }
    if (ntests == 0) return 77;

    int failed = kr_test_run_suite(su, false);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
