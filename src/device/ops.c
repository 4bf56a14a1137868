/* ops.c — the run-time half of every op of ops.def (ops_run.h): what the generated functions
 * (ops_gen.c, written by gen_ops.py) call to validate, dispatch and launch.
 *
 * What it does: checks that tensors exist, share one device and dtype, are contiguous and
 * have the shapes an op requires (KR_E_INVALID naming the tensors); gives host loops pointers
 * at element (0, 0); on OpenCL sets kernel arguments (buffer + element offset per tensor, REAL
 * scalars in the tensors' dtype) and enqueues. Element-wise kernels run on ceil(items / local)
 * groups and bounds-check; reductions run two stages through the device's scratch buffer
 * (cl/ops.cl banner) and write scal[slot..] on the device, so that nothing here synchronises:
 * one kr_tensor_read of scal per iteration collects every scalar. Between
 * kr_ops_reduce_defer and kr_ops_reduce_flush the second stages wait and one kernel finishes
 * up to KR_REDUCE_PENDING_MAX of them (each first stage writes its own scratch region).
 * What it does not: the math (ops_host_impl.inc, cl/ops.cl), GEMMs (blas.c), know any op.
 */
#include "device/ops_run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device/device_impl.h"

/* ---- validation ---------------------------------------------------------------------- */

const char *kr_ops_name(const kr_tensor *t) { return t->name[0] ? t->name : "(unnamed)"; }

/* t (role) must exist, be contiguous, and match ref's device and dtype. */
kr_status kr_ops_check_like(const char *op, const char *role, const kr_tensor *t,
                            const kr_tensor *ref)
{
    if (!t) return KR_FAIL(KR_E_INVALID, "%s: tensor %s is NULL", op, role);
    if (!t->dev) return KR_FAIL(KR_E_INVALID, "%s: %s '%s' has no device", op, role, kr_ops_name(t));
    if (!kr_tensor_contiguous(t))
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' (%zu x %zu, ld %zu) is not contiguous", op,
                       role, kr_ops_name(t), t->rows, t->cols, t->ld);
    if (ref && t->dev != ref->dev)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' and '%s' are on different devices", op, role,
                       kr_ops_name(t), kr_ops_name(ref));
    if (ref && t->dtype != ref->dtype)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %s but '%s' is %s", op, role, kr_ops_name(t),
                       kr_dtype_name(t->dtype), kr_ops_name(ref), kr_dtype_name(ref->dtype));
    return KR_OK;
}

/* As kr_ops_check_like, and t must have ref's shape. */
kr_status kr_ops_check_same(const char *op, const char *role, const kr_tensor *t,
                            const kr_tensor *ref)
{
    KR_TRY(kr_ops_check_like(op, role, t, ref));
    if (t->rows != ref->rows || t->cols != ref->cols)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %zu x %zu but '%s' is %zu x %zu", op, role,
                       kr_ops_name(t), t->rows, t->cols, kr_ops_name(ref), ref->rows, ref->cols);
    return KR_OK;
}

/* t must have exactly rows x cols. */
kr_status kr_ops_check_shape(const char *op, const char *role, const kr_tensor *t,
                             size_t rows, size_t cols)
{
    if (t->rows != rows || t->cols != cols)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %zu x %zu, expected %zu x %zu", op, role,
                       kr_ops_name(t), t->rows, t->cols, rows, cols);
    return KR_OK;
}

kr_status kr_ops_check_scal(const char *op, const kr_tensor *scal, const kr_tensor *ref,
                            size_t slot, size_t nvals)
{
    KR_TRY(kr_ops_check_like(op, "scal", scal, ref));
    if (slot + nvals > kr_tensor_numel(scal))
        return KR_FAIL(KR_E_INVALID, "%s: slot %zu%s is outside scal '%s' (%zu x %zu)", op, slot,
                       nvals > 1 ? " (+1)" : "", kr_ops_name(scal), scal->rows, scal->cols);
    return KR_OK;
}

