/* gemm_plan.c — CLBlast GEMM plans: their text form, the built-in candidates, the stored plan
 * of a device (in the cache folder, progcache.h) and the decision, on a device's first GEMM
 * in a precision, of which plan it runs (gemm_plan.h). The override itself is blas.c's
 * (kr_blas_apply_plan), the only file that includes clblast_c.h.
 */
#include "device/gemm_plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "device/device_impl.h"
#include "device/progcache.h"

#ifndef KR_CLBLAST_VERSION
#define KR_CLBLAST_VERSION "unknown"
#endif

#define KR_GEMM_VALUE_MAX 4096u

static const char *const DIRECT_NAMES[] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                           "PADA", "PADB",   "VWMD",   "VWND",   "WGD"};
static const char *const INDIRECT_NAMES[] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC",
                                             "MWG",   "NDIMB", "NDIMC", "NWG", "SA",  "SB",
                                             "STRM",  "STRN", "VWM",  "VWN"};
static const char *const KIND_WORDS[] = {"defaults", "direct", "indirect"};

const char *const *kr_gemm_param_names(kr_gemm_kind kind, int *count)
{
    switch (kind) {
    case KR_GEMM_DIRECT: *count = 10; return DIRECT_NAMES;
    case KR_GEMM_INDIRECT: *count = 16; return INDIRECT_NAMES;
    default: *count = 0; return NULL;
    }
}

const char *kr_gemm_kernel_name(kr_gemm_kind kind)
{
    return kind == KR_GEMM_DIRECT ? "XgemmDirect" : kind == KR_GEMM_INDIRECT ? "Xgemm" : NULL;
}

kr_status kr_gemm_plan_parse(const char *text, kr_gemm_plan *plan)
{
    if (!text || !plan) return KR_FAIL(KR_E_INVALID, "kr_gemm_plan_parse: NULL argument");
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return KR_FAIL(KR_E_INVALID, "GEMM plan: longer than %zu characters", sizeof buf - 1);
    strcpy(buf, text);
    memset(plan, 0, sizeof *plan);
    char *save = NULL;
    char *word = strtok_r(buf, " \t\r\n", &save);
    if (!word) return KR_FAIL(KR_E_INVALID, "GEMM plan: empty (expected defaults, direct or indirect)");
    int kind = -1;
    for (int k = 0; k < 3; k++)
        if (!strcmp(word, KIND_WORDS[k])) kind = k;
    if (kind < 0)
        return KR_FAIL(KR_E_INVALID, "GEMM plan: '%s' is not a kind (expected defaults, direct or "
                       "indirect)", word);
    plan->kind = (kr_gemm_kind)kind;
    int n;
    const char *const *names = kr_gemm_param_names(plan->kind, &n);
    bool seen[KR_GEMM_PARAMS_MAX] = {false};
    while ((word = strtok_r(NULL, " \t\r\n", &save))) {
        char *eq = strchr(word, '=');
        int idx = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < n; i++)
                if (!strcmp(word, names[i])) idx = i;
        }
        if (idx < 0)
            return KR_FAIL(KR_E_INVALID, "GEMM plan (%s): '%s' is not NAME=VALUE with a parameter of "
                           "%s", KIND_WORDS[kind], word,
                           n ? kr_gemm_kernel_name(plan->kind) : "nothing (defaults takes none)");
        if (seen[idx])
            return KR_FAIL(KR_E_INVALID, "GEMM plan (%s): %s given twice", KIND_WORDS[kind], word);
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(eq + 1, &end, 10);
        if (errno || end == eq + 1 || *end || eq[1] == '-' || v > KR_GEMM_VALUE_MAX)
            return KR_FAIL(KR_E_INVALID, "GEMM plan (%s): %s=%s is not an integer 0..%u",
                           KIND_WORDS[kind], word, eq + 1, KR_GEMM_VALUE_MAX);
        seen[idx] = true;
        plan->v[idx] = (unsigned)v;
    }
    for (int i = 0; i < n; i++)
        if (!seen[i])
            return KR_FAIL(KR_E_INVALID, "GEMM plan (%s): %s is missing (every parameter of %s is "
                           "needed)", KIND_WORDS[kind], names[i], kr_gemm_kernel_name(plan->kind));
    return KR_OK;
}

void kr_gemm_plan_format(const kr_gemm_plan *plan, char *buf, size_t cap)
{
    if (!cap) return;
    int n;
    const char *const *names = kr_gemm_param_names(plan->kind, &n);
    size_t at = (size_t)snprintf(buf, cap, "%s", KIND_WORDS[plan->kind]);
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, " %s=%u", names[i], plan->v[i]);
}

