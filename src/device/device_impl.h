/* device_impl.h — the private layout of struct kr_device, shared by the device layer only
 * (device.c, kernels.c, tensor.c, blas.c, ops.c). Nothing above the device layer includes it.
 *
 * One device = one backend. For OpenCL: one context, one in-order queue, one program per
 * dtype with its kernels, built on first use (or by kr_device_prepare), and a small scratch
 * buffer for two-stage reductions. Not thread-safe: one thread drives a device
 * at a time (the scratch buffer and the kernels' arguments are shared state).
 */
#ifndef KR_DEVICE_IMPL_H
#define KR_DEVICE_IMPL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>

#include "device/device.h"
#include "device/gemm_plan.h"
#include "device/kernels.h"

/* Launch parameters and work-arounds, all decided in one place: kr_device_quirks (device.c). */
typedef struct kr_quirks {
    size_t local_size;    /* work-group size of element-wise kernels */
    size_t reduce_local;  /* work-group size of reductions (power of two) */
    size_t reduce_groups; /* groups of the first reduction stage (<= reduce_local) */
    bool gemm_zero_c;     /* zero C before a GEMM with beta == 0 (BLAS would propagate NaN) */
} kr_quirks;

/* Largest reduce_groups any quirk may choose; sizes the scratch buffer. */
#define KR_REDUCE_GROUPS_MAX 256
/* Values one reduction may produce (kr_op_logistic: loss and error count). */
#define KR_REDUCE_VALUES_MAX 2
/* Reductions whose second stage may wait for one shared ops_reduce_finish (ops.c): each owns
 * a region of KR_REDUCE_VALUES_MAX x KR_REDUCE_GROUPS_MAX partials in the scratch buffer. */
#define KR_REDUCE_PENDING_MAX 16

/* Reductions whose first stage ran and whose second stage waits (ops.c, kr_ops_reduce). All
 * write into one scal buffer in one dtype; entry e's partials are in scratch region e. */
typedef struct kr_reduce_pending {
    int defer;                            /* nesting depth of kr_ops_reduce_defer */
    unsigned count;                       /* entries waiting */
    cl_mem scal;                          /* their scal buffer */
    kr_dtype dt;
    cl_ulong dst[KR_REDUCE_PENDING_MAX];  /* element offset of scal[slot] */
    cl_uint shape[KR_REDUCE_PENDING_MAX]; /* groups | nvals << 16 */
} kr_reduce_pending;

struct kr_device {
    kr_backend backend;
    kr_device_info info;
    char describe[800];
    kr_quirks quirks;

    /* OpenCL backend only (all NULL / 0 on host). */
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    size_t max_work_group;              /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
    cl_program program[2];              /* indexed by kr_dtype; NULL when not built */
    bool program_cached[2];             /* program[dt] was loaded from the program cache */
    cl_kernel kernel[2][KR_K_COUNT];    /* indexed by kr_dtype, kr_kernel_id */
    size_t kernel_wg[2][KR_K_COUNT];    /* CL_KERNEL_WORK_GROUP_SIZE of each kernel */
    cl_mem scratch;                     /* KR_REDUCE_PENDING_MAX regions of partials (ops.c) */
    kr_reduce_pending pending;          /* second stages not yet enqueued */
    bool blas_warm[2];                  /* CLBlast's GEMM compiled for this dtype */
    /* The GEMM plan per dtype (gemm_plan.h): decided on the first GEMM (or when set), then
     * fixed; origin says where it came from ("tuned", "set", "off", or "" for defaults). */
    bool gemm_plan_decided[2];
    kr_gemm_plan gemm_plan[2];
    const char *gemm_plan_origin[2];
    /* Test-only: the kernel whose result ops.c spoils on purpose (an element-wise kernel is
     * not enqueued, a reduction skips its second stage), from env
     * KKTRECON_TEST_CORRUPT_KERNEL=ops_NAME at open, so that tests can see the self-test
     * catch a broken driver; -1 otherwise. */
    int corrupt_kernel;
    bool corrupt_gemm;                  /* test-only: ...=gemm, CLBlast GEMMs do not run */

    kr_device_counters counters;        /* device.h; updated by ops.c, blas.c, tensor.c */
};

/* blas.c: the BLAS-side pieces of the device's life cycle (blas.c alone includes cblas.h and
 * clblast_c.h). kr_blas_host_describe writes "OpenBLAS <config>" and the thread count;
 * kr_blas_warmup compiles CLBlast's GEMM kernels for dt with one tiny product;
 * kr_blas_release drops CLBlast's in-memory program cache when the last OpenCL device closes
 * (CLBlast keys it by context pointer, which a new context may reuse). */
void kr_blas_host_describe(char *blas, size_t blas_cap, int *threads);
kr_status kr_blas_warmup(kr_device *dev, kr_dtype dt);
void kr_blas_release(kr_device *dev);

/* blas.c: makes CLBlast run plan's kernel with plan's parameters for dev's GEMMs in dt (one
 * CLBlastOverrideParameters for the kernel, one for the direct/indirect size rule). The
 * defaults plan overrides nothing. */
kr_status kr_blas_apply_plan(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan);
/* blas.c: the plan applied last to dev's OpenCL device in dt by any kr_device of this process
 * (CLBlast keeps it until the process ends); false when none was. */
bool kr_blas_applied_plan(const kr_device *dev, kr_dtype dt, kr_gemm_plan *plan);

/* gemm_plan.c: decides dev's plan in dt on its first GEMM there (the plan set by
 * kr_device_set_gemm_plan, else the stored one unless KKTRECON_GEMM_TUNING=off, else
 * CLBlast's defaults) and applies it; does nothing once decided or on the host. */
kr_status kr_gemm_plan_ensure(kr_device *dev, kr_dtype dt);

/* device.c: everything about an OpenCL device that could make a compiled kernel or a tuning
 * result differ (name, vendor, driver, device and OpenCL C versions, platform and its
 * version), one "field value" per line: the device half of every cache key. Strings the
 * driver does not give stay empty (the key is still exact for it). */
void kr_device_identity(const kr_device *dev, char *buf, size_t cap);

#endif
