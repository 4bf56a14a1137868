/* blas.c — matrix products on a device: OpenBLAS (cblas) on host, CLBlast on OpenCL.
 *
 * What it does: C (M x N) = alpha op(A) op(B) + beta C for row-major tensors and views
 * (offset and ld passed through to the library), the GEMM-rate measurement behind
 * `kktrecon bench`, and the BLAS pieces of a device's life cycle (host description, CLBlast
 * warm-up and cache release). The only file that includes clblast_c.h, and the device
 * layer's only one with cblas.h (nn/kkt_gap.c and eval/metrics.c call cblas directly for
 * their host float64 work, outside any device; tests/check_layers.py holds all three to it).
 * Batched products (kr_blas_gemm_batched): equal row blocks of A, B and C, one strided-batched
 * CLBlast call or a loop of cblas calls (each of which OpenBLAS threads itself).
 * CLBlast's kernel parameters: the device's GEMM plan (gemm_plan.h), decided and applied
 * here (kr_blas_apply_plan) on the first GEMM in a precision; without one CLBlast uses its
 * database (on devices it has no tables for, generic parameters, see PLATFORM.md).
 * What it does not: choose a BLAS at run time.
 * Edge cases handled here rather than in the libraries: M or N == 0 does nothing;
 * K == 0 gives C = beta C; beta == 0 never lets NaN in C through (blas.h), by zeroing C first
 * where the device's quirks say the library would compute beta * C.
 */
#define _POSIX_C_SOURCE 200809L
#include "device/blas.h"

#include <cblas.h>
#include <clblast_c.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_max_threads(void) { return 1; }
#endif

#include "device/device_impl.h"
#include "base/rng.h"
#include "base/order.h"

static const char *kr_clblast_name(CLBlastStatusCode code)
{
    switch (code) {
#define KR_CLB_NAME(c) case c: return #c;
    KR_CLB_NAME(CLBlastNotImplemented)
    KR_CLB_NAME(CLBlastInvalidMatrixA)
    KR_CLB_NAME(CLBlastInvalidMatrixB)
    KR_CLB_NAME(CLBlastInvalidMatrixC)
    KR_CLB_NAME(CLBlastInvalidVectorX)
    KR_CLB_NAME(CLBlastInvalidVectorY)
    KR_CLB_NAME(CLBlastInvalidDimension)
    KR_CLB_NAME(CLBlastInvalidLeadDimA)
    KR_CLB_NAME(CLBlastInvalidLeadDimB)
    KR_CLB_NAME(CLBlastInvalidLeadDimC)
    KR_CLB_NAME(CLBlastInvalidIncrementX)
    KR_CLB_NAME(CLBlastInvalidIncrementY)
    KR_CLB_NAME(CLBlastInsufficientMemoryA)
    KR_CLB_NAME(CLBlastInsufficientMemoryB)
    KR_CLB_NAME(CLBlastInsufficientMemoryC)
    KR_CLB_NAME(CLBlastInsufficientMemoryX)
    KR_CLB_NAME(CLBlastInsufficientMemoryY)
    KR_CLB_NAME(CLBlastInsufficientMemoryTemp)
    KR_CLB_NAME(CLBlastInvalidBatchCount)
    KR_CLB_NAME(CLBlastInvalidOverrideKernel)
    KR_CLB_NAME(CLBlastMissingOverrideParameter)
    KR_CLB_NAME(CLBlastInvalidLocalMemUsage)
    KR_CLB_NAME(CLBlastNoHalfPrecision)
    KR_CLB_NAME(CLBlastNoDoublePrecision)
    KR_CLB_NAME(CLBlastInvalidVectorScalar)
    KR_CLB_NAME(CLBlastInsufficientMemoryScalar)
    KR_CLB_NAME(CLBlastDatabaseError)
    KR_CLB_NAME(CLBlastUnknownError)
    KR_CLB_NAME(CLBlastUnexpectedError)
#undef KR_CLB_NAME
    default: return kr_cl_error_name((int)code); /* the codes shared with OpenCL */
    }
}

static const char *kr_bname(const kr_tensor *t) { return t->name[0] ? t->name : "(unnamed)"; }

