/* check_gemm_plan.c — device suite: CLBlast GEMM plans (src/device/gemm_plan.c, blas.c).
 *
 * What it checks, everywhere: every built-in candidate and random plans survive text form →
 * parse → text form (parameters in a shuffled order too); a table of bad plans (unknown kind
 * or parameter, a parameter twice or missing, values that are not integers 0..4096,
 * parameters given to `defaults`) is refused with a message naming the word.
 * On the OpenCL device (when there is one; float32, one candidate — each compiles for tens of
 * seconds on PoCL): with an empty cache the device runs CLBlast's defaults, and
 * KKTRECON_GEMM_TUNING=off says so; a stored plan loads back with its note, is applied on the
 * first GEMM of a fresh device (kr_device_gemm_plan_describe says "tuned: ...") and its
 * products on awkward shapes (1, 3, 7, 33 and 65 in all four transpose combinations, and a
 * strided batch) equal float64 host products; the known-answer self-test passes with it;
 * CLBlast's defaults cannot be set back once it ran; a stored entry with a flipped byte is
 * ignored (not found) and the next store repairs it.
 * Randomness: KKTRECON_TEST_SEED (printed).
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/selftest.h"
#include "base/rng.h"
#include "device/blas.h"
#include "device/device.h"
#include "device/gemm_plan.h"
#include "device/tensor.h"
#include "testutil.h"

START_TEST(test_text_round_trip)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x9e);
    int nc;
    const kr_gemm_plan *cand = kr_gemm_plan_candidates(&nc);
    ck_assert_int_ge(nc, 1);
    for (int c = -1; c < nc + 40; c++) {
        kr_gemm_plan p = {KR_GEMM_DEFAULTS, {0}};
        if (c >= 0 && c < nc) p = cand[c];
        if (c >= nc) { /* random plans */
            p.kind = (kr_gemm_kind)(1 + kr_rng_u64(&r) % 2);
            for (int i = 0; i < KR_GEMM_PARAMS_MAX; i++) p.v[i] = (unsigned)(kr_rng_u64(&r) % 4097);
            int n;
            kr_gemm_param_names(p.kind, &n);
            for (int i = n; i < KR_GEMM_PARAMS_MAX; i++) p.v[i] = 0;
        }
        char text[600], again[600];
        kr_gemm_plan_format(&p, text, sizeof text);
        kr_gemm_plan q;
        ck_assert_msg(kr_gemm_plan_parse(text, &q) == KR_OK, "%s: %s", text, kr_error_message());
        ck_assert_int_eq(q.kind, p.kind);
        ck_assert_mem_eq(q.v, p.v, sizeof p.v);
        /* The same words in reverse order parse to the same plan. */
        char *words[20] = {NULL};
        int nw = 0;
        char copy[600];
        snprintf(copy, sizeof copy, "%s", text);
        for (char *s = NULL, *w = strtok_r(copy, " ", &s); w; w = strtok_r(NULL, " ", &s))
            words[nw++] = w;
        size_t at = (size_t)snprintf(again, sizeof again, "%s", words[0] ? words[0] : "");
        for (int i = nw - 1; i >= 1; i--)
            at += (size_t)snprintf(again + at, sizeof again - at, "  %s", words[i]);
        ck_assert_msg(kr_gemm_plan_parse(again, &q) == KR_OK, "%s: %s", again,
                      kr_error_message());
        ck_assert_mem_eq(q.v, p.v, sizeof p.v);
    }
}
END_TEST

