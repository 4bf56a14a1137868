/* device.h — one handle for every place the numerical pipeline can run.
 *
 * Two backends behind one interface:
 *   host    the host CPU: GEMMs through OpenBLAS (cblas), element-wise loops threaded with OpenMP;
 *   opencl  any OpenCL 1.2+ device through the ICD loader: GEMMs through CLBlast, our own
 *           kernels from cl/ (embedded at build time), one context and one in-order queue.
 * The pipeline above this layer (mlp, kkt, optim) is written once against tensor.h, blas.h
 * and ops.h and never asks which backend it runs on.
 *
 * Device specs (STYLE.md): "host"; an OpenCL device as "p:d" (platform:device indices), a
 * global index from `kktrecon devices` (0 is host, OpenCL devices from 1), "gpu", "cpu" (an
 * OpenCL CPU device such as PoCL), or a case-insensitive substring of the device or platform
 * name. NULL or "" or "default" selects the first OpenCL GPU, else host.
 * Precedence (resolved by the caller, see kr_device_spec_resolve): built-in default < config
 * key `device` < env KKTRECON_DEVICE < flag --device.
 */
#ifndef KR_DEVICE_H
#define KR_DEVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

typedef enum kr_dtype { KR_F32 = 0, KR_F64 = 1 } kr_dtype;
typedef enum kr_backend { KR_BACKEND_HOST = 0, KR_BACKEND_OPENCL = 1 } kr_backend;

static inline size_t kr_dtype_size(kr_dtype dt) { return dt == KR_F64 ? 8 : 4; }
static inline const char *kr_dtype_name(kr_dtype dt) { return dt == KR_F64 ? "float64" : "float32"; }

typedef struct kr_device kr_device; /* opaque */

/* What `kktrecon devices` prints, one entry per selectable device (host first). */
typedef struct kr_device_info {
    int index;               /* global index: 0 = host, 1.. = OpenCL devices in p:d order */
    kr_backend backend;
    int platform, device;    /* OpenCL indices (-1 for host) */
    char name[256];          /* device name ("host" for the host backend) */
    char platform_name[256]; /* OpenCL platform name, or BLAS description for host */
    char type[16];           /* "gpu", "cpu", "accelerator", "host", "other" */
    char driver[128];        /* driver version */
    char opencl_c[64];       /* OpenCL C version string ("" for host) */
    size_t global_mem;       /* bytes */
    size_t max_alloc;        /* bytes (CL_DEVICE_MAX_MEM_ALLOC_SIZE) */
    int compute_units;
    bool fp64;
    char vendor[128];        /* CL_DEVICE_VENDOR ("" for host) */
    unsigned clock_mhz;      /* CL_DEVICE_MAX_CLOCK_FREQUENCY (0 for host or unknown) */
} kr_device_info;

/* Enumerates host + all OpenCL devices. *infos is malloc'ed; free() it. Never fails for lack
 * of OpenCL (returns host alone). */
kr_status kr_device_list(kr_device_info **infos, int *count);

/* Picks the effective spec: flag (may be NULL) > env KKTRECON_DEVICE > config (may be NULL). */
const char *kr_device_spec_resolve(const char *flag, const char *config_value);

/* Opens a device: context and queue. Kernels and CLBlast's programs are built per precision
 * on first use, or ahead with kr_device_prepare. Errors: KR_E_NODEVICE with the spec and what
 * exists. */
kr_status kr_device_open(const char *spec, kr_device **out);
void kr_device_close(kr_device *dev);

kr_backend kr_device_backend(const kr_device *dev);
const kr_device_info *kr_device_get_info(const kr_device *dev);
bool kr_device_has_fp64(const kr_device *dev);
/* KR_E_UNSUPPORTED with a clear message if dt is float64 on a device without fp64. */
kr_status kr_device_check_dtype(const kr_device *dev, kr_dtype dt);
/* One line for logs and result files: "host (OpenBLAS 0.3.21, 2 threads)" or
 * "opencl 0:0 'pthread-...' on 'Portable Computing Language', driver 3.1". */
const char *kr_device_describe(const kr_device *dev);
/* Blocks until all queued work is done (no-op on host). */
kr_status kr_device_finish(kr_device *dev);

/* Builds our kernels for dt and compiles CLBlast's GEMM for dt (one tiny product), so that the
 * first iteration of a job does not pay for it; only the precisions a job uses are prepared.
 * Anything not prepared is built on first use. KR_E_UNSUPPORTED for float64 without fp64. */
kr_status kr_device_prepare(kr_device *dev, kr_dtype dt);

/* What the device layer did since the device opened or the last reset, for profiling the
 * execution model (`kktrecon bench` prints them per iteration). On the host backend ops and
 * GEMMs run synchronously and `blocking` counts only explicit transfers. */
typedef struct kr_device_counters {
    unsigned long long ops;       /* element-wise and reduction ops (device/ops.h) */
    unsigned long long kernels;   /* our OpenCL kernels enqueued (a reduction is two) */
    unsigned long long gemms;     /* GEMM calls (CLBlast may enqueue more than one kernel) */
    unsigned long long copies;    /* buffer copies enqueued (fills are the fill op) */
    unsigned long long blocking;  /* calls that waited for the device: reads, writes, finish */
    unsigned long long bytes_to_device, bytes_from_device;
} kr_device_counters;
void kr_device_counters_get(const kr_device *dev, kr_device_counters *c);
void kr_device_counters_reset(kr_device *dev);

#endif