/* C = beta C for the K == 0 product. */
static kr_status kr_blas_scale(double beta, kr_tensor *c)
{
    if (beta == 0.0) return kr_tensor_fill(c, 0.0);
    if (beta == 1.0) return KR_OK;
    size_t es = kr_dtype_size(c->dtype);
    if (c->dev->backend == KR_BACKEND_HOST) {
        for (size_t i = 0; i < c->rows; i++) {
            char *row = (char *)c->host + (c->offset + i * c->ld) * es;
            for (size_t j = 0; j < c->cols; j++) {
                if (c->dtype == KR_F64)
                    ((double *)row)[j] *= beta;
                else
                    ((float *)row)[j] *= (float)beta;
            }
        }
        return KR_OK;
    }
    size_t nrun = kr_tensor_contiguous(c) ? 1 : c->rows;
    size_t run = kr_tensor_contiguous(c) ? kr_tensor_numel(c) : c->cols;
    for (size_t i = 0; i < nrun; i++) {
        size_t off = c->offset + i * c->ld;
        CLBlastStatusCode s =
            c->dtype == KR_F64
                ? CLBlastDscal(run, beta, c->mem, off, 1, &c->dev->queue, NULL)
                : CLBlastSscal(run, (float)beta, c->mem, off, 1, &c->dev->queue, NULL);
        if (s != CLBlastSuccess)
            return KR_FAIL(KR_E_CLBLAST, "CLBlast%cscal on '%s' (K == 0 product): %d %s",
                           c->dtype == KR_F64 ? 'D' : 'S', kr_bname(c), (int)s,
                           kr_clblast_name(s));
    }
    return KR_OK;
}

/* Before the first CLBlast GEMM of dev in dt: the GEMM plan (gemm_plan.h) is decided and
 * applied, so that the kernels compile once with the right parameters. */
static kr_status kr_blas_first_use(kr_device *dev, kr_dtype dt)
{
    if (dev->blas_warm[dt]) return KR_OK;
    KR_TRY(kr_gemm_plan_ensure(dev, dt));
    dev->blas_warm[dt] = true; /* CLBlast compiles on this call */
    return KR_OK;
}

/* One CLBlastOverrideParameters call, its failure named. */
static kr_status kr_blas_override(kr_device *dev, kr_dtype dt, const char *kernel, int n,
                                  const char *const *names, const unsigned *values)
{
    const char *nm[KR_GEMM_PARAMS_MAX];
    size_t v[KR_GEMM_PARAMS_MAX];
    for (int i = 0; i < n; i++) {
        nm[i] = names[i];
        v[i] = values[i];
    }
    CLBlastStatusCode s = CLBlastOverrideParameters(
        dev->device, kernel, dt == KR_F64 ? CLBlastPrecisionDouble : CLBlastPrecisionSingle,
        (size_t)n, nm, v);
    if (s != CLBlastSuccess)
        return KR_FAIL(KR_E_CLBLAST, "CLBlastOverrideParameters(%s, %s) on '%s': status %d %s",
                       kernel, kr_dtype_name(dt), dev->info.name, (int)s, kr_clblast_name(s));
    return KR_OK;
}

/* CLBlast keeps overrides per OpenCL device for the rest of the process, past the close of
 * the kr_device that made them; this registry remembers them (sweep workers apply plans from
 * their own threads, hence the lock). */
#define KR_APPLIED_MAX 64
static struct {
    cl_device_id device;
    kr_dtype dt;
    kr_gemm_plan plan;
} g_applied[KR_APPLIED_MAX];
static int g_n_applied;
static pthread_mutex_t g_applied_lock = PTHREAD_MUTEX_INITIALIZER;

