/* ops_run.h — what the generated op functions (ops_gen.c, from ops.def by gen_ops.py) call:
 * validation, host pointers, OpenCL argument setting and launches. Private to src/device/.
 *
 * Every function returning kr_status fails with KR_E_INVALID naming the op and the tensor, or
 * KR_E_OPENCL naming the kernel, the argument or launch and the OpenCL error.
 */
#ifndef KR_OPS_RUN_H
#define KR_OPS_RUN_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdbool.h>
#include <stddef.h>

#include "device/kernels.h"
#include "device/tensor.h"

/* ---- validation ------------------------------------------------------------------------- */

/* The tensor's name for messages ("(unnamed)" if it has none). */
const char *kr_ops_name(const kr_tensor *t);
/* t (role) must exist, be contiguous, and match ref's device and dtype (ref may be NULL). */
kr_status kr_ops_check_like(const char *op, const char *role, const kr_tensor *t,
                            const kr_tensor *ref);
/* As kr_ops_check_like, and t must have ref's shape. */
kr_status kr_ops_check_same(const char *op, const char *role, const kr_tensor *t,
                            const kr_tensor *ref);
/* t must have exactly rows x cols. */
kr_status kr_ops_check_shape(const char *op, const char *role, const kr_tensor *t,
                             size_t rows, size_t cols);
/* scal is like ref and slots [slot, slot + nvals) lie inside it. */
kr_status kr_ops_check_scal(const char *op, const kr_tensor *scal, const kr_tensor *ref,
                            size_t slot, size_t nvals);
/* A segmented reduction over t (kr_op_NAME_seg): 1 <= segs <= KR_REDUCE_PENDING_MAX, t's rows
 * split evenly into segs, scal like t, and the slots [slot + s·stride, + nvals) of every
 * segment s inside scal and apart (stride >= nvals when segs > 1). */
kr_status kr_ops_check_segs(const char *op, const kr_tensor *t, size_t segs,
                            const kr_tensor *scal, size_t slot, size_t stride, size_t nvals);

/* ---- host ------------------------------------------------------------------------------- */

/* Counts one op in the device's counters (device.h). */
void kr_ops_count(kr_device *dev);
/* Whether t lives on an OpenCL device (else: host loops on kr_ops_ptr). */
bool kr_ops_is_cl(const kr_tensor *t);
/* Host address of element (0, 0); NULL for a NULL tensor. */
void *kr_ops_ptr(const kr_tensor *t);
/* Host address of element number k (row-major; t contiguous); NULL for a NULL tensor. */
void *kr_ops_ptr_at(const kr_tensor *t, size_t k);
/* scal[slot + k] = vals[k] for k < nvals, rounded to scal's dtype (host tensors). */
void kr_ops_store(kr_tensor *scal, size_t slot, const double *vals, size_t nvals);
/* scal[slot .. slot + nvals) = 0 (a reduction over nothing), any backend. */
kr_status kr_ops_zero_slots(kr_tensor *scal, size_t slot, size_t nvals);

/* ---- OpenCL ----------------------------------------------------------------------------- */

/* Kernel arguments set in order; the first failure is kept and reported at launch. */
typedef struct kr_ops_args {
    cl_kernel k;
    kr_dtype dt;
    cl_uint i;
    cl_uint bad; /* index of the first argument that failed */
    cl_int err;
} kr_ops_args;

/* Starts the arguments of kernel id for dt, building dt's program on its first use
 * (KR_E_BUILD with the log, KR_E_UNSUPPORTED for float64 without fp64). */
kr_status kr_ops_args_begin(kr_device *dev, kr_dtype dt, kr_kernel_id id, kr_ops_args *a);
void kr_ops_arg_ulong(kr_ops_args *a, size_t v);
void kr_ops_arg_int(kr_ops_args *a, int v);
/* A REAL scalar: double or float as the kernel's dtype. */
void kr_ops_arg_real(kr_ops_args *a, double v);
/* Buffer and element offset. A NULL tensor, or one without a buffer (no elements), passes
 * stand_in's instead: the kernel never touches it (has_* flag 0, or no work on it). */
void kr_ops_arg_tensor(kr_ops_args *a, const kr_tensor *t, const kr_tensor *stand_in);
/* The first of count tensors that has a buffer (NULL if none): every op's stand-in. */
const kr_tensor *kr_ops_standin(const kr_tensor *const *tensors, size_t count);

/* Element-wise launch over `items` work-items: local size from the device's quirks and the
 * kernel's limit, global rounded up to it (kernels bounds-check). */
kr_status kr_ops_launch(kr_device *dev, const kr_ops_args *a, kr_kernel_id id, size_t items,
                        const char *op);
/* A row reduction (kind rowreduce): one work-group per row, of the largest power of two the
 * device's reduction quirk and the kernel allow; appends one __local buffer of that size. */
kr_status kr_ops_launch_rowreduce(kr_device *dev, kr_ops_args *a, kr_kernel_id id, size_t rows,
                                  const char *op);
/* A reduction over n elements in segs equal segments, segment s into scal[slot + s·stride ..
 * + nvals): appends the scratch buffer and nvals __local buffers to a's arguments, runs the
 * first stage (the device's group count per segment, one launch), then ops_reduce_finish. */
kr_status kr_ops_reduce(kr_device *dev, kr_ops_args *a, kr_kernel_id id, size_t n, size_t segs,
                        size_t nvals, kr_tensor *scal, size_t slot, size_t stride,
                        const char *op);

#endif
