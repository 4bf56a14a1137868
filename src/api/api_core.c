/* api_core.c — the public API's errors, version, devices and settings (include/kktrecon.h).
 * Devices are device/device.h; settings app/config.h (one table of keys, ranges, messages).
 */
#include "api/api_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/selftest.h"
#include "base/log.h"

/* The public status values are the internal ones. */
_Static_assert(KKTRECON_OK == (int)KR_OK && KKTRECON_E_INVALID == (int)KR_E_INVALID &&
                   KKTRECON_E_IO == (int)KR_E_IO && KKTRECON_E_NOMEM == (int)KR_E_NOMEM &&
                   KKTRECON_E_OPENCL == (int)KR_E_OPENCL &&
                   KKTRECON_E_CLBLAST == (int)KR_E_CLBLAST &&
                   KKTRECON_E_NODEVICE == (int)KR_E_NODEVICE &&
                   KKTRECON_E_BUILD == (int)KR_E_BUILD &&
                   KKTRECON_E_NUMERIC == (int)KR_E_NUMERIC &&
                   KKTRECON_E_UNSUPPORTED == (int)KR_E_UNSUPPORTED &&
                   KKTRECON_E_INTERRUPTED == (int)KR_E_INTERRUPTED,
               "kktrecon_status and kr_status disagree");
_Static_assert(KKTRECON_FLOAT32 == (int)KR_F32 && KKTRECON_FLOAT64 == (int)KR_F64,
               "kktrecon_dtype and kr_dtype disagree");
_Static_assert(KKTRECON_MAX_TENSORS == KR_MAX_LAYERS + 1, "kktrecon_loss per-tensor size");

const char *kktrecon_last_error(void)
{
    const char *m = kr_error_message();
    return strcmp(m, "no error message") ? m : "";
}

const char *kktrecon_status_name(int status) { return kr_status_name((kr_status)status); }
const char *kktrecon_version(void) { return KR_VERSION; }
int kktrecon_api_version(void) { return KKTRECON_API_VERSION; }

void kktrecon_set_verbosity(int level)
{
    kr_log_set_level(level <= 0 ? KR_LOG_QUIET : level == 1 ? KR_LOG_INFO : KR_LOG_DEBUG);
}

void kktrecon_free(void *p) { free(p); }

void api_widen(kktrecon_dtype dt, const void *src, size_t n, double *dst)
{
    if (dt == KKTRECON_FLOAT64) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    const float *f = src;
    for (size_t i = 0; i < n; i++) dst[i] = (double)f[i];
}

kr_status api_check_dtype(const char *fn, int dt)
{
    if (dt != KKTRECON_FLOAT32 && dt != KKTRECON_FLOAT64)
        return KR_FAIL(KR_E_INVALID, "%s: dtype %d is neither KKTRECON_FLOAT32 (0) nor "
                       "KKTRECON_FLOAT64 (1)", fn, dt);
    return KR_OK;
}

void api_resolved(const kktrecon_config *cfg, const kr_device *dev, kr_config *out)
{
    if (cfg) *out = cfg->cfg;
    else kr_config_defaults(out);
    kr_config_resolve_precision(out, dev);
}

void api_loss(const kr_kkt_loss *in, kktrecon_loss *out)
{
    memset(out, 0, sizeof *out);
    out->total = in->total;
    out->kkt = in->kkt;
    out->prior = in->prior;
    out->lambda = in->lambda;
    out->n_tensors = in->n_tensors;
    for (int t = 0; t < in->n_tensors && t < KKTRECON_MAX_TENSORS; t++)
        out->kkt_per_tensor[t] = in->kkt_per_tensor[t];
}

/* ---------- devices ---------- */

kktrecon_status kktrecon_device_list(kktrecon_device_info *infos, int cap, int *count)
{
    API_NEED("kktrecon_device_list", count);
    if (cap < 0 || (cap > 0 && !infos))
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_device_list: %d entries at %p",
                                  cap, (void *)infos));
    kr_device_info *all;
    int n;
    API_TRY(kr_device_list(&all, &n));
    for (int i = 0; i < n && i < cap; i++) {
        kktrecon_device_info *o = &infos[i];
        memset(o, 0, sizeof *o);
        o->index = all[i].index;
        if (all[i].backend == KR_BACKEND_HOST) snprintf(o->spec, sizeof o->spec, "host");
        else snprintf(o->spec, sizeof o->spec, "%d:%d", all[i].platform, all[i].device);
        snprintf(o->type, sizeof o->type, "%s", all[i].type);
        snprintf(o->name, sizeof o->name, "%s", all[i].name);
        snprintf(o->platform, sizeof o->platform, "%s", all[i].platform_name);
        snprintf(o->driver, sizeof o->driver, "%s", all[i].driver);
        o->global_mem = all[i].global_mem;
        o->fp64 = all[i].fp64;
    }
    free(all);
    *count = n;
    return KKTRECON_OK;
}

