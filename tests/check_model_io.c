/* check_model_io.c — host tests of safetensors.c and model_io.c.
 *
 * Covers: bit-exact write -> read round trips in F32/F64/I64 with metadata and the on-disk
 * layout (8-byte length, space padding to 8, contiguous data); a byte-level file written here
 * literally, laid out as Python's safetensors.torch.save_file writes a PyTorch state_dict
 * (compact JSON, "__metadata__" first, tensors sorted by dtype then name, data contiguous);
 * every validation error, whose message must name the file and the tensor; model save/load
 * round trips for L = 2, 3, 4 with and without the first-layer bias; nn.Sequential naming.
 * Files go to a fresh mkdtemp directory that main removes at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/model.h"
#include "io/model_io.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "base/status.h"
#include "testutil.h"

static char g_dir[256];

/* dir/name in a static ring of buffers (several live paths per test) */
static const char *tpath(const char *name)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

/* A safetensors file from a header string (padded with spaces to 8) and a data buffer. */
static void write_st(const char *path, const char *json, const void *data, size_t ndata)
{
    size_t hl = strlen(json), padded = (hl + 7) / 8 * 8;
    unsigned char *b = calloc(8 + padded + ndata + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, json, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    if (ndata) memcpy(b + 8 + padded, data, ndata);
    write_bytes(path, b, 8 + padded + ndata);
    free(b);
}

/* The open must fail and its message contain every non-NULL needle. */
static void expect_open_error(const char *path, const char *n1, const char *n2)
{
    kr_st_file *f = (kr_st_file *)1;
    kr_error_clear();
    kr_status st = kr_st_open(path, &f);
    ck_assert_int_ne(st, KR_OK);
    ck_assert_ptr_null(f);
    const char *msg = kr_error_message();
    ck_assert_msg(strstr(msg, path), "message lacks the path: %s", msg);
    if (n1) ck_assert_msg(strstr(msg, n1), "message lacks '%s': %s", n1, msg);
    if (n2) ck_assert_msg(strstr(msg, n2), "message lacks '%s': %s", n2, msg);
}

static void expect_load_error(const char *path, const char *n1, const char *n2)
{
    kr_model *m = (kr_model *)1;
    kr_error_clear();
    ck_assert_int_ne(kr_model_load(path, &m), KR_OK);
    ck_assert_ptr_null(m);
    const char *msg = kr_error_message();
    ck_assert_msg(strstr(msg, path), "message lacks the path: %s", msg);
    if (n1) ck_assert_msg(strstr(msg, n1), "message lacks '%s': %s", n1, msg);
    if (n2) ck_assert_msg(strstr(msg, n2), "message lacks '%s': %s", n2, msg);
}

static uint64_t bits64(double v) { uint64_t u; memcpy(&u, &v, 8); return u; }
static uint32_t bits32(float v) { uint32_t u; memcpy(&u, &v, 4); return u; }

/* ---- generic safetensors ------------------------------------------------------------------ */

START_TEST(test_roundtrip_bit_exact)
{
    /* awkward values: -0, subnormals, inf, a NaN payload, non-representable decimals */
    uint64_t nan64 = 0x7ff800000000beefull;
    uint32_t nan32 = 0x7fc0beefu;
    double dnan, lam[3] = {-0.0, 4.9e-324, 1.0 / 3.0};
    float fnan, x[3][4] = {{1.0f / 3.0f, -0.0f, 1e-45f, INFINITY}, {-1.5f, 2.0f, 3.25f, 0.1f},
                           {7.0f, -8.0f, 9.5f, 0.0f}};
    memcpy(&dnan, &nan64, 8);
    memcpy(&fnan, &nan32, 4);
    x[2][3] = fnan;
    double y[3] = {-1.0, 1.0, dnan};
    int64_t iter = -1234567890123ll;
    double iter_f = 42.0;
    float mom[2][2][2] = {{{1, 2}, {3, 4}}, {{5, 6}, {7, 8e-40f}}};
    kr_st_entry ent[] = {
        {.name = "x", .dtype = KR_ST_F32, .ndim = 2, .shape = {3, 4}, .data = x},
        {.name = "lambda", .dtype = KR_ST_F64, .ndim = 1, .shape = {3}, .data = lam},
        {.name = "y", .dtype = KR_ST_F64, .ndim = 1, .shape = {3}, .data = y},
        {.name = "iteration", .dtype = KR_ST_I64, .ndim = 0, .data = &iter},
        {.name = "iteration_f", .dtype = KR_ST_F64, .ndim = 1, .shape = {1}, .data = &iter_f},
        {.name = "momentum.x", .dtype = KR_ST_F32, .ndim = 3, .shape = {2, 2, 2}, .data = mom},
    };
    kr_st_meta meta[] = {{"run", "a \"quoted\" value"}, {"seed", "17"}};
    const char *p = tpath("rt.safetensors");
    ck_assert_int_eq(kr_st_write(p, ent, 6, meta, 2), KR_OK);
    ck_assert_int_ne(access(tpath("rt.safetensors.tmp"), F_OK), 0); /* no temp file left */

    /* layout: N is a multiple of 8, the header ends in spaces only, data is contiguous */
    FILE *fp = fopen(p, "rb");
    unsigned char len8[8];
    ck_assert_uint_eq(fread(len8, 1, 8, fp), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | len8[i];
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    ck_assert_uint_eq(n % 8, 0);
    ck_assert_uint_eq((uint64_t)size, 8 + n + sizeof x + sizeof lam + sizeof y + 8 + 8 + sizeof mom);

    kr_st_file *f;
    ck_assert_int_eq(kr_st_open(p, &f), KR_OK);
    ck_assert_uint_eq(kr_st_count(f), 6);
    ck_assert_str_eq(kr_st_metadata(f, "run"), "a \"quoted\" value");
    ck_assert_str_eq(kr_st_metadata(f, "seed"), "17");
    ck_assert_ptr_null(kr_st_metadata(f, "nope"));
    ck_assert_uint_eq(kr_st_metadata_count(f), 2);
    const char *k, *v;
    kr_st_metadata_at(f, 1, &k, &v);
    ck_assert_str_eq(k, "seed");

    const kr_st_tensor *t = kr_st_find(f, "x");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->dtype, KR_ST_F32);
    ck_assert_int_eq(t->ndim, 2);
    ck_assert_uint_eq(t->shape[1], 4);
    ck_assert_uint_eq(t->file_offset, 8 + n); /* first in entry order */
    ck_assert_int_eq(memcmp(t->data, x, sizeof x), 0);

    float xr[12];
    size_t sx[2] = {3, 4};
    ck_assert_int_eq(kr_st_read_f32(f, "x", 2, sx, xr), KR_OK);
    for (int i = 0; i < 12; i++) ck_assert_uint_eq(bits32(xr[i]), bits32((&x[0][0])[i]));
    double xd[12];
    ck_assert_int_eq(kr_st_read_f64(f, "x", 2, sx, xd), KR_OK);
    ck_assert(xd[0] == (double)(1.0f / 3.0f));
    ck_assert(isinf(xd[3]) && isnan(xd[11]));

    double lr[3], yr[3];
    size_t s3 = 3;
    ck_assert_int_eq(kr_st_read_f64(f, "lambda", 1, &s3, lr), KR_OK);
    ck_assert_int_eq(kr_st_read_f64(f, "y", 1, &s3, yr), KR_OK);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(bits64(lr[i]), bits64(lam[i]));
        ck_assert_uint_eq(bits64(yr[i]), bits64(y[i]));
    }
    int64_t it;
    ck_assert_int_eq(kr_st_read_i64_scalar(f, "iteration", &it), KR_OK);
    ck_assert(it == iter);
    t = kr_st_find(f, "iteration");
    ck_assert_int_eq(t->ndim, 0);
    ck_assert_uint_eq(t->numel, 1);
    ck_assert_int_eq(kr_st_read_i64_scalar(f, "iteration_f", &it), KR_OK);
    ck_assert(it == 42);
    float mr[8];
    size_t sm[3] = {2, 2, 2};
    ck_assert_int_eq(kr_st_read_f32(f, "momentum.x", 3, sm, mr), KR_OK);
    ck_assert_int_eq(memcmp(mr, mom, sizeof mom), 0);
    /* a float fetch of an I64 tensor names the dtype */
    kr_error_clear();
    ck_assert_int_ne(kr_st_read_f64(f, "iteration", 0, NULL, xd), KR_OK);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "I64"));
    kr_st_close(f);
}
END_TEST

