/* ops.cl - the kernel `ops_NAME` of every op of src/device/ops.def (the list of ops).
 *
 * Built twice by src/device/kernels.c: with -DREAL=float, and with -DREAL=double -DKR_FP64=1
 * on devices that have cl_khr_fp64. OpenCL C 1.2, no fast-math (NaN/Inf must propagate).
 * Arguments follow the op's entry in ops.def, generated on the host side by gen_ops.py:
 * first `ulong n` (kinds map, reduce) or `ulong rows, ulong cols` (kinds rows, cols), then the
 * items in order: REAL for real, int for int/bool/act, buffer + ulong element offset for a
 * tensor (tensors are views into shared buffers), preceded by `int has_T` if it is optional;
 * a reduction ends with its partials buffer, an element offset into it (its region) and one
 * __local buffer per value. Element-wise
 * kernels bounds-check, because the host rounds the global size up to the local size.
 * Host loops with the same math: src/device/ops_host_impl.inc. Math: DESIGN.md sec. 2
 * (training) and 3.1 (KKT attack); the formulas are in ops.def next to each op.
 *
 * Reductions are two-stage: the first kernel runs a fixed number of groups, each work-item
 * sums a grid-strided slice of the input (Kahan-compensated), the group folds its values in a
 * local-memory tree and writes one partial per group into part[pto + v * ngroups + group]
 * (pto: the reduction's region of the scratch buffer); ops_reduce_finish folds the partials of
 * one or several reductions (one group each) and writes their scal slots (ops.c defers it).
 * A segmented first stage (kr_op_NAME_seg; `ulong segn` after n) reduces the n / segn segments
 * of segn consecutive elements each on its own: an equal share of the groups per segment, and
 * segment s's partials in the region KR_REDUCE_REGION after segment s - 1's (kr_seg_of), so one
 * launch does the per-point sums of P stacked points. A plain reduction is one segment.
 * Work-group sizes of reductions are powers of two (the host guarantees it).
 *
 * Not here: GEMMs (CLBlast), copies and fills (clEnqueueCopyBuffer/FillBuffer in tensor.c).
 */
#ifdef KR_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef REAL
#error "build with -DREAL=float or -DREAL=double"
#endif

/* sigmoid(t) without overflow: exp only ever sees a non-positive argument. */
static REAL kr_sigmoid(REAL t)
{
    if (t >= (REAL)0) return (REAL)1 / ((REAL)1 + exp(-t));
    REAL e = exp(t);
    return e / ((REAL)1 + e);
}

/* log(1 + e^t) without overflow: max(t, 0) + log1p(e^{-|t|}). NaN propagates. */
static REAL kr_softplus(REAL t)
{
    REAL pos = t > (REAL)0 ? t : (REAL)0;
    return pos + log1p(exp(-fabs(t)));
}

/* Kahan-compensated accumulation of one term. */
static void kr_kahan_add(REAL *sum, REAL *comp, REAL term)
{
    REAL y = term - *comp;
    REAL t = *sum + y;
    *comp = (t - *sum) - y;
    *sum = t;
}

/* In-place tree sum of buf[0..L) (L = get_local_size(0), a power of two); result in buf[0]
 * for every work-item after return. */
