/* bench_compare.h — `kktrecon bench --compare A.json B.json ... --out DIR`: reads the
 * kktrecon-bench/1 files of several machines (bench.h, docs/bench-schema.md) and writes, in
 * DIR (created if needed):
 *   compare.md            a Markdown table, one row per device and precision: status, attack
 *                         iteration ms and iterations/s, fraction of the device's GEMM rate and
 *                         of its FMA peak, the time of a 50,000-iteration attack at the size
 *                         benchmarked, and its cost when a price applies;
 *   iterations_per_s.png  attack iterations per second, one bar group per device;
 *   fraction_of_peak.png  the attack's GFLOP/s as a fraction of each device's FMA peak;
 *   compare.html          one self-contained page with the table and both charts.
 * prices (may be NULL): "KEY=USD,KEY=USD" — USD per hour for every device whose
 * "hostname name" label contains KEY (case-insensitive; the first key that matches wins).
 * Failed devices appear as FAILED with their message and no figures; a precision a device
 * does not have appears as "n/a". The Markdown table is also printed to out.
 * Errors: KR_E_IO for an unreadable file, KR_E_INVALID for a file that is not JSON of this
 * schema (naming the file and what was expected), or a malformed price list.
 */
#ifndef KR_BENCH_COMPARE_H
#define KR_BENCH_COMPARE_H

#include <stddef.h>
#include <stdio.h>

#include "base/status.h"

#define KR_BENCH_ATTACK_ITERATIONS 50000

kr_status kr_bench_compare(const char *const *files, size_t n_files, const char *out_dir,
                           const char *prices, FILE *out);

#endif