kr_status kr_ops_check_segs(const char *op, const kr_tensor *t, size_t segs,
                            const kr_tensor *scal, size_t slot, size_t stride, size_t nvals)
{
    if (segs < 1 || segs > KR_REDUCE_PENDING_MAX)
        return KR_FAIL(KR_E_INVALID, "%s: %zu segments, expected 1..%d", op, segs,
                       KR_REDUCE_PENDING_MAX);
    if (t->rows % segs)
        return KR_FAIL(KR_E_INVALID, "%s: '%s' has %zu rows, not a multiple of %zu segments", op,
                       kr_ops_name(t), t->rows, segs);
    if (segs > 1 && stride < nvals)
        return KR_FAIL(KR_E_INVALID, "%s: slot stride %zu is below the %zu value(s) per segment",
                       op, stride, nvals);
    return kr_ops_check_scal(op, scal, t, slot + (segs - 1) * stride, nvals);
}

/* Host address of element (0, 0). */
void *kr_ops_ptr(const kr_tensor *t)
{
    return t ? (char *)t->host + t->offset * kr_dtype_size(t->dtype) : NULL;
}

void *kr_ops_ptr_at(const kr_tensor *t, size_t k)
{
    return t ? (char *)kr_ops_ptr(t) + k * kr_dtype_size(t->dtype) : NULL;
}

void kr_ops_store(kr_tensor *scal, size_t slot, const double *vals, size_t nvals)
{
    for (size_t k = 0; k < nvals; k++) {
        if (scal->dtype == KR_F64)
            ((double *)kr_ops_ptr(scal))[slot + k] = vals[k];
        else
            ((float *)kr_ops_ptr(scal))[slot + k] = (float)vals[k];
    }
}

const kr_tensor *kr_ops_standin(const kr_tensor *const *tensors, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (tensors[i] && tensors[i]->mem) return tensors[i];
    return NULL;
}

bool kr_ops_is_cl(const kr_tensor *t) { return t->dev->backend == KR_BACKEND_OPENCL; }

void kr_ops_count(kr_device *dev) { dev->counters.ops++; }

/* ---- kernel arguments and launches ---------------------------------------------------- */

kr_status kr_ops_args_begin(kr_device *dev, kr_dtype dt, kr_kernel_id id, kr_ops_args *a)
{
    *a = (kr_ops_args){NULL, dt, 0, 0, CL_SUCCESS};
    if (!kr_kernels_get(dev, dt, id)) KR_TRY(kr_kernels_build(dev, dt)); /* first use of dt */
    a->k = kr_kernels_get(dev, dt, id);
    if (!a->k) a->err = CL_INVALID_KERNEL;
    return KR_OK;
}

static void kr_arg(kr_ops_args *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS) {
        a->err = clSetKernelArg(a->k, a->i, size, value);
        if (a->err != CL_SUCCESS) a->bad = a->i;
    }
    a->i++;
}

void kr_ops_arg_ulong(kr_ops_args *a, size_t v)
{
    cl_ulong x = (cl_ulong)v;
    kr_arg(a, sizeof x, &x);
}

static void kr_arg_uint(kr_ops_args *a, size_t v)
{
    cl_uint x = (cl_uint)v;
    kr_arg(a, sizeof x, &x);
}

void kr_ops_arg_int(kr_ops_args *a, int v)
{
    cl_int x = v;
    kr_arg(a, sizeof x, &x);
}

void kr_ops_arg_real(kr_ops_args *a, double v)
{
    if (a->dt == KR_F64) {
        cl_double x = v;
        kr_arg(a, sizeof x, &x);
    } else {
        cl_float x = (cl_float)v;
        kr_arg(a, sizeof x, &x);
    }
}

static void kr_arg_mem(kr_ops_args *a, cl_mem m) { kr_arg(a, sizeof m, &m); }