START_TEST(test_bad_plans)
{
    static const char *const D = "KWID=2 MDIMAD=8 MDIMCD=8 NDIMBD=8 NDIMCD=8 PADA=0 PADB=0 VWMD=2 "
                                 "VWND=2";
    static const struct {
        const char *tail; /* appended to "direct " + D unless whole */
        bool whole;
        const char *names; /* in the message */
    } bad[] = {
        {"", true, "empty"},
        {"fast", true, "'fast'"},
        {"defaults WGD=32", true, "'WGD'"},
        {"", false, "WGD is missing"},
        {" WGD=32 WGD=32", false, "WGD given twice"},
        {" WGD=32 MWG=32", false, "'MWG'"},
        {" WGD=x", false, "WGD=x"},
        {" WGD=", false, "WGD="},
        {" WGD=-1", false, "WGD=-1"},
        {" WGD=4097", false, "WGD=4097"},
        {" WGD=32x", false, "WGD=32x"},
        {" WGD", false, "'WGD'"},
        {" =32 WGD=32", false, "''"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[400];
        if (bad[i].whole)
            snprintf(text, sizeof text, "%s", bad[i].tail);
        else
            snprintf(text, sizeof text, "direct %s%s", D, bad[i].tail);
        kr_gemm_plan p;
        ck_assert_msg(kr_gemm_plan_parse(text, &p) != KR_OK, "'%s' was accepted", text);
        ck_assert_msg(strstr(kr_error_message(), bad[i].names), "'%s': message '%s' lacks '%s'",
                      text, kr_error_message(), bad[i].names);
        kr_error_clear();
    }
    kr_gemm_plan p;
    char ok[400];
    snprintf(ok, sizeof ok, "direct %s WGD=32", D);
    ck_assert_int_eq(kr_gemm_plan_parse(ok, &p), KR_OK);
    ck_assert_int_eq(kr_gemm_plan_parse("defaults", &p), KR_OK);
    ck_assert_int_eq(p.kind, KR_GEMM_DEFAULTS);
}
END_TEST

/* ---------- on the OpenCL device ---------- */

static char g_dir[64];

static kr_device *open_cl(void)
{
    kr_device_info *infos = NULL;
    int n = 0;
    ck_assert_int_eq(kr_device_list(&infos, &n), KR_OK);
    int idx = -1;
    for (int i = 0; i < n && idx < 0; i++)
        if (infos[i].backend == KR_BACKEND_OPENCL) idx = infos[i].index;
    free(infos);
    if (idx < 0) return NULL;
    char spec[16];
    snprintf(spec, sizeof spec, "%d", idx);
    kr_device *dev = NULL;
    ck_assert_msg(kr_device_open(spec, &dev) == KR_OK, "%s", kr_error_message());
    return dev;
}

/* C = op(A) op(B) on dev against float64 on the host, for the awkward shapes. */
static void check_products(kr_device *dev, kr_rng *r)
{
    static const size_t shp[][3] = {{1, 7, 33}, {33, 3, 7}, {7, 33, 1}, {3, 1, 7}, {33, 65, 17}};
    for (size_t s = 0; s < sizeof shp / sizeof shp[0]; s++)
        for (int tr = 0; tr < 5; tr++) {
            bool ta = tr & 1, tb = (tr & 2) != 0;
            size_t batch = tr == 4 ? 3 : 1;
            size_t m = shp[s][0], n = shp[s][1], k = shp[s][2];
            size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
            double *a = malloc(batch * ar * ac * sizeof *a), *b = malloc(batch * br * bc * sizeof *b);
            double *c = malloc(batch * m * n * sizeof *c), *w = calloc(batch * m * n, sizeof *w);
            kr_test_fill_uniform(r, a, batch * ar * ac, -1, 1);
            kr_test_fill_uniform(r, b, batch * br * bc, -1, 1);
            for (size_t q = 0; q < batch; q++)
                for (size_t i = 0; i < m; i++)
                    for (size_t j = 0; j < n; j++)
                        for (size_t p = 0; p < k; p++)
                            w[q * m * n + i * n + j] +=
                                (ta ? a[q * ar * ac + p * ac + i] : a[q * ar * ac + i * ac + p]) *
                                (tb ? b[q * br * bc + j * bc + p] : b[q * br * bc + p * bc + j]);
            kr_tensor *A, *B, *C;
            ck_assert_int_eq(kr_tensor_new(dev, KR_F32, batch * ar, ac, "A", &A), KR_OK);
            ck_assert_int_eq(kr_tensor_new(dev, KR_F32, batch * br, bc, "B", &B), KR_OK);
            ck_assert_int_eq(kr_tensor_new(dev, KR_F32, batch * m, n, "C", &C), KR_OK);
            ck_assert_int_eq(kr_tensor_write(A, a), KR_OK);
            ck_assert_int_eq(kr_tensor_write(B, b), KR_OK);
            ck_assert_int_eq(kr_tensor_fill(C, 7.0), KR_OK);
            ck_assert_msg(kr_blas_gemm_batched(batch, 1.0, A, ta, B, tb, 0.0, C) == KR_OK, "%s",
                          kr_error_message());
            ck_assert_int_eq(kr_tensor_read(C, c), KR_OK);
            char what[96];
            snprintf(what, sizeof what, "%zu x %zu x %zu %c%c batch %zu", m, n, k, ta ? 'T' : 'N',
                     tb ? 'T' : 'N', batch);
            ck_assert(kr_test_compare(what, c, w, batch * m * n, kr_test_tol(KR_F32)));
            kr_tensor_free(A);
            kr_tensor_free(B);
            kr_tensor_free(C);
            free(a);
            free(b);
            free(c);
            free(w);
        }
}

/* The one stored entry's path (the cache folder holds nothing else). */
static void entry_path(char *buf, size_t cap)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    buf[0] = '\0';
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "gemmplan-", 9)) snprintf(buf, cap, "%s/%s", g_dir, e->d_name);
    closedir(d);
    ck_assert_msg(buf[0], "no gemmplan entry in %s", g_dir);
}

/* The compiled ops.cl entries of the suite's cache folder (if any) into dir: the test needs
 * a cache without GEMM plans, not a cold one. */