static void kr_tree_sum(__local REAL *buf)
{
    size_t lid = get_local_id(0);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

#ifndef KR_REDUCE_REGION
#error "build with -DKR_REDUCE_REGION=<partials per reduction region> (kernels.c)"
#endif

/* A work-item's share of a (segmented) first stage: elements first, first + stride, ... below
 * end, and where its group's partial of value v goes: part[at + v * groups], groups being the
 * segment's group count. */
typedef struct kr_seg {
    size_t first, end, stride, at, groups;
} kr_seg;

static kr_seg kr_seg_of(ulong n, ulong segn, ulong pto)
{
    const size_t gps = get_num_groups(0) / (size_t)(n / segn), g = get_group_id(0);
    const size_t s = g / gps, gi = g - s * gps, l = get_local_size(0);
    kr_seg r = {s * segn + gi * l + get_local_id(0), (s + 1) * segn, gps * l,
                pto + s * (size_t)KR_REDUCE_REGION + gi, gps};
    return r;
}

/* The end of a one-value first stage: the group's sum of a to its partial. */
static void kr_store_partial(REAL a, __local REAL *buf, __global REAL *part, kr_seg sg)
{
    buf[get_local_id(0)] = a;
    kr_tree_sum(buf);
    if (get_local_id(0) == 0) part[sg.at] = buf[0];
}

/* The end of a two-value first stage (the losses: loss and error count): the group's sums of
 * a and of b to its partials of values 0 and 1. */
static void kr_store_two_partials(REAL a, REAL b, __local REAL *buf, __local REAL *buf2,
                                  __global REAL *part, kr_seg sg)
{
    size_t lid = get_local_id(0);
    buf[lid] = a;
    buf2[lid] = b;
    kr_tree_sum(buf);
    kr_tree_sum(buf2);
    if (lid == 0) {
        part[sg.at] = buf[0];
        part[sg.at + sg.groups] = buf2[0];
    }
}

/* y = a*x + b*y; b == 0 ignores y's old contents (NaN there does not propagate). */
__kernel void ops_axpby(ulong n, REAL a, __global const REAL *x, ulong xo, REAL b,
                        __global REAL *y, ulong yo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    REAL r = a * x[xo + i];
    if (b != (REAL)0) r += b * y[yo + i];
    y[yo + i] = r;
}

/* z = s * x .* y. */
__kernel void ops_fill(ulong n, REAL v, __global REAL *y, ulong yo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    y[yo + i] = v;
}

__kernel void ops_mul(ulong n, REAL s, __global const REAL *x, ulong xo, __global const REAL *y,
                      ulong yo, __global REAL *z, ulong zo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    z[zo + i] = s * x[xo + i] * y[yo + i];
}

/* The element of every act_forward kernel: a[ai] = act(u) (act 0: relu, 1:
 * softplus_alpha(u) = log(1 + e^(alpha u))/alpha) and, if has_s, s[si] = sigmoid(alpha u).
 * relu is written u < 0 ? 0 : u so that NaN propagates. */
static void kr_act_store(int act, REAL alpha, REAL u, __global REAL *a, size_t ai, int has_s,
                         __global REAL *s, size_t si)
{
    REAL t = alpha * u;
    if (has_s) s[si] = kr_sigmoid(t);
    a[ai] = act == 1 ? kr_softplus(t) / alpha : (u < (REAL)0 ? (REAL)0 : u);
}

/* a = act(z) (act 0: relu, 1: softplus_alpha(z) = log(1 + e^(alpha z))/alpha);
 * if has_s: s = sigmoid(alpha z).
 * relu is written z < 0 ? 0 : z so that NaN propagates. */
__kernel void ops_act_forward(ulong n, int act, REAL alpha, __global const REAL *z, ulong zo,
                              __global REAL *a, ulong ao, int has_s, __global REAL *s, ulong so)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    REAL zi = z[zo + i];
    kr_act_store(act, alpha, zi, a, ao + i, has_s, s, so + i);
}

/* act_forward of u = z + b (b: 1 x cols, added to every row). */
__kernel void ops_bias_act_forward(ulong rows, ulong cols, int act, REAL alpha,
                                   __global const REAL *b, ulong bo, __global const REAL *z,
                                   ulong zo, __global REAL *a, ulong ao, int has_s,
                                   __global REAL *s, ulong so)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    kr_act_store(act, alpha, z[zo + i] + b[bo + i % cols], a, ao + i, has_s, s, so + i);
}

