/* testutil.h — shared helpers for the device-suite tests (check_ops, check_mlp, check_kkt, ...).
 *
 * Devices are opened once per process and shared by every test (Check runs without forking:
 * an OpenCL context does not survive fork). The set is "host" plus one OpenCL device: the one
 * named by env KKTRECON_TEST_DEVICE (any spec of device.h), else the first OpenCL device of
 * kr_device_list. Without an OpenCL device only host is tested and a passing suite exits 77
 * (meson: SKIP), unless KKTRECON_REQUIRE_DEVICE=1 (CI), which makes that a failure: the
 * process prints why and exits 1. A device that exists but does not open is always a failure.
 * PoCL needs a writable cache directory: if POCL_CACHE_DIR is unset it is pointed at a
 * per-user folder in the temp dir before the first OpenCL call.
 * Comparisons are normwise: max|got − want| / max|want| <= tol.
 */
#ifndef KR_TESTUTIL_H
#define KR_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device/device.h"
#include <check.h>

#include "base/model.h"
#include "base/rng.h"

/* Fills devs[0..k) (k <= max, host first) and returns k. Opens them on the first call only. */
int kr_test_devices(kr_device **devs, int max);
/* Closes the cached devices (a later kr_test_devices opens them again). */
void kr_test_close_devices(void);
/* Whether dt can be tested on dev (float64 needs fp64). */
bool kr_test_dtypes(kr_device *dev, kr_dtype dt);
/* x[i] ~ U[lo, hi). */
void kr_test_fill_uniform(kr_rng *r, double *x, size_t n, double lo, double hi);
/* env KKTRECON_TEST_SEED if set, else a fresh seed from the clock; the same value for the
 * whole process, printed once to stderr so that a failure can be repeated. */
uint64_t kr_test_seed(void);
/* Normwise check: max|got − want| / max(max|want|, 1e-300) <= tol. NaN anywhere fails.
 * On failure prints what, max-abs, max-rel, NMSE and the worst index to stderr. */
bool kr_test_compare(const char *what, const double *got, const double *want, size_t n,
                     double tol);
/* The same with the error measured against max(max|want|, scale): for a result that is a sum
 * of terms which may cancel, pass the largest term's magnitude as scale, so that the test
 * asks for what float arithmetic can deliver (relative to the terms, not to their sum). */
bool kr_test_compare_scaled(const char *what, const double *got, const double *want, size_t n,
                            double tol, double scale);
/* Default tolerance: 1e-4 for float32, 1e-10 for float64. */
double kr_test_tol(kr_dtype dt);

/* Smallest |pre-activation| over n samples (x: n × D) and every hidden layer of m, by a plain
 * float64 forward pass with exact ReLU. ignore_exact_zeros skips z == 0 exactly (a unit whose
 * inputs are all zero): such a z has the same sign in every precision, unlike a tiny one. */
double kr_test_min_abs_preact(const kr_model *m, size_t n, const double *x,
                              bool ignore_exact_zeros);

/* Runs every test of s (in-process when no_fork: an OpenCL context does not survive fork)
 * and returns the number of failures. */
int kr_test_run_suite(Suite *s, bool no_fork);

/* A model D-hidden-1 whose every weight is N(0,1)·gain/√fan_in and b_1 ~ N(0,1)·0.5 (not the
 * training init: every unit is alive and gradients are O(1), which finite differences need). */
kr_model *kr_test_random_model(kr_rng *r, size_t d, const size_t *hidden, int nh, bool bias,
                               double gain);
/* The same with C = outputs and a bias on layer l where bit l−1 of bias_mask is set (every bias
 * N(0,1)·0.5). */
kr_model *kr_test_random_model_general(kr_rng *r, size_t d, const size_t *hidden, int nh,
                                       size_t outputs, unsigned bias_mask, double gain);

#endif
