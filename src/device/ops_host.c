/* ops_host.c — the host backend of ops.h: OpenMP loops in float32 and float64.
 *
 * The loops themselves are written once, in ops_host_impl.inc, which this file includes
 * twice (T = float, then T = double); here live what differs per type (exp, constants); the
 * dispatchers kr_host_NAME that the generated op functions call are generated from ops.def
 * (ops_host_gen.inc, included at the end). No shape checks here: the op functions did them.
 *
 * Speed. These loops run between the GEMMs of every attack iteration on m x H matrices
 * (10^6 elements at m = H = 1000), so they must stay a small fraction of GEMM time:
 *   - every loop carries `omp simd`; that is what lets GCC vectorise at any -O level and
 *     without `restrict`, which we may not use because ops.h lets outputs alias inputs
 *     element for element (such aliasing creates no dependence between iterations, which is
 *     exactly what `omp simd` asserts);
 *   - exp and log1p are our own branch-free routines (range reduction + polynomial), because
 *     libm's are scalar calls that the compiler cannot vectorise without -ffast-math (measured
 *     over a sweep: σ within 4 ulp and log1p within 4 ulp of float64 libm, in both types),
 *     and NaN propagates through them;
 *   - threads only above KR_PAR_MIN elements, so small tensors do not pay the fork/join.
 * Reductions accumulate in double and combine per-thread partials in thread order, so the
 * result does not change from run to run for a fixed thread count (OpenMP's reduction clause
 * combines in arbitrary order).
 *
 * Math: src/device/ops.def; σ(t) = 1/(1+e^{-t}) for t >= 0, e^t/(1+e^t) otherwise (never overflows);
 * softplus_α(z) = (max(αz, 0) + log1p(e^{-|αz|}))/α; log(1+e^{-m}) = softplus(-m).
 */
/* GCC's default -ftrapping-math forbids if-converting a select whose arm does floating-point
 * arithmetic, and its sinking pass creates such arms out of `relu(d)²` and σ's two-sided
 * formula: those loops would stay scalar. We never read floating-point exception flags, and
 * the flag changes no result (NaN and Inf behave as before, unlike -ffast-math). It must come
 * before every function so that the inline helpers still inline (mismatched optimisation
 * options block inlining). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "device/device.h" /* kr_dtype */
#include "device/ops_gen.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
/* Built without OpenMP the pragmas vanish and these make the partial-sum code serial. */
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
#endif

/* Below this many elements a parallel region costs more than it saves (fork/join ≈ 1–5 µs;
 * a streaming op moves ~1 element/ns per core). Transcendental loops are ~10x heavier per
 * element, so they split earlier. */
#define KR_PAR_MIN (1u << 15)
#define KR_PAR_MIN_EXP (1u << 12)

/* Partials of a reduction live on the stack; more threads than this are not used for one. */
#define KR_MAX_THREADS 256

/* col_sum sums this many columns at a time into a stack accumulator. */
#define KR_COL_BLOCK 256

static inline int kr_reduce_threads(size_t n, size_t min_n)
{
    if (n < min_n) return 1;
    int nt = omp_get_max_threads();
    return nt > KR_MAX_THREADS ? KR_MAX_THREADS : nt;
}

/* Thread t of nt takes elements [*lo, *hi): a static split, the same on every call. */
static inline void kr_split(size_t n, int t, int nt, size_t *lo, size_t *hi)
{
    size_t q = n / (size_t)nt, r = n % (size_t)nt, ut = (size_t)t;
    *lo = ut * q + (ut < r ? ut : r);
    *hi = *lo + q + (ut < r ? 1 : 0);
}

/* ---- exp(x) for x <= 0, vectorisable ------------------------------------------------------
 * x = n ln2 + r with |r| <= ln2/2 (n by the round-to-nearest "magic number" trick, whose bits
 * also give the integer n without a float->int conversion the vector unit may lack), then
 * exp(r) by a polynomial and 2^n by building the exponent bits. Below the clamp (e^-86 ≈
 * 4e-38, e^-707 ≈ 8e-308) we return 0 (a select, not a branch): the clamp sits where e/2,
 * which softplus and σ go on to compute, is still a normal number, because arithmetic that
 * produces subnormals costs ~100 cycles per element on x86 and tripled softplus's time.
 * Only called with x <= 0 (arguments -|t|), so there is no overflow side.
 * Float constants and polynomial: Cephes expf.c (S. Moshier), max rel. error ~1 ulp.
 * Double: fdlibm's two-part ln2 and the degree-13 Taylor series (truncation < 1e-17 on
 * |r| <= 0.347). */