/* dz = dA .* [z > 0]. */
__kernel void ops_relu_backward(ulong n, __global const REAL *z, ulong zo,
                                __global const REAL *da, ulong dao, __global REAL *dz, ulong dzo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    dz[dzo + i] = z[zo + i] > (REAL)0 ? da[dao + i] : (REAL)0;
}

/* dz = dA .* s + dS .* alpha s (1 - s)   (DESIGN sec. 3.1 step 3; has_da == 0: dA = 0). */
__kernel void ops_sigmoid_backward(ulong n, REAL alpha, int has_da, __global const REAL *da,
                                   ulong dao, __global const REAL *ds, ulong dso,
                                   __global const REAL *s, ulong so, __global REAL *dz, ulong dzo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    REAL si = s[so + i];
    REAL r = ds[dso + i] * alpha * si * ((REAL)1 - si);
    if (has_da) r += da[dao + i] * si;
    dz[dzo + i] = r;
}

/* act_forward with one alpha per row (alpha: rows x 1). */
__kernel void ops_act_forward_rows(ulong rows, ulong cols, int act, __global const REAL *al,
                                   ulong alo, __global const REAL *z, ulong zo,
                                   __global REAL *a, ulong ao, int has_s, __global REAL *s,
                                   ulong so)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    REAL alpha = al[alo + i / cols];
    REAL zi = z[zo + i];
    kr_act_store(act, alpha, zi, a, ao + i, has_s, s, so + i);
}

/* sigmoid_backward with one alpha per row (alpha: rows x 1). */
__kernel void ops_sigmoid_backward_rows(ulong rows, ulong cols, __global const REAL *al,
                                        ulong alo, int has_da, __global const REAL *da,
                                        ulong dao, __global const REAL *ds, ulong dso,
                                        __global const REAL *s, ulong so, __global REAL *dz,
                                        ulong dzo)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    REAL alpha = al[alo + i / cols];
    REAL si = s[so + i];
    REAL r = ds[dso + i] * alpha * si * ((REAL)1 - si);
    if (has_da) r += da[dao + i] * si;
    dz[dzo + i] = r;
}

/* z[i, :] += s * b[0, :]   (z is rows x cols contiguous, b is 1 x cols). */
__kernel void ops_add_row(ulong rows, ulong cols, REAL s, __global const REAL *b, ulong bo,
                          __global REAL *z, ulong zo)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    z[zo + i] += s * b[bo + i % cols];
}

/* Multiclass KKT signs: +1 at the class c = cls[r], -1 at the runner-up (argmax over the
 * other columns, ties to the lowest index), 0 elsewhere; each work-item scans its row. */
__kernel void ops_class_sign(ulong rows, ulong cols, __global const REAL *cls, ulong co,
                             __global const REAL *phi, ulong po, __global REAL *s, ulong so)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    /* j from r by a product, not i % cols: LLVM turns a div/rem pair into a `freeze`, an
     * instruction oclgrind's uninitialised-value checker cannot run. */
    size_t r = i / cols, j = i - r * cols;
    size_t c = (size_t)cls[co + r];
    __global const REAL *pr = phi + po + r * cols;
    size_t js = c == 0 ? 1 : 0;
    for (size_t q = js + 1; q < cols; q++)
        if (q != c && pr[q] > pr[js]) js = q;
    s[so + i] = j == c ? (REAL)1 : j == js ? (REAL)-1 : (REAL)0;
}

/* z[r, j] = a c[r] x[r, j]. */
__kernel void ops_scale_rows(ulong rows, ulong cols, REAL a, __global const REAL *c, ulong co,
                             __global const REAL *x, ulong xo, __global REAL *z, ulong zo)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    z[zo + i] = a * c[co + i / cols] * x[xo + i];
}

/* d = dd (+ b[0, :] if has_b);  t = d .* t;  dd = d .* s. */
__kernel void ops_dual_mul(ulong rows, ulong cols, int has_b, __global const REAL *b, ulong bo,
                           __global REAL *dd, ulong ddo, __global REAL *t, ulong to,
                           __global const REAL *s, ulong so)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    REAL d = dd[ddo + i];
    if (has_b) d += b[bo + i % cols];
    t[to + i] = d * t[to + i];
    dd[ddo + i] = d * s[so + i];
}

