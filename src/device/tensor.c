/* tensor.c — 2-D row-major matrices in host memory or OpenCL buffers; copies between them.
 *
 * What it does: allocation (64-byte aligned host memory, or a cl_mem checked against
 * CL_DEVICE_MAX_MEM_ALLOC_SIZE), zero-fill at creation (on OpenCL by the fill op's kernel,
 * ops.def), row views, float64 <-> dtype conversion on write/read, raw (bit-exact) transfers,
 * device-side copy and fill (the fill op), and a live-object counter of owned tensors for leak
 * checks in tests.
 * What it does not: arithmetic (blas.c, ops.c), or any implicit synchronisation beyond what
 * a transfer needs: reads and writes are blocking (the queue is in order, so a blocking read
 * also waits for every kernel enqueued before it), copies and fills are only enqueued.
 * Tensors with numel == 0 own no buffer (host == NULL, mem == NULL); every op on them is a
 * no-op.
 */
#define _POSIX_C_SOURCE 200809L
#include "device/tensor.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device_impl.h"
#include "device/ops.h"

static atomic_long kr_tensor_live = 0;

long kr_tensor_live_count(void) { return atomic_load(&kr_tensor_live); }

static const char *kr_tname(const kr_tensor *t) { return t->name[0] ? t->name : "(unnamed)"; }

kr_status kr_tensor_new(kr_device *dev, kr_dtype dt, size_t rows, size_t cols, const char *name,
                        kr_tensor **out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_tensor_new: NULL out");
    *out = NULL;
    if (!dev) return KR_FAIL(KR_E_INVALID, "kr_tensor_new(%s): NULL device", name ? name : "");
    KR_TRY(kr_device_check_dtype(dev, dt));
    size_t es = kr_dtype_size(dt);
    if (cols != 0 && rows > SIZE_MAX / cols / es)
        return KR_FAIL(KR_E_NOMEM, "tensor '%s' (%zu x %zu %s) is too large to address",
                       name ? name : "", rows, cols, kr_dtype_name(dt));
    size_t bytes = rows * cols * es;
    if (bytes > dev->info.max_alloc)
        return KR_FAIL(KR_E_NOMEM,
                       "tensor '%s' (%zu x %zu %s, %.1f MiB) exceeds the largest allocation "
                       "(CL_DEVICE_MAX_MEM_ALLOC_SIZE %.1f MiB) of %s",
                       name ? name : "", rows, cols, kr_dtype_name(dt), bytes / 1048576.0,
                       dev->info.max_alloc / 1048576.0, dev->describe);

    kr_status st = KR_OK;
    kr_tensor *t = calloc(1, sizeof *t);
    if (!t) return KR_FAIL(KR_E_NOMEM, "tensor '%s': out of host memory", name ? name : "");
    t->dev = dev;
    t->dtype = dt;
    t->rows = rows;
    t->cols = cols;
    t->ld = cols;
    t->offset = 0;
    t->owner = true;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    if (bytes > 0) {
        if (dev->backend == KR_BACKEND_HOST) {
            void *p = NULL;
            if (posix_memalign(&p, 64, bytes) != 0 || !p) {
                st = KR_FAIL(KR_E_NOMEM, "tensor '%s' (%zu x %zu %s, %.1f MiB): out of host memory",
                             kr_tname(t), rows, cols, kr_dtype_name(dt), bytes / 1048576.0);
                goto fail;
            }
            memset(p, 0, bytes);
            t->host = p;
        } else {
            cl_int err;
            t->mem = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
            if (err != CL_SUCCESS) {
                t->mem = NULL;
                st = KR_FAIL(err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                                     err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
                                     err == CL_INVALID_BUFFER_SIZE
                                 ? KR_E_NOMEM
                                 : KR_E_OPENCL,
                             "clCreateBuffer for tensor '%s' (%zu x %zu %s, %.1f MiB) on '%s': %s",
                             kr_tname(t), rows, cols, kr_dtype_name(dt), bytes / 1048576.0,
                             dev->info.name, kr_cl_error_name(err));
                goto fail;
            }
            /* Zeroed by a kernel (kr_op_fill), not clEnqueueFillBuffer: see ops.def. */
            st = kr_op_fill(0.0, t);
            if (st != KR_OK) {
                kr_error_context(st, "zero-filling tensor '%s' on '%s'", kr_tname(t),
                                 dev->info.name);
                goto fail;
            }
        }
    }
    atomic_fetch_add(&kr_tensor_live, 1);
    *out = t;
    return KR_OK;

fail:
    if (t->mem) clReleaseMemObject(t->mem);
    free(t->host);
    free(t);
    return st;
}

