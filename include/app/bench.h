/* bench.h — `kktrecon bench`: times the pipeline's own work on a device and reports GFLOP/s
 * next to the GEMM rate of that device measured in the same run (not a test: never asserts
 * on time). Workloads: one training step (n×D-H-H-1) and one attack iteration (m candidates);
 * on request (`--what points`) P = 1, 2, 4, 8, 16 attack points in one kkt object at the demo's
 * size (784-200-200-1, 160 candidates per point) against P sequential single-point iterations.
 */
#ifndef KR_BENCH_H
#define KR_BENCH_H

#include <stdio.h>

#include "device/device.h"

typedef struct kr_bench_opts {
    size_t d, h, n, m; /* input size, hidden width (two layers), train batch, candidates */
    int reps;
    bool train, attack, points;
    kr_dtype dtypes[2];
    int n_dtypes;
} kr_bench_opts;

void kr_bench_defaults(kr_bench_opts *o);
/* Runs the selected workloads on dev, printing one table row per workload to out. */
kr_status kr_bench_run(kr_device *dev, const kr_bench_opts *o, FILE *out);

#endif
