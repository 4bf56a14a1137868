/* peak.h — what a device can do at best, measured in the manner of clpeak, so that benchmarks
 * can put the attack's own rates next to the device's limits.
 *
 * OpenCL devices run the kernels of cl/peak.cl (their own program, built on demand): the
 * multiply-add rate of independent chains per work-item (16 scalar ones or 2 of 16-wide vectors,
 * the better of the two) and, for comparison with clpeak, of clpeak's method (dependent
 * chains: each multiply-add waits for the one before), the global-memory read bandwidth
 * (float4 reads, coalesced), the host↔device transfer rates of one large blocking copy each
 * way, and the cost of a kernel launch when launches are enqueued back to back. The host
 * backend has no kernels: its compute peak is OpenBLAS's rate on a large square GEMM (the
 * loops of this build are not compiled for the CPU's widest FMA units, OpenBLAS is), its
 * bandwidth an OpenMP read loop, its launch cost that of an empty OpenMP parallel region,
 * and it has no transfers (NaN).
 * Each figure is the best of several timed runs of at least ~0.1 s each (a peak, not a
 * median); a figure that could not be measured is NaN.
 */
#ifndef KR_PEAK_H
#define KR_PEAK_H

#include "device/device.h"

typedef struct kr_peak {
    double gflops[2];     /* compute peak by kr_dtype (NaN for float64 without fp64) */
    double gflops_dependent[2]; /* clpeak's method, dependent chains (NaN on host) */
    double read_gbs;      /* global-memory read bandwidth, GB/s (10^9 bytes) */
    double to_device_gbs; /* host → device, blocking write of one large buffer */
    double from_device_gbs;
    double launch_us;     /* per launch, enqueued back to back then waited for */
} kr_peak;

kr_status kr_peak_measure(kr_device *dev, kr_peak *out);

#endif
