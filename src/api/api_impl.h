/* api_impl.h — what the public handles of include/kktrecon.h hold, and the helpers the
 * api_*.c files share. Private to src/api/.
 */
#ifndef KR_API_IMPL_H
#define KR_API_IMPL_H

#include "kktrecon.h"

#include "app/config.h"
#include "base/kkt_types.h"
#include "base/model.h"
#include "base/status.h"
#include "device/device.h"

struct kktrecon_device {
    kr_device *dev;
};

struct kktrecon_config {
    kr_config cfg;
};

struct kktrecon_model {
    kr_model *m;
    size_t n_train; /* the file's metadata n_train, 0 if unknown */
};

/* The status as the public enum (the values are the same, checked in api_core.c). */
static inline kktrecon_status api_status(kr_status st) { return (kktrecon_status)st; }

/* KR_E_INVALID "<fn>: <name> is NULL" for a NULL argument. */
#define API_NEED(fn, p)                                                                            \
    do {                                                                                           \
        if (!(p)) return api_status(KR_FAIL(KR_E_INVALID, "%s: argument '%s' is NULL", fn, #p));  \
    } while (0)

/* KR_TRY for functions returning kktrecon_status. */
#define API_TRY(expr)                                                                              \
    do {                                                                                           \
        kr_status api_try_st_ = (expr);                                                           \
        if (api_try_st_ != KR_OK) return api_status(api_try_st_);                                 \
    } while (0)

/* n values of a caller's array in dtype into doubles (exact). */
void api_widen(kktrecon_dtype dt, const void *src, size_t n, double *dst);
/* KR_E_INVALID unless dt is float32 or float64. */
kr_status api_check_dtype(const char *fn, int dt);
/* The configuration with precision `auto` resolved for dev (a copy). */
void api_resolved(const kktrecon_config *cfg, const kr_device *dev, kr_config *out);
/* The public loss from the internal one. */
void api_loss(const kr_kkt_loss *in, kktrecon_loss *out);

#endif
