/* testutil.c — device set, seeds, random fills and normwise comparisons for the tests.
 * See testutil.h. Test code only: it prints to stderr and may exit(). */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KR_TEST_MAX_DEVICES 4

static kr_device *kr_test_devs[KR_TEST_MAX_DEVICES];
static int kr_test_ndevs = -1; /* -1: not opened yet */

/* PoCL without a writable cache reports no devices at all (PLATFORM.md), so this must run
 * before the first OpenCL call. A fixed per-user folder keeps PoCL's cache warm between runs
 * (a cold build of CLBlast's kernels costs ~14 s); mkdtemp is the fallback when it is taken. */
static void kr_test_pocl_cache(void)
{
    const char *cur = getenv("POCL_CACHE_DIR");
    if (cur && *cur) return;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/kktrecon-pocl-cache-%ld", tmp, (long)getuid());
    struct stat st;
    bool ok = (mkdir(dir, 0700) == 0 || errno == EEXIST) && stat(dir, &st) == 0 &&
              S_ISDIR(st.st_mode) && st.st_uid == getuid() && access(dir, W_OK) == 0;
    if (!ok) {
        snprintf(dir, sizeof dir, "%s/kktrecon-pocl-XXXXXX", tmp);
        if (!mkdtemp(dir)) {
            fprintf(stderr, "testutil: cannot create a PoCL cache dir in %s: %s\n", tmp,
                    strerror(errno));
            return;
        }
    }
    setenv("POCL_CACHE_DIR", dir, 1);
}

/* Set when a device suite found no OpenCL device (and none was required): the suite then
 * ends as skipped (exit 77) once the host backend has passed, so that meson reports SKIP, not
 * a pass that tested half of what it says. */
static bool kr_test_opencl_missing;

static bool kr_test_require_device(void)
{
    const char *e = getenv("KKTRECON_REQUIRE_DEVICE");
    return e && strcmp(e, "1") == 0;
}

static void kr_test_open_all(void)
{
    kr_test_pocl_cache();
    kr_test_ndevs = 0;

    kr_device *host = NULL;
    if (kr_device_open("host", &host) != KR_OK) {
        fprintf(stderr, "testutil: cannot open host: %s\n", kr_error_message());
        exit(1);
    }
    kr_test_devs[kr_test_ndevs++] = host;

    /* The OpenCL device: an explicit spec, else the first one listed. */
    char spec[64] = "";
    const char *want = getenv("KKTRECON_TEST_DEVICE");
    if (want && *want) {
        snprintf(spec, sizeof spec, "%s", want);
    } else {
        kr_device_info *infos = NULL;
        int count = 0;
        if (kr_device_list(&infos, &count) != KR_OK) {
            fprintf(stderr, "testutil: listing devices failed: %s\n", kr_error_message());
            exit(1);
        }
        for (int i = 0; i < count; i++) {
            if (infos[i].backend == KR_BACKEND_OPENCL) {
                snprintf(spec, sizeof spec, "%d:%d", infos[i].platform, infos[i].device);
                break;
            }
        }
        free(infos);
    }
    if (!spec[0]) {
        if (kr_test_require_device()) {
            fprintf(stderr, "testutil: KKTRECON_REQUIRE_DEVICE=1 but no OpenCL device was found "
                            "(POCL_CACHE_DIR=%s; try POCL_DEBUG=err or clinfo)\n",
                    getenv("POCL_CACHE_DIR") ? getenv("POCL_CACHE_DIR") : "(unset)");
            exit(1);
        }
        fprintf(stderr, "testutil: no OpenCL device; testing the host backend only\n");
        kr_test_opencl_missing = true;
        return;
    }
    kr_device *cl = NULL;
    if (kr_device_open(spec, &cl) != KR_OK) {
        /* A device that exists (or was asked for) and does not open is a bug to see. */
        fprintf(stderr, "testutil: cannot open OpenCL device '%s': %s\n", spec,
                kr_error_message());
        kr_test_close_devices();
        exit(1);
    }
    kr_test_devs[kr_test_ndevs++] = cl;
    for (int i = 0; i < kr_test_ndevs; i++)
        fprintf(stderr, "testutil: device %d: %s\n", i, kr_device_describe(kr_test_devs[i]));
}

int kr_test_devices(kr_device **devs, int max)
{
    if (kr_test_ndevs < 0) kr_test_open_all();
    int k = kr_test_ndevs < max ? kr_test_ndevs : max;
    for (int i = 0; i < k; i++) devs[i] = kr_test_devs[i];
    return k;
}

void kr_test_close_devices(void)
{
    for (int i = 0; i < kr_test_ndevs; i++) kr_device_close(kr_test_devs[i]);
    kr_test_ndevs = -1;
}

bool kr_test_dtypes(kr_device *dev, kr_dtype dt)
{
    return dt == KR_F32 || kr_device_has_fp64(dev);
}