/* Direct: KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD. Indirect: GEMMK KREG KWG
 * KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN. The first four keep each
 * work-item's tile in registers (no local-memory staging, which CPUs only emulate); the last
 * is a GPU-style tile (16×16 work-items, local memory). Chosen on PoCL (AVX-512), where each
 * compiles in about a minute or less per precision; left out: 16×16-element register tiles
 * with 4-wide vectors (several minutes to compile) and CLBlast's GEMMK = 1 kernel (one
 * configuration crashed the process, the others ran at a quarter of the defaults' speed). */
static const kr_gemm_plan CANDIDATES[] = {
    {KR_GEMM_INDIRECT, {0, 1, 16, 2, 4, 4, 32, 4, 4, 32, 0, 0, 0, 0, 4, 4}},
    {KR_GEMM_INDIRECT, {0, 1, 16, 2, 8, 8, 32, 8, 8, 32, 0, 0, 0, 0, 4, 4}},
    {KR_GEMM_DIRECT, {2, 4, 4, 4, 4, 0, 0, 4, 4, 32}},
    {KR_GEMM_DIRECT, {2, 8, 8, 8, 8, 0, 0, 2, 2, 32}},
    {KR_GEMM_INDIRECT, {0, 1, 32, 2, 16, 16, 64, 16, 16, 64, 1, 1, 0, 0, 2, 4}},
};

const kr_gemm_plan *kr_gemm_plan_candidates(int *count)
{
    *count = (int)(sizeof CANDIDATES / sizeof CANDIDATES[0]);
    return CANDIDATES;
}

/* The cache key of dev's plan in dt. */
static void plan_key(const kr_device *dev, kr_dtype dt, char *key, size_t cap)
{
    char ident[1200];
    kr_device_identity(dev, ident, sizeof ident);
    snprintf(key, cap, "kktrecon GEMM plan 1\nclblast %s\nprecision %s\n%s", KR_CLBLAST_VERSION,
             kr_dtype_name(dt), ident);
}

bool kr_gemm_plan_path(kr_device *dev, kr_dtype dt, char *buf, size_t cap)
{
    if (!dev || dev->backend != KR_BACKEND_OPENCL) return false;
    char key[1600];
    plan_key(dev, dt, key, sizeof key);
    return kr_progcache_path("gemmplan", key, buf, cap);
}

kr_status kr_gemm_plan_load(kr_device *dev, kr_dtype dt, kr_gemm_plan *plan, bool *found,
                            char *note, size_t note_cap)
{
    *found = false;
    if (note && note_cap) note[0] = '\0';
    if (!dev || dev->backend != KR_BACKEND_OPENCL) return KR_OK;
    char key[1600], path[1200] = "";
    plan_key(dev, dt, key, sizeof key);
    kr_progcache_path("gemmplan", key, path, sizeof path);
    unsigned char *bin = NULL;
    size_t len = 0;
    if (!kr_progcache_load("gemmplan", key, &bin, &len)) return KR_OK; /* none (or damaged) */
    char text[1024];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, bin, n);
    text[n] = '\0';
    free(bin);
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        if (note && note_cap) {
            snprintf(note, note_cap, "%s", nl + 1);
            note[strcspn(note, "\n")] = '\0';
        }
    }
    kr_status st = kr_gemm_plan_parse(text, plan);
    if (st != KR_OK) {
        kr_log_info("warning: GEMM plan %s: %s; ignored (CLBlast's defaults run; `kktrecon tune` writes a "
                    "new one)", path, kr_error_message());
        kr_error_clear();
        memset(plan, 0, sizeof *plan);
        return KR_OK;
    }
    *found = true;
    return KR_OK;
}

kr_status kr_gemm_plan_store(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan,
                             const char *note)
{
    if (!dev || dev->backend != KR_BACKEND_OPENCL)
        return KR_FAIL(KR_E_INVALID, "GEMM plans are for OpenCL devices (the host runs OpenBLAS)");
    char key[1600], text[1024], path[1200] = "";
    plan_key(dev, dt, key, sizeof key);
    kr_gemm_plan_format(plan, text, sizeof text - 200);
    size_t at = strlen(text);
    snprintf(text + at, sizeof text - at, "\n%s\n", note ? note : "");
    if (!kr_progcache_path("gemmplan", key, path, sizeof path))
        return KR_FAIL(KR_E_IO, "storing the GEMM plan of '%s': the cache is off "
                       "(KKTRECON_CACHE_DIR is empty or off)", dev->info.name);
    if (!kr_progcache_store("gemmplan", key, (const unsigned char *)text, strlen(text)))
        return KR_FAIL(KR_E_IO, "storing the GEMM plan of '%s': cannot write %s", dev->info.name,
                       path);
    return KR_OK;
}