kr_status kr_blas_apply_plan(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan)
{
    if (plan->kind == KR_GEMM_DEFAULTS) return KR_OK;
    int n;
    const char *const *names = kr_gemm_param_names(plan->kind, &n);
    KR_TRY(kr_blas_override(dev, dt, kr_gemm_kernel_name(plan->kind), n, names, plan->v));
    /* CLBlast runs the direct kernel when M·N·K < XGEMM_MIN_INDIRECT_SIZE³: 65536³ (2^48) is
     * never reached, 1 always is. */
    static const char *const rule[] = {"XGEMM_MIN_INDIRECT_SIZE"};
    const unsigned min_indirect = plan->kind == KR_GEMM_DIRECT ? 65536u : 1u;
    KR_TRY(kr_blas_override(dev, dt, "GemmRoutine", 1, rule, &min_indirect));
    pthread_mutex_lock(&g_applied_lock);
    int i = 0;
    while (i < g_n_applied && !(g_applied[i].device == dev->device && g_applied[i].dt == dt)) i++;
    if (i < KR_APPLIED_MAX) {
        g_applied[i].device = dev->device;
        g_applied[i].dt = dt;
        g_applied[i].plan = *plan;
        if (i == g_n_applied) g_n_applied++;
    }
    pthread_mutex_unlock(&g_applied_lock);
    return KR_OK;
}

bool kr_blas_applied_plan(const kr_device *dev, kr_dtype dt, kr_gemm_plan *plan)
{
    bool found = false;
    pthread_mutex_lock(&g_applied_lock);
    for (int i = 0; i < g_n_applied && !found; i++)
        if (g_applied[i].device == dev->device && g_applied[i].dt == dt) {
            *plan = g_applied[i].plan;
            found = true;
        }
    pthread_mutex_unlock(&g_applied_lock);
    return found;
}

/* cblas takes int sizes and leading dimensions: m × n × k products of a, b, c must fit. */
static kr_status host_fits(const char *fn, size_t m, size_t n, size_t k, const kr_tensor *a,
                           const kr_tensor *b, const kr_tensor *c)
{
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX || a->ld > INT_MAX || b->ld > INT_MAX ||
        c->ld > INT_MAX)
        return KR_FAIL(KR_E_INVALID, "%s: %zu x %zu x %zu is too large for cblas", fn, m, n, k);
    return KR_OK;
}

/* C = alpha op(A) op(B) + beta C on the host, shapes checked (host_fits; k: the inner
 * dimension, > 0). */
static void host_gemm(double alpha, const kr_tensor *a, bool trans_a, const kr_tensor *b,
                      bool trans_b, double beta, kr_tensor *c, size_t k)
{
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    const int m = (int)c->rows, n = (int)c->cols;
    if (c->dtype == KR_F64)
        cblas_dgemm(CblasRowMajor, ta, tb, m, n, (int)k, alpha,
                    (const double *)a->host + a->offset, (int)a->ld,
                    (const double *)b->host + b->offset, (int)b->ld, beta,
                    (double *)c->host + c->offset, (int)c->ld);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, (int)k, (float)alpha,
                    (const float *)a->host + a->offset, (int)a->ld,
                    (const float *)b->host + b->offset, (int)b->ld, (float)beta,
                    (float *)c->host + c->offset, (int)c->ld);
}