START_TEST(test_write_converts)
{
    /* F64 source stored as F32 rounds like a C cast; F32 source stored as F64 is exact */
    double d[3] = {0.1, 1.0 / 3.0, -1e300};
    float s[2] = {0.1f, 3.5f};
    kr_st_entry ent[] = {
        {.name = "a", .dtype = KR_ST_F32, .ndim = 1, .shape = {3}, .data = d, .src_dtype = KR_ST_F64},
        {.name = "b", .dtype = KR_ST_F64, .ndim = 1, .shape = {2}, .data = s, .src_dtype = KR_ST_F32},
        {.name = "empty", .dtype = KR_ST_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
    };
    const char *p = tpath("conv.safetensors");
    ck_assert_int_eq(kr_st_write(p, ent, 3, NULL, 0), KR_OK);
    kr_st_file *f;
    ck_assert_int_eq(kr_st_open(p, &f), KR_OK);
    float a[3];
    double b[2];
    size_t s3 = 3, s2 = 2;
    ck_assert_int_eq(kr_st_read_f32(f, "a", 1, &s3, a), KR_OK);
    ck_assert_int_eq(kr_st_read_f64(f, "b", 1, &s2, b), KR_OK);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(bits32(a[i]), bits32((float)d[i]));
    for (int i = 0; i < 2; i++) ck_assert(b[i] == (double)s[i]);
    ck_assert_uint_eq(kr_st_find(f, "empty")->nbytes, 0);
    ck_assert_int_eq(kr_st_metadata_count(f), 0);
    kr_st_close(f);

    /* writer rejects duplicates and bad conversions and leaves no file */
    kr_st_entry dup[] = {ent[1], ent[1]};
    ck_assert_int_ne(kr_st_write(tpath("dup.safetensors"), dup, 2, NULL, 0), KR_OK);
    ck_assert_int_ne(access(tpath("dup.safetensors"), F_OK), 0);
    kr_st_entry bad = {.name = "c", .dtype = KR_ST_I64, .ndim = 0, .data = d, .src_dtype = KR_ST_F64};
    ck_assert_int_ne(kr_st_write(tpath("bad.safetensors"), &bad, 1, NULL, 0), KR_OK);
    ck_assert_int_ne(access(tpath("bad.safetensors.tmp"), F_OK), 0);
}
END_TEST

/* Python's writer for state_dict {layers.0.weight [2,3], layers.0.bias [2], layers.1.weight
 * [1,2]} (all F32) with metadata {"format": "pt"}: the JSON below is 238 bytes, padded with
 * 2 spaces to 240 = 0xf0; tensors sorted by name within the same dtype, data contiguous.
 * Float bytes are IEEE-754 little-endian: 0.5 = 00 00 00 3f, -0.25 = 00 00 80 be, 1 = 00 00 80
 * 3f, 2 = 00 00 00 40, -1 = 00 00 80 bf, 0.125 = 00 00 00 3e, 3 = 00 00 40 40, -2 = 00 00 00
 * c0, 4 = 00 00 80 40, 1.5 = 00 00 c0 3f (checked with Python struct.pack('<f', v)). */
static const char k_pt_header[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"layers.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
    "\"layers.1.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[32,40]}}  ";
static const unsigned char k_pt_len[8] = {0xf0, 0, 0, 0, 0, 0, 0, 0};
static const unsigned char k_pt_data[40] = {
    0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x80, 0xbe,                         /* bias */
    0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x80, 0xbf, /* W1 row 0 */
    0x00, 0x00, 0x00, 0x3e, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x00, 0xc0, /* W1 row 1 */
    0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xc0, 0x3f,                         /* W2 */
};

START_TEST(test_pytorch_bytes)
{
    ck_assert_uint_eq(strlen(k_pt_header), 0xf0); /* guards typos in the literal */
    unsigned char file[8 + 0xf0 + 40];
    memcpy(file, k_pt_len, 8);
    memcpy(file + 8, k_pt_header, 0xf0);
    memcpy(file + 8 + 0xf0, k_pt_data, 40);
    const char *p = tpath("pt.safetensors");
    write_bytes(p, file, sizeof file);

    kr_st_file *f;
    ck_assert_int_eq(kr_st_open(p, &f), KR_OK);
    ck_assert_uint_eq(kr_st_count(f), 3);
    ck_assert_str_eq(kr_st_tensor_at(f, 0)->name, "layers.0.bias"); /* offset order */
    ck_assert_uint_eq(kr_st_tensor_at(f, 1)->file_offset, 8 + 0xf0 + 8);
    ck_assert_str_eq(kr_st_metadata(f, "format"), "pt");
    kr_st_close(f);

    kr_model *m;
    ck_assert_int_eq(kr_model_load(p, &m), KR_OK);
    ck_assert_int_eq(m->layers, 2);
    ck_assert_uint_eq(m->dims[0], 3);
    ck_assert_uint_eq(m->dims[1], 2);
    ck_assert_uint_eq(m->dims[2], 1);
    ck_assert(m->b[0] && !m->b[1]);
    const double w1[6] = {1, 2, -1, 0.125, 3, -2}, b1[2] = {0.5, -0.25}, w2[2] = {4, 1.5};
    for (int i = 0; i < 6; i++) ck_assert(m->w[0][i] == w1[i]);
    for (int i = 0; i < 2; i++) ck_assert(m->b[0][i] == b1[i] && m->w[1][i] == w2[i]);
    for (int i = 0; i < 3; i++) ck_assert(m->mean[i] == 0.0); /* no data.mean -> zeros */
    ck_assert_uint_eq(m->image_c, 0);                          /* D = 3: shape unknown */
    kr_model_free(m);
}
END_TEST

START_TEST(test_open_errors)
{
    unsigned char data[64];
    memset(data, 0, sizeof data);
    const char *p;

    p = tpath("missing.safetensors");
    expect_open_error(p, "opening", NULL);

    p = tpath("tiny.safetensors"); /* 5 bytes: not even the header length */
    write_bytes(p, "\x10\0\0\0\0", 5);
    expect_open_error(p, "truncated", "byte 0");

    p = tpath("hugelen.safetensors"); /* N = 2^40 with a 24-byte file */
    unsigned char big[24] = {0, 0, 0, 0, 0, 1, 0, 0, '{', '}'};
    write_bytes(p, big, sizeof big);
    expect_open_error(p, "header length", "byte 0");

    p = tpath("badjson.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",,\"shape\":[1]}}", data, 4);
    expect_open_error(p, "parse error at file byte", NULL);

    p = tpath("trailing.safetensors"); /* non-space bytes after the object */
    write_st(p, "{}xx", NULL, 0);
    expect_open_error(p, "after the JSON object", NULL);

    p = tpath("range.safetensors"); /* end 400 past an 8-byte buffer */
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", data, 8);
    expect_open_error(p, "'w'", "out of range");

    p = tpath("truncdata.safetensors"); /* a valid header whose data was cut short */
    write_st(p, "{\"w\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]}}", data, 20);
    expect_open_error(p, "'w'", "out of range");

    p = tpath("size.safetensors"); /* 3 F32 need 12 bytes, not 8 */
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 8);
    expect_open_error(p, "'w'", "expected 12");

    p = tpath("overlap.safetensors");
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", data, 12);
    expect_open_error(p, "'a'", "overlaps");

    p = tpath("dtype.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", data, 16);
    expect_open_error(p, "'w'", "F128");

    p = tpath("dupname.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", data, 2);
    expect_open_error(p, "'w'", "twice");

    p = tpath("meta.safetensors");
    write_st(p, "{\"__metadata__\":{\"epochs\":3}}", NULL, 0);
    expect_open_error(p, "epochs", "string");

    p = tpath("negshape.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", NULL, 0);
    expect_open_error(p, "'w'", "shape[0]");
}
END_TEST

START_TEST(test_read_errors)
{
    /* valid file: w F32 [2,3], h BF16 [2] */
    unsigned char data[32] = {0};
    const char *p = tpath("reads.safetensors");
    write_st(p, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                "\"h\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]}}", data, 28);
    kr_st_file *f;
    ck_assert_int_eq(kr_st_open(p, &f), KR_OK);
    double out[6];
    size_t want[2] = {3, 2};
    kr_error_clear();
    ck_assert_int_ne(kr_st_read_f64(f, "w", 2, want, out), KR_OK); /* wrong shape */
    const char *msg = kr_error_message();
    ck_assert_msg(strstr(msg, p) && strstr(msg, "'w'") && strstr(msg, "[2, 3]") &&
                  strstr(msg, "expected [3, 2]"), "%s", msg);
    size_t two = 2;
    ck_assert_int_ne(kr_st_read_f64(f, "h", 1, &two, out), KR_OK); /* wrong dtype */
    msg = kr_error_message();
    ck_assert_msg(strstr(msg, p) && strstr(msg, "'h'") && strstr(msg, "BF16"), "%s", msg);
    ck_assert_int_ne(kr_st_read_f64(f, "nope", 1, &two, out), KR_OK); /* missing */
    msg = kr_error_message();
    ck_assert_msg(strstr(msg, p) && strstr(msg, "'nope'") && strstr(msg, "missing"), "%s", msg);
    int64_t it;
    ck_assert_int_ne(kr_st_read_i64_scalar(f, "w", &it), KR_OK); /* not a scalar */
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "'w'"));
    ck_assert_int_eq(kr_st_find(f, "h")->dtype, KR_ST_BF16);
    ck_assert_str_eq(kr_st_dtype_name(kr_st_find(f, "h")->dtype), "BF16");
    kr_st_close(f);
}
END_TEST

