/* check_device.c — device suite: device listing and specs, tensors, and GEMM on every backend.
 *
 * What it checks: kr_device_list puts host first; "host" and one OpenCL device open (the
 * KKTRECON_TEST_DEVICE spec if set, else the first OpenCL device); bad specs give
 * KR_E_NODEVICE; spec precedence (flag > KKTRECON_DEVICE > config); tensor write/read
 * (float64 conversion), raw bit-exact round trips, zero-fill at creation, copy, fill and
 * row views (offset != 0) that leave neighbouring rows alone; allocation limits naming the
 * tensor; kr_blas_gemm against a float64 triple loop for all four transpose combinations,
 * alpha/beta not 0/1, awkward shapes (M, N, K in {1, 3, 7, 33}, 65x47x129, and one shape big
 * enough for CLBlast's indirect path), views as A, B and C, beta == 0 over a NaN-filled C,
 * K == 0 and shape errors; and that no tensor leaked. KKTRECON_TEST_SMALL=1 (tests/oclgrind.sh)
 * leaves out the 260x300x384 products.
 * Tolerances (normwise, max|got - want| / max|want|): float32 1e-4, float64 1e-10. The
 * reference uses the values read back from the device, so only the product's rounding counts.
 * Randomness: fresh seed each run (from the clock), printed; KKTRECON_TEST_SEED=<n> repeats it.
 * Runs without forking (an OpenCL context does not survive fork) with one device per backend
 * opened once in main. Without any OpenCL device the OpenCL half is skipped, unless
 * KKTRECON_REQUIRE_DEVICE=1, which makes that a failure. Exit status 0/1 by failures.
 * PoCL needs a writable cache: run with POCL_CACHE_DIR set (the meson test environment does).
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device/blas.h"
#include "device/device.h"
#include "base/rng.h"
#include "device/tensor.h"
#include "testutil.h"

static unsigned long long g_seed;
static kr_device *g_dev[2]; /* [0] host, [1] OpenCL (NULL when there is none) */
static long g_live0;
static bool g_require_device;
static char g_open_error[2048];

static unsigned long long pick_seed(void)
{
    const char *e = getenv("KKTRECON_TEST_SEED");
    if (e && *e) return strtoull(e, NULL, 0);
    return (unsigned long long)time(NULL) * 1000003ull ^ (unsigned long long)clock();
}

static void fill_random(kr_rng *r, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = 2.0 * kr_rng_uniform(r) - 1.0;
}

static double *xmalloc(size_t n)
{
    double *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* Error statistics of got vs want (n values). */
typedef struct errstat { double max_abs, max_rel, nmse, normwise; } errstat;

static errstat compare(const double *got, const double *want, size_t n)
{
    errstat e = {0, 0, 0, 0};
    double max_want = 0, se = 0, sw = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (!(d <= e.max_abs)) e.max_abs = d; /* NaN wins */
        double rel = d / (fabs(want[i]) > 1e-300 ? fabs(want[i]) : 1e-300);
        if (!(rel <= e.max_rel)) e.max_rel = rel;
        if (fabs(want[i]) > max_want) max_want = fabs(want[i]);
        se += d * d;
        sw += want[i] * want[i];
    }
    e.nmse = sw > 0 ? se / sw : se;
    e.normwise = max_want > 0 ? e.max_abs / max_want : e.max_abs;
    return e;
}

static const char *dev_label(int d) { return d == 0 ? "host" : "opencl"; }

/* ---- devices and specs ------------------------------------------------------------------ */

START_TEST(test_list)
{
    kr_device_info *infos = NULL;
    int n = 0;
    ck_assert_int_eq(kr_device_list(&infos, &n), KR_OK);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(infos[0].backend, KR_BACKEND_HOST);
    ck_assert_int_eq(infos[0].index, 0);
    ck_assert_str_eq(infos[0].name, "host");
    ck_assert_str_eq(infos[0].type, "host");
    for (int i = 1; i < n; i++) {
        ck_assert_int_eq(infos[i].index, i);
        ck_assert_int_eq(infos[i].backend, KR_BACKEND_OPENCL);
        ck_assert_int_ge(infos[i].platform, 0);
        ck_assert_int_ge(infos[i].device, 0);
        ck_assert(infos[i].max_alloc > 0);
    }
    if (g_dev[1]) ck_assert_int_ge(n, 2);
    free(infos);

    ck_assert(strncmp(kr_device_describe(g_dev[0]), "host (OpenBLAS", 14) == 0);
    ck_assert_int_eq(kr_device_backend(g_dev[0]), KR_BACKEND_HOST);
    ck_assert(kr_device_has_fp64(g_dev[0]));
    ck_assert_int_eq(kr_device_finish(g_dev[0]), KR_OK);
    if (g_dev[1]) {
        ck_assert(strncmp(kr_device_describe(g_dev[1]), "opencl ", 7) == 0);
        ck_assert_int_eq(kr_device_backend(g_dev[1]), KR_BACKEND_OPENCL);
        ck_assert_int_eq(kr_device_finish(g_dev[1]), KR_OK);
        if (!kr_device_has_fp64(g_dev[1]))
            ck_assert_int_eq(kr_device_check_dtype(g_dev[1], KR_F64), KR_E_UNSUPPORTED);
    }
}
END_TEST

