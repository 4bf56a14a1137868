/* ops.c — dispatcher for every operation of ops.h: validate, then run host loops or enqueue
 * the OpenCL kernel of cl/ops.cl.
 *
 * What it does: checks that tensors exist, share one device and dtype, are contiguous and
 * have the shapes ops.h requires (KR_E_INVALID naming the tensors); on host calls the loops of
 * ops_host.c with pointers at element (0, 0); on OpenCL sets the kernel arguments (buffer +
 * element offset per tensor, REAL scalars in the tensors' dtype) and enqueues. Element-wise
 * kernels run on ceil(n / local) groups and bounds-check; reductions run two stages through
 * the device's scratch buffer (cl/ops.cl banner) and write scal[slot] on the device, so that
 * nothing here synchronises: one kr_tensor_read of scal per iteration collects every scalar.
 * What it does not: the math itself (ops_host.c, cl/ops.cl), GEMMs (blas.c).
 * Math: include/ops.h, DESIGN.md §2, §3.1.
 */
#include "device/ops.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device/device_impl.h"
#include "device/kernels.h"
#include "device/ops_host.h"

/* ---- validation ---------------------------------------------------------------------- */

static const char *kr_oname(const kr_tensor *t) { return t->name[0] ? t->name : "(unnamed)"; }

/* t (role) must exist, be contiguous, and match ref's device and dtype. */
static kr_status kr_ops_check_like(const char *op, const char *role, const kr_tensor *t,
                                   const kr_tensor *ref)
{
    if (!t) return KR_FAIL(KR_E_INVALID, "%s: tensor %s is NULL", op, role);
    if (!t->dev) return KR_FAIL(KR_E_INVALID, "%s: %s '%s' has no device", op, role, kr_oname(t));
    if (!kr_tensor_contiguous(t))
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' (%zu x %zu, ld %zu) is not contiguous", op,
                       role, kr_oname(t), t->rows, t->cols, t->ld);
    if (ref && t->dev != ref->dev)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' and '%s' are on different devices", op, role,
                       kr_oname(t), kr_oname(ref));
    if (ref && t->dtype != ref->dtype)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %s but '%s' is %s", op, role, kr_oname(t),
                       kr_dtype_name(t->dtype), kr_oname(ref), kr_dtype_name(ref->dtype));
    return KR_OK;
}

/* As kr_ops_check_like, and t must have ref's shape. */
static kr_status kr_ops_check_same(const char *op, const char *role, const kr_tensor *t,
                                   const kr_tensor *ref)
{
    KR_TRY(kr_ops_check_like(op, role, t, ref));
    if (t->rows != ref->rows || t->cols != ref->cols)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %zu x %zu but '%s' is %zu x %zu", op, role,
                       kr_oname(t), t->rows, t->cols, kr_oname(ref), ref->rows, ref->cols);
    return KR_OK;
}

/* t must have exactly rows x cols. */
static kr_status kr_ops_check_shape(const char *op, const char *role, const kr_tensor *t,
                                    size_t rows, size_t cols)
{
    if (t->rows != rows || t->cols != cols)
        return KR_FAIL(KR_E_INVALID, "%s: %s '%s' is %zu x %zu, expected %zu x %zu", op, role,
                       kr_oname(t), t->rows, t->cols, rows, cols);
    return KR_OK;
}

static kr_status kr_ops_check_scal(const char *op, const kr_tensor *scal, const kr_tensor *ref,
                                   size_t slot, size_t nvals)
{
    KR_TRY(kr_ops_check_like(op, "scal", scal, ref));
    if (slot + nvals > kr_tensor_numel(scal))
        return KR_FAIL(KR_E_INVALID, "%s: slot %zu%s is outside scal '%s' (%zu x %zu)", op, slot,
                       nvals > 1 ? " (+1)" : "", kr_oname(scal), scal->rows, scal->cols);
    return KR_OK;
}

/* Host address of element (0, 0). */
static void *kr_ptr(const kr_tensor *t)
{
    return t ? (char *)t->host + t->offset * kr_dtype_size(t->dtype) : NULL;
}

static void kr_ops_host_store(kr_tensor *scal, size_t slot, double v)
{
    if (scal->dtype == KR_F64)
        ((double *)kr_ptr(scal))[slot] = v;
    else
        ((float *)kr_ptr(scal))[slot] = (float)v;
}

