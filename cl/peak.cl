/* peak.cl - the microbenchmarks behind device/peak.h, in the manner of clpeak: what the
 * device can do at best, so that `kktrecon bench` can say how close the attack comes to it.
 *
 * Built in its own program (a failure here never touches the ops), with -DREAL=float or,
 * on devices with cl_khr_fp64, -DREAL=double -DKR_FP64=1. OpenCL C 1.2, plain ASCII.
 *   peak_fma    16 independent multiply-add chains per work-item, `iters` rounds: 32 * iters
 *               floating-point operations per work-item; the sum is stored so nothing folds.
 *   peak_fma16  2 chains of 16-wide vectors (REAL16): 64 * iters operations per work-item,
 *               for compilers that fill wide SIMD units better from vector types (CPUs);
 *               the host takes the better of the two, as clpeak reports the best width.
 *   peak_fma16_dep  clpeak's method, for comparison with it: two REAL16 values that depend on
 *               each other (every multiply-add waits for the previous one), a fixed unrolled
 *               loop of KR_DEP_ITERS rounds, 256 * KR_DEP_ITERS operations per work-item. It measures latency-bound throughput: on devices that
 *               hide latency only with independent work (CPUs) it reads below peak_fma16.
 *   peak_read4, peak_read16   each work-group reads a contiguous block of FETCH vectors per
 *               work-item (float4 or float16), consecutive work-items on consecutive
 *               addresses, and stores one sum per work-item: global-memory read bandwidth
 *               (clpeak's "local offset" pattern).
 *   peak_nop    does nothing (one bounds-checked store that never happens): launch cost.
 */
#ifdef KR_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

#ifndef REAL
#error "build with -DREAL=float or -DREAL=double"
#endif

__kernel void peak_fma(__global REAL *out, REAL a, REAL b, uint iters)
{
    REAL x = (REAL)get_local_id(0);
    REAL v0 = x, v1 = x + (REAL)1, v2 = x + (REAL)2, v3 = x + (REAL)3;
    REAL v4 = x + (REAL)4, v5 = x + (REAL)5, v6 = x + (REAL)6, v7 = x + (REAL)7;
    REAL v8 = x + (REAL)8, v9 = x + (REAL)9, v10 = x + (REAL)10, v11 = x + (REAL)11;
    REAL v12 = x + (REAL)12, v13 = x + (REAL)13, v14 = x + (REAL)14, v15 = x + (REAL)15;
    for (uint i = 0; i < iters; i++) {
        v0 = mad(a, v0, b);
        v1 = mad(a, v1, b);
        v2 = mad(a, v2, b);
        v3 = mad(a, v3, b);
        v4 = mad(a, v4, b);
        v5 = mad(a, v5, b);
        v6 = mad(a, v6, b);
        v7 = mad(a, v7, b);
        v8 = mad(a, v8, b);
        v9 = mad(a, v9, b);
        v10 = mad(a, v10, b);
        v11 = mad(a, v11, b);
        v12 = mad(a, v12, b);
        v13 = mad(a, v13, b);
        v14 = mad(a, v14, b);
        v15 = mad(a, v15, b);
    }
    out[get_global_id(0)] = ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)) +
                            ((v8 + v9) + (v10 + v11)) + ((v12 + v13) + (v14 + v15));
}

#define REAL16 KR_CAT(REAL, 16)
#define REAL8 KR_CAT(REAL, 8)
#define REAL4 KR_CAT(REAL, 4)
#define KR_CAT(a, b) KR_CAT2(a, b)
#define KR_CAT2(a, b) a##b

__kernel void peak_fma16(__global REAL *out, REAL a, REAL b, uint iters)
{
    REAL16 v0 = (REAL16)((REAL)get_local_id(0)), v1 = v0 + (REAL)1;
    REAL16 va = (REAL16)(a), vb = (REAL16)(b);
    for (uint i = 0; i < iters; i++) {
        v0 = mad(va, v0, vb);
        v1 = mad(va, v1, vb);
    }
    REAL16 v = v0 + v1;
    REAL8 h = v.lo + v.hi;
    REAL4 q = h.lo + h.hi;
    out[get_global_id(0)] = (q.x + q.y) + (q.z + q.w);
}

/* The trip count is a compile-time constant (KR_DEP_ITERS) and the body unrolled, as in
 * clpeak's kernels: a runtime bound keeps PoCL from vectorising across work-items, the only
 * source of independent work this kernel has. `iters` is ignored (the host counts with the
 * same constant). */
#ifndef KR_DEP_ITERS
#define KR_DEP_ITERS 64
#endif
#define KR_DEP2 x = mad(va, y, vb); y = mad(va, x, vb);
#define KR_DEP8 KR_DEP2 KR_DEP2 KR_DEP2 KR_DEP2

__kernel void peak_fma16_dep(__global REAL *out, REAL a, REAL b, uint iters)
{
    REAL16 x = (REAL16)((REAL)get_local_id(0)), y = x + (REAL)1;
    REAL16 va = (REAL16)(a), vb = (REAL16)(b);
    (void)iters;
    for (int i = 0; i < KR_DEP_ITERS; i++) {
        KR_DEP8 /* 8 dependent multiply-adds of REAL16: 256 operations per round */
    }
    REAL16 v = x + y;
    REAL8 h = v.lo + v.hi;
    REAL4 q = h.lo + h.hi;
    out[get_global_id(0)] = (q.x + q.y) + (q.z + q.w);
}

#define FETCH 16

__kernel void peak_read4(__global const float4 *in, __global float *out)
{
    size_t id = get_group_id(0) * get_local_size(0) * FETCH + get_local_id(0);
    float4 s = (float4)(0.0f);
    for (int i = 0; i < FETCH; i++, id += get_local_size(0)) s += in[id];
    out[get_global_id(0)] = (s.x + s.y) + (s.z + s.w);
}

__kernel void peak_read16(__global const float16 *in, __global float *out)
{
    size_t id = get_group_id(0) * get_local_size(0) * FETCH + get_local_id(0);
    float16 s = (float16)(0.0f);
    for (int i = 0; i < FETCH; i++, id += get_local_size(0)) s += in[id];
    float8 h = s.lo + s.hi;
    float4 q = h.lo + h.hi;
    out[get_global_id(0)] = (q.x + q.y) + (q.z + q.w);
}

__kernel void peak_nop(__global float *out, uint never)
{
    if (get_global_id(0) == never) out[0] = 0.0f;
}
