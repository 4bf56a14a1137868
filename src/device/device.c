/* device.c — enumerate, select, open and close devices (host or OpenCL); the quirks function.
 *
 * What it does: lists host + every OpenCL device (p:d order), resolves a device spec
 * (device.h grammar), opens one context and one in-order queue and allocates the reduction
 * scratch buffer. Our programs (kernels.c) and CLBlast's GEMM (blas.c) are compiled per dtype
 * only when a job prepares that dtype (kr_device_prepare) or first uses it, so float32 work
 * never pays for float64 builds. Keeps the counters of device.h. Every launch parameter or
 * work-around that
 * depends on the device is decided in kr_device_quirks, from capability queries, never from
 * vendor names.
 * What it does not: print anything, read config files (the caller resolves the spec with
 * kr_device_spec_resolve), or compile and cache programs (kernels.c, progcache.c).
 *
 * PoCL needs a writable cache directory: POCL_CACHE_DIR, else XDG_CACHE_HOME, else HOME, else
 * a folder in the temp directory. If none is writable clGetDeviceIDs reports
 * CL_DEVICE_NOT_FOUND and the device simply does not appear in the list; we do not set or
 * guess a cache directory ourselves (tests and CI export POCL_CACHE_DIR).
 * A platform-less machine (clGetPlatformIDs -> CL_PLATFORM_NOT_FOUND_KHR, -1001) still has
 * the host backend.
 */
#define _POSIX_C_SOURCE 200809L
#include "device/device.h"

#include <ctype.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device/device_impl.h"
#include "device/kernels.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

/* One selectable device with the handles needed to open it. */
typedef struct kr_device_entry {
    kr_device_info info;
    cl_platform_id platform;
    cl_device_id device;
} kr_device_entry;

static size_t kr_min_size(size_t a, size_t b) { return a < b ? a : b; }

static void kr_device_host_info(kr_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = 0;
    info->backend = KR_BACKEND_HOST;
    info->platform = info->device = -1;
    snprintf(info->name, sizeof info->name, "host");
    int threads = 0;
    char blas[200];
    kr_blas_host_describe(blas, sizeof blas, &threads);
    snprintf(info->platform_name, sizeof info->platform_name, "%s", blas);
    snprintf(info->type, sizeof info->type, "host");
    snprintf(info->driver, sizeof info->driver, "%.*s", (int)sizeof info->driver - 1, blas);
    long pages = -1, page = sysconf(_SC_PAGESIZE);
#ifdef _SC_PHYS_PAGES
    pages = sysconf(_SC_PHYS_PAGES);
#endif
    info->global_mem = (pages > 0 && page > 0) ? (size_t)pages * (size_t)page : 0;
    info->max_alloc = info->global_mem ? info->global_mem : (size_t)-1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    info->compute_units = cpus > 0 ? (int)cpus : 1;
    info->fp64 = true;
}

static void kr_device_cl_string(cl_device_id d, cl_device_info what, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[cap - 1] = '\0';
}

static void kr_device_cl_info(cl_platform_id p, cl_device_id d, int pi, int di,
                              kr_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->backend = KR_BACKEND_OPENCL;
    info->platform = pi;
    info->device = di;
    kr_device_cl_string(d, CL_DEVICE_NAME, info->name, sizeof info->name);
    if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name,
                          NULL) != CL_SUCCESS)
        info->platform_name[0] = '\0';
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    cl_device_type type = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL) != CL_SUCCESS) type = 0;
    snprintf(info->type, sizeof info->type, "%s",
             (type & CL_DEVICE_TYPE_GPU) ? "gpu"
             : (type & CL_DEVICE_TYPE_CPU) ? "cpu"
             : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accelerator"
                                                   : "other");
    kr_device_cl_string(d, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    kr_device_cl_string(d, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c, sizeof info->opencl_c);
    cl_ulong mem = 0, alloc = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL) != CL_SUCCESS)
        mem = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL) != CL_SUCCESS)
        alloc = 0;
    info->global_mem = (size_t)mem;
    info->max_alloc = (size_t)alloc;
    cl_uint cu = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL) != CL_SUCCESS) cu = 0;
    info->compute_units = (int)cu;
    cl_device_fp_config fp = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL) != CL_SUCCESS) fp = 0;
    info->fp64 = fp != 0;
    kr_device_cl_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    cl_uint mhz = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz, NULL) != CL_SUCCESS)
        mhz = 0;
    info->clock_mhz = (unsigned)mhz;
}

/* Host first, then every OpenCL device in platform:device order. Never fails for lack of
 * OpenCL; platforms or devices that cannot be queried are skipped. */
