/* selftest.h — the known-answer self-test of a device (in the manner of hashcat's): before a
 * long job, a few small computations are checked against the host's float64 results, so a
 * driver that computes wrong numbers stops the job instead of producing them.
 *
 * What it checks, on the device and precision given, with fixed seeds (so a failure repeats):
 *   1. every op of device/ops.def on small awkward shapes against the same op on the host
 *      backend in float64 (which tests/check_ops.c holds to float64 references);
 *   2. GEMM in all four transpose combinations;
 *   3. one KKT loss and gradient evaluation (nn/kkt.h) against ref/kkt_ref.h;
 *   4. one training step (nn/mlp.h) against ref/mlp_ref.h.
 * Tolerance, normwise relative: 1e-4 in float32, 1e-9 in float64.
 * A failure returns KR_E_NUMERIC whose message names the device and its driver (the device's
 * description), the precision,
 * the failing check (the op's name) and the error found. Takes well under a second on a GPU,
 * a few seconds on PoCL (kernel builds aside).
 * The app part owns it because it compares nn/ with ref/; nothing here prints.
 */
#ifndef KR_SELFTEST_H
#define KR_SELFTEST_H

#include "device/device.h"

kr_status kr_selftest_run(kr_device *dev, kr_dtype dt);

#endif