void kr_test_fill_uniform(kr_rng *r, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * kr_rng_uniform(r);
}

uint64_t kr_test_seed(void)
{
    static bool have = false;
    static uint64_t seed;
    if (have) return seed;
    const char *e = getenv("KKTRECON_TEST_SEED");
    if (e && *e) {
        seed = strtoull(e, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)getpid() << 32);
    }
    have = true;
    fprintf(stderr, "testutil: seed %llu (repeat with KKTRECON_TEST_SEED=%llu)\n",
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

bool kr_test_compare(const char *what, const double *got, const double *want, size_t n,
                     double tol)
{
    return kr_test_compare_scaled(what, got, want, n, tol, 0.0);
}

bool kr_test_compare_scaled(const char *what, const double *got, const double *want, size_t n,
                            double tol, double scale)
{
    double max_abs = 0, max_rel = 0, max_want = 0, se = 0, sw = 0;
    size_t worst = 0;
    bool nan = false;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i])) {
            if (!nan) worst = i; /* the first NaN is the one to report */
            nan = true;
            continue;
        }
        double d = fabs(got[i] - want[i]), aw = fabs(want[i]);
        if (d > max_abs) {
            max_abs = d;
            if (!nan) worst = i;
        }
        if (aw > max_want) max_want = aw;
        double rel = d / (aw > 1e-300 ? aw : 1e-300);
        if (rel > max_rel) max_rel = rel;
        se += d * d;
        sw += want[i] * want[i];
    }
    double denom = max_want > scale ? max_want : scale;
    double normwise = max_abs / (denom > 1e-300 ? denom : 1e-300);
    if (!nan && normwise <= tol) return true;
    fprintf(stderr,
            "FAIL %s: n %zu, normwise %.3g > tol %.3g%s; max-abs %.3g, max-rel %.3g, NMSE %.3g; "
            "worst [%zu]: got %.17g want %.17g\n",
            what, n, normwise, tol, nan ? " (NaN)" : "", max_abs, max_rel,
            sw > 0 ? se / sw : se, worst, n ? got[worst] : 0.0, n ? want[worst] : 0.0);
    return false;
}

double kr_test_tol(kr_dtype dt) { return dt == KR_F64 ? 1e-10 : 1e-4; }

kr_model *kr_test_random_model(kr_rng *r, size_t d, const size_t *hidden, int nh, bool bias,
                               double gain)
{
    return kr_test_random_model_general(r, d, hidden, nh, 1, bias ? 1u : 0u, gain);
}

kr_model *kr_test_random_model_general(kr_rng *r, size_t d, const size_t *hidden, int nh,
                                       size_t outputs, unsigned bias_mask, double gain)
{
    kr_model *m = NULL;
    ck_assert_int_eq(kr_model_new_general(d, hidden, nh, outputs, bias_mask, &m), KR_OK);
    for (int l = 0; l < m->layers; l++) {
        double sc = gain / sqrt((double)m->dims[l]);
        for (size_t q = 0; q < m->dims[l] * m->dims[l + 1]; q++) m->w[l][q] = kr_rng_normal(r) * sc;
    }
    for (int l = 0; l < m->layers; l++)
        for (size_t j = 0; m->b[l] && j < m->dims[l + 1]; j++) m->b[l][j] = kr_rng_normal(r) * 0.5;
    return m;
}

int kr_test_run_suite(Suite *s, bool no_fork)
{
    SRunner *sr = srunner_create(s);
    if (no_fork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (!failed && kr_test_opencl_missing) {
        fprintf(stderr, "testutil: the host backend passed; no OpenCL device, so this device "
                        "suite is reported as skipped\n");
        exit(77);
    }
    return failed;
}

double kr_test_min_abs_preact(const kr_model *m, size_t n, const double *x,
                              bool ignore_exact_zeros)
{
    size_t wmax = 0;
    for (int l = 0; l < m->layers; l++) wmax = m->dims[l] > wmax ? m->dims[l] : wmax;
    double *a = malloc(wmax * sizeof *a), *z = malloc(wmax * sizeof *z);
    ck_assert(a && z);
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        memcpy(a, x + i * m->dims[0], m->dims[0] * sizeof *a);
        for (int l = 0; l < m->layers - 1; l++) {
            for (size_t o = 0; o < m->dims[l + 1]; o++) {
                double s = m->b[l] ? m->b[l][o] : 0;
                for (size_t k = 0; k < m->dims[l]; k++) s += m->w[l][o * m->dims[l] + k] * a[k];
                z[o] = s;
                if (s != 0 || !ignore_exact_zeros) best = fmin(best, fabs(s));
            }
            for (size_t o = 0; o < m->dims[l + 1]; o++) a[o] = z[o] > 0 ? z[o] : 0;
        }
    }
    free(a);
    free(z);
    return best;
}
