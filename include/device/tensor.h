/* tensor.h — a 2-D matrix living on a device (host memory or an OpenCL buffer).
 *
 * Row-major: element (i, j) is at offset + i*ld + j (in elements). Owned tensors are
 * contiguous (ld == cols, offset == 0); views made by kr_tensor_rows share the owner's
 * buffer and are contiguous row blocks. The struct is public so that the pipeline can pass
 * views by value; its fields are read-only outside tensor.c / blas.c / ops*.c.
 * A live-object counter lets tests check that nothing leaked.
 */
#ifndef KR_TENSOR_H
#define KR_TENSOR_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>

#include "device/device.h"

typedef struct kr_tensor {
    kr_device *dev;
    kr_dtype dtype;
    size_t rows, cols; /* logical shape */
    size_t ld;         /* row stride in elements */
    size_t offset;     /* element offset of (0,0) in the buffer */
    void *host;        /* host backend: buffer base (NULL on OpenCL) */
    cl_mem mem;        /* OpenCL backend: buffer (NULL on host) */
    bool owner;        /* frees the buffer in kr_tensor_free */
    char name[32];     /* for error messages ("W1", "dX", ...) */
} kr_tensor;

/* Allocates rows x cols, zero-filled. name appears in allocation errors. rows*cols may be 0. */
kr_status kr_tensor_new(kr_device *dev, kr_dtype dt, size_t rows, size_t cols, const char *name,
                        kr_tensor **out);
void kr_tensor_free(kr_tensor *t); /* NULL-safe; for views only frees the struct */

/* A view of rows [row0, row0 + nrows) of t (contiguous when t is). No allocation. */
kr_tensor kr_tensor_rows(const kr_tensor *t, size_t row0, size_t nrows);

static inline size_t kr_tensor_numel(const kr_tensor *t) { return t->rows * t->cols; }
static inline bool kr_tensor_contiguous(const kr_tensor *t) { return t->ld == t->cols; }

/* Host <-> device, converting from/to float64: src/dst hold rows*cols doubles, row-major. */
kr_status kr_tensor_write(kr_tensor *t, const double *src);
kr_status kr_tensor_read(const kr_tensor *t, double *dst);
/* Raw copies in the tensor's own dtype (bit-exact, for checkpoints). */
kr_status kr_tensor_write_raw(kr_tensor *t, const void *src);
kr_status kr_tensor_read_raw(const kr_tensor *t, void *dst);
/* dst = src (same shape and dtype). */
kr_status kr_tensor_copy(kr_tensor *dst, const kr_tensor *src);
kr_status kr_tensor_fill(kr_tensor *t, double value);

/* Number of owned tensors currently allocated (all devices). */
long kr_tensor_live_count(void);

#endif