/* The end of a column of bias_delta and out_residual: e_j = 2 colsum - 2 w_j, stored, and
 * e_j^2 added to the work-item's (Kahan) sum. */
static void kr_residual_col(REAL colsum, REAL wj, __global REAL *ej, REAL *sum, REAL *comp)
{
    const REAL e = (REAL)2 * colsum - (REAL)2 * wj;
    *ej = e;
    kr_kahan_add(sum, comp, e * e);
}

/* delta_1 = t s and the first layer's bias residual e = 2 colsum(delta_1) - 2 b, sum e^2
 * (ops.def, kind colreduce): one work-item per column j, looping over the rows. */
__kernel void ops_bias_delta(ulong rows, ulong cols, __global const REAL *t, ulong to,
                             __global const REAL *s, ulong so, __global const REAL *b, ulong bo,
                             __global REAL *d, ulong dof, __global REAL *e, ulong eo,
                             __global REAL *part, ulong pto, __local REAL *buf)
{
    const kr_seg sg = kr_seg_of(cols, cols, pto);
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t j = sg.first; j < sg.end; j += sg.stride) {
        REAL cs = (REAL)0, cc = (REAL)0;
        for (size_t i = 0; i < rows; i++) {
            const REAL v = t[to + i * cols + j] * s[so + i * cols + j];
            d[dof + i * cols + j] = v;
            kr_kahan_add(&cs, &cc, v);
        }
        kr_residual_col(cs, b[bo + j], &e[eo + j], &sum, &comp);
    }
    kr_store_partial(sum, buf, part, sg);
}

/* The output layer's residual of a one-output model, e = 2 c^T a - 2 w, and sum e^2 (kind
 * colreduce): one work-item per column j, looping over the rows. */
__kernel void ops_out_residual(ulong rows, ulong cols, __global const REAL *c, ulong co,
                               __global const REAL *a, ulong ao, __global const REAL *w,
                               ulong wo, __global REAL *e, ulong eo, __global REAL *part,
                               ulong pto, __local REAL *buf)
{
    const kr_seg sg = kr_seg_of(cols, cols, pto);
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t j = sg.first; j < sg.end; j += sg.stride) {
        REAL cs = (REAL)0, cc = (REAL)0;
        for (size_t i = 0; i < rows; i++)
            kr_kahan_add(&cs, &cc, c[co + i] * a[ao + i * cols + j]);
        kr_residual_col(cs, w[wo + j], &e[eo + j], &sum, &comp);
    }
    kr_store_partial(sum, buf, part, sg);
}

/* sgd on x and lambda in one pass (ops.def): one work-group per row i; its items stride
 * through row i of x, item 0 updates lambda_i. */
__kernel void ops_sgd_pair(ulong rows, ulong cols, REAL lr_x, REAL lr_l, REAL momentum,
                           int first, __global REAL *x, ulong xo, __global const REAL *gx,
                           ulong gxo, __global REAL *bx, ulong bxo, __global REAL *lam,
                           ulong lamo, __global const REAL *glam, ulong glamo,
                           __global REAL *blam, ulong blamo, __local REAL *buf)
{
    const size_t i = get_group_id(0), lid = get_local_id(0), o = i * cols;
    (void)buf;
    for (size_t j = lid; j < cols; j += get_local_size(0)) {
        const REAL g = gx[gxo + o + j];
        const REAL bj = first ? g : momentum * bx[bxo + o + j] + g;
        bx[bxo + o + j] = bj;
        x[xo + o + j] -= lr_x * bj;
    }
    if (lid == 0) {
        const REAL g = glam[glamo + i];
        const REAL bl = first ? g : momentum * blam[blamo + i] + g;
        blam[blamo + i] = bl;
        lam[lamo + i] -= lr_l * bl;
    }
}