START_TEST(test_bad_specs)
{
    const char *bad[] = {"no-such-device-xyz", "99:0", "0:99", "9999", "-1", "1:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kr_device *d = (kr_device *)&d; /* must be reset to NULL */
        kr_status st = kr_device_open(bad[i], &d);
        ck_assert_msg(st == KR_E_NODEVICE, "spec '%s' gave %d (%s)", bad[i], st,
                      kr_error_message());
        ck_assert_ptr_null(d);
        ck_assert_msg(strstr(kr_error_message(), "host") != NULL,
                      "message does not list the devices: %s", kr_error_message());
    }
    /* "0" is the host, like "host". */
    kr_device *d = NULL;
    ck_assert_int_eq(kr_device_open("0", &d), KR_OK);
    ck_assert_int_eq(kr_device_backend(d), KR_BACKEND_HOST);
    kr_device_close(d);
    ck_assert_int_eq(kr_device_open("HOST", &d), KR_OK);
    ck_assert_int_eq(kr_device_backend(d), KR_BACKEND_HOST);
    kr_device_close(d);

    /* Precedence: flag > KKTRECON_DEVICE > config. */
    const char *saved = getenv("KKTRECON_DEVICE");
    char *keep = saved ? strdup(saved) : NULL;
    unsetenv("KKTRECON_DEVICE");
    ck_assert_str_eq(kr_device_spec_resolve("flag", "cfg"), "flag");
    ck_assert_str_eq(kr_device_spec_resolve(NULL, "cfg"), "cfg");
    ck_assert_ptr_null(kr_device_spec_resolve(NULL, NULL));
    setenv("KKTRECON_DEVICE", "env", 1);
    ck_assert_str_eq(kr_device_spec_resolve(NULL, "cfg"), "env");
    ck_assert_str_eq(kr_device_spec_resolve("", "cfg"), "env");
    ck_assert_str_eq(kr_device_spec_resolve("flag", "cfg"), "flag");
    if (keep) {
        setenv("KKTRECON_DEVICE", keep, 1);
        free(keep);
    } else {
        unsetenv("KKTRECON_DEVICE");
    }
}
END_TEST

START_TEST(test_require_device)
{
    ck_abort_msg("KKTRECON_REQUIRE_DEVICE=1 but no OpenCL device could be opened: %s",
                 g_open_error);
}
END_TEST

/* ---- tensors ----------------------------------------------------------------------------- */