/* ---- model_io ------------------------------------------------------------------------------ */

static kr_model *random_model_general(int L, size_t C, unsigned mask, uint64_t seed)
{
    const size_t hidden[3] = {5, 4, 3};
    kr_model *m;
    ck_assert_int_eq(kr_model_new_general(12, hidden, L - 1, C, mask, &m), KR_OK);
    kr_model_init(m, 0.5, seed);
    kr_rng r;
    kr_rng_seed(&r, seed + 99);
    for (size_t i = 0; i < 12; i++) m->mean[i] = kr_rng_uniform(&r);
    m->image_c = 3, m->image_h = 2, m->image_w = 2;
    return m;
}

static kr_model *random_model(int L, bool bias, uint64_t seed)
{
    return random_model_general(L, 1, bias ? 1u : 0u, seed);
}

START_TEST(test_model_roundtrip)
{
    /* bias masks: none, first only (the paper's), every layer, the last only; C = 1 and 3 */
    for (int L = 2; L <= 4; L++)
        for (int bm = 0; bm < 4; bm++)
            for (int dt = 0; dt <= 1; dt++) {
                const unsigned all = (1u << L) - 1u, mask = bm == 2 ? all : bm == 3 ? 1u << (L - 1) : (unsigned)bm;
                const size_t C = bm >= 2 ? 3 : 1;
                const bool bias = mask & 1u;
                kr_model *m = random_model_general(L, C, mask, (uint64_t)(10 * L + bm));
                char name[64];
                snprintf(name, sizeof name, "model_%d_%d_%d.safetensors", L, bm, dt);
                const char *p = tpath(name);
                kr_st_meta extra[] = {{"train_steps", "20000"}};
                ck_assert_int_eq(kr_model_save(p, m, dt ? KR_F64 : KR_F32, extra, 1), KR_OK);
                kr_model *r;
                ck_assert_int_eq(kr_model_load(p, &r), KR_OK);
                ck_assert_int_eq(r->layers, L);
                ck_assert_uint_eq(kr_model_bias_mask(r), mask);
                ck_assert_uint_eq(r->image_c, 3);
                ck_assert_uint_eq(r->image_h, 2);
                for (int l = 0; l <= L; l++) ck_assert_uint_eq(r->dims[l], m->dims[l]);
                /* F64: bit-exact; F32: exactly the float rounding of each value */
#define KR_SAME(a, b) ck_assert((a) == (dt ? (b) : (double)(float)(b)))
                for (int l = 0; l < L; l++)
                    for (size_t i = 0; i < m->dims[l] * m->dims[l + 1]; i++)
                        KR_SAME(r->w[l][i], m->w[l][i]);
                for (int l = 0; l < L; l++)
                    for (size_t i = 0; m->b[l] && i < m->dims[l + 1]; i++)
                        KR_SAME(r->b[l][i], m->b[l][i]);
                for (size_t i = 0; i < 12; i++) KR_SAME(r->mean[i], m->mean[i]);
#undef KR_SAME
                kr_st_file *f;
                ck_assert_int_eq(kr_st_open(p, &f), KR_OK);
                ck_assert_str_eq(kr_st_metadata(f, "format"), "kktrecon-mlp");
                ck_assert_str_eq(kr_st_metadata(f, "first_bias"), bias ? "true" : "false");
                ck_assert_str_eq(kr_st_metadata(f, "image_shape"), "3,2,2");
                ck_assert_str_eq(kr_st_metadata(f, "train_steps"), "20000");
                const char *dims[2][5] = {{"", "", "12,5,1", "12,5,4,1", "12,5,4,3,1"},
                                          {"", "", "12,5,3", "12,5,4,3", "12,5,4,3,3"}};
                ck_assert_str_eq(kr_st_metadata(f, "dims"), dims[C == 3][L]);
                ck_assert_ptr_nonnull(kr_st_find(f, "layers.0.weight"));
                for (int l = 0; l < L; l++) {
                    char bn[32];
                    snprintf(bn, sizeof bn, "layers.%d.bias", l);
                    ck_assert_int_eq(kr_st_find(f, bn) != NULL, (mask >> l) & 1u);
                }
                const char *flags = kr_st_metadata(f, "biases");
                ck_assert_uint_eq(strlen(flags), (size_t)(2 * L - 1));
                for (int l = 0; l < L; l++) ck_assert_int_eq(flags[2 * l] == '1', (mask >> l) & 1u);
                ck_assert_int_eq(kr_st_find(f, "data.mean")->dtype, dt ? KR_ST_F64 : KR_ST_F32);
                kr_st_close(f);
                kr_model_free(r);
                kr_model_free(m);
            }
}
END_TEST