/* The first backward step into the last hidden layer (ops.def): one work-group per row i;
 * c[i] = ym lam_i y_i, t = c w, d = t s. (The __local buffer of the kind is not needed.) */
__kernel void ops_first_backward(ulong rows, ulong cols, REAL ym, __global const REAL *lam,
                                 ulong lo, __global const REAL *y, ulong yo,
                                 __global const REAL *w, ulong wo, __global const REAL *s,
                                 ulong so, __global REAL *c, ulong co, __global REAL *t, ulong to,
                                 __global REAL *d, ulong dof, __local REAL *buf)
{
    const size_t i = get_group_id(0), lid = get_local_id(0), o = i * cols;
    const REAL ci = ym * lam[lo + i] * y[yo + i];
    (void)buf;
    if (lid == 0) c[co + i] = ci;
    for (size_t j = lid; j < cols; j += get_local_size(0)) {
        const REAL tij = ci * w[wo + j];
        t[to + o + j] = tij;
        d[dof + o + j] = tij * s[so + o + j];
    }
}

/* The reverse pass through the last hidden layer of a one-output model (ops.def): one
 * work-group per row i; its items stride through the row, writing dz and summing
 * A e + d S w, which the group folds into g[i]. */
__kernel void ops_last_reverse(ulong rows, ulong cols, REAL alpha, REAL ym,
                               __global const REAL *c, ulong co, __global const REAL *y, ulong yo,
                               int has_b, __global const REAL *b, ulong bo,
                               __global const REAL *dd, ulong ddo, __global const REAL *t,
                               ulong to, __global const REAL *s, ulong so,
                               __global const REAL *a, ulong ao, __global const REAL *e, ulong eo,
                               __global const REAL *w, ulong wo, __global REAL *dz, ulong dzo,
                               __global REAL *g, ulong go, __local REAL *buf)
{
    const size_t i = get_group_id(0), lid = get_local_id(0), o = i * cols;
    const REAL ci = c[co + i];
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t j = lid; j < cols; j += get_local_size(0)) {
        const REAL d = has_b ? dd[ddo + o + j] + b[bo + j] : dd[ddo + o + j];
        const REAL sj = s[so + o + j];
        dz[dzo + o + j] = ci * e[eo + j] * sj + d * t[to + o + j] * (alpha * sj * ((REAL)1 - sj));
        kr_kahan_add(&sum, &comp, a[ao + o + j] * e[eo + j] + d * sj * w[wo + j]);
    }
    buf[lid] = sum;
    kr_tree_sum(buf);
    if (lid == 0) g[go + i] = ym * y[yo + i] * buf[0];
}

/* out[0, j] = a * sum_i x[i, j] + b * out[0, j]; one work-item per column (coalesced rows);
 * b == 0 ignores out's old contents. */
__kernel void ops_col_sum(ulong rows, ulong cols, REAL a, __global const REAL *x, ulong xo,
                          REAL b, __global REAL *out, ulong oo)
{
    size_t j = get_global_id(0);
    if (j >= cols) return;
    REAL sum = (REAL)0, comp = (REAL)0;
    for (ulong i = 0; i < rows; i++) kr_kahan_add(&sum, &comp, x[xo + i * cols + j]);
    REAL r = a * sum;
    if (b != (REAL)0) r += b * out[oo + j];
    out[oo + j] = r;
}

/* Stage 1 of scal = sum x^2. */
__kernel void ops_sum_sq(ulong n, ulong segn, __global const REAL *x, ulong xo, __global REAL *part,
                         ulong pto, __local REAL *buf)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL v = x[xo + i];
        kr_kahan_add(&sum, &comp, v * v);
    }
    kr_store_partial(sum, buf, part, sg);
}