static void tensor_checks(kr_device *dev, kr_dtype dt, kr_rng *r)
{
    const size_t R = 7, C = 5, n = R * C;
    kr_tensor *t = NULL, *u = NULL;
    ck_assert_int_eq(kr_tensor_new(dev, dt, R, C, "t", &t), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, R, C, "u", &u), KR_OK);
    double *src = xmalloc(n), *got = xmalloc(n), *want = xmalloc(n);

    /* zero-filled at creation */
    ck_assert_int_eq(kr_tensor_read(t, got), KR_OK);
    for (size_t i = 0; i < n; i++) ck_assert(got[i] == 0.0);

    /* write/read: exact in float64, rounded to float in float32 */
    fill_random(r, src, n);
    src[0] = 1e30;
    src[1] = -0.0;
    ck_assert_int_eq(kr_tensor_write(t, src), KR_OK);
    ck_assert_int_eq(kr_tensor_read(t, got), KR_OK);
    for (size_t i = 0; i < n; i++) {
        double w = dt == KR_F64 ? src[i] : (double)(float)src[i];
        ck_assert_msg(got[i] == w, "%s %s read[%zu] = %.17g, want %.17g", kr_device_describe(dev),
                      kr_dtype_name(dt), i, got[i], w);
    }

    /* raw round trip, bit-exact (including a NaN payload) */
    size_t es = kr_dtype_size(dt);
    unsigned char *raw = malloc(n * es), *raw2 = malloc(n * es);
    ck_assert_ptr_nonnull(raw);
    ck_assert_ptr_nonnull(raw2);
    for (size_t i = 0; i < n * es; i++) raw[i] = (unsigned char)(kr_rng_u64(r) & 0xff);
    ck_assert_int_eq(kr_tensor_write_raw(u, raw), KR_OK);
    ck_assert_int_eq(kr_tensor_read_raw(u, raw2), KR_OK);
    ck_assert(memcmp(raw, raw2, n * es) == 0);

    /* copy */
    ck_assert_int_eq(kr_tensor_copy(u, t), KR_OK);
    ck_assert_int_eq(kr_tensor_read_raw(u, raw2), KR_OK);
    ck_assert_int_eq(kr_tensor_read_raw(t, raw), KR_OK);
    ck_assert(memcmp(raw, raw2, n * es) == 0);

    /* fill */
    ck_assert_int_eq(kr_tensor_fill(u, -2.5), KR_OK);
    ck_assert_int_eq(kr_tensor_read(u, got), KR_OK);
    for (size_t i = 0; i < n; i++) ck_assert(got[i] == -2.5);

    /* row views: offset != 0, neighbours untouched */
    ck_assert_int_eq(kr_tensor_write(t, src), KR_OK);
    ck_assert_int_eq(kr_tensor_read(t, want), KR_OK);
    kr_tensor v = kr_tensor_rows(t, 2, 3);
    ck_assert_uint_eq(v.offset, 2 * C);
    ck_assert_uint_eq(v.rows, 3);
    ck_assert(!v.owner);
    double vals[15];
    for (size_t i = 0; i < 15; i++) vals[i] = 100.0 + (double)i;
    ck_assert_int_eq(kr_tensor_write(&v, vals), KR_OK);
    double vgot[15];
    ck_assert_int_eq(kr_tensor_read(&v, vgot), KR_OK);
    for (size_t i = 0; i < 15; i++) ck_assert(vgot[i] == vals[i]);
    for (size_t i = 0; i < 15; i++) want[2 * C + i] = vals[i];
    ck_assert_int_eq(kr_tensor_read(t, got), KR_OK);
    for (size_t i = 0; i < n; i++) ck_assert_msg(got[i] == want[i], "view write leaked at %zu", i);

    kr_tensor vf = kr_tensor_rows(t, 5, 1);
    ck_assert_int_eq(kr_tensor_fill(&vf, 7.0), KR_OK);
    for (size_t j = 0; j < C; j++) want[5 * C + j] = 7.0;
    ck_assert_int_eq(kr_tensor_read(t, got), KR_OK);
    for (size_t i = 0; i < n; i++) ck_assert_msg(got[i] == want[i], "view fill leaked at %zu", i);

    /* copy between views of the same buffer and of another tensor */
    kr_tensor va = kr_tensor_rows(t, 0, 2), vb = kr_tensor_rows(u, 4, 2);
    ck_assert_int_eq(kr_tensor_fill(u, 0.0), KR_OK);
    ck_assert_int_eq(kr_tensor_copy(&vb, &va), KR_OK);
    ck_assert_int_eq(kr_tensor_read(u, got), KR_OK);
    for (size_t i = 0; i < n; i++) {
        double w = (i >= 4 * C && i < 6 * C) ? want[i - 4 * C] : 0.0;
        ck_assert_msg(got[i] == w, "view copy: u[%zu] = %g, want %g", i, got[i], w);
    }

    /* shape and dtype mismatches */
    kr_tensor *w3 = NULL;
    ck_assert_int_eq(kr_tensor_new(dev, dt, R, C + 1, "wide", &w3), KR_OK);
    ck_assert_int_eq(kr_tensor_copy(w3, t), KR_E_INVALID);
    kr_tensor_free(w3);

    /* empty tensors and allocation limits */
    kr_tensor *e = NULL;
    ck_assert_int_eq(kr_tensor_new(dev, dt, 0, 9, "empty", &e), KR_OK);
    ck_assert_int_eq(kr_tensor_fill(e, 1.0), KR_OK);
    ck_assert_int_eq(kr_tensor_read(e, got), KR_OK);
    kr_tensor_free(e);
    const kr_device_info *info = kr_device_get_info(dev);
    size_t too_many = info->max_alloc / es + 1;
    kr_tensor *big = (kr_tensor *)&big;
    ck_assert_int_eq(kr_tensor_new(dev, dt, too_many, 1, "huge_tensor", &big), KR_E_NOMEM);
    ck_assert_ptr_null(big);
    ck_assert_msg(strstr(kr_error_message(), "huge_tensor") != NULL, "%s", kr_error_message());
    ck_assert_int_eq(kr_tensor_new(dev, dt, SIZE_MAX / 2, 3, "overflow_tensor", &big), KR_E_NOMEM);

    free(raw);
    free(raw2);
    free(src);
    free(got);
    free(want);
    kr_tensor_free(t);
    kr_tensor_free(u);
}