static bool kr_is_cl(const kr_tensor *t) { return t->dev->backend == KR_BACKEND_OPENCL; }

/* ---- kernel arguments and launches ---------------------------------------------------- */

typedef struct kr_args {
    cl_kernel k;
    kr_dtype dt;
    cl_uint i;
    cl_uint bad; /* index of the first argument that failed */
    cl_int err;
} kr_args;

static kr_args kr_args_begin(const kr_device *dev, kr_dtype dt, kr_kernel_id id)
{
    kr_args a = {kr_kernels_get(dev, dt, id), dt, 0, 0, CL_SUCCESS};
    if (!a.k) a.err = CL_INVALID_KERNEL;
    return a;
}

static void kr_arg(kr_args *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS) {
        a->err = clSetKernelArg(a->k, a->i, size, value);
        if (a->err != CL_SUCCESS) a->bad = a->i;
    }
    a->i++;
}

static void kr_arg_ulong(kr_args *a, size_t v)
{
    cl_ulong x = (cl_ulong)v;
    kr_arg(a, sizeof x, &x);
}

static void kr_arg_uint(kr_args *a, size_t v)
{
    cl_uint x = (cl_uint)v;
    kr_arg(a, sizeof x, &x);
}

static void kr_arg_int(kr_args *a, int v)
{
    cl_int x = v;
    kr_arg(a, sizeof x, &x);
}

static void kr_arg_real(kr_args *a, double v)
{
    if (a->dt == KR_F64) {
        cl_double x = v;
        kr_arg(a, sizeof x, &x);
    } else {
        cl_float x = (cl_float)v;
        kr_arg(a, sizeof x, &x);
    }
}

static void kr_arg_mem(kr_args *a, cl_mem m) { kr_arg(a, sizeof m, &m); }

/* Buffer and element offset; a NULL tensor passes `stand_in`'s buffer (never accessed: the
 * kernel gets a has_* flag of 0). */
static void kr_arg_tensor(kr_args *a, const kr_tensor *t, const kr_tensor *stand_in)
{
    kr_arg_mem(a, t ? t->mem : stand_in->mem);
    kr_arg_ulong(a, t ? t->offset : stand_in->offset);
}

static void kr_arg_local(kr_args *a, size_t bytes) { kr_arg(a, bytes, NULL); }

static kr_status kr_args_check(const kr_args *a, const char *op, kr_kernel_id id)
{
    if (a->err == CL_SUCCESS) return KR_OK;
    return KR_FAIL(KR_E_OPENCL, "%s: setting argument %u of kernel %s: %s", op, (unsigned)a->bad,
                   kr_kernels_name(id), kr_cl_error_name(a->err));
}