/* Stage 1 of y = a*x + b*y, scal = sum y^2 (of the new y). */
__kernel void ops_axpby_sum_sq(ulong n, ulong segn, REAL a, __global const REAL *x, ulong xo,
                               REAL b, __global REAL *y, ulong yo, __global REAL *part,
                               ulong pto, __local REAL *buf)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL r = a * x[xo + i] + b * y[yo + i];
        y[yo + i] = r;
        kr_kahan_add(&sum, &comp, r * r);
    }
    kr_store_partial(sum, buf, part, sg);
}

/* The two sides of the box hinge at x: below = relu(lo - x), above = relu(x - hi); a NaN x
 * comes out as below = NaN, so that it reaches the loss. */
static void kr_box_hinge(REAL xi, REAL lo, REAL hi, REAL *below, REAL *above)
{
    REAL b = lo - xi, a = xi - hi;
    *below = xi != xi ? xi : b > (REAL)0 ? b : (REAL)0;
    *above = a > (REAL)0 ? a : (REAL)0;
}

/* Stage 1 of the squared-hinge prior:
 *   scal = w sum [relu(lo - x)^2 + relu(x - hi)^2];  g += w (2 relu(x - hi) - 2 relu(lo - x)).
 * hi = +INFINITY (or lo = -INFINITY) switches that side off. */
__kernel void ops_hinge_sq(ulong n, ulong segn, __global const REAL *x, ulong xo, REAL lo,
                           REAL hi, REAL w, int has_g, __global REAL *g, ulong go,
                           __global REAL *part, ulong pto, __local REAL *buf)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL sum = (REAL)0, comp = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL xi = x[xo + i], below, above;
        kr_box_hinge(xi, lo, hi, &below, &above);
        kr_kahan_add(&sum, &comp, below * below + above * above);
        if (has_g) g[go + i] += w * ((REAL)2 * above - (REAL)2 * below);
    }
    kr_store_partial(w * sum, buf, part, sg);
}

/* Stage 1 of the box prior and sum x^2 in one pass (hinge_sq and sum_sq; values 0 and 1). */
__kernel void ops_box_prior(ulong n, ulong segn, __global const REAL *x, ulong xo, REAL lo,
                            REAL hi, REAL w, int has_g, __global REAL *g, ulong go,
                            __global REAL *part, ulong pto, __local REAL *buf,
                            __local REAL *buf2)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL sum = (REAL)0, comp = (REAL)0, sq = (REAL)0, comp2 = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL xi = x[xo + i], below, above;
        kr_box_hinge(xi, lo, hi, &below, &above);
        kr_kahan_add(&sum, &comp, below * below + above * above);
        kr_kahan_add(&sq, &comp2, xi * xi);
        if (has_g) g[go + i] += w * ((REAL)2 * above - (REAL)2 * below);
    }
    kr_store_two_partials(w * sum, sq, buf, buf2, part, sg);
}

/* Stage 1 of the logistic loss (phi, y: n x 1, y = +-1), t = y phi:
 *   part value 0: sum log(1 + e^(-t));  part value 1: #{t <= 0};
 *   dphi = s * (-y sigmoid(-t)). */
__kernel void ops_logistic(ulong n, ulong segn, REAL s, __global const REAL *phi, ulong po,
                           __global const REAL *y, ulong yo, __global REAL *dphi, ulong dpo,
                           __global REAL *part, ulong pto, __local REAL *buf,
                           __local REAL *buf2)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL loss = (REAL)0, comp = (REAL)0, errors = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL yi = y[yo + i], t = yi * phi[po + i];
        kr_kahan_add(&loss, &comp, kr_softplus(-t));
        errors += t <= (REAL)0 ? (REAL)1 : (REAL)0;
        dphi[dpo + i] = s * (-yi * kr_sigmoid(-t));
    }
    kr_store_two_partials(loss, errors, buf, buf2, part, sg);
}