static bool tuning_off(void)
{
    const char *e = getenv("KKTRECON_GEMM_TUNING");
    return e && (!strcmp(e, "off") || !strcmp(e, "0"));
}

kr_status kr_gemm_plan_ensure(kr_device *dev, kr_dtype dt)
{
    if (dev->backend != KR_BACKEND_OPENCL || dev->gemm_plan_decided[dt]) return KR_OK;
    kr_gemm_plan plan = {KR_GEMM_DEFAULTS, {0}};
    const char *origin = "";
    if (tuning_off()) {
        origin = "off";
    } else {
        bool found = false;
        KR_TRY(kr_gemm_plan_load(dev, dt, &plan, &found, NULL, 0));
        if (found) origin = "tuned";
    }
    kr_gemm_plan earlier;
    if (plan.kind == KR_GEMM_DEFAULTS && kr_blas_applied_plan(dev, dt, &earlier)) {
        plan = earlier; /* CLBlast still runs it: say so rather than "defaults" */
        origin = "applied earlier in this process";
    } else if (plan.kind != KR_GEMM_DEFAULTS) {
        kr_status st = kr_blas_apply_plan(dev, dt, &plan);
        if (st != KR_OK) {
            kr_error_context(st, "applying the stored GEMM plan (KKTRECON_GEMM_TUNING=off "
                             "ignores it; `kktrecon tune` replaces it)");
            return st;
        }
        char text[512];
        kr_gemm_plan_format(&plan, text, sizeof text);
        kr_log_debug("'%s' %s GEMMs: %s", dev->info.name, kr_dtype_name(dt), text);
    }
    dev->gemm_plan[dt] = plan;
    dev->gemm_plan_origin[dt] = origin;
    dev->gemm_plan_decided[dt] = true;
    return KR_OK;
}

kr_status kr_device_set_gemm_plan(kr_device *dev, kr_dtype dt, const kr_gemm_plan *plan)
{
    if (!dev || !plan) return KR_FAIL(KR_E_INVALID, "kr_device_set_gemm_plan: NULL argument");
    KR_TRY(kr_device_check_dtype(dev, dt));
    if (dev->backend != KR_BACKEND_OPENCL)
        return KR_FAIL(KR_E_INVALID, "GEMM plans are for OpenCL devices (the host runs OpenBLAS)");
    kr_gemm_plan earlier;
    if (plan->kind == KR_GEMM_DEFAULTS && kr_blas_applied_plan(dev, dt, &earlier))
        return KR_FAIL(KR_E_INVALID, "'%s' %s: CLBlast's defaults cannot come back after "
                       "another plan ran in this process", dev->info.name, kr_dtype_name(dt));
    KR_TRY(kr_blas_apply_plan(dev, dt, plan));
    dev->gemm_plan[dt] = *plan;
    dev->gemm_plan_origin[dt] = "set";
    dev->gemm_plan_decided[dt] = true;
    return KR_OK;
}

const char *kr_device_gemm_plan_describe(kr_device *dev, kr_dtype dt, char *buf, size_t cap)
{
    if (!cap) return buf;
    if (dev->backend != KR_BACKEND_OPENCL) {
        snprintf(buf, cap, "OpenBLAS");
        return buf;
    }
    if (kr_gemm_plan_ensure(dev, dt) != KR_OK) {
        snprintf(buf, cap, "unusable stored plan: %s", kr_error_message());
        kr_error_clear();
        return buf;
    }
    const char *origin = dev->gemm_plan_origin[dt];
    if (dev->gemm_plan[dt].kind == KR_GEMM_DEFAULTS) {
        snprintf(buf, cap, "CLBlast defaults%s", !strcmp(origin, "off")
                                                     ? " (KKTRECON_GEMM_TUNING=off)"
                                                     : !strcmp(origin, "set") ? " (set)" : "");
        return buf;
    }
    char text[512];
    kr_gemm_plan_format(&dev->gemm_plan[dt], text, sizeof text);
    snprintf(buf, cap, "%s: %s", origin, text);
    return buf;
}