static kr_status kr_enqueue(kr_device *dev, const kr_args *a, kr_kernel_id id, size_t global,
                            size_t local, const char *op)
{
    KR_TRY(kr_args_check(a, op, id));
    cl_int err = clEnqueueNDRangeKernel(dev->queue, a->k, 1, NULL, &global, &local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return KR_FAIL(KR_E_OPENCL, "%s: enqueueing %s (%s, global %zu, local %zu) on '%s': %s",
                       op, kr_kernels_name(id), kr_dtype_name(a->dt), global, local,
                       dev->info.name, kr_cl_error_name(err));
    return KR_OK;
}

/* Element-wise launch over `items` work-items: global rounded up to the local size. */
static kr_status kr_launch(kr_device *dev, const kr_args *a, kr_kernel_id id, size_t items,
                           const char *op)
{
    size_t local = dev->quirks.local_size, kmax = kr_kernels_max_local(dev, a->dt, id);
    if (kmax && local > kmax) local = kmax;
    if (local == 0) local = 1;
    size_t global = (items + local - 1) / local * local;
    return kr_enqueue(dev, a, id, global, local, op);
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

/* Runs a prepared first stage (its part and local arguments set for `local`) on `groups`
 * groups, then ops_reduce_finish into scal[slot .. slot + nvals). */
static kr_status kr_reduce_run(kr_device *dev, const kr_args *a, kr_kernel_id id, size_t local,
                               size_t groups, size_t nvals, kr_tensor *scal, size_t slot,
                               const char *op)
{
    KR_TRY(kr_enqueue(dev, a, id, groups * local, local, op));
    kr_args f = kr_args_begin(dev, a->dt, KR_K_REDUCE_FINISH);
    kr_arg_uint(&f, groups);
    kr_arg_uint(&f, nvals);
    kr_arg_mem(&f, dev->scratch);
    kr_arg_mem(&f, scal->mem);
    kr_arg_ulong(&f, scal->offset + slot);
    kr_arg_local(&f, local * kr_dtype_size(a->dt));
    return kr_enqueue(dev, &f, KR_K_REDUCE_FINISH, local, local, op);
}

/* ---- the operations ------------------------------------------------------------------- */

kr_status kr_op_axpby(double a, const kr_tensor *x, double b, kr_tensor *y)
{
    static const char op[] = "kr_op_axpby";
    KR_TRY(kr_ops_check_like(op, "y", y, NULL));
    KR_TRY(kr_ops_check_same(op, "x", x, y));
    size_t n = kr_tensor_numel(y);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(y)) {
        kr_host_axpby(y->dtype, n, a, kr_ptr(x), b, kr_ptr(y));
        return KR_OK;
    }
    kr_args g = kr_args_begin(y->dev, y->dtype, KR_K_AXPBY);
    kr_arg_ulong(&g, n);
    kr_arg_real(&g, a);
    kr_arg_tensor(&g, x, NULL);
    kr_arg_real(&g, b);
    kr_arg_tensor(&g, y, NULL);
    return kr_launch(y->dev, &g, KR_K_AXPBY, n, op);
}

kr_status kr_op_mul(double s, const kr_tensor *x, const kr_tensor *y, kr_tensor *z)
{
    static const char op[] = "kr_op_mul";
    KR_TRY(kr_ops_check_like(op, "z", z, NULL));
    KR_TRY(kr_ops_check_same(op, "x", x, z));
    KR_TRY(kr_ops_check_same(op, "y", y, z));
    size_t n = kr_tensor_numel(z);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(z)) {
        kr_host_mul(z->dtype, n, s, kr_ptr(x), kr_ptr(y), kr_ptr(z));
        return KR_OK;
    }
    kr_args g = kr_args_begin(z->dev, z->dtype, KR_K_MUL);
    kr_arg_ulong(&g, n);
    kr_arg_real(&g, s);
    kr_arg_tensor(&g, x, NULL);
    kr_arg_tensor(&g, y, NULL);
    kr_arg_tensor(&g, z, NULL);
    return kr_launch(z->dev, &g, KR_K_MUL, n, op);
}

kr_status kr_op_act_forward(kr_act act, double alpha, const kr_tensor *z, kr_tensor *a,
                            kr_tensor *s)
{
    static const char op[] = "kr_op_act_forward";
    if (act != KR_ACT_RELU && act != KR_ACT_SOFTPLUS)
        return KR_FAIL(KR_E_INVALID, "%s: unknown activation %d", op, (int)act);
    if (act == KR_ACT_SOFTPLUS && !(alpha > 0.0))
        return KR_FAIL(KR_E_INVALID, "%s: softplus needs alpha > 0 (got %g)", op, alpha);
    KR_TRY(kr_ops_check_like(op, "z", z, NULL));
    KR_TRY(kr_ops_check_same(op, "a", a, z));
    if (s) KR_TRY(kr_ops_check_same(op, "s", s, z));
    size_t n = kr_tensor_numel(z);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(z)) {
        kr_host_act_forward(z->dtype, n, act, alpha, kr_ptr(z), kr_ptr(a), kr_ptr(s));
        return KR_OK;
    }
    kr_args g = kr_args_begin(z->dev, z->dtype, KR_K_ACT_FORWARD);
    kr_arg_ulong(&g, n);
    kr_arg_int(&g, act == KR_ACT_SOFTPLUS ? 1 : 0);
    kr_arg_real(&g, alpha);
    kr_arg_tensor(&g, z, NULL);
    kr_arg_tensor(&g, a, NULL);
    kr_arg_int(&g, s != NULL);
    kr_arg_tensor(&g, s, a);
    return kr_launch(z->dev, &g, KR_K_ACT_FORWARD, n, op);
}

