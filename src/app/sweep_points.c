/* sweep_points.c — the sweep's points (sweep.h): distributions of the four swept
 * hyperparameters, parsed from [sweep], and point i's values as a function of (seed, i).
 *
 * Randomness: u(seed, i, k) = splitmix64's finaliser applied four times, mixing in the seed,
 * then i, then k (top 53 bits / 2^53; measured: mean 0.5 and lag-1 correlation |r| < 0.02
 * over 20 000 points per stream). Stream k = 0..3 draws hyperparameter k, stream 4 the point's attack
 * seed. No state is carried from point to point, so point i is the same whether the sweep has
 * 10 or 1000 points and whichever process computes it.
 */
#include "app/sweep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/attack.h"
#include "base/alloc.h"

const char *const KR_SWEEP_PARAMS[KR_SWEEP_NPARAM] = {"init_scale", "lr_x", "lambda_min",
                                                      "alpha"};

static uint64_t mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t hash3(uint64_t seed, uint64_t point, uint64_t stream)
{
    uint64_t x = mix64(seed);
    x = mix64(x + point * 0xD1342543DE82EF95ull);
    x = mix64(x ^ ((stream + 1) * 0xC2B2AE3D27D4EB4Full));
    return mix64(x);
}

double kr_sweep_uniform(uint64_t seed, uint64_t point, uint64_t stream)
{
    return (double)(hash3(seed, point, stream) >> 11) * 0x1.0p-53;
}

uint64_t kr_sweep_point_seed(uint64_t seed, uint64_t point) { return hash3(seed, point, 4) >> 11; }

double kr_sweep_dist_value(const kr_dist *d, double u)
{
    switch (d->kind) {
    case KR_DIST_LOG: return exp(log(d->lo) + u * (log(d->hi) - log(d->lo)));
    case KR_DIST_UNIFORM: return d->lo + u * (d->hi - d->lo);
    case KR_DIST_LIST: {
        size_t k = (size_t)(u * (double)d->n);
        return d->v[k < d->n ? k : d->n - 1];
    }
    case KR_DIST_FIXED: break;
    }
    return d->lo;
}

/* A finite number filling all of s. */
static bool number(const char *s, double *out)
{
    while (*s == ' ') s++;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ') end++;
    if (errno || end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Checks v against attack.<param>'s allowed range (config.c's table and message). */
static kr_status allowed(int param, double v, const char *text)
{
    kr_config c;
    kr_config_defaults(&c);
    char set[96];
    snprintf(set, sizeof set, "attack.%s=%.17g", KR_SWEEP_PARAMS[param], v);
    kr_status st = kr_config_set(&c, set);
    if (st == KR_OK) st = kr_config_validate(&c);
    if (st != KR_OK)
        return kr_error_context(st, "sweep.%s = '%s'", KR_SWEEP_PARAMS[param], text);
    return KR_OK;
}

kr_status kr_sweep_dist_parse(int param, const char *text, kr_dist *d)
{
    memset(d, 0, sizeof *d);
    const char *key = KR_SWEEP_PARAMS[param];
    const char *colon = strchr(text, ':');
    if (!colon) {
        if (!number(text, &d->lo))
            return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': expected log:LO,HI, uniform:LO,HI, "
                           "list:a,b,... or a number", key, text);
        d->kind = KR_DIST_FIXED;
        return allowed(param, d->lo, text);
    }
    char kind[16];
    size_t kn = (size_t)(colon - text);
    if (kn >= sizeof kind) kn = sizeof kind - 1;
    memcpy(kind, text, kn);
    kind[kn] = '\0';
    char body[256];
    snprintf(body, sizeof body, "%s", colon + 1);
    if (!strcmp(kind, "list")) {
        d->kind = KR_DIST_LIST;
        for (char *s = body, *next; s; s = next) {
            next = strchr(s, ',');
            if (next) *next++ = '\0';
            if (d->n == KR_DIST_MAX_LIST)
                return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': at most %d values in a list", key,
                               text, KR_DIST_MAX_LIST);
            if (!number(s, &d->v[d->n]))
                return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': list value %zu '%s' is not a "
                               "finite number", key, text, d->n + 1, s);
            KR_TRY(allowed(param, d->v[d->n], text));
            d->n++;
        }
        return KR_OK;
    }
    bool is_log = !strcmp(kind, "log"), is_uni = !strcmp(kind, "uniform");
    if (!is_log && !is_uni)
        return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': unknown distribution '%s' (expected log, "
                       "uniform or list, or a plain number)", key, text, kind);
    d->kind = is_log ? KR_DIST_LOG : KR_DIST_UNIFORM;
    char *comma = strchr(body, ',');
    if (!comma || strchr(comma + 1, ','))
        return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': expected %s:LO,HI (two numbers)", key,
                       text, kind);
    *comma = '\0';
    if (!number(body, &d->lo) || !number(comma + 1, &d->hi))
        return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': LO and HI must be finite numbers", key,
                       text);
    if (!(d->lo < d->hi))
        return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': LO must be below HI", key, text);
    if (is_log && !(d->lo > 0))
        return KR_FAIL(KR_E_INVALID, "sweep.%s = '%s': a log distribution needs LO > 0", key, text);
    KR_TRY(allowed(param, d->lo, text));
    return allowed(param, d->hi, text);
}