/* Stage 1 of the softmax cross-entropy (phi, y: rows x C one-hot, n = rows * C elements);
 * every element scans its row for the max and the log-sum-exp:
 *   part value 0: sum y (lse - phi);  part value 1: #{y > 0, phi <= max of the others};
 *   dphi = s * (softmax * sum_row(y) - y). */
__kernel void ops_xent(ulong n, ulong segn, REAL s, REAL classes, __global const REAL *phi,
                       ulong po, __global const REAL *y, ulong yo, __global REAL *dphi, ulong dpo,
                       __global REAL *part, ulong pto, __local REAL *buf, __local REAL *buf2)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    const size_t C = (size_t)classes;
    REAL loss = (REAL)0, comp = (REAL)0, errors = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        size_t r0 = (i / C) * C, j = i - r0; /* no div/rem pair (see ops_class_sign) */
        __global const REAL *pr = phi + po + r0;
        __global const REAL *yr = y + yo + r0;
        size_t km = 0; /* the first largest output */
        for (size_t k = 1; k < C; k++) km = pr[k] > pr[km] ? k : km;
        REAL mx = pr[km], other = -INFINITY, so = (REAL)0, ysum = (REAL)0;
        for (size_t k = 0; k < C; k++) {
            if (k != km) so += exp(pr[k] - mx);
            ysum += yr[k];
            if (k != j && pr[k] > other) other = pr[k];
        }
        /* logsumexp - phi_j = (max - phi_j) + log1p(so): no cancellation at the max */
        REAL se = (REAL)1 + so, yj = yr[j];
        if (yj != (REAL)0) kr_kahan_add(&loss, &comp, yj * ((mx - pr[j]) + log1p(so)));
        errors += yj > (REAL)0 && !(pr[j] > other) ? (REAL)1 : (REAL)0;
        /* at the max: ((sum y - y) - y so) / se, no cancellation of ~1 - 1 */
        dphi[dpo + i] = s * (j == km ? ((ysum - yj) - yj * so) / se
                                     : exp(pr[j] - mx) / se * ysum - yj);
    }
    kr_store_two_partials(loss, errors, buf, buf2, part, sg);
}

/* Stage 1 of the regression losses (MSE, or Huber with delta 1), r = phi - y:
 *   part value 0: sum of the loss;  part value 1: #{y phi <= 0};  dphi = s * dloss/dphi. */
__kernel void ops_regress(ulong n, ulong segn, int huber, REAL s, __global const REAL *phi,
                          ulong po, __global const REAL *y, ulong yo, __global REAL *dphi,
                          ulong dpo, __global REAL *part, ulong pto, __local REAL *buf,
                          __local REAL *buf2)
{
    const kr_seg sg = kr_seg_of(n, segn, pto);
    REAL loss = (REAL)0, comp = (REAL)0, errors = (REAL)0;
    for (size_t i = sg.first; i < sg.end; i += sg.stride) {
        REAL p = phi[po + i], t = y[yo + i], r = p - t, ar = fabs(r);
        if (!huber) {
            kr_kahan_add(&loss, &comp, r * r);
            dphi[dpo + i] = s * (REAL)2 * r;
        } else if (ar <= (REAL)1) {
            kr_kahan_add(&loss, &comp, (REAL)0.5 * r * r);
            dphi[dpo + i] = s * r;
        } else {
            kr_kahan_add(&loss, &comp, ar - (REAL)0.5);
            dphi[dpo + i] = r > (REAL)0 ? s : -s;
        }
        errors += t * p <= (REAL)0 ? (REAL)1 : (REAL)0;
    }
    kr_store_two_partials(loss, errors, buf, buf2, part, sg);
}

/* Stage 2 of up to 16 reductions at once: work-group e finishes entry e < get_num_groups(0),
 * whose first stage wrote ng = shape[e] & 0xffff partials per value into
 * part[e * region + v * ng + g]; it writes scal[dst[e] + v] for v < shape[e] >> 16. The local
 * size is a power of two >= every ng. */