static kr_status kr_device_enumerate(kr_device_entry **out, int *count)
{
    *out = NULL;
    *count = 0;
    kr_status st = KR_OK;
    cl_platform_id *plats = NULL;
    cl_device_id *devs = NULL;
    int n = 1, cap = 8;
    kr_device_entry *e = calloc((size_t)cap, sizeof *e);
    if (!e) return KR_FAIL(KR_E_NOMEM, "listing devices: out of host memory");
    kr_device_host_info(&e[0].info);

    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err != CL_SUCCESS) np = 0; /* CL_PLATFORM_NOT_FOUND_KHR (-1001): no ICDs installed */
    if (np > 0) {
        plats = calloc(np, sizeof *plats);
        if (!plats) {
            st = KR_FAIL(KR_E_NOMEM, "listing devices: out of host memory");
            goto fail;
        }
        if (clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) np = 0;
    }
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        /* CL_DEVICE_NOT_FOUND here also covers PoCL without a writable cache directory. */
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        free(devs);
        devs = calloc(nd, sizeof *devs);
        if (!devs) {
            st = KR_FAIL(KR_E_NOMEM, "listing devices: out of host memory");
            goto fail;
        }
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) != CL_SUCCESS) continue;
        for (cl_uint d = 0; d < nd; d++) {
            if (n == cap) {
                kr_device_entry *g = realloc(e, (size_t)cap * 2 * sizeof *e);
                if (!g) {
                    st = KR_FAIL(KR_E_NOMEM, "listing devices: out of host memory");
                    goto fail;
                }
                e = g;
                cap *= 2;
            }
            memset(&e[n], 0, sizeof e[n]);
            e[n].platform = plats[p];
            e[n].device = devs[d];
            kr_device_cl_info(plats[p], devs[d], (int)p, (int)d, &e[n].info);
            e[n].info.index = n;
            n++;
        }
    }
    free(plats);
    free(devs);
    *out = e;
    *count = n;
    return KR_OK;

fail:
    free(plats);
    free(devs);
    free(e);
    return st;
}

kr_status kr_device_list(kr_device_info **infos, int *count)
{
    if (!infos || !count) return KR_FAIL(KR_E_INVALID, "kr_device_list: NULL argument");
    *infos = NULL;
    *count = 0;
    kr_device_entry *e = NULL;
    int n = 0;
    KR_TRY(kr_device_enumerate(&e, &n));
    kr_device_info *out = malloc((size_t)n * sizeof *out);
    if (!out) {
        free(e);
        return KR_FAIL(KR_E_NOMEM, "listing devices: out of host memory");
    }
    for (int i = 0; i < n; i++) out[i] = e[i].info;
    free(e);
    *infos = out;
    *count = n;
    return KR_OK;
}

const char *kr_device_spec_resolve(const char *flag, const char *config_value)
{
    if (flag && flag[0]) return flag;
    const char *env = getenv("KKTRECON_DEVICE");
    if (env && env[0]) return env;
    return config_value;
}

static bool kr_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

/* Case-insensitive substring search. */
static bool kr_icontains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0) return false;
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < nl && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl) return true;
    }
    return false;
}

static bool kr_all_digits(const char *s, size_t len)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i])) return false;
    return true;
}

/* Index into e[0..n) selected by spec, or -1. */
static int kr_device_match(const char *spec, const kr_device_entry *e, int n)
{
    if (!spec || !spec[0] || kr_ieq(spec, "default")) {
        for (int i = 1; i < n; i++)
            if (strcmp(e[i].info.type, "gpu") == 0) return i;
        return 0;
    }
    if (kr_ieq(spec, "host")) return 0;
    if (kr_ieq(spec, "gpu") || kr_ieq(spec, "cpu")) {
        for (int i = 1; i < n; i++)
            if (kr_ieq(e[i].info.type, spec)) return i;
        return -1;
    }
    const char *colon = strchr(spec, ':');
    if (colon && kr_all_digits(spec, (size_t)(colon - spec)) &&
        kr_all_digits(colon + 1, strlen(colon + 1))) {
        long p = strtol(spec, NULL, 10), d = strtol(colon + 1, NULL, 10);
        for (int i = 1; i < n; i++)
            if (e[i].info.platform == p && e[i].info.device == d) return i;
        return -1;
    }
    if (kr_all_digits(spec, strlen(spec))) {
        long idx = strtol(spec, NULL, 10);
        return (idx >= 0 && idx < n) ? (int)idx : -1;
    }
    for (int i = 1; i < n; i++)
        if (kr_icontains(e[i].info.name, spec) || kr_icontains(e[i].info.platform_name, spec))
            return i;
    return -1;
}