static const char *dist_text(const kr_config *cfg, int k)
{
    switch (k) {
    case KR_SWEEP_INIT_SCALE: return cfg->sweep.init_scale;
    case KR_SWEEP_LR_X: return cfg->sweep.lr_x;
    case KR_SWEEP_LAMBDA_MIN: return cfg->sweep.lambda_min;
    default: return cfg->sweep.alpha;
    }
}

static double *param_field(kr_config *c, int k)
{
    switch (k) {
    case KR_SWEEP_INIT_SCALE: return &c->attack.init_scale;
    case KR_SWEEP_LR_X: return &c->attack.lr_x;
    case KR_SWEEP_LAMBDA_MIN: return &c->attack.lambda_min;
    default: return &c->attack.alpha;
    }
}

kr_status kr_sweep_points(const kr_config *cfg, kr_config **pc, size_t *n,
                          bool log_axis[KR_SWEEP_NPARAM])
{
    *pc = NULL;
    *n = 0;
    if (cfg->sweep.points_file[0]) {
        KR_TRY(kr_attack_points_configs(cfg, cfg->sweep.points_file, pc, n));
        /* A log axis where the points span more than a decade and are all positive. */
        for (int k = 0; k < KR_SWEEP_NPARAM; k++) {
            double lo = INFINITY, hi = -INFINITY;
            for (size_t p = 0; p < *n; p++) {
                double v = *param_field(&(*pc)[p], k);
                lo = fmin(lo, v);
                hi = fmax(hi, v);
            }
            log_axis[k] = lo > 0 && hi / lo > 10;
        }
        return KR_OK;
    }
    kr_dist d[KR_SWEEP_NPARAM];
    for (int k = 0; k < KR_SWEEP_NPARAM; k++) {
        KR_TRY(kr_sweep_dist_parse(k, dist_text(cfg, k), &d[k]));
        log_axis[k] = d[k].kind == KR_DIST_LOG;
    }
    const size_t np = (size_t)cfg->sweep.points;
    kr_config *c;
    KR_TRY(kr_alloc((void **)&c, "sweep points", np, 1, sizeof *c));
    for (size_t p = 0; p < np; p++) {
        c[p] = *cfg;
        for (int k = 0; k < KR_SWEEP_NPARAM; k++)
            *param_field(&c[p], k) = kr_sweep_dist_value(&d[k], kr_sweep_uniform(cfg->sweep.seed, p,
                                                                                  (uint64_t)k));
        c[p].attack.seed = kr_sweep_point_seed(cfg->sweep.seed, p);
        kr_status st = kr_config_validate(&c[p]);
        if (st != KR_OK) {
            free(c);
            return kr_error_context(st, "sweep point %zu", p);
        }
    }
    *pc = c;
    *n = np;
    return KR_OK;
}
