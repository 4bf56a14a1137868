/* gemm_plan.h — which CLBlast GEMM kernel, with which tuning parameters, a device runs.
 *
 * CLBlast ships tuned parameters for the devices its authors measured; on any other device
 * (every AMD CPU under PoCL, new GPUs, many integrated graphics) it silently falls back to
 * generic ones, which on PoCL run the attack's GEMMs at a third of what the same kernels
 * reach with parameters fit for a CPU. A plan names one of CLBlast's two GEMM kernels and all
 * of its parameters:
 *   defaults                          CLBlast's own choice (its database), nothing overridden
 *   direct   KWID=.. MDIMAD=.. ...    the one-kernel "XgemmDirect" for every size
 *   indirect GEMMK=.. KREG=.. ...     the tiled "Xgemm" (with its pad/transpose helpers) for
 *                                     every size
 * (CLBlast's own rule picks direct below 896³ multiply-adds and indirect above; a plan fixes one
 * kernel, chosen by measuring it on the attack's shapes.)
 *
 * `kktrecon tune` (app/tune.h) measures the built-in candidates on a device and stores the
 * fastest correct one in the cache folder (progcache.h), keyed by the device, driver,
 * platform, CLBlast version and precision; every later process applies the stored plan on the
 * device's first GEMM in that precision. KKTRECON_GEMM_TUNING=off ignores stored plans (to
 * compare, or to rule tuning out). The host backend (OpenBLAS) has no plan.
 *
 * Text form (one line, what the cache stores and what tune prints): the kind, then NAME=VALUE
 * for every parameter of its kernel, each exactly once, in any order, values 0..4096.
 */
#ifndef KR_GEMM_PLAN_H
#define KR_GEMM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "device/device.h"

typedef enum { KR_GEMM_DEFAULTS = 0, KR_GEMM_DIRECT, KR_GEMM_INDIRECT } kr_gemm_kind;

#define KR_GEMM_PARAMS_MAX 16

typedef struct kr_gemm_plan {
    kr_gemm_kind kind;
    unsigned v[KR_GEMM_PARAMS_MAX]; /* in the order of kr_gemm_param_names(kind) */
} kr_gemm_plan;

/* The parameter names of kind's kernel (CLBlast's names) and their count (0 for defaults). */
const char *const *kr_gemm_param_names(kr_gemm_kind kind, int *count);

/* CLBlast's kernel name for kind ("XgemmDirect", "Xgemm"; NULL for defaults). */
const char *kr_gemm_kernel_name(kr_gemm_kind kind);

/* Parses the text form into *plan. KR_E_INVALID naming the word that is wrong (unknown kind or
 * parameter, a parameter twice or missing, a value that is not an integer 0..4096). */
kr_status kr_gemm_plan_parse(const char *text, kr_gemm_plan *plan);

/* The text form into buf (always terminated; "defaults" for the defaults plan). */
void kr_gemm_plan_format(const kr_gemm_plan *plan, char *buf, size_t cap);

/* The built-in candidates `kktrecon tune` measures (the defaults plan not among them): register
 * tiles of 4×4 to 16×8 elements per work-item, no local-memory staging where the kernel
 * allows it — what CPUs and CPU-like OpenCL devices run well — and CLBlast's own GPU-style
 * tiles. *count receives their number. */
const kr_gemm_plan *kr_gemm_plan_candidates(int *count);

/* The plan stored for dev in dt by `kktrecon tune`: KR_OK and true in *found with the plan
 * (and, when note is not NULL, the record's second line: what tune measured); *found false
 * when none is stored, the cache is off or the device is the host. A damaged entry is not an
 * error: it is treated as none (progcache.h checks key and CRC; a whole entry whose text is
 * not a plan also gets a warning naming the file). */
kr_status kr_gemm_plan_load(kr_device *dev, kr_dtype dt, kr_gemm_plan *plan, bool *found,
                            char *note, size_t note_cap);

/* Stores plan (and a one-line note) as dev's plan in dt, atomically replacing any earlier
 * one; KR_E_IO when the cache folder cannot be written (or the cache is off). */
kr_status kr_gemm_plan_store(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan,
                             const char *note);

/* Where dev's plan in dt is (or would be) stored, into buf; false when the cache is off. */
bool kr_gemm_plan_path(kr_device *dev, kr_dtype dt, char *buf, size_t cap);

/* Makes dev run plan for its GEMMs in dt from now on (the stored plan is then not applied).
 * The defaults plan before the first GEMM keeps CLBlast's own choice; after one it cannot
 * bring that back (CLBlast keeps overrides per device for the process) and is refused. */
kr_status kr_device_set_gemm_plan(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan);

/* What dev runs in dt, for logs and reports: e.g. "tuned: direct KWID=2 ...", "set: ...",
 * "CLBlast defaults", "CLBlast defaults (KKTRECON_GEMM_TUNING=off)", "OpenBLAS" (host), or
 * "applied earlier in this process: ..." when another kr_device of this process applied a plan
 * to the same OpenCL device (CLBlast keeps it). Decides and applies the plan first if no GEMM
 * ran yet. */
const char *kr_device_gemm_plan_describe(kr_device *dev, kr_dtype dt, char *buf, size_t cap);

#endif