/* Every launch parameter and work-around that depends on the device, in one place. Decided
 * from capabilities (type, limits), never from vendor names.
 *  - Element-wise kernels: 256 work-items where allowed (amortises launch cost on CPU
 *    devices such as PoCL, a good default on GPUs); ops.c clamps to each kernel's limit.
 *  - Reductions: 64 groups x up to 256 work-items (powers of two; ops.c clamps further).
 *  - GEMM with beta == 0: blas.h promises that NaN in C does not propagate. OpenBLAS 0.3.21
 *    and CLBlast 1.5.3 (direct and indirect paths) both treat beta == 0 as "overwrite"
 *    (checked by tests/check_device.c), so C is not zeroed first; the switch stays for a
 *    library that computes beta*C literally (it costs one pass over C). */
static void kr_device_quirks(kr_device *dev)
{
    kr_quirks *q = &dev->quirks;
    size_t maxwg = dev->backend == KR_BACKEND_OPENCL ? dev->max_work_group : 256;
    if (maxwg == 0) maxwg = 1;
    q->local_size = kr_min_size(256, maxwg);
    size_t r = 1;
    while (r * 2 <= kr_min_size(256, maxwg)) r *= 2;
    q->reduce_local = r;
    q->reduce_groups = kr_min_size(64, r);
    if (q->reduce_groups > KR_REDUCE_GROUPS_MAX) q->reduce_groups = KR_REDUCE_GROUPS_MAX;
    q->gemm_zero_c = false;
}

/* Lists what exists, for KR_E_NODEVICE messages. */
static void kr_device_list_text(const kr_device_entry *e, int n, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && k < cap; i++) {
        int w;
        if (i == 0)
            w = snprintf(buf + k, cap - k, "  0  host (%s)\n", e[0].info.platform_name);
        else
            w = snprintf(buf + k, cap - k, "  %d  %d:%d %s '%s' on '%s'\n", i, e[i].info.platform,
                         e[i].info.device, e[i].info.type, e[i].info.name,
                         e[i].info.platform_name);
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k > 0 && k < cap && buf[k - 1] == '\n') buf[k - 1] = '\0';
}

/* Open OpenCL contexts in this process: CLBlast's cache is dropped when the last one closes. */
static atomic_int kr_open_contexts;

void kr_device_close(kr_device *dev)
{
    if (!dev) return;
    if (dev->backend == KR_BACKEND_OPENCL) {
        if (dev->queue) clFinish(dev->queue);
        if (dev->context && atomic_fetch_sub(&kr_open_contexts, 1) == 1) kr_blas_release(dev);
        kr_kernels_release(dev);
        if (dev->scratch) clReleaseMemObject(dev->scratch);
        if (dev->queue) clReleaseCommandQueue(dev->queue);
        if (dev->context) clReleaseContext(dev->context);
    }
    free(dev);
}

static kr_status kr_device_open_cl(kr_device *dev, const kr_device_entry *e)
{
    cl_int err;
    dev->platform = e->platform;
    dev->device = e->device;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)e->platform, 0};
    dev->context = clCreateContext(props, 1, &e->device, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        dev->context = NULL;
        return KR_FAIL(KR_E_OPENCL, "clCreateContext on '%s': %s", e->info.name,
                       kr_cl_error_name(err));
    }
    atomic_fetch_add(&kr_open_contexts, 1);
    dev->queue = clCreateCommandQueue(dev->context, e->device, 0, &err);
    if (err != CL_SUCCESS) {
        dev->queue = NULL;
        return KR_FAIL(KR_E_OPENCL, "clCreateCommandQueue on '%s': %s", e->info.name,
                       kr_cl_error_name(err));
    }
    size_t wg = 0;
    if (clGetDeviceInfo(e->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL) !=
        CL_SUCCESS)
        wg = 1;
    dev->max_work_group = wg ? wg : 1;
    kr_device_quirks(dev);
    dev->scratch = clCreateBuffer(dev->context, CL_MEM_READ_WRITE,
                                  KR_REDUCE_PENDING_MAX * KR_REDUCE_VALUES_MAX *
                                      KR_REDUCE_GROUPS_MAX * sizeof(double),
                                  NULL, &err);
    if (err != CL_SUCCESS) {
        dev->scratch = NULL;
        return KR_FAIL(KR_E_OPENCL, "allocating the reduction scratch buffer on '%s': %s",
                       e->info.name, kr_cl_error_name(err));
    }
    return KR_OK;
}