kr_status kr_blas_gemm(double alpha, const kr_tensor *a, bool trans_a, const kr_tensor *b,
                       bool trans_b, double beta, kr_tensor *c)
{
    if (!a || !b || !c) return KR_FAIL(KR_E_INVALID, "kr_blas_gemm: NULL tensor");
    if (a->dev != c->dev || b->dev != c->dev || !c->dev)
        return KR_FAIL(KR_E_INVALID, "kr_blas_gemm: A '%s', B '%s' and C '%s' are on different "
                       "devices", kr_bname(a), kr_bname(b), kr_bname(c));
    if (a->dtype != c->dtype || b->dtype != c->dtype)
        return KR_FAIL(KR_E_INVALID, "kr_blas_gemm: A '%s' (%s), B '%s' (%s), C '%s' (%s) differ "
                       "in dtype", kr_bname(a), kr_dtype_name(a->dtype), kr_bname(b),
                       kr_dtype_name(b->dtype), kr_bname(c), kr_dtype_name(c->dtype));
    size_t m = c->rows, n = c->cols;
    size_t am = trans_a ? a->cols : a->rows, ak = trans_a ? a->rows : a->cols;
    size_t bk = trans_b ? b->cols : b->rows, bn = trans_b ? b->rows : b->cols;
    if (am != m || bn != n || ak != bk)
        return KR_FAIL(KR_E_INVALID,
                       "kr_blas_gemm: shapes do not match: C '%s' (%zu x %zu) = op(A '%s') "
                       "(%zu x %zu%s) op(B '%s') (%zu x %zu%s)",
                       kr_bname(c), m, n, kr_bname(a), a->rows, a->cols,
                       trans_a ? ", transposed" : "",
                       kr_bname(b), b->rows, b->cols, trans_b ? ", transposed" : "");
    size_t k = ak;
    kr_device *dev = c->dev;
    KR_TRY(kr_device_check_dtype(dev, c->dtype));
    if (m == 0 || n == 0) return KR_OK;
    if (k == 0) return kr_blas_scale(beta, c);
    if (beta == 0.0 && dev->quirks.gemm_zero_c) KR_TRY(kr_tensor_fill(c, 0.0));
    dev->counters.gemms++;

    if (dev->backend == KR_BACKEND_HOST) {
        KR_TRY(host_fits("kr_blas_gemm", m, n, k, a, b, c));
        host_gemm(alpha, a, trans_a, b, trans_b, beta, c, k);
        return KR_OK;
    }

    KR_TRY(kr_blas_first_use(dev, c->dtype));
    if (dev->corrupt_gemm) return KR_OK; /* test-only: the product never runs */
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode s;
    if (c->dtype == KR_F64)
        s = CLBlastDgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a->mem, a->offset, a->ld,
                         b->mem, b->offset, b->ld, beta, c->mem, c->offset, c->ld, &dev->queue,
                         NULL);
    else
        s = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, (float)alpha, a->mem, a->offset,
                         a->ld, b->mem, b->offset, b->ld, (float)beta, c->mem, c->offset, c->ld,
                         &dev->queue, NULL);
    if (s != CLBlastSuccess)
        return KR_FAIL(KR_E_CLBLAST,
                       "CLBlast%cgemm(%s%s, %zu x %zu x %zu) C '%s' = A '%s' B '%s' on '%s': "
                       "status %d %s",
                       c->dtype == KR_F64 ? 'D' : 'S', trans_a ? "T" : "N", trans_b ? "T" : "N",
                       m, n, k, kr_bname(c), kr_bname(a), kr_bname(b), dev->info.name, (int)s,
                       kr_clblast_name(s));
    return KR_OK;
}