kr_status kr_op_relu_backward(const kr_tensor *z, const kr_tensor *da, kr_tensor *dz)
{
    static const char op[] = "kr_op_relu_backward";
    KR_TRY(kr_ops_check_like(op, "dz", dz, NULL));
    KR_TRY(kr_ops_check_same(op, "z", z, dz));
    KR_TRY(kr_ops_check_same(op, "da", da, dz));
    size_t n = kr_tensor_numel(dz);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(dz)) {
        kr_host_relu_backward(dz->dtype, n, kr_ptr(z), kr_ptr(da), kr_ptr(dz));
        return KR_OK;
    }
    kr_args g = kr_args_begin(dz->dev, dz->dtype, KR_K_RELU_BACKWARD);
    kr_arg_ulong(&g, n);
    kr_arg_tensor(&g, z, NULL);
    kr_arg_tensor(&g, da, NULL);
    kr_arg_tensor(&g, dz, NULL);
    return kr_launch(dz->dev, &g, KR_K_RELU_BACKWARD, n, op);
}

kr_status kr_op_sigmoid_backward(double alpha, const kr_tensor *da, const kr_tensor *ds,
                                 const kr_tensor *s, kr_tensor *dz)
{
    static const char op[] = "kr_op_sigmoid_backward";
    KR_TRY(kr_ops_check_like(op, "dz", dz, NULL));
    if (da) KR_TRY(kr_ops_check_same(op, "da", da, dz));
    KR_TRY(kr_ops_check_same(op, "ds", ds, dz));
    KR_TRY(kr_ops_check_same(op, "s", s, dz));
    size_t n = kr_tensor_numel(dz);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(dz)) {
        kr_host_sigmoid_backward(dz->dtype, n, alpha, kr_ptr(da), kr_ptr(ds), kr_ptr(s),
                                 kr_ptr(dz));
        return KR_OK;
    }
    kr_args g = kr_args_begin(dz->dev, dz->dtype, KR_K_SIGMOID_BACKWARD);
    kr_arg_ulong(&g, n);
    kr_arg_real(&g, alpha);
    kr_arg_int(&g, da != NULL);
    kr_arg_tensor(&g, da, ds);
    kr_arg_tensor(&g, ds, NULL);
    kr_arg_tensor(&g, s, NULL);
    kr_arg_tensor(&g, dz, NULL);
    return kr_launch(dz->dev, &g, KR_K_SIGMOID_BACKWARD, n, op);
}

kr_status kr_op_add_row(double s, const kr_tensor *b, kr_tensor *z)
{
    static const char op[] = "kr_op_add_row";
    KR_TRY(kr_ops_check_like(op, "z", z, NULL));
    KR_TRY(kr_ops_check_like(op, "b", b, z));
    KR_TRY(kr_ops_check_shape(op, "b", b, 1, z->cols));
    size_t n = kr_tensor_numel(z);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(z)) {
        kr_host_add_row(z->dtype, z->rows, z->cols, s, kr_ptr(b), kr_ptr(z));
        return KR_OK;
    }
    kr_args g = kr_args_begin(z->dev, z->dtype, KR_K_ADD_ROW);
    kr_arg_ulong(&g, z->rows);
    kr_arg_ulong(&g, z->cols);
    kr_arg_real(&g, s);
    kr_arg_tensor(&g, b, NULL);
    kr_arg_tensor(&g, z, NULL);
    return kr_launch(z->dev, &g, KR_K_ADD_ROW, n, op);
}

kr_status kr_op_col_sum(double a, const kr_tensor *x, double b, kr_tensor *out)
{
    static const char op[] = "kr_op_col_sum";
    KR_TRY(kr_ops_check_like(op, "x", x, NULL));
    KR_TRY(kr_ops_check_like(op, "out", out, x));
    KR_TRY(kr_ops_check_shape(op, "out", out, 1, x->cols));
    if (x->cols == 0) return KR_OK;
    if (!kr_is_cl(x)) {
        kr_host_col_sum(x->dtype, x->rows, x->cols, a, kr_ptr(x), b, kr_ptr(out));
        return KR_OK;
    }
    kr_args g = kr_args_begin(x->dev, x->dtype, KR_K_COL_SUM);
    kr_arg_ulong(&g, x->rows);
    kr_arg_ulong(&g, x->cols);
    kr_arg_real(&g, a);
    kr_arg_tensor(&g, x->rows ? x : out, NULL); /* x owns no buffer when it has no rows */
    kr_arg_real(&g, b);
    kr_arg_tensor(&g, out, NULL);
    return kr_launch(x->dev, &g, KR_K_COL_SUM, x->cols, op);
}