__kernel void ops_reduce_finish(uint16 shape, ulong16 dst, uint region,
                                __global const REAL *part, __global REAL *scal,
                                __local REAL *buf)
{
    uint shapes[16];
    ulong dsts[16];
    vstore16(shape, 0, shapes);
    vstore16(dst, 0, dsts);
    size_t lid = get_local_id(0), e = get_group_id(0);
    uint ng = shapes[e] & 0xffffu, nvals = shapes[e] >> 16;
    __global const REAL *pe = part + e * region;
    for (uint v = 0; v < nvals; v++) {
        buf[lid] = lid < ng ? pe[v * ng + lid] : (REAL)0;
        kr_tree_sum(buf);
        if (lid == 0) scal[dsts[e] + v] = buf[0];
        barrier(CLK_LOCAL_MEM_FENCE); /* buf[0] read before the next value overwrites it */
    }
}

/* PyTorch SGD (dampening 0, no Nesterov): buf = first ? g : momentum*buf + g; p -= lr*buf.
 * has_buf == 0: p -= lr*g. */
__kernel void ops_sgd(ulong n, REAL lr, REAL momentum, int first, __global REAL *p, ulong po,
                      __global const REAL *g, ulong go, int has_buf, __global REAL *buf, ulong bo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    REAL d = g[go + i];
    if (has_buf) {
        if (!first) d += momentum * buf[bo + i];
        buf[bo + i] = d;
    }
    p[po + i] -= lr * d;
}

/* ops_sgd with lr and momentum per row (lr, mom: rows x 1); buf is required. */
__kernel void ops_sgd_rows(ulong rows, ulong cols, __global const REAL *lr, ulong lro,
                           __global const REAL *mom, ulong mo, int first, __global REAL *p,
                           ulong po, __global const REAL *g, ulong go, __global REAL *buf,
                           ulong bo)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    size_t r = i / cols;
    REAL d = g[go + i];
    if (!first) d += mom[mo + r] * buf[bo + i];
    buf[bo + i] = d;
    p[po + i] -= lr[lro + r] * d;
}

/* PyTorch Adam (no weight decay, no amsgrad); bc1 = 1 - b1^t, bc2 = 1 - b2^t (from the host):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr * (m / bc1) / (sqrt(v / bc2) + eps). */
__kernel void ops_adam(ulong n, REAL lr, REAL b1, REAL b2, REAL eps, REAL bc1, REAL bc2,
                       __global REAL *p, ulong po, __global const REAL *g, ulong go,
                       __global REAL *m, ulong mo, __global REAL *v, ulong vo)
{
    size_t i = get_global_id(0);
    if (i >= n) return;
    REAL gi = g[go + i];
    REAL mi = b1 * m[mo + i] + ((REAL)1 - b1) * gi;
    REAL vi = b2 * v[vo + i] + ((REAL)1 - b2) * gi * gi;
    m[mo + i] = mi;
    v[vo + i] = vi;
    p[po + i] -= lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}

/* adam with lr per row (lr: rows x 1). */
__kernel void ops_adam_rows(ulong rows, ulong cols, __global const REAL *lr, ulong lro, REAL b1,
                            REAL b2, REAL eps, REAL bc1, REAL bc2, __global REAL *p, ulong po,
                            __global const REAL *g, ulong go, __global REAL *m, ulong mo,
                            __global REAL *v, ulong vo)
{
    size_t i = get_global_id(0);
    if (i >= rows * cols) return;
    REAL gi = g[go + i];
    REAL mi = b1 * m[mo + i] + ((REAL)1 - b1) * gi;
    REAL vi = b2 * v[vo + i] + ((REAL)1 - b2) * gi * gi;
    m[mo + i] = mi;
    v[vo + i] = vi;
    p[po + i] -= lr[lro + i / cols] * (mi / bc1) / (sqrt(vi / bc2) + eps);
}