static void copy_programs(const char *from, const char *dir)
{
    DIR *d = from && *from ? opendir(from) : NULL;
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "ops-", 4)) continue;
        char src[600], dst[600], buf[1 << 16];
        snprintf(src, sizeof src, "%s/%s", from, e->d_name);
        snprintf(dst, sizeof dst, "%s/%s", dir, e->d_name);
        FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
        size_t n;
        while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
        if (in) fclose(in);
        if (out) fclose(out);
    }
    closedir(d);
}

START_TEST(test_stored_plan_on_device)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/kr-gemmplan-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    char suite_cache[512] = "";
    if (getenv("KKTRECON_CACHE_DIR"))
        snprintf(suite_cache, sizeof suite_cache, "%s", getenv("KKTRECON_CACHE_DIR"));
    setenv("KKTRECON_CACHE_DIR", g_dir, 1);
    kr_device *dev = open_cl();
    if (!dev) {
        rmdir(g_dir);
        return; /* no OpenCL device: the text half ran */
    }
    copy_programs(suite_cache, g_dir);
    char desc[600];
    /* Nothing stored: CLBlast's defaults; with tuning off, it says so. */
    ck_assert_str_eq(kr_device_gemm_plan_describe(dev, KR_F32, desc, sizeof desc),
                     "CLBlast defaults");
    kr_device_close(dev);
    setenv("KKTRECON_GEMM_TUNING", "off", 1);
    dev = open_cl();
    ck_assert_ptr_nonnull(strstr(kr_device_gemm_plan_describe(dev, KR_F32, desc, sizeof desc),
                                 "KKTRECON_GEMM_TUNING=off"));
    unsetenv("KKTRECON_GEMM_TUNING");

    /* Store a candidate (direct 8×8, the quickest to compile) and load it back. */
    int nc;
    const kr_gemm_plan *cand = kr_gemm_plan_candidates(&nc);
    const kr_gemm_plan *plan = NULL;
    for (int c = 0; c < nc; c++)
        if (cand[c].kind == KR_GEMM_DIRECT && cand[c].v[2] == 8) plan = &cand[c];
    ck_assert_ptr_nonnull(plan);
    ck_assert_msg(kr_gemm_plan_store(dev, KR_F32, plan, "a note") == KR_OK, "%s",
                  kr_error_message());
    kr_gemm_plan got;
    bool found = false;
    char note[100];
    ck_assert_int_eq(kr_gemm_plan_load(dev, KR_F32, &got, &found, note, sizeof note), KR_OK);
    ck_assert(found);
    ck_assert_str_eq(note, "a note");
    ck_assert_int_eq(got.kind, plan->kind);
    ck_assert_mem_eq(got.v, plan->v, sizeof got.v);
    ck_assert_int_eq(kr_gemm_plan_load(dev, KR_F64, &got, &found, NULL, 0), KR_OK);
    ck_assert(!found); /* another precision: another key */
    kr_device_close(dev);

    /* A fresh device applies it on its first GEMM; its products are right. */
    dev = open_cl();
    char text[600], want[700];
    kr_gemm_plan_format(plan, text, sizeof text);
    snprintf(want, sizeof want, "tuned: %s", text);
    ck_assert_str_eq(kr_device_gemm_plan_describe(dev, KR_F32, desc, sizeof desc), want);
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x3c);
    check_products(dev, &r);
    ck_assert_msg(kr_selftest_run(dev, KR_F32) == KR_OK, "%s", kr_error_message());
    kr_gemm_plan defaults = {KR_GEMM_DEFAULTS, {0}};
    ck_assert(kr_device_set_gemm_plan(dev, KR_F32, &defaults) != KR_OK);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "cannot come back"));
    kr_error_clear();

    /* A flipped byte in the entry: not found (and the next store repairs it). */
    char path[600];
    entry_path(path, sizeof path);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, -3, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -3, SEEK_END);
    fputc(ch ^ 0x20, f);
    fclose(f);
    ck_assert_int_eq(kr_gemm_plan_load(dev, KR_F32, &got, &found, NULL, 0), KR_OK);
    ck_assert(!found);
    /* The next store repairs it. */
    ck_assert_int_eq(kr_gemm_plan_store(dev, KR_F32, plan, "again"), KR_OK);
    ck_assert_int_eq(kr_gemm_plan_load(dev, KR_F32, &got, &found, note, sizeof note), KR_OK);
    ck_assert(found);
    ck_assert_str_eq(note, "again");
    kr_device_close(dev);

    DIR *d = opendir(g_dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (d) closedir(d);
    rmdir(g_dir);
    unsetenv("KKTRECON_CACHE_DIR");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm_plan");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_text_round_trip);
    tcase_add_test(tc, test_bad_plans);
    tcase_add_test(tc, test_stored_plan_on_device);
    suite_add_tcase(s, tc);
    return kr_test_run_suite(s, true);
}