/* scal[slot .. slot + nvals) = 0, for reductions over nothing. */
static kr_status kr_ops_zero_slots(kr_tensor *scal, size_t slot, size_t nvals)
{
    kr_tensor v = *scal;
    v.rows = 1;
    v.cols = nvals;
    v.ld = nvals;
    v.offset = scal->offset + slot;
    v.owner = false;
    return kr_tensor_fill(&v, 0.0);
}

kr_status kr_op_sum_sq(const kr_tensor *x, kr_tensor *scal, size_t slot)
{
    static const char op[] = "kr_op_sum_sq";
    KR_TRY(kr_ops_check_like(op, "x", x, NULL));
    KR_TRY(kr_ops_check_scal(op, scal, x, slot, 1));
    size_t n = kr_tensor_numel(x);
    if (n == 0) return kr_ops_zero_slots(scal, slot, 1);
    if (!kr_is_cl(x)) {
        kr_ops_host_store(scal, slot, kr_host_sum_sq(x->dtype, n, kr_ptr(x)));
        return KR_OK;
    }
    kr_device *dev = x->dev;
    size_t local, groups;
    kr_reduce_shape(dev, x->dtype, KR_K_SUM_SQ, n, &local, &groups);
    kr_args g = kr_args_begin(dev, x->dtype, KR_K_SUM_SQ);
    kr_arg_ulong(&g, n);
    kr_arg_tensor(&g, x, NULL);
    kr_arg_mem(&g, dev->scratch);
    kr_arg_local(&g, local * kr_dtype_size(x->dtype));
    return kr_reduce_run(dev, &g, KR_K_SUM_SQ, local, groups, 1, scal, slot, op);
}

kr_status kr_op_hinge_sq(const kr_tensor *x, double lo, double hi, double w, kr_tensor *g,
                         kr_tensor *scal, size_t slot)
{
    static const char op[] = "kr_op_hinge_sq";
    KR_TRY(kr_ops_check_like(op, "x", x, NULL));
    if (g) KR_TRY(kr_ops_check_same(op, "g", g, x));
    KR_TRY(kr_ops_check_scal(op, scal, x, slot, 1));
    size_t n = kr_tensor_numel(x);
    if (n == 0) return kr_ops_zero_slots(scal, slot, 1);
    if (!kr_is_cl(x)) {
        double v = kr_host_hinge_sq(x->dtype, n, kr_ptr(x), lo, hi, w, kr_ptr(g));
        kr_ops_host_store(scal, slot, v);
        return KR_OK;
    }
    kr_device *dev = x->dev;
    size_t local, groups;
    kr_reduce_shape(dev, x->dtype, KR_K_HINGE_SQ, n, &local, &groups);
    kr_args a = kr_args_begin(dev, x->dtype, KR_K_HINGE_SQ);
    kr_arg_ulong(&a, n);
    kr_arg_tensor(&a, x, NULL);
    kr_arg_real(&a, lo);
    kr_arg_real(&a, hi);
    kr_arg_real(&a, w);
    kr_arg_int(&a, g != NULL);
    kr_arg_tensor(&a, g, x);
    kr_arg_mem(&a, dev->scratch);
    kr_arg_local(&a, local * kr_dtype_size(x->dtype));
    return kr_reduce_run(dev, &a, KR_K_HINGE_SQ, local, groups, 1, scal, slot, op);
}