void kr_tensor_free(kr_tensor *t)
{
    if (!t) return;
    if (t->owner) {
        if (t->mem) clReleaseMemObject(t->mem);
        free(t->host);
        atomic_fetch_sub(&kr_tensor_live, 1);
    }
    free(t);
}

kr_tensor kr_tensor_rows(const kr_tensor *t, size_t row0, size_t nrows)
{
    assert(t && row0 <= t->rows && nrows <= t->rows - row0);
    kr_tensor v = *t;
    v.rows = nrows;
    v.offset = t->offset + row0 * t->ld;
    v.owner = false;
    return v;
}

/* Host address of element (i, 0). */
static char *kr_host_row(const kr_tensor *t, size_t i)
{
    return (char *)t->host + (t->offset + i * t->ld) * kr_dtype_size(t->dtype);
}

/* Raw transfer of t's elements to/from a packed rows x cols array in t's dtype. */
static kr_status kr_tensor_transfer(const kr_tensor *t, void *packed, bool to_device)
{
    size_t es = kr_dtype_size(t->dtype), row_bytes = t->cols * es;
    if (kr_tensor_numel(t) == 0) return KR_OK;
    kr_device_counters *cnt = &t->dev->counters;
    cnt->blocking++;
    if (to_device)
        cnt->bytes_to_device += t->rows * row_bytes;
    else
        cnt->bytes_from_device += t->rows * row_bytes;
    if (t->dev->backend == KR_BACKEND_HOST) {
        for (size_t i = 0; i < t->rows; i++) {
            char *row = kr_host_row(t, i), *p = (char *)packed + i * row_bytes;
            if (to_device)
                memcpy(row, p, row_bytes);
            else
                memcpy(p, row, row_bytes);
        }
        return KR_OK;
    }
    cl_command_queue q = t->dev->queue;
    size_t nrun = kr_tensor_contiguous(t) ? 1 : t->rows;
    size_t run = kr_tensor_contiguous(t) ? t->rows * row_bytes : row_bytes;
    for (size_t i = 0; i < nrun; i++) {
        size_t off = (t->offset + i * t->ld) * es;
        char *p = (char *)packed + i * run;
        bool last = i + 1 == nrun;
        cl_int err = to_device
                         ? clEnqueueWriteBuffer(q, t->mem, last ? CL_TRUE : CL_FALSE, off, run, p,
                                                0, NULL, NULL)
                         : clEnqueueReadBuffer(q, t->mem, last ? CL_TRUE : CL_FALSE, off, run, p,
                                               0, NULL, NULL);
        if (err != CL_SUCCESS) {
            clFinish(q); /* earlier non-blocking transfers still reference packed */
            return KR_FAIL(KR_E_OPENCL, "%s tensor '%s' (%zu x %zu %s) on '%s': %s",
                           to_device ? "writing" : "reading", kr_tname(t), t->rows, t->cols,
                           kr_dtype_name(t->dtype), t->dev->info.name, kr_cl_error_name(err));
        }
    }
    return KR_OK;
}

static kr_status kr_tensor_check(const kr_tensor *t, const char *what)
{
    if (!t || !t->dev) return KR_FAIL(KR_E_INVALID, "%s: NULL tensor or device", what);
    return KR_OK;
}

kr_status kr_tensor_write_raw(kr_tensor *t, const void *src)
{
    KR_TRY(kr_tensor_check(t, "kr_tensor_write_raw"));
    return kr_tensor_transfer(t, (void *)src, true);
}

kr_status kr_tensor_read_raw(const kr_tensor *t, void *dst)
{
    KR_TRY(kr_tensor_check(t, "kr_tensor_read_raw"));
    return kr_tensor_transfer(t, dst, false);
}