START_TEST(test_tensor)
{
    kr_device *dev = g_dev[_i];
    if (!dev) return;
    kr_rng r;
    kr_rng_seed(&r, g_seed + 11 + (unsigned long long)_i);
    tensor_checks(dev, KR_F32, &r);
    if (kr_device_has_fp64(dev)) tensor_checks(dev, KR_F64, &r);
}
END_TEST

/* ---- GEMM -------------------------------------------------------------------------------- */

/* A tensor of rows x cols as a view at a random row offset inside a parent with padding rows
 * (so offset != 0 most of the time), filled with random values. */
typedef struct padded {
    kr_tensor *parent;
    kr_tensor view;
    size_t pad0;
} padded;

static padded make_padded(kr_device *dev, kr_dtype dt, size_t rows, size_t cols, kr_rng *r,
                          const char *name)
{
    padded p;
    p.pad0 = (size_t)(kr_rng_u64(r) % 3);
    size_t total = rows + p.pad0 + 2;
    ck_assert_int_eq(kr_tensor_new(dev, dt, total, cols, name, &p.parent), KR_OK);
    double *v = xmalloc(total * cols);
    fill_random(r, v, total * cols);
    ck_assert_int_eq(kr_tensor_write(p.parent, v), KR_OK);
    free(v);
    p.view = kr_tensor_rows(p.parent, p.pad0, rows);
    return p;
}

/* Runs one product and compares it with the float64 reference; returns false (after
 * printing) on failure. nan_c: C starts as NaN and beta is 0. */
static bool gemm_case(kr_device *dev, kr_dtype dt, size_t m, size_t n, size_t k, bool ta,
                      bool tb, double alpha, double beta, bool nan_c, kr_rng *r)
{
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    padded A = make_padded(dev, dt, ar, ac, r, "A");
    padded B = make_padded(dev, dt, br, bc, r, "B");
    padded C = make_padded(dev, dt, m, n, r, "C");
    if (nan_c) {
        ck_assert_int_eq(kr_tensor_fill(&C.view, NAN), KR_OK);
        beta = 0.0;
    }
    double *a = xmalloc(ar * ac), *b = xmalloc(br * bc), *c0 = xmalloc(m * n),
           *want = xmalloc(m * n), *got = xmalloc(m * n);
    size_t ctot = C.parent->rows * n;
    double *cpar0 = xmalloc(ctot), *cpar1 = xmalloc(ctot);
    ck_assert_int_eq(kr_tensor_read(&A.view, a), KR_OK);
    ck_assert_int_eq(kr_tensor_read(&B.view, b), KR_OK);
    ck_assert_int_eq(kr_tensor_read(&C.view, c0), KR_OK);
    ck_assert_int_eq(kr_tensor_read(C.parent, cpar0), KR_OK);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t q = 0; q < k; q++) {
                double av = ta ? a[q * ac + i] : a[i * ac + q];
                double bv = tb ? b[j * bc + q] : b[q * bc + j];
                s += av * bv;
            }
            want[i * n + j] = alpha * s + (beta != 0.0 ? beta * c0[i * n + j] : 0.0);
        }
    kr_status st = kr_blas_gemm(alpha, &A.view, ta, &B.view, tb, beta, &C.view);
    ck_assert_msg(st == KR_OK, "gemm failed: %s", kr_error_message());
    ck_assert_int_eq(kr_tensor_read(&C.view, got), KR_OK);
    ck_assert_int_eq(kr_tensor_read(C.parent, cpar1), KR_OK);
    errstat e = compare(got, want, m * n);
    double tol = dt == KR_F64 ? 1e-10 : 1e-4;
    bool ok = e.normwise <= tol;
    /* the padding rows of C must be untouched */
    for (size_t i = 0; i < ctot; i++) {
        size_t row = i / n;
        if (row >= C.pad0 && row < C.pad0 + m) continue;
        if (!(cpar1[i] == cpar0[i])) {
            ok = false;
            fprintf(stderr, "  C padding row %zu changed\n", row);
            break;
        }
    }
    if (!ok)
        fprintf(stderr,
                "FAIL gemm %s %s %zux%zux%zu %s%s alpha %g beta %g%s offsets %zu,%zu,%zu: "
                "normwise %.3g (tol %.1g) max-abs %.3g max-rel %.3g NMSE %.3g (seed %llu)\n",
                kr_device_describe(dev), kr_dtype_name(dt), m, n, k, ta ? "T" : "N",
                tb ? "T" : "N", alpha, beta, nan_c ? " NaN-C" : "", A.view.offset,
                B.view.offset, C.view.offset, e.normwise, tol, e.max_abs, e.max_rel, e.nmse,
                g_seed);
    free(a);
    free(b);
    free(c0);
    free(want);
    free(got);
    free(cpar0);
    free(cpar1);
    kr_tensor_free(A.parent);
    kr_tensor_free(B.parent);
    kr_tensor_free(C.parent);
    return ok;
}