kr_status kr_device_open(const char *spec, kr_device **out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_device_open: NULL out");
    *out = NULL;
    kr_status st = KR_OK;
    kr_device *dev = NULL;
    kr_device_entry *e = NULL;
    int n = 0;
    KR_TRY_GOTO(kr_device_enumerate(&e, &n));
    int which = kr_device_match(spec, e, n);
    if (which < 0) {
        char list[4096];
        kr_device_list_text(e, n, list, sizeof list);
        st = KR_FAIL(KR_E_NODEVICE,
                     "no device matches '%s' (use host, p:d, an index, gpu, cpu or a name "
                     "substring); available:\n%s%s",
                     spec, list,
                     n == 1 ? "\n  (no OpenCL devices: no ICD installed, or PoCL without a "
                              "writable cache directory; try POCL_CACHE_DIR=/tmp/pocl-cache)"
                            : "");
        goto fail;
    }
    dev = calloc(1, sizeof *dev);
    if (!dev) {
        st = KR_FAIL(KR_E_NOMEM, "opening a device: out of host memory");
        goto fail;
    }
    dev->info = e[which].info;
    dev->corrupt_kernel = -1;
    if (which == 0) {
        dev->backend = KR_BACKEND_HOST;
        kr_device_quirks(dev);
        int threads = 0;
        char blas[200];
        kr_blas_host_describe(blas, sizeof blas, &threads);
        snprintf(dev->describe, sizeof dev->describe, "host (%s, %d threads)", blas, threads);
    } else {
        dev->backend = KR_BACKEND_OPENCL;
        snprintf(dev->describe, sizeof dev->describe, "opencl %d:%d '%s' on '%s', driver %s",
                 dev->info.platform, dev->info.device, dev->info.name, dev->info.platform_name,
                 dev->info.driver);
        const char *corrupt = getenv("KKTRECON_TEST_CORRUPT_KERNEL");
        for (int id = 0; corrupt && id < KR_K_COUNT; id++)
            if (!strcmp(corrupt, kr_kernel_names[id])) dev->corrupt_kernel = id;
        dev->corrupt_gemm = corrupt && !strcmp(corrupt, "gemm");
        st = kr_device_open_cl(dev, &e[which]);
        if (st != KR_OK) {
            kr_error_context(st, "opening %s", dev->describe);
            goto fail;
        }
    }
    free(e);
    *out = dev;
    return KR_OK;

fail:
    kr_device_close(dev);
    free(e);
    return st;
}

void kr_device_identity(const kr_device *dev, char *buf, size_t cap)
{
    char dver[256] = "", pver[256] = "";
    if (clGetDeviceInfo(dev->device, CL_DEVICE_VERSION, sizeof dver - 1, dver, NULL) != CL_SUCCESS)
        dver[0] = '\0';
    if (clGetPlatformInfo(dev->platform, CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL) !=
        CL_SUCCESS)
        pver[0] = '\0';
    snprintf(buf, cap,
             "device %s\nvendor %s\ndriver %s\ndevice version %s\nopencl c %s\n"
             "platform %s\nplatform version %s\n",
             dev->info.name, dev->info.vendor, dev->info.driver, dver, dev->info.opencl_c,
             dev->info.platform_name, pver);
}

kr_backend kr_device_backend(const kr_device *dev) { return dev->backend; }

const kr_device_info *kr_device_get_info(const kr_device *dev) { return &dev->info; }

bool kr_device_has_fp64(const kr_device *dev) { return dev->info.fp64; }

kr_status kr_device_check_dtype(const kr_device *dev, kr_dtype dt)
{
    if (dt != KR_F32 && dt != KR_F64) return KR_FAIL(KR_E_INVALID, "unknown dtype %d", (int)dt);
    if (dt == KR_F64 && !dev->info.fp64)
        return KR_FAIL(KR_E_UNSUPPORTED,
                       "float64 requested but %s has no double precision (cl_khr_fp64); use "
                       "float32 or another device",
                       dev->describe);
    return KR_OK;
}

const char *kr_device_describe(const kr_device *dev) { return dev->describe; }

kr_status kr_device_prepare(kr_device *dev, kr_dtype dt)
{
    if (!dev) return KR_FAIL(KR_E_INVALID, "kr_device_prepare: NULL device");
    KR_TRY(kr_device_check_dtype(dev, dt));
    if (dev->backend != KR_BACKEND_OPENCL) return KR_OK;
    KR_TRY(kr_kernels_build(dev, dt));
    /* The warm-up's GEMM is the first use, which sets blas_warm (blas.c). */
    return dev->blas_warm[dt] ? KR_OK : kr_blas_warmup(dev, dt);
}

void kr_device_counters_get(const kr_device *dev, kr_device_counters *c) { *c = dev->counters; }

void kr_device_counters_reset(kr_device *dev) { memset(&dev->counters, 0, sizeof dev->counters); }

kr_status kr_device_finish(kr_device *dev)
{
    if (!dev) return KR_FAIL(KR_E_INVALID, "kr_device_finish: NULL device");
    if (dev->backend != KR_BACKEND_OPENCL) return KR_OK;
    dev->counters.blocking++;
    cl_int err = clFinish(dev->queue);
    if (err != CL_SUCCESS)
        return KR_FAIL(KR_E_OPENCL, "clFinish on '%s': %s", dev->info.name,
                       kr_cl_error_name(err));
    return KR_OK;
}
