/* tune.h — `kktrecon tune`: finds the fastest correct CLBlast GEMM plan (device/gemm_plan.h)
 * for the attack's products on each OpenCL device and stores it, so that every later run
 * there uses it.
 *
 * For each device and precision: CLBlast's defaults and every built-in candidate are measured
 * on the attack's six product shapes at the given size (X·W1ᵀ, δᵀX, δ·W1 and the three of the
 * second layer), each in a child process of its own: a plan whose kernels do not compile, crash
 * the driver or take longer than the time limit (compile included) is stopped and skipped
 * without harming the run. A candidate counts only if its products equal a float64 host
 * reference — on awkward shapes (1, 3, 7, 33, 65 in every transpose combination, and a
 * strided batch) and on sampled entries of the timed shapes. The best candidate and the
 * defaults are then timed again, alternately (three times each, medians), and the best is
 * stored only if it beats the defaults by 5% there; otherwise the defaults are stored (the
 * device counts as tuned). Last, the known-answer self-test (app/selftest.h) runs with the
 * stored plan; if it fails the defaults are stored instead.
 *
 * KKTRECON_TUNE_ONLY=0,3 measures only those built-in candidates (numbered from 0 in
 * kr_gemm_plan_candidates' order): for tests, and to re-measure one.
 *
 * Nothing OpenCL happens in the calling process (a driver initialised before fork(2) makes
 * children hang), so call it before opening any device.
 */
#ifndef KR_TUNE_H
#define KR_TUNE_H

#include <stdio.h>

#include "device/device.h"

typedef struct kr_tune_opts {
    const char *device; /* a device spec, or "all" (every OpenCL device); NULL: "all" */
    kr_dtype dtypes[2];
    int n_dtypes;       /* precisions a device lacks are skipped with a line saying so */
    size_t d, h, m;     /* the attack's size: input D, hidden width H, candidates m */
    double timeout_s;   /* per candidate, compile included */
    int rounds;         /* timing rounds per measurement (the best counts) */
} kr_tune_opts;

/* Demo size (784-200-200-1, m = 160), both precisions, every OpenCL device, 180 s per
 * candidate, 5 rounds. */
void kr_tune_defaults(kr_tune_opts *o);

/* Tunes the devices of o, printing one line per candidate and a summary per device and
 * precision to out. KR_OK when every device was tuned (or had nothing to tune); an error
 * naming the device when one could not be opened or its plan not stored. */
kr_status kr_tune_run(const kr_tune_opts *o, FILE *out);

#endif