kr_status kr_blas_gemm_batched(size_t batch, double alpha, const kr_tensor *a, bool trans_a,
                               const kr_tensor *b, bool trans_b, double beta, kr_tensor *c)
{
    if (batch == 1) return kr_blas_gemm(alpha, a, trans_a, b, trans_b, beta, c);
    if (!a || !b || !c) return KR_FAIL(KR_E_INVALID, "kr_blas_gemm_batched: NULL tensor");
    if (batch == 0 || a->rows % batch || b->rows % batch || c->rows % batch)
        return KR_FAIL(KR_E_INVALID, "kr_blas_gemm_batched: %zu blocks do not divide the rows of "
                       "A '%s' (%zu), B '%s' (%zu), C '%s' (%zu)", batch, kr_bname(a), a->rows,
                       kr_bname(b), b->rows, kr_bname(c), c->rows);
    /* Block 0 of each: validates devices, dtypes and the per-block shapes. */
    kr_tensor a0 = kr_tensor_rows(a, 0, a->rows / batch);
    kr_tensor b0 = kr_tensor_rows(b, 0, b->rows / batch);
    kr_tensor c0 = kr_tensor_rows(c, 0, c->rows / batch);
    kr_device *dev = c->dev;
    size_t m = c0.rows, n = c0.cols, k = trans_a ? a0.rows : a0.cols;
    if (m == 0 || n == 0 || k == 0) {
        /* Empty products: kr_blas_gemm's edge cases, block by block. */
        for (size_t p = 0; p < batch; p++) {
            kr_tensor ap = kr_tensor_rows(a, p * a0.rows, a0.rows);
            kr_tensor bp = kr_tensor_rows(b, p * b0.rows, b0.rows);
            kr_tensor cp = kr_tensor_rows(c, p * c0.rows, c0.rows);
            KR_TRY(kr_blas_gemm(alpha, &ap, trans_a, &bp, trans_b, beta, &cp));
        }
        return KR_OK;
    }
    /* Checks the block shapes, dtypes and devices without running anything (K > 0). */
    size_t am = trans_a ? a0.cols : a0.rows, bk = trans_b ? b0.cols : b0.rows;
    size_t bn = trans_b ? b0.rows : b0.cols;
    if (a->dev != dev || b->dev != dev || a->dtype != c->dtype || b->dtype != c->dtype ||
        am != m || bk != k || bn != n)
        return KR_FAIL(KR_E_INVALID,
                       "kr_blas_gemm_batched: %zu blocks of C '%s' (%zu x %zu) = op(A '%s') "
                       "(%zu x %zu%s) op(B '%s') (%zu x %zu%s) do not match (or devices/dtypes "
                       "differ)", batch, kr_bname(c), m, n, kr_bname(a), a0.rows, a0.cols,
                       trans_a ? ", transposed" : "", kr_bname(b), b0.rows, b0.cols,
                       trans_b ? ", transposed" : "");
    KR_TRY(kr_device_check_dtype(dev, c->dtype));
    if (dev->backend == KR_BACKEND_HOST) {
        KR_TRY(host_fits("kr_blas_gemm_batched", m, n, k, a, b, c));
        /* One cblas call per block. With at least as many blocks as threads, the blocks run
         * in parallel, each on one thread (OpenBLAS does not thread a call made inside a
         * parallel region): every core works on whole products instead of splitting small
         * ones (check_device compares both paths with the float64 reference). */
        const int threads = omp_get_max_threads();
        const long nb = (long)batch;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && nb >= threads)
        for (long p = 0; p < nb; p++) {
            kr_tensor ap = kr_tensor_rows(a, (size_t)p * a0.rows, a0.rows);
            kr_tensor bp = kr_tensor_rows(b, (size_t)p * b0.rows, b0.rows);
            kr_tensor cp = kr_tensor_rows(c, (size_t)p * c0.rows, c0.rows);
            host_gemm(alpha, &ap, trans_a, &bp, trans_b, beta, &cp, k);
        }
        dev->counters.gemms += batch;
        return KR_OK;
    }
    if (beta == 0.0 && dev->quirks.gemm_zero_c) KR_TRY(kr_tensor_fill(c, 0.0));
    dev->counters.gemms++;
    KR_TRY(kr_blas_first_use(dev, c->dtype));
    if (dev->corrupt_gemm) return KR_OK; /* test-only: the product never runs */
    CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t sa = a0.rows * a->ld, sb = b0.rows * b->ld, sc = c0.rows * c->ld;
    CLBlastStatusCode s;
    if (c->dtype == KR_F64)
        s = CLBlastDgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a->mem,
                                       a->offset, a->ld, sa, b->mem, b->offset, b->ld, sb, beta,
                                       c->mem, c->offset, c->ld, sc, batch, &dev->queue, NULL);
    else
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, (float)alpha,
                                       a->mem, a->offset, a->ld, sa, b->mem, b->offset, b->ld, sb,
                                       (float)beta, c->mem, c->offset, c->ld, sc, batch,
                                       &dev->queue, NULL);
    if (s != CLBlastSuccess)
        return KR_FAIL(KR_E_CLBLAST,
                       "CLBlast%cgemmStridedBatched(%s%s, %zu x %zu x %zu, batch %zu) C '%s' = "
                       "A '%s' B '%s' on '%s': status %d %s",
                       c->dtype == KR_F64 ? 'D' : 'S', trans_a ? "T" : "N", trans_b ? "T" : "N",
                       m, n, k, batch, kr_bname(c), kr_bname(a), kr_bname(b), dev->info.name,
                       (int)s, kr_clblast_name(s));
    return KR_OK;
}

static double kr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