kr_status kr_tensor_write(kr_tensor *t, const double *src)
{
    KR_TRY(kr_tensor_check(t, "kr_tensor_write"));
    size_t n = kr_tensor_numel(t);
    if (t->dtype == KR_F64) return kr_tensor_transfer(t, (void *)src, true);
    if (n == 0) return KR_OK;
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return KR_FAIL(KR_E_NOMEM, "writing tensor '%s': out of host memory", kr_tname(t));
    for (size_t i = 0; i < n; i++) tmp[i] = (float)src[i];
    kr_status st = kr_tensor_transfer(t, tmp, true);
    free(tmp);
    return st;
}

kr_status kr_tensor_read(const kr_tensor *t, double *dst)
{
    KR_TRY(kr_tensor_check(t, "kr_tensor_read"));
    size_t n = kr_tensor_numel(t);
    if (t->dtype == KR_F64) return kr_tensor_transfer(t, dst, false);
    if (n == 0) return KR_OK;
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return KR_FAIL(KR_E_NOMEM, "reading tensor '%s': out of host memory", kr_tname(t));
    kr_status st = kr_tensor_transfer(t, tmp, false);
    if (st == KR_OK)
        for (size_t i = 0; i < n; i++) dst[i] = tmp[i];
    free(tmp);
    return st;
}

kr_status kr_tensor_copy(kr_tensor *dst, const kr_tensor *src)
{
    KR_TRY(kr_tensor_check(dst, "kr_tensor_copy"));
    KR_TRY(kr_tensor_check(src, "kr_tensor_copy"));
    if (dst->rows != src->rows || dst->cols != src->cols || dst->dtype != src->dtype)
        return KR_FAIL(KR_E_INVALID,
                       "kr_tensor_copy: dst '%s' (%zu x %zu %s) and src '%s' (%zu x %zu %s) differ",
                       kr_tname(dst), dst->rows, dst->cols, kr_dtype_name(dst->dtype),
                       kr_tname(src), src->rows, src->cols, kr_dtype_name(src->dtype));
    size_t n = kr_tensor_numel(src), es = kr_dtype_size(src->dtype);
    if (n == 0) return KR_OK;
    if (dst->dev != src->dev) { /* across devices: stage through host memory */
        void *tmp = malloc(n * es);
        if (!tmp)
            return KR_FAIL(KR_E_NOMEM, "copying tensor '%s': out of host memory", kr_tname(src));
        kr_status st = kr_tensor_transfer(src, tmp, false);
        if (st == KR_OK) st = kr_tensor_transfer(dst, tmp, true);
        free(tmp);
        return st;
    }
    src->dev->counters.copies++;
    if (src->dev->backend == KR_BACKEND_HOST) {
        for (size_t i = 0; i < src->rows; i++)
            memmove(kr_host_row(dst, i), kr_host_row(src, i), src->cols * es);
        return KR_OK;
    }
    bool packed = kr_tensor_contiguous(src) && kr_tensor_contiguous(dst);
    size_t nrun = packed ? 1 : src->rows, run = packed ? n * es : src->cols * es;
    for (size_t i = 0; i < nrun; i++) {
        size_t so = (src->offset + i * src->ld) * es, d_o = (dst->offset + i * dst->ld) * es;
        if (src->mem == dst->mem && so == d_o) continue; /* copy onto itself */
        cl_int err = clEnqueueCopyBuffer(src->dev->queue, src->mem, dst->mem, so, d_o, run, 0,
                                         NULL, NULL);
        if (err != CL_SUCCESS)
            return KR_FAIL(KR_E_OPENCL, "copying tensor '%s' to '%s' on '%s': %s",
                           kr_tname(src), kr_tname(dst), src->dev->info.name,
                           kr_cl_error_name(err));
    }
    return KR_OK;
}

kr_status kr_tensor_fill(kr_tensor *t, double value)
{
    KR_TRY(kr_tensor_check(t, "kr_tensor_fill"));
    if (kr_tensor_numel(t) == 0) return KR_OK;
    /* The fill op (on OpenCL a kernel, see ops.def), on each row of a non-contiguous tensor. */
    if (kr_tensor_contiguous(t)) return kr_op_fill(value, t);
    for (size_t i = 0; i < t->rows; i++) {
        kr_tensor row = *t;
        row.rows = 1;
        row.ld = t->cols;
        row.offset = t->offset + i * t->ld;
        row.owner = false;
        KR_TRY(kr_op_fill(value, &row));
    }
    return KR_OK;
}