static inline float kr_expneg_f32(float x)
{
    const float magic = 0x1.8p23f; /* 1.5 * 2^23: adding it rounds to an integer */
    float xc = x < -86.0f ? -86.0f : x;  /* NaN passes through both selects */
    float v = xc * 1.44269504088896341f + magic;
    float n = v - magic;
    float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    float y = p * r2 + r + 1.0f;
    uint32_t vb, sb;
    memcpy(&vb, &v, sizeof vb);
    sb = (vb - 0x4B400000u + 127u) << 23; /* (n + 127) << 23, n = bits(v) - bits(magic) */
    float scale;
    memcpy(&scale, &sb, sizeof scale);
    float e = y * scale;
    return x < -86.0f ? 0.0f : e;
}

static inline double kr_expneg_f64(double x)
{
    const double magic = 0x1.8p52;
    double xc = x < -707.0 ? -707.0 : x;
    double v = xc * 1.44269504088896338700e+00 + magic;
    double n = v - magic;
    double r = xc - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    double y = p * (r * r) + r + 1.0;
    uint64_t vb, sb;
    memcpy(&vb, &v, sizeof vb);
    sb = (vb - 0x4338000000000000ull + 1023u) << 52;
    double scale;
    memcpy(&scale, &sb, sizeof scale);
    double e = y * scale;
    return x < -707.0 ? 0.0 : e;
}

/* ---- log1p(u) for 0 <= u <= 1, vectorisable --------------------------------------------------
 * log1p(u) = 2 atanh(s) = 2 (s + s³/3 + s⁵/5 + ...), s = u / (2 + u) in [0, 1/3]: s is exact
 * to an ulp for tiny u (no 1 + u cancellation) and the series converges like 9^-k; it is cut
 * where the next term is below half an ulp (k = 7 for float, 16 for double). Used by
 * softplus, where u = e^{-|αz|}. NaN propagates.
 * Known cost: for |αz| > ~44 (float) s² is subnormal, and x86 takes ~100 cycles for such
 * results; at α = 300 softplus is ~3x slower than at α = 1 for that reason. Clamping s by a
 * select does not help: GCC threads the select and computes s * s on every lane anyway.
 * Softplus is the gradient-test mode, not the benchmark's, so we leave it simple. */
static inline float kr_log1p_unit_f32(float u)
{
    float s = u / (2.0f + u), s2 = s * s;
    float p = 1.0f / 15;
    p = p * s2 + 1.0f / 13;
    p = p * s2 + 1.0f / 11;
    p = p * s2 + 1.0f / 9;
    p = p * s2 + 1.0f / 7;
    p = p * s2 + 1.0f / 5;
    p = p * s2 + 1.0f / 3;
    return 2.0f * s + 2.0f * s * s2 * p;
}

static inline double kr_log1p_unit_f64(double u)
{
    double s = u / (2.0 + u), s2 = s * s;
    double p = 1.0 / 33;
    p = p * s2 + 1.0 / 31;
    p = p * s2 + 1.0 / 29;
    p = p * s2 + 1.0 / 27;
    p = p * s2 + 1.0 / 25;
    p = p * s2 + 1.0 / 23;
    p = p * s2 + 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    return 2.0 * s + 2.0 * s * s2 * p;
}

/* ---- the loops, once per element type ----------------------------------------------------- */
#define KR_CAT_(a, b) a##b
#define KR_CAT(a, b) KR_CAT_(a, b)
#define KR_FN(name) KR_CAT(name, KR_SFX)

#define T float
#define KR_SFX _f32
#define KR_EXPNEG kr_expneg_f32
#define KR_LOG1P_UNIT kr_log1p_unit_f32
#define KR_SQRT sqrtf
#define KR_FABS fabsf
#include "device/ops_host_impl.inc"
#undef T
#undef KR_SFX
#undef KR_EXPNEG
#undef KR_LOG1P_UNIT
#undef KR_SQRT
#undef KR_FABS

#define T double
#define KR_SFX _f64
#define KR_EXPNEG kr_expneg_f64
#define KR_LOG1P_UNIT kr_log1p_unit_f64
#define KR_SQRT sqrt
#define KR_FABS fabs
#include "device/ops_host_impl.inc"
#undef T
#undef KR_SFX
#undef KR_EXPNEG
#undef KR_LOG1P_UNIT
#undef KR_SQRT
#undef KR_FABS

/* ---- kr_host_NAME for every op of ops.def: pick the instantiation (generated) -------------- */
#include "device/ops_host_gen.inc"