static int gemm_all(kr_device *dev, kr_dtype dt, kr_rng *r)
{
    static const size_t sz[] = {1, 3, 7, 33};
    int fails = 0, cases = 0;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        for (size_t i = 0; i < 4; i++)
            for (size_t j = 0; j < 4; j++)
                for (size_t q = 0; q < 4; q++) {
                    double alpha = 0.5 + kr_rng_uniform(r), beta = -0.25 - kr_rng_uniform(r);
                    fails += !gemm_case(dev, dt, sz[i], sz[j], sz[q], ta, tb, alpha, beta,
                                        false, r);
                    cases++;
                }
        fails += !gemm_case(dev, dt, 65, 47, 129, ta, tb, 1.3, 0.7, false, r);
        fails += !gemm_case(dev, dt, 65, 47, 129, ta, tb, -0.8, 0.0, true, r);
        fails += !gemm_case(dev, dt, 17, 33, 7, ta, tb, 1.0, 1.0, false, r);
        cases += 3;
        if (getenv("KKTRECON_TEST_SMALL")) continue; /* oclgrind: every work-item in turn */
        /* large enough for CLBlast's indirect (pre-/post-processed) kernel */
        fails += !gemm_case(dev, dt, 260, 300, 384, ta, tb, 0.9, -1.1, false, r);
        fails += !gemm_case(dev, dt, 260, 300, 384, ta, tb, 1.0, 0.0, true, r);
        cases += 2;
    }
    printf("  gemm %-6s %s: %d/%d cases passed\n", dev_label(kr_device_backend(dev)),
           kr_dtype_name(dt), cases - fails, cases);
    return fails;
}

START_TEST(test_gemm)
{
    kr_device *dev = g_dev[_i];
    if (!dev) return;
    kr_rng r;
    kr_rng_seed(&r, g_seed + 101 + (unsigned long long)_i);
    int fails = gemm_all(dev, KR_F32, &r);
    if (kr_device_has_fp64(dev)) fails += gemm_all(dev, KR_F64, &r);
    ck_assert_msg(fails == 0, "%d GEMM cases failed on %s (seed %llu)", fails,
                  kr_device_describe(dev), g_seed);
}
END_TEST

/* kr_blas_gemm_batched on `batch` stacked blocks (views with offsets): against the float64
 * reference per block and against one kr_blas_gemm per block. */