void kr_ops_arg_tensor(kr_ops_args *a, const kr_tensor *t, const kr_tensor *stand_in)
{
    if (!t || !t->mem) t = stand_in;
    kr_arg_mem(a, t ? t->mem : NULL);
    kr_ops_arg_ulong(a, t ? t->offset : 0);
}

static void kr_arg_local(kr_ops_args *a, size_t bytes) { kr_arg(a, bytes, NULL); }

static kr_status kr_args_check(const kr_ops_args *a, const char *op, kr_kernel_id id)
{
    if (a->err == CL_SUCCESS) return KR_OK;
    return KR_FAIL(KR_E_OPENCL, "%s: setting argument %u of kernel %s: %s", op, (unsigned)a->bad,
                   kr_kernel_names[id], kr_cl_error_name(a->err));
}

static kr_status kr_enqueue(kr_device *dev, const kr_ops_args *a, kr_kernel_id id, size_t global,
                            size_t local, const char *op)
{
    KR_TRY(kr_args_check(a, op, id));
    dev->counters.kernels++;
    cl_int err = clEnqueueNDRangeKernel(dev->queue, a->k, 1, NULL, &global, &local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return KR_FAIL(KR_E_OPENCL, "%s: enqueueing %s (%s, global %zu, local %zu) on '%s': %s",
                       op, kr_kernel_names[id], kr_dtype_name(a->dt), global, local,
                       dev->info.name, kr_cl_error_name(err));
    return KR_OK;
}

kr_status kr_ops_launch(kr_device *dev, const kr_ops_args *a, kr_kernel_id id, size_t items,
                        const char *op)
{
    size_t local = dev->quirks.local_size, kmax = kr_kernels_max_local(dev, a->dt, id);
    if (kmax && local > kmax) local = kmax;
    if (local == 0) local = 1;
    if ((int)id == dev->corrupt_kernel) return KR_OK; /* test-only: the kernel never runs */
    size_t global = (items + local - 1) / local * local;
    return kr_enqueue(dev, a, id, global, local, op);
}

kr_status kr_ops_launch_rowreduce(kr_device *dev, kr_ops_args *a, kr_kernel_id id, size_t rows,
                                  const char *op)
{
    size_t cap = dev->quirks.reduce_local, kmax = kr_kernels_max_local(dev, a->dt, id);
    if (kmax && cap > kmax) cap = kmax;
    size_t local = 1;
    while (local * 2 <= cap) local *= 2;
    kr_arg_local(a, local * kr_dtype_size(a->dt));
    if ((int)id == dev->corrupt_kernel) return KR_OK; /* test-only: the kernel never runs */
    return kr_enqueue(dev, a, id, rows * local, local, op);
}

/* Work-group size (power of two) and group count of a reduction over n elements. */
static void kr_reduce_shape(const kr_device *dev, kr_dtype dt, kr_kernel_id id, size_t n,
                            size_t *local, size_t *groups)
{
    size_t cap = dev->quirks.reduce_local;
    size_t k1 = kr_kernels_max_local(dev, dt, id);
    size_t k2 = kr_kernels_max_local(dev, dt, KR_K_REDUCE_FINISH);
    if (k1 && cap > k1) cap = k1;
    if (k2 && cap > k2) cap = k2;
    size_t l = 1;
    while (l * 2 <= cap) l *= 2;
    size_t g = dev->quirks.reduce_groups;
    if (g > l) g = l;
    if (g > KR_REDUCE_GROUPS_MAX) g = KR_REDUCE_GROUPS_MAX;
    size_t need = (n + l - 1) / l; /* no group without work */
    if (g > need) g = need;
    if (g == 0) g = 1;
    *local = l;
    *groups = g;
}

/* Enqueues ops_reduce_finish for every pending reduction: one work-group per entry folds
 * that entry's partials and writes its nvals scalars. */
static kr_status kr_reduce_finish_pending(kr_device *dev, const char *op)
{
    kr_reduce_pending *p = &dev->pending;
    if (p->count == 0) return KR_OK;
    unsigned count = p->count;
    p->count = 0; /* nothing stays pending after a failure either */
    size_t cap = dev->quirks.reduce_local;
    size_t kf = kr_kernels_max_local(dev, p->dt, KR_K_REDUCE_FINISH);
    if (kf && cap > kf) cap = kf;
    size_t local = 1;
    while (local * 2 <= cap) local *= 2;
    cl_uint shape[KR_REDUCE_PENDING_MAX] = {0};
    cl_ulong dst[KR_REDUCE_PENDING_MAX] = {0};
    memcpy(shape, p->shape, count * sizeof *shape);
    memcpy(dst, p->dst, count * sizeof *dst);
    kr_ops_args f;
    KR_TRY(kr_ops_args_begin(dev, p->dt, KR_K_REDUCE_FINISH, &f));
    kr_arg(&f, sizeof shape, shape); /* uint16 */
    kr_arg(&f, sizeof dst, dst);     /* ulong16 */
    kr_arg_uint(&f, KR_REDUCE_VALUES_MAX * KR_REDUCE_GROUPS_MAX);
    kr_arg_mem(&f, dev->scratch);
    kr_arg_mem(&f, p->scal);
    kr_arg_local(&f, local * kr_dtype_size(p->dt));
    return kr_enqueue(dev, &f, KR_K_REDUCE_FINISH, count * local, local, op);
}

void kr_ops_reduce_defer(kr_device *dev)
{
    if (dev->backend == KR_BACKEND_OPENCL) dev->pending.defer++;
}

kr_status kr_ops_reduce_flush(kr_device *dev)
{
    if (dev->backend != KR_BACKEND_OPENCL) return KR_OK;
    if (dev->pending.defer > 0) dev->pending.defer--;
    return kr_reduce_finish_pending(dev, "kr_ops_reduce_flush");
}

kr_status kr_ops_reduce(kr_device *dev, kr_ops_args *a, kr_kernel_id id, size_t n, size_t segs,
                        size_t nvals, kr_tensor *scal, size_t slot, size_t stride,
                        const char *op)
{
    kr_reduce_pending *p = &dev->pending;
    /* New regions are needed, one per segment: finish what waits if too few are left or the
     * entries would not share one finish kernel (another scal buffer or dtype). */
    if (p->count + segs > KR_REDUCE_PENDING_MAX ||
        (p->count && (p->scal != scal->mem || p->dt != a->dt)))
        KR_TRY(kr_reduce_finish_pending(dev, op));
    size_t local, groups; /* per segment */
    kr_reduce_shape(dev, a->dt, id, n / segs, &local, &groups);
    kr_arg_mem(a, dev->scratch);
    kr_ops_arg_ulong(a, (size_t)p->count * KR_REDUCE_VALUES_MAX * KR_REDUCE_GROUPS_MAX);
    for (size_t v = 0; v < nvals; v++) kr_arg_local(a, local * kr_dtype_size(a->dt));
    KR_TRY(kr_enqueue(dev, a, id, segs * groups * local, local, op));
    if ((int)id == dev->corrupt_kernel) return KR_OK; /* test-only: no second stage */
    p->scal = scal->mem;
    p->dt = a->dt;
    for (size_t s = 0; s < segs; s++, p->count++) {
        p->dst[p->count] = (cl_ulong)(scal->offset + slot + s * stride);
        p->shape[p->count] = (cl_uint)(groups | nvals << 16);
    }
    return p->defer > 0 ? KR_OK : kr_reduce_finish_pending(dev, op);
}

kr_status kr_ops_zero_slots(kr_tensor *scal, size_t slot, size_t nvals)
{
    kr_tensor v = *scal;
    v.rows = 1;
    v.cols = nvals;
    v.ld = nvals;
    v.offset = scal->offset + slot;
    v.owner = false;
    return kr_tensor_fill(&v, 0.0);
}

