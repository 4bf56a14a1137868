/* bench.h — `kktrecon bench`: times the pipeline's own work on a device and reports GFLOP/s
 * next to the GEMM rate of that device measured in the same run (not a test: never asserts
 * on time). Workloads: one training step (n×D-H-H-1) and one attack iteration (m candidates);
 * on request (`--what points`) P = 1, 2, 4, 8, 16 attack points in one kkt object at the demo's
 * size (784-200-200-1, 160 candidates per point) against P sequential single-point iterations;
 * and (`start`) the time from opening a fresh instance of the device to the end of the first
 * attack iteration at the benchmark's size, cold (empty program cache) and warm.
 *
 * Before anything is timed, the device runs the known-answer self-test (app/selftest.h) in
 * every requested precision it has; a device that fails is reported FAILED with the reason
 * and gets no timings at all (neither on stdout nor in the JSON).
 *
 * Trustworthy ratios: every figure interleaves the reference GEMM (the dominant shape of both
 * workloads, C(m×H) = X(m×D)·W1ᵀ(D×H)) with the work itself — ref, work, ref, work, … — so
 * that both see the same clock, thermal state and competing load. Pairs repeat until at least
 * `reps` pairs are done and either the relative spread (max−min)/median of the last
 * KR_BENCH_WINDOW per-pair ratios is below `spread_target` or `budget_s` seconds are spent
 * (budget_s == 0: exactly `reps` pairs). On the host backend every GEMM of the work *is* that
 * reference, so a ratio above 1 there is flagged as suspect.
 *
 * The JSON file (`--json FILE`, schema "kktrecon-bench/1", documented in docs/bench-schema.md)
 * is built by kr_bench_json_new + one kr_bench_run per device, and read by bench_compare.h.
 */
#ifndef KR_BENCH_H
#define KR_BENCH_H

#include <stdio.h>

#include "device/device.h"

#define KR_BENCH_SCHEMA "kktrecon-bench/1"
#define KR_BENCH_WINDOW 5   /* ratios over which the spread is judged */
#define KR_BENCH_MAX_PAIRS 256

struct cJSON;

typedef struct kr_bench_opts {
    size_t d, h, n, m; /* input size, hidden width (two layers), train batch, candidates */
    char size_name[32]; /* "paper", "demo", "cifar", "small" or "custom" */
    int reps;           /* at least this many interleaved pairs per figure */
    double budget_s;    /* per figure; 0: exactly reps pairs */
    double spread_target; /* relative spread of the last KR_BENCH_WINDOW ratios */
    bool train, attack, points, start; /* start: time to the first iteration, cold and warm */
    kr_dtype dtypes[2];
    int n_dtypes;
} kr_bench_opts;

/* Paper size, 5 pairs at least, 3 s per figure, 5% spread, train, attack and start, both
 * precisions. */
void kr_bench_defaults(kr_bench_opts *o);

/* Sets d, h, n, m and size_name from a size name: demo (784-200-200-1, m = 160, n = 20, the
 * demo's own set), paper (784-1000-1000-1, m = 1000, n = 500), cifar (3072-1000-1000-1,
 * m = 1000, n = 500), small (784-200-200-1, m = 200, n = 100) or D-H-H:M (n = M; both hidden
 * widths equal). KR_E_INVALID naming what was expected otherwise. */
kr_status kr_bench_set_size(kr_bench_opts *o, const char *size);

/* The JSON root: schema, kktrecon version, machine (hostname, CPU model, cores, date UTC), the
 * settings, and an empty "devices" array for kr_bench_run to fill. NULL when out of memory. */
struct cJSON *kr_bench_json_new(const kr_bench_opts *o, const char *version);

/* Self-test, limits, then the selected workloads on dev, printing to out; when jdevs (the
 * root's "devices" array) is not NULL, appends this device's entry. A failed self-test is
 * not an error of the run: the device is printed and recorded FAILED and KR_OK returned. */
kr_status kr_bench_run(kr_device *dev, const kr_bench_opts *o, FILE *out, struct cJSON *jdevs);

/* The entry of a device that could not even be opened: status "error" and the message. */
void kr_bench_json_open_error(struct cJSON *jdevs, const kr_device_info *info, const char *message);

#endif