kktrecon_status kktrecon_device_open(const char *spec, kktrecon_device **out)
{
    API_NEED("kktrecon_device_open", out);
    *out = NULL;
    kktrecon_device *d = calloc(1, sizeof *d);
    if (!d) return api_status(KR_FAIL(KR_E_NOMEM, "device handle"));
    /* An explicit spec wins; NULL or "" falls back to KKTRECON_DEVICE, then the default. */
    kr_status st = kr_device_open(kr_device_spec_resolve(spec && *spec ? spec : NULL, NULL),
                                  &d->dev);
    if (st != KR_OK) {
        free(d);
        return api_status(st);
    }
    *out = d;
    return KKTRECON_OK;
}

void kktrecon_device_close(kktrecon_device *dev)
{
    if (!dev) return;
    kr_device_close(dev->dev);
    free(dev);
}

const char *kktrecon_device_describe(const kktrecon_device *dev)
{
    return dev ? kr_device_describe(dev->dev) : "(no device)";
}

kktrecon_status kktrecon_device_selftest(kktrecon_device *dev, kktrecon_dtype dtype)
{
    API_NEED("kktrecon_device_selftest", dev);
    API_TRY(api_check_dtype("kktrecon_device_selftest", dtype));
    API_TRY(kr_device_check_dtype(dev->dev, (kr_dtype)dtype));
    return api_status(kr_selftest_run(dev->dev, (kr_dtype)dtype));
}

/* ---------- settings ---------- */

kktrecon_status kktrecon_config_new(kktrecon_config **out)
{
    API_NEED("kktrecon_config_new", out);
    if (!(*out = calloc(1, sizeof **out)))
        return api_status(KR_FAIL(KR_E_NOMEM, "configuration"));
    kr_config_defaults(&(*out)->cfg);
    return KKTRECON_OK;
}

void kktrecon_config_free(kktrecon_config *cfg) { free(cfg); }

kktrecon_status kktrecon_config_copy(const kktrecon_config *cfg, kktrecon_config **out)
{
    API_NEED("kktrecon_config_copy", cfg);
    API_TRY((kr_status)kktrecon_config_new(out));
    (*out)->cfg = cfg->cfg;
    return KKTRECON_OK;
}

kktrecon_status kktrecon_config_load(kktrecon_config *cfg, const char *path)
{
    API_NEED("kktrecon_config_load", cfg);
    API_NEED("kktrecon_config_load", path);
    kr_config c = cfg->cfg; /* unchanged on failure */
    API_TRY(kr_config_load_file(&c, path));
    cfg->cfg = c;
    return KKTRECON_OK;
}

kktrecon_status kktrecon_config_set(kktrecon_config *cfg, const char *key, const char *value)
{
    API_NEED("kktrecon_config_set", cfg);
    API_NEED("kktrecon_config_set", key);
    API_NEED("kktrecon_config_set", value);
    if (!*key || strchr(key, '='))
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_config_set: key '%s' is not "
                                  "section.key", key));
    size_t n = strlen(key) + strlen(value) + 2;
    char *a = malloc(n);
    if (!a) return api_status(KR_FAIL(KR_E_NOMEM, "setting %s", key));
    snprintf(a, n, "%s=%s", key, value);
    kr_config c = cfg->cfg;
    kr_status st = kr_config_set(&c, a);
    free(a);
    if (st == KR_OK) cfg->cfg = c;
    return api_status(st);
}

kktrecon_status kktrecon_config_get(const kktrecon_config *cfg, const char *key, char *buf,
                                    size_t cap)
{
    API_NEED("kktrecon_config_get", cfg);
    API_NEED("kktrecon_config_get", key);
    API_NEED("kktrecon_config_get", buf);
    char tmp[2048];
    API_TRY(kr_config_format(&cfg->cfg, key, tmp, sizeof tmp));
    if (strlen(tmp) + 1 > cap)
        return api_status(KR_FAIL(KR_E_INVALID, "kktrecon_config_get: %s needs %zu bytes, the "
                                  "buffer has %zu", key, strlen(tmp) + 1, cap));
    memcpy(buf, tmp, strlen(tmp) + 1);
    return KKTRECON_OK;
}