kr_status kr_blas_measure_gflops(kr_device *dev, kr_dtype dt, size_t m, size_t n, size_t k,
                                 int reps, double *gflops)
{
    if (!dev || !gflops) return KR_FAIL(KR_E_INVALID, "kr_blas_measure_gflops: NULL argument");
    *gflops = 0.0;
    if (m == 0 || n == 0 || k == 0)
        return KR_FAIL(KR_E_INVALID, "kr_blas_measure_gflops: empty shape %zu x %zu x %zu", m,
                       n, k);
    if (reps < 1) reps = 1;
    kr_status st = KR_OK;
    kr_tensor *a = NULL, *b = NULL, *c = NULL;
    double *host = NULL, *times = NULL;
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, k, "bench_A", &a));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, k, n, "bench_B", &b));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, n, "bench_C", &c));
    size_t big = m * k > k * n ? m * k : k * n;
    host = malloc(big * sizeof *host);
    times = malloc((size_t)reps * sizeof *times);
    if (!host || !times) {
        st = KR_FAIL(KR_E_NOMEM, "kr_blas_measure_gflops: out of host memory");
        goto fail;
    }
    kr_rng rng;
    kr_rng_seed(&rng, 12345);
    for (size_t i = 0; i < m * k; i++) host[i] = 2.0 * kr_rng_uniform(&rng) - 1.0;
    KR_TRY_GOTO(kr_tensor_write(a, host));
    for (size_t i = 0; i < k * n; i++) host[i] = 2.0 * kr_rng_uniform(&rng) - 1.0;
    KR_TRY_GOTO(kr_tensor_write(b, host));
    KR_TRY_GOTO(kr_blas_gemm(1.0, a, false, b, false, 0.0, c)); /* warm-up (compiles) */
    KR_TRY_GOTO(kr_device_finish(dev));
    for (int r = 0; r < reps; r++) {
        double t0 = kr_now();
        KR_TRY_GOTO(kr_blas_gemm(1.0, a, false, b, false, 0.0, c));
        KR_TRY_GOTO(kr_device_finish(dev));
        times[r] = kr_now() - t0;
    }
    double med = kr_median(times, (size_t)reps);
    *gflops = med > 0 ? 2.0 * (double)m * (double)n * (double)k / med * 1e-9 : 0.0;

fail:
    free(host);
    free(times);
    kr_tensor_free(a);
    kr_tensor_free(b);
    kr_tensor_free(c);
    return st;
}

void kr_blas_host_describe(char *blas, size_t blas_cap, int *threads)
{
    /* openblas_get_config() reads e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... Haswell". */
    const char *cfg = openblas_get_config();
    if (!cfg) cfg = "OpenBLAS";
    /* openblas_get_parallel(): 0 sequential, 1 pthreads, 2 OpenMP (the one meson.build links). */
    int par = openblas_get_parallel();
    snprintf(blas, blas_cap, "%s%s, %s", strncmp(cfg, "OpenBLAS", 8) == 0 ? "" : "OpenBLAS ", cfg,
             par == 2 ? "OpenMP" : par == 1 ? "pthreads" : "sequential");
    if (threads) *threads = openblas_get_num_threads();
}

kr_status kr_blas_warmup(kr_device *dev, kr_dtype dt)
{
    kr_status st = KR_OK;
    kr_tensor *a = NULL, *b = NULL, *c = NULL;
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 4, 4, "warmup_A", &a));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 4, 4, "warmup_B", &b));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 4, 4, "warmup_C", &c));
    KR_TRY_GOTO(kr_blas_gemm(1.0, a, false, b, false, 0.0, c));
    KR_TRY_GOTO(kr_device_finish(dev));
fail:
    kr_tensor_free(a);
    kr_tensor_free(b);
    kr_tensor_free(c);
    if (st != KR_OK) kr_error_context(st, "warming up CLBlast (%s)", kr_dtype_name(dt));
    return st;
}

void kr_blas_release(kr_device *dev)
{
    /* CLBlast caches compiled programs keyed by the cl_context pointer; once a context is
     * released that pointer may be reused by a new one. Clearing drops every device's
     * entries (other open devices recompile on next use, from the driver's cache). */
    (void)dev;
    CLBlastClearCache();
}