/* A file as the code before per-layer biases wrote it (the same tensors, metadata without
 * "biases") loads into the same model, value for value. */
START_TEST(test_model_old_format)
{
    kr_model *m = random_model(3, true, 77);
    kr_st_entry ent[] = {
        {.name = "layers.0.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {5, 12}, .data = m->w[0]},
        {.name = "layers.0.bias", .dtype = KR_ST_F64, .ndim = 1, .shape = {5}, .data = m->b[0]},
        {.name = "layers.1.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {4, 5}, .data = m->w[1]},
        {.name = "layers.2.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {1, 4}, .data = m->w[2]},
        {.name = "data.mean", .dtype = KR_ST_F64, .ndim = 1, .shape = {12}, .data = m->mean},
    };
    kr_st_meta meta[] = {{"format", "kktrecon-mlp"}, {"dims", "12,5,4,1"}, {"first_bias", "true"},
                         {"image_shape", "3,2,2"}, {"dtype", "F64"}};
    const char *p = tpath("old.safetensors");
    ck_assert_int_eq(kr_st_write(p, ent, 5, meta, 5), KR_OK);
    kr_model *r;
    ck_assert_int_eq(kr_model_load(p, &r), KR_OK);
    ck_assert_int_eq(r->layers, 3);
    ck_assert_uint_eq(kr_model_bias_mask(r), 1u);
    for (int l = 0; l <= 3; l++) ck_assert_uint_eq(r->dims[l], m->dims[l]);
    for (int l = 0; l < 3; l++)
        ck_assert(memcmp(r->w[l], m->w[l], m->dims[l] * m->dims[l + 1] * sizeof(double)) == 0);
    ck_assert(memcmp(r->b[0], m->b[0], 5 * sizeof(double)) == 0);
    ck_assert(memcmp(r->mean, m->mean, 12 * sizeof(double)) == 0);
    ck_assert(r->image_c == 3 && r->image_h == 2 && r->image_w == 2);
    kr_model_free(r);
    kr_model_free(m);
}
END_TEST

/* A file the code before per-layer biases actually wrote: tests/fuzz/corpus/model/
 * ours_f64.safetensors (tests/fuzz/make_seeds.c, committed before this change): 4-3-2-1, W_l[k]
 * = 0.125 (k + 1) (−1 for the middle layer), b_1[k] = 0.01 k, image 1x2x2. */
START_TEST(test_model_old_file)
{
    const char *src = getenv("KKTRECON_SOURCE_DIR");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/fuzz/corpus/model/ours_f64.safetensors", src ? src : "..");
    kr_model *m;
    ck_assert_msg(kr_model_load(p, &m) == KR_OK, "%s", kr_error_message());
    ck_assert_int_eq(m->layers, 3);
    ck_assert(m->dims[0] == 4 && m->dims[1] == 3 && m->dims[2] == 2 && m->dims[3] == 1);
    ck_assert_uint_eq(kr_model_bias_mask(m), 1u);
    for (int l = 0; l < 3; l++)
        for (size_t k = 0; k < m->dims[l] * m->dims[l + 1]; k++)
            ck_assert(m->w[l][k] == 0.125 * (double)(k + 1) * (l % 2 ? -1 : 1));
    for (size_t k = 0; k < 3; k++) ck_assert(m->b[0][k] == 0.01 * (double)k);
    ck_assert(m->image_c == 1 && m->image_h == 2 && m->image_w == 2);
    kr_model_free(m);
}
END_TEST

START_TEST(test_model_sequential_and_guess)
{
    /* nn.Sequential(Linear, ReLU, Linear, ReLU, Linear): 0.weight, 0.bias, 2.weight, 4.weight.
     * D = 784 and no metadata: the image shape is guessed as 1x28x28. */
    static double w0[2 * 784];
    double b0[2] = {1, 2}, w2[6] = {1, 2, 3, 4, 5, 6}, w4[3] = {7, 8, 9};
    for (int i = 0; i < 2 * 784; i++) w0[i] = i * 0.25;
    kr_st_entry ent[] = {
        {.name = "4.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {1, 3}, .data = w4},
        {.name = "0.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {2, 784}, .data = w0},
        {.name = "0.bias", .dtype = KR_ST_F64, .ndim = 1, .shape = {2}, .data = b0},
        {.name = "2.weight", .dtype = KR_ST_F64, .ndim = 2, .shape = {3, 2}, .data = w2},
    };
    const char *p = tpath("seq.safetensors");
    ck_assert_int_eq(kr_st_write(p, ent, 4, NULL, 0), KR_OK);
    kr_model *m;
    ck_assert_int_eq(kr_model_load(p, &m), KR_OK);
    ck_assert_int_eq(m->layers, 3);
    ck_assert_uint_eq(m->dims[1], 2);
    ck_assert_uint_eq(m->dims[2], 3);
    ck_assert(m->b[0] && m->b[0][1] == 2.0 && m->w[0][5] == 1.25 && m->w[2][2] == 9.0);
    ck_assert(!m->b[1] && !m->b[2] && m->dims[3] == 1);
    ck_assert(m->image_c == 1 && m->image_h == 28 && m->image_w == 28);
    kr_model_free(m);
}
END_TEST

START_TEST(test_model_errors)
{
    double z[64] = {0};
    const char *p;
#define E(nm, dt, r, c) {.name = nm, .dtype = dt, .ndim = 2, .shape = {r, c}, .data = z}
    /* a bias without its weight, and a wrongly-shaped output bias */
    kr_st_entry hb[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 2, 3),
                        {.name = "layers.2.bias", .dtype = KR_ST_F32, .ndim = 1, .shape = {2}, .data = z}};
    p = tpath("hbias.safetensors");
    ck_assert_int_eq(kr_st_write(p, hb, 3, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.2.bias'", "no weight 'layers.2.weight'");
    kr_st_entry ob[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 2, 3),
                        {.name = "layers.1.bias", .dtype = KR_ST_F32, .ndim = 1, .shape = {3}, .data = z}};
    p = tpath("obias.safetensors");
    ck_assert_int_eq(kr_st_write(p, ob, 3, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.1.bias'", "expected [2]");
    /* metadata biases that disagree with the tensors */
    kr_st_meta mb[] = {{"biases", "1,1"}};
    kr_st_entry nb[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 2, 3)};
    p = tpath("mbias.safetensors");
    ck_assert_int_eq(kr_st_write(p, nb, 2, mb, 1), KR_OK);
    expect_load_error(p, "biases \"1,1\"", "disagree");

    /* missing middle layer */
    kr_st_entry gap[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.2.weight", KR_ST_F32, 1, 3)};
    p = tpath("gap.safetensors");
    ck_assert_int_eq(kr_st_write(p, gap, 2, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.1.weight'", "missing");

    /* no layers at all */
    kr_st_entry none[] = {E("encoder.weight", KR_ST_F32, 3, 4)};
    p = tpath("none.safetensors");
    ck_assert_int_eq(kr_st_write(p, none, 1, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.0.weight'", "missing");

    /* chain mismatch: layers.1 has 4 columns but layers.0 has 3 rows */
    kr_st_entry chain[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 1, 4)};
    p = tpath("chain.safetensors");
    ck_assert_int_eq(kr_st_write(p, chain, 2, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.1.weight'", "expected [H, 3]");

    /* an output layer with 2 rows is a two-class model */
    kr_st_entry out2[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 2, 3)};
    p = tpath("out2.safetensors");
    ck_assert_int_eq(kr_st_write(p, out2, 2, NULL, 0), KR_OK);
    kr_model *two;
    ck_assert_int_eq(kr_model_load(p, &two), KR_OK);
    ck_assert_uint_eq(two->dims[2], 2);
    kr_model_free(two);

    /* wrongly-shaped first-layer bias and mean */
    kr_st_entry bb[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 1, 3),
                        {.name = "layers.0.bias", .dtype = KR_ST_F32, .ndim = 1, .shape = {4}, .data = z}};
    p = tpath("bbias.safetensors");
    ck_assert_int_eq(kr_st_write(p, bb, 3, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.0.bias'", "expected [3]");
    kr_st_entry mm[] = {E("layers.0.weight", KR_ST_F64, 3, 4), E("layers.1.weight", KR_ST_F64, 1, 3),
                        {.name = "data.mean", .dtype = KR_ST_F64, .ndim = 1, .shape = {5}, .data = z}};
    p = tpath("mean.safetensors");
    ck_assert_int_eq(kr_st_write(p, mm, 3, NULL, 0), KR_OK);
    expect_load_error(p, "'data.mean'", "expected [4]");

    /* wrong dtype */
    kr_st_entry bf[] = {E("layers.0.weight", KR_ST_BF16, 3, 4), E("layers.1.weight", KR_ST_F32, 1, 3)};
    p = tpath("bf16.safetensors");
    ck_assert_int_eq(kr_st_write(p, bf, 2, NULL, 0), KR_OK);
    expect_load_error(p, "'layers.0.weight'", "BF16");

    /* metadata that disagrees with the tensors */
    kr_st_meta md[] = {{"format", "kktrecon-mlp"}, {"dims", "4,3,2,1"}};
    p = tpath("mdims.safetensors");
    ck_assert_int_eq(kr_st_write(p, chain, 1, NULL, 0), KR_OK); /* overwrite works */
    kr_st_entry ok[] = {E("layers.0.weight", KR_ST_F32, 3, 4), E("layers.1.weight", KR_ST_F32, 1, 3)};
    ck_assert_int_eq(kr_st_write(p, ok, 2, md, 2), KR_OK);
    expect_load_error(p, "dims", "4,3,1");
#undef E

    /* a truncated model file */
    p = tpath("trunc.safetensors");
    write_bytes(p, "\x08\0\0", 3);
    expect_load_error(p, "truncated", NULL);

    /* reserved metadata keys cannot be overridden by the caller */
    kr_model *m = random_model(2, true, 5);
    kr_st_meta bad[] = {{"dims", "1,2,3"}};
    ck_assert_int_ne(kr_model_save(tpath("res.safetensors"), m, KR_F64, bad, 1), KR_OK);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "reserved"));
    kr_model_free(m);
}
END_TEST

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char buf[1024];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(buf, sizeof buf, "%s/%s", dir, e->d_name);
            unlink(buf);
        }
    closedir(d);
    rmdir(dir);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/kr_model_io_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    Suite *s = suite_create("model_io");
    TCase *tc = tcase_create("host");
    tcase_add_test(tc, test_roundtrip_bit_exact);
    tcase_add_test(tc, test_write_converts);
    tcase_add_test(tc, test_pytorch_bytes);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_model_roundtrip);
    tcase_add_test(tc, test_model_old_format);
    tcase_add_test(tc, test_model_old_file);
    tcase_add_test(tc, test_model_sequential_and_guess);
    tcase_add_test(tc, test_model_errors);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, false);
    remove_dir(g_dir);
    return failed ? 1 : 0;
}