static bool gemm_batched_case(kr_device *dev, kr_dtype dt, size_t batch, size_t m, size_t n,
                              size_t k, bool ta, bool tb, double alpha, double beta, kr_rng *r)
{
    size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    padded A = make_padded(dev, dt, batch * ar, ac, r, "A");
    padded B = make_padded(dev, dt, batch * br, bc, r, "B");
    padded C = make_padded(dev, dt, batch * m, n, r, "C");
    kr_tensor *c1;
    ck_assert_int_eq(kr_tensor_new(dev, dt, batch * m, n, "C single", &c1), KR_OK);
    ck_assert_int_eq(kr_tensor_copy(c1, &C.view), KR_OK);
    size_t na = batch * ar * ac, nb = batch * br * bc, nc = batch * m * n;
    double *a = xmalloc(na), *b = xmalloc(nb), *c0 = xmalloc(nc), *want = xmalloc(nc),
           *got = xmalloc(nc), *single = xmalloc(nc);
    ck_assert_int_eq(kr_tensor_read(&A.view, a), KR_OK);
    ck_assert_int_eq(kr_tensor_read(&B.view, b), KR_OK);
    ck_assert_int_eq(kr_tensor_read(&C.view, c0), KR_OK);
    for (size_t p = 0; p < batch; p++) {
        const double *ap = a + p * ar * ac, *bp = b + p * br * bc;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double s = 0;
                for (size_t q = 0; q < k; q++) {
                    double av = ta ? ap[q * ac + i] : ap[i * ac + q];
                    double bv = tb ? bp[j * bc + q] : bp[q * bc + j];
                    s += av * bv;
                }
                size_t o = p * m * n + i * n + j;
                want[o] = alpha * s + beta * c0[o];
            }
        kr_tensor av = kr_tensor_rows(&A.view, p * ar, ar), bv = kr_tensor_rows(&B.view, p * br, br);
        kr_tensor cv = kr_tensor_rows(c1, p * m, m);
        ck_assert_int_eq(kr_blas_gemm(alpha, &av, ta, &bv, tb, beta, &cv), KR_OK);
    }
    kr_status st = kr_blas_gemm_batched(batch, alpha, &A.view, ta, &B.view, tb, beta, &C.view);
    ck_assert_msg(st == KR_OK, "gemm_batched failed: %s", kr_error_message());
    ck_assert_int_eq(kr_tensor_read(&C.view, got), KR_OK);
    ck_assert_int_eq(kr_tensor_read(c1, single), KR_OK);
    double tol = dt == KR_F64 ? 1e-10 : 1e-4;
    errstat e = compare(got, want, nc), e1 = compare(got, single, nc);
    bool ok = e.normwise <= tol && e1.normwise <= tol;
    if (!ok)
        fprintf(stderr,
                "FAIL gemm_batched %s %s batch %zu %zux%zux%zu %s%s alpha %g beta %g: normwise "
                "%.3g vs reference, %.3g vs single GEMMs (tol %.1g) (seed %llu)\n",
                kr_device_describe(dev), kr_dtype_name(dt), batch, m, n, k, ta ? "T" : "N",
                tb ? "T" : "N", alpha, beta, e.normwise, e1.normwise, tol, g_seed);
    free(a);
    free(b);
    free(c0);
    free(want);
    free(got);
    free(single);
    kr_tensor_free(c1);
    kr_tensor_free(A.parent);
    kr_tensor_free(B.parent);
    kr_tensor_free(C.parent);
    return ok;
}

static int gemm_batched_all(kr_device *dev, kr_dtype dt, kr_rng *r)
{
    static const size_t sz[] = {1, 3, 7, 33};
    int fails = 0, cases = 0;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        /* Every size in every dimension (16 of the 64 triples, to keep the suite fast). */
        for (size_t i = 0; i < 4; i++)
            for (size_t j = 0; j < 4; j++)
                for (size_t q = (i + j + (size_t)t) % 4; q < 4; q += 4) {
                    size_t batch = 2 + (i + j + q) % 3; /* 2, 3, 4 */
                    double alpha = 0.5 + kr_rng_uniform(r), beta = -0.25 - kr_rng_uniform(r);
                    if ((i + q) % 4 == 0) beta = 0.0;
                    fails += !gemm_batched_case(dev, dt, batch, sz[i], sz[j], sz[q], ta, tb,
                                                alpha, beta, r);
                    cases++;
                }
        fails += !gemm_batched_case(dev, dt, 5, 65, 47, 129, ta, tb, 1.3, 0.7, r);
        cases++;
    }
    printf("  gemm_batched %-6s %s: %d/%d cases passed\n", dev_label(kr_device_backend(dev)),
           kr_dtype_name(dt), cases - fails, cases);
    return fails;
}