kr_status kr_op_logistic(double s, const kr_tensor *phi, const kr_tensor *y, kr_tensor *dphi,
                         kr_tensor *scal, size_t slot)
{
    static const char op[] = "kr_op_logistic";
    KR_TRY(kr_ops_check_like(op, "phi", phi, NULL));
    KR_TRY(kr_ops_check_shape(op, "phi", phi, phi->rows, 1));
    KR_TRY(kr_ops_check_same(op, "y", y, phi));
    KR_TRY(kr_ops_check_same(op, "dphi", dphi, phi));
    KR_TRY(kr_ops_check_scal(op, scal, phi, slot, 2));
    size_t n = kr_tensor_numel(phi);
    if (n == 0) return kr_ops_zero_slots(scal, slot, 2);
    if (!kr_is_cl(phi)) {
        double loss = 0.0, errors = 0.0;
        kr_host_logistic(phi->dtype, n, s, kr_ptr(phi), kr_ptr(y), kr_ptr(dphi), &loss, &errors);
        kr_ops_host_store(scal, slot, loss);
        kr_ops_host_store(scal, slot + 1, errors);
        return KR_OK;
    }
    kr_device *dev = phi->dev;
    size_t local, groups;
    kr_reduce_shape(dev, phi->dtype, KR_K_LOGISTIC, n, &local, &groups);
    size_t es = kr_dtype_size(phi->dtype);
    kr_args a = kr_args_begin(dev, phi->dtype, KR_K_LOGISTIC);
    kr_arg_ulong(&a, n);
    kr_arg_real(&a, s);
    kr_arg_tensor(&a, phi, NULL);
    kr_arg_tensor(&a, y, NULL);
    kr_arg_tensor(&a, dphi, NULL);
    kr_arg_mem(&a, dev->scratch);
    kr_arg_local(&a, local * es);
    kr_arg_local(&a, local * es);
    return kr_reduce_run(dev, &a, KR_K_LOGISTIC, local, groups, 2, scal, slot, op);
}

kr_status kr_op_sgd(double lr, double momentum, bool first, kr_tensor *p, const kr_tensor *g,
                    kr_tensor *buf)
{
    static const char op[] = "kr_op_sgd";
    KR_TRY(kr_ops_check_like(op, "p", p, NULL));
    KR_TRY(kr_ops_check_same(op, "g", g, p));
    if (buf) KR_TRY(kr_ops_check_same(op, "buf", buf, p));
    if (!buf && momentum != 0.0)
        return KR_FAIL(KR_E_INVALID, "%s: momentum %g needs a buffer for '%s'", op, momentum,
                       kr_oname(p));
    size_t n = kr_tensor_numel(p);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(p)) {
        kr_host_sgd(p->dtype, n, lr, momentum, first, kr_ptr(p), kr_ptr(g), kr_ptr(buf));
        return KR_OK;
    }
    kr_args a = kr_args_begin(p->dev, p->dtype, KR_K_SGD);
    kr_arg_ulong(&a, n);
    kr_arg_real(&a, lr);
    kr_arg_real(&a, momentum);
    kr_arg_int(&a, first ? 1 : 0);
    kr_arg_int(&a, buf != NULL);
    kr_arg_tensor(&a, p, NULL);
    kr_arg_tensor(&a, g, NULL);
    kr_arg_tensor(&a, buf, p);
    return kr_launch(p->dev, &a, KR_K_SGD, n, op);
}

kr_status kr_op_adam(double lr, double b1, double b2, double eps, long t, kr_tensor *p,
                     const kr_tensor *g, kr_tensor *m, kr_tensor *v)
{
    static const char op[] = "kr_op_adam";
    if (t < 1) return KR_FAIL(KR_E_INVALID, "%s: step t = %ld, must be >= 1", op, t);
    KR_TRY(kr_ops_check_like(op, "p", p, NULL));
    KR_TRY(kr_ops_check_same(op, "g", g, p));
    KR_TRY(kr_ops_check_same(op, "m", m, p));
    KR_TRY(kr_ops_check_same(op, "v", v, p));
    size_t n = kr_tensor_numel(p);
    if (n == 0) return KR_OK;
    if (!kr_is_cl(p)) {
        kr_host_adam(p->dtype, n, lr, b1, b2, eps, t, kr_ptr(p), kr_ptr(g), kr_ptr(m), kr_ptr(v));
        return KR_OK;
    }
    /* Bias corrections in float64 on the host: b^t for large t underflows gracefully to 0. */
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    kr_args a = kr_args_begin(p->dev, p->dtype, KR_K_ADAM);
    kr_arg_ulong(&a, n);
    kr_arg_real(&a, lr);
    kr_arg_real(&a, b1);
    kr_arg_real(&a, b2);
    kr_arg_real(&a, eps);
    kr_arg_real(&a, bc1);
    kr_arg_real(&a, bc2);
    kr_arg_tensor(&a, p, NULL);
    kr_arg_tensor(&a, g, NULL);
    kr_arg_tensor(&a, m, NULL);
    kr_arg_tensor(&a, v, NULL);
    return kr_launch(p->dev, &a, KR_K_ADAM, n, op);
}