START_TEST(test_gemm_batched)
{
    kr_device *dev = g_dev[_i];
    if (!dev) return;
    kr_rng r;
    kr_rng_seed(&r, g_seed + 303 + (unsigned long long)_i);
    int fails = gemm_batched_all(dev, KR_F32, &r);
    if (kr_device_has_fp64(dev)) fails += gemm_batched_all(dev, KR_F64, &r);
    ck_assert_msg(fails == 0, "%d batched GEMM cases failed on %s (seed %llu)", fails,
                  kr_device_describe(dev), g_seed);
    /* Blocks that do not divide the rows, and the K == 0 product (C = beta C per block). */
    kr_tensor *a, *b, *c, *a0, *b0;
    ck_assert_int_eq(kr_tensor_new(dev, KR_F32, 6, 4, "A", &a), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, KR_F32, 8, 5, "B", &b), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, KR_F32, 6, 5, "C", &c), KR_OK);
    ck_assert_int_eq(kr_blas_gemm_batched(2, 1.0, a, false, b, false, 0.0, c), KR_OK);
    ck_assert_int_eq(kr_blas_gemm_batched(4, 1.0, a, false, b, false, 0.0, c), KR_E_INVALID);
    ck_assert_int_eq(kr_blas_gemm_batched(3, 1.0, a, false, b, false, 0.0, c), KR_E_INVALID);
    ck_assert_int_eq(kr_blas_gemm_batched(0, 1.0, a, false, b, false, 0.0, c), KR_E_INVALID);
    ck_assert_int_eq(kr_tensor_new(dev, KR_F32, 6, 0, "A0", &a0), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, KR_F32, 0, 5, "B0", &b0), KR_OK);
    ck_assert_int_eq(kr_tensor_fill(c, 2.0), KR_OK);
    ck_assert_int_eq(kr_blas_gemm_batched(3, 1.0, a0, false, b0, false, 0.5, c), KR_OK);
    double cv[30];
    ck_assert_int_eq(kr_tensor_read(c, cv), KR_OK);
    for (int i = 0; i < 30; i++) ck_assert_double_eq(cv[i], 1.0);
    kr_tensor_free(a);
    kr_tensor_free(b);
    kr_tensor_free(c);
    kr_tensor_free(a0);
    kr_tensor_free(b0);
    (void)cv;
}
END_TEST

START_TEST(test_gemm_edges)
{
    kr_device *dev = g_dev[_i];
    if (!dev) return;
    kr_dtype dt = KR_F32;
    kr_tensor *a = NULL, *b = NULL, *c = NULL, *a0 = NULL, *b0 = NULL, *cw = NULL;
    ck_assert_int_eq(kr_tensor_new(dev, dt, 3, 4, "A", &a), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, 4, 5, "B", &b), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, 3, 5, "C", &c), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, 3, 0, "A0", &a0), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, 0, 5, "B0", &b0), KR_OK);
    ck_assert_int_eq(kr_tensor_new(dev, dt, 3, 6, "Cwide", &cw), KR_OK);
    double got[15];

    /* shape mismatch names the tensors */
    ck_assert_int_eq(kr_blas_gemm(1.0, a, false, b, false, 0.0, cw), KR_E_INVALID);
    ck_assert(strstr(kr_error_message(), "Cwide") != NULL);
    ck_assert_int_eq(kr_blas_gemm(1.0, a, true, b, false, 0.0, c), KR_E_INVALID);

    /* K == 0: C = beta C */
    ck_assert_int_eq(kr_tensor_fill(c, 2.0), KR_OK);
    ck_assert_int_eq(kr_blas_gemm(1.0, a0, false, b0, false, 0.5, c), KR_OK);
    ck_assert_int_eq(kr_tensor_read(c, got), KR_OK);
    for (int i = 0; i < 15; i++) ck_assert(got[i] == 1.0);
    ck_assert_int_eq(kr_blas_gemm(1.0, a0, false, b0, false, 1.0, c), KR_OK);
    ck_assert_int_eq(kr_tensor_read(c, got), KR_OK);
    for (int i = 0; i < 15; i++) ck_assert(got[i] == 1.0);
    ck_assert_int_eq(kr_tensor_fill(c, NAN), KR_OK);
    ck_assert_int_eq(kr_blas_gemm(1.0, a0, false, b0, false, 0.0, c), KR_OK);
    ck_assert_int_eq(kr_tensor_read(c, got), KR_OK);
    for (int i = 0; i < 15; i++) ck_assert(got[i] == 0.0);

    /* M == 0: nothing to do */
    kr_tensor e = kr_tensor_rows(c, 0, 0), ea = kr_tensor_rows(a, 0, 0);
    ck_assert_int_eq(kr_blas_gemm(1.0, &ea, false, b, false, 0.0, &e), KR_OK);

    /* dtype mismatch */
    if (kr_device_has_fp64(dev)) {
        kr_tensor *d = NULL;
        ck_assert_int_eq(kr_tensor_new(dev, KR_F64, 3, 5, "C64", &d), KR_OK);
        ck_assert_int_eq(kr_blas_gemm(1.0, a, false, b, false, 0.0, d), KR_E_INVALID);
        kr_tensor_free(d);
    }

    /* tensors on different devices */
    if (g_dev[0] && g_dev[1]) {
        kr_tensor *h = NULL;
        kr_device *other = dev == g_dev[0] ? g_dev[1] : g_dev[0];
        ck_assert_int_eq(kr_tensor_new(other, dt, 3, 5, "Cother", &h), KR_OK);
        ck_assert_int_eq(kr_blas_gemm(1.0, a, false, b, false, 0.0, h), KR_E_INVALID);
        /* cross-device copy stages through the host */
        ck_assert_int_eq(kr_tensor_fill(c, 3.0), KR_OK);
        ck_assert_int_eq(kr_tensor_copy(h, c), KR_OK);
        ck_assert_int_eq(kr_tensor_read(h, got), KR_OK);
        for (int i = 0; i < 15; i++) ck_assert(got[i] == 3.0);
        kr_tensor_free(h);
    }

    double gf = 0;
    ck_assert_int_eq(kr_blas_measure_gflops(dev, dt, 64, 48, 80, 3, &gf), KR_OK);
    ck_assert(gf > 0);
    printf("  %s: 64x48x80 float32 GEMM %.2f GFLOP/s (not asserted)\n",
           kr_device_describe(dev), gf);

    kr_tensor_free(a);
    kr_tensor_free(b);
    kr_tensor_free(c);
    kr_tensor_free(a0);
    kr_tensor_free(b0);
    kr_tensor_free(cw);
}
END_TEST

START_TEST(test_no_leaks)
{
    ck_assert_int_eq(kr_tensor_live_count(), g_live0);
}
END_TEST

int main(void)
{
    g_seed = pick_seed();
    printf("check_device: seed %llu (KKTRECON_TEST_SEED=%llu repeats this run)\n", g_seed, g_seed);
    const char *req = getenv("KKTRECON_REQUIRE_DEVICE");
    g_require_device = req && strcmp(req, "1") == 0;
    g_live0 = kr_tensor_live_count();

    if (kr_device_open("host", &g_dev[0]) != KR_OK) {
        fprintf(stderr, "check_device: cannot open host: %s\n", kr_error_message());
        return 1;
    }
    printf("  device 0: %s\n", kr_device_describe(g_dev[0]));

    const char *spec = getenv("KKTRECON_TEST_DEVICE");
    if (spec && *spec) {
        if (kr_device_open(spec, &g_dev[1]) != KR_OK)
            snprintf(g_open_error, sizeof g_open_error, "%s", kr_error_message());
    } else {
        kr_device_info *infos = NULL;
        int n = 0;
        if (kr_device_list(&infos, &n) == KR_OK && n > 1) {
            char s[32];
            snprintf(s, sizeof s, "%d:%d", infos[1].platform, infos[1].device);
            if (kr_device_open(s, &g_dev[1]) != KR_OK)
                snprintf(g_open_error, sizeof g_open_error, "%s", kr_error_message());
        } else {
            snprintf(g_open_error, sizeof g_open_error, "no OpenCL device listed");
        }
        free(infos);
    }
    if (g_dev[1] && kr_device_backend(g_dev[1]) != KR_BACKEND_OPENCL) {
        snprintf(g_open_error, sizeof g_open_error, "KKTRECON_TEST_DEVICE='%s' is not OpenCL",
                 spec ? spec : "");
        kr_device_close(g_dev[1]);
        g_dev[1] = NULL;
    }
    if (g_dev[1])
        printf("  device 1: %s (fp64: %s)\n", kr_device_describe(g_dev[1]),
               kr_device_has_fp64(g_dev[1]) ? "yes" : "no");
    else
        printf("  no OpenCL device (%s): OpenCL tests skipped%s\n", g_open_error,
               g_require_device ? ", but KKTRECON_REQUIRE_DEVICE=1" : "");

    Suite *s = suite_create("device");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_bad_specs);
    if (!g_dev[1] && g_require_device) tcase_add_test(tc, test_require_device);
    tcase_add_loop_test(tc, test_tensor, 0, 2);
    tcase_add_loop_test(tc, test_gemm, 0, 2);
    tcase_add_loop_test(tc, test_gemm_edges, 0, 2);
    tcase_add_loop_test(tc, test_gemm_batched, 0, 2);
    tcase_add_test(tc, test_no_leaks);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_device_close(g_dev[1]);
    kr_device_close(g_dev[0]);
    return failed == 0 ? 0 : 1;
}
