/* bench.c — times the pipeline's own work (one training step, one attack iteration) on a
 * device and prints GFLOP/s beside the device's GEMM rate measured in the same run, so the
 * ratio says how close the pipeline comes to its backend's own BLAS. Never asserts on time.
 * FLOP counts: training kr_mlp_step_flops; attack 2m(5·D·H₁ + 7·H₁·H₂) (ISSUE 3 / DESIGN
 * §3.1, the GEMMs of one iteration for a 3-layer net). The self-test gate, the interleaved
 * reference GEMM and the JSON entry are described in bench.h; the schema in
 * docs/bench-schema.md. What it does not do: compare files (bench_compare.c).
 */
#include "app/bench.h"

#include <dirent.h>
#include <math.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "app/selftest.h"
#include "base/order.h"
#include "device/gemm_plan.h"
#include "device/blas.h"
#include "io/report.h"
#include "nn/kkt.h"
#include "nn/optim.h"
#include "base/log.h"
#include "nn/mlp.h"
#include "device/ops.h"
#include "device/peak.h"
#include "base/rng.h"

void kr_bench_defaults(kr_bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->d = 784;
    o->h = 1000;
    o->n = 500;
    o->m = 1000;
    snprintf(o->size_name, sizeof o->size_name, "paper");
    o->reps = 5;
    o->budget_s = 3.0;
    o->spread_target = 0.05;
    o->train = o->attack = o->start = true;
    o->dtypes[0] = KR_F32;
    o->dtypes[1] = KR_F64;
    o->n_dtypes = 2;
}

static kr_status make_model(size_t d, size_t h, kr_model **m)
{
    size_t hidden[2] = {h, h};
    KR_TRY(kr_model_new(d, hidden, 2, true, m));
    /* A larger first-layer scale than training's 1e-4 so activations are not all tiny. */
    kr_model_init(*m, 0.05, 7);
    return KR_OK;
}

static double *random_matrix(size_t n, double scale, uint64_t seed)
{
    double *x = malloc(n * sizeof *x);
    if (!x) return NULL;
    kr_rng r;
    kr_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = kr_rng_normal(&r) * scale;
    return x;
}

kr_status kr_bench_set_size(kr_bench_opts *o, const char *size)
{
    static const struct { const char *name; size_t d, h, n, m; } named[] = {
        {"demo", 784, 200, 20, 160},    {"paper", 784, 1000, 500, 1000},
        {"cifar", 3072, 1000, 500, 1000}, {"small", 784, 200, 100, 200},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strcmp(size, named[i].name)) {
            o->d = named[i].d;
            o->h = named[i].h;
            o->n = named[i].n;
            o->m = named[i].m;
            snprintf(o->size_name, sizeof o->size_name, "%s", size);
            return KR_OK;
        }
    unsigned long d, h1, h2, m;
    char end;
    if (sscanf(size, "%lu-%lu-%lu:%lu%c", &d, &h1, &h2, &m, &end) != 4 || !d || !h1 || !m ||
        d > 100000 || h1 > 100000 || m > 1000000)
        return KR_FAIL(KR_E_INVALID, "bench --size '%s': expected demo, paper, cifar, small or "
                       "D-H-H:M (e.g. 784-500-500:200)", size);
    if (h1 != h2)
        return KR_FAIL(KR_E_INVALID, "bench --size '%s': the benchmark net has two hidden layers "
                       "of one width (H-H), got %lu and %lu", size, h1, h2);
    o->d = d;
    o->h = h1;
    o->n = o->m = m;
    snprintf(o->size_name, sizeof o->size_name, "custom");
    return KR_OK;
}

/* One workload's state, set up once per figure and stepped by work_iter. */
typedef struct bench_work {
    bool attack;
    kr_model *m;
    kr_mlp *net;
    kr_kkt *k;
    kr_tensor *x, *l, *gx, *gl, *bx, *bl;
    double flops;
} bench_work;

static void work_close(bench_work *w)
{
    kr_tensor_free(w->x);
    kr_tensor_free(w->l);
    kr_tensor_free(w->gx);
    kr_tensor_free(w->gl);
    kr_tensor_free(w->bx);
    kr_tensor_free(w->bl);
    kr_kkt_free(w->k);
    kr_mlp_free(w->net);
    kr_model_free(w->m);
    memset(w, 0, sizeof *w);
}

static kr_status work_open(kr_device *dev, kr_dtype dt, const kr_bench_opts *o, bool attack,
                           bench_work *w)
{
    memset(w, 0, sizeof *w);
    w->attack = attack;
    size_t rows = attack ? o->m : o->n;
    double *x = NULL, *y = NULL;
    kr_status st;
    KR_TRY_GOTO(make_model(o->d, o->h, &w->m));
    if (!(x = random_matrix(rows * o->d, 0.3, attack ? 2 : 1)) || !(y = malloc(rows * sizeof *y))) {
        st = KR_FAIL(KR_E_NOMEM, "bench data");
        goto fail;
    }
    if (!attack) {
        for (size_t i = 0; i < rows; i++) y[i] = i % 2 ? 1.0 : -1.0;
        KR_TRY_GOTO(kr_mlp_new(dev, dt, w->m, o->n, &w->net));
        KR_TRY_GOTO(kr_mlp_set_batch(w->net, x, y));
        w->flops = kr_mlp_step_flops(w->m, o->n);
    } else {
        for (size_t i = 0; i < rows; i++) y[i] = i < rows / 2 ? -1.0 : 1.0;
        kr_kkt_opts ko = {KR_ACT_RELU, 19.2, 0.42, KR_OBJ_AUTO};
        KR_TRY_GOTO(kr_kkt_new(dev, dt, w->m, &ko, o->m, y, &w->k));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "X", &w->x));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "dX", &w->gx));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "X momentum", &w->bx));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "lambda", &w->l));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "dlambda", &w->gl));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, 1, "lambda momentum", &w->bl));
        KR_TRY_GOTO(kr_tensor_write(w->x, x));
        KR_TRY_GOTO(kr_tensor_fill(w->l, 0.5));
        w->flops = 2.0 * (double)o->m *
                   (5.0 * (double)o->d * (double)o->h + 7.0 * (double)o->h * (double)o->h);
    }
    free(x);
    free(y);
    return KR_OK;
fail:
    free(x);
    free(y);
    work_close(w);
    return st;
}

/* One iteration as the loops run it: they read scalars at log steps only. */
static kr_status work_iter(bench_work *w, bool first)
{
    if (!w->attack) {
        KR_TRY(kr_mlp_loss_grad(w->net, NULL, NULL));
        return kr_mlp_step(w->net, 1e-3);
    }
    KR_TRY(kr_kkt_eval(w->k, w->x, w->l, w->gx, w->gl));
    return kr_optim_sgd_pair(1e-6, 1e-6, 0.9, first ? 0 : 1, w->x, w->gx, w->bx, w->l, w->gl,
                             w->bl);
}

/* The reference product C(m×H) = A(m×D)·B(H×D)ᵀ, the dominant GEMM of both workloads. */
typedef struct bench_ref {
    kr_tensor *a, *b, *c;
    double flops;
} bench_ref;

static void ref_close(bench_ref *r)
{
    kr_tensor_free(r->a);
    kr_tensor_free(r->b);
    kr_tensor_free(r->c);
    memset(r, 0, sizeof *r);
}

static kr_status ref_open(kr_device *dev, kr_dtype dt, const kr_bench_opts *o, bench_ref *r)
{
    memset(r, 0, sizeof *r);
    kr_status st;
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->d, "GEMM A", &r->a));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->h, o->d, "GEMM B", &r->b));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, o->m, o->h, "GEMM C", &r->c));
    KR_TRY_GOTO(kr_tensor_fill(r->a, 0.5));
    KR_TRY_GOTO(kr_tensor_fill(r->b, 0.25));
    r->flops = 2.0 * (double)o->m * (double)o->h * (double)o->d;
    return KR_OK;
fail:
    ref_close(r);
    return st;
}

/* What one figure measured (ms of the work; the reference's rate; their ratio per pair). */
typedef struct bench_fig {
    int pairs;
    bool converged;              /* spread below target (else the budget or the cap ended it) */
    double ms_med, ms_min, ms_max;
    double gflops, gemm_gflops;  /* work and reference, from the medians */
    double ratio, spread;        /* median of per-pair ratios; spread of the last window */
    kr_device_counters per_iter; /* one work iteration, reference excluded */
} bench_fig;

static double rel_spread(const double *v, int n)
{
    double tmp[KR_BENCH_MAX_PAIRS], lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        tmp[i] = v[i];
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    double med = kr_median(tmp, (size_t)n);
    return med > 0 ? (hi - lo) / med : INFINITY;
}

static kr_status measure(kr_device *dev, bench_work *w, bench_ref *r, const kr_bench_opts *o,
                         bench_fig *f)
{
    static double ws[KR_BENCH_MAX_PAIRS], gs[KR_BENCH_MAX_PAIRS], ratio[KR_BENCH_MAX_PAIRS];
    memset(f, 0, sizeof *f);
    /* Warm-up pair: kernel variants, CLBlast's programs, caches. */
    KR_TRY(kr_blas_gemm(1.0, r->a, false, r->b, true, 0.0, r->c));
    KR_TRY(work_iter(w, true));
    KR_TRY(kr_device_finish(dev));
    double start = kr_time_now();
    int n = 0;
    while (n < KR_BENCH_MAX_PAIRS) {
        double t0 = kr_time_now();
        KR_TRY(kr_blas_gemm(1.0, r->a, false, r->b, true, 0.0, r->c));
        KR_TRY(kr_device_finish(dev));
        gs[n] = kr_time_now() - t0;
        if (n == 0) kr_device_counters_reset(dev);
        t0 = kr_time_now();
        KR_TRY(work_iter(w, false));
        KR_TRY(kr_device_finish(dev));
        ws[n] = kr_time_now() - t0;
        if (n == 0) kr_device_counters_get(dev, &f->per_iter);
        /* rate(work) / rate(ref) of this pair */
        ratio[n] = (w->flops / ws[n]) / (r->flops / gs[n]);
        n++;
        if (kr_interrupted()) return KR_FAIL(KR_E_INTERRUPTED, "bench interrupted");
        if (n < o->reps) continue;
        int k = n < KR_BENCH_WINDOW ? n : KR_BENCH_WINDOW;
        f->spread = rel_spread(ratio + n - k, k);
        if (o->budget_s <= 0) break;
        if (k == KR_BENCH_WINDOW && f->spread < o->spread_target) {
            f->converged = true;
            break;
        }
        if (kr_time_now() - start > o->budget_s) break;
    }
    f->pairs = n;
    double tmp[KR_BENCH_MAX_PAIRS];
    f->ms_min = INFINITY;
    f->ms_max = 0;
    for (int i = 0; i < n; i++) {
        f->ms_min = fmin(f->ms_min, 1e3 * ws[i]);
        f->ms_max = fmax(f->ms_max, 1e3 * ws[i]);
    }
    memcpy(tmp, ws, (size_t)n * sizeof *tmp);
    f->ms_med = 1e3 * kr_median(tmp, (size_t)n);
    memcpy(tmp, gs, (size_t)n * sizeof *tmp);
    f->gemm_gflops = r->flops / kr_median(tmp, (size_t)n) * 1e-9;
    f->gflops = w->flops / (f->ms_med * 1e-3) * 1e-9;
    memcpy(tmp, ratio, (size_t)n * sizeof *tmp);
    f->ratio = kr_median(tmp, (size_t)n);
    return KR_OK;
}

/* One iteration's work as the device layer counted it (device.h). */
static void print_counters(FILE *out, const kr_device_counters *c)
{
    fprintf(out, "%-8s   per iteration: %llu ops (%llu kernels), %llu GEMMs, %llu copies, "
            "%llu blocking calls, %llu B to and %llu B from the device\n", "", c->ops,
            c->kernels, c->gemms, c->copies, c->blocking, c->bytes_to_device,
            c->bytes_from_device);
}

static cJSON *counters_json(const kr_device_counters *c)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "ops", (double)c->ops);
    cJSON_AddNumberToObject(j, "kernels", (double)c->kernels);
    cJSON_AddNumberToObject(j, "gemms", (double)c->gemms);
    cJSON_AddNumberToObject(j, "copies", (double)c->copies);
    cJSON_AddNumberToObject(j, "blocking", (double)c->blocking);
    cJSON_AddNumberToObject(j, "bytes_to_device", (double)c->bytes_to_device);
    cJSON_AddNumberToObject(j, "bytes_from_device", (double)c->bytes_from_device);
    return j;
}

/* P points of mp candidates each at D-H-H-1 in one kkt object, and the state of their attack
 * (P == 1 is the single-point path). */
typedef struct points_job {
    size_t P;
    long it;
    kr_model *m;
    kr_kkt *k;
    kr_tensor *x, *l, *gx, *gl, *bx, *bl, *lrx, *lrl, *mom;
    kr_kkt_loss loss[16];
} points_job;

static void points_free(points_job *j)
{
    kr_tensor *t[] = {j->x, j->l, j->gx, j->gl, j->bx, j->bl, j->lrx, j->lrl, j->mom};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) kr_tensor_free(t[i]);
    kr_kkt_free(j->k);
    kr_model_free(j->m);
    memset(j, 0, sizeof *j);
}

static kr_status points_new(kr_device *dev, kr_dtype dt, size_t P, size_t mp, size_t d, size_t h,
                            points_job *j)
{
    memset(j, 0, sizeof *j);
    if (P > 16) return KR_FAIL(KR_E_INVALID, "bench: at most 16 points");
    j->P = P;
    kr_kkt_point pts[16];
    double *hx = NULL, *y = NULL;
    const size_t M = P * mp;
    kr_status st;
    KR_TRY_GOTO(make_model(d, h, &j->m));
    if (!(hx = random_matrix(M * d, 0.3, 2)) || !(y = malloc(mp * sizeof *y))) {
        st = KR_FAIL(KR_E_NOMEM, "bench data");
        goto fail;
    }
    for (size_t i = 0; i < mp; i++) y[i] = i < mp / 2 ? -1.0 : 1.0;
    for (size_t p = 0; p < P; p++) pts[p] = (kr_kkt_point){10.0 + 30.0 * (double)p, 0.42};
    KR_TRY_GOTO(kr_kkt_new_points(dev, dt, j->m, KR_ACT_RELU, pts, P, mp, y, &j->k));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "X", &j->x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "dX", &j->gx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, d, "X momentum", &j->bx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lambda", &j->l));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "dlambda", &j->gl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lambda momentum", &j->bl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lr_x", &j->lrx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "lr_lambda", &j->lrl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, M, 1, "momentum", &j->mom));
    KR_TRY_GOTO(kr_tensor_write(j->x, hx));
    KR_TRY_GOTO(kr_tensor_fill(j->l, 0.5));
    KR_TRY_GOTO(kr_tensor_fill(j->lrx, 1e-6));
    KR_TRY_GOTO(kr_tensor_fill(j->lrl, 1e-6));
    KR_TRY_GOTO(kr_tensor_fill(j->mom, 0.9));
fail:
    free(hx);
    free(y);
    if (st != KR_OK) points_free(j);
    return st;
}

/* One iteration (loss, gradient, SGD-momentum steps with per-row lr), the losses read and the
 * device finished: its seconds. counters (or NULL): the device's counters of the iteration
 * before the read (what runs between log intervals). */
static kr_status points_iterate(points_job *j, kr_device *dev, double *sec,
                                kr_device_counters *counters)
{
    double t0 = kr_time_now();
    if (counters) kr_device_counters_reset(dev);
    KR_TRY(kr_kkt_eval(j->k, j->x, j->l, j->gx, j->gl));
    const long it = j->it++ ? 1 : 0;
    if (j->P == 1) { /* exactly what a single-point attack iteration does */
        KR_TRY(kr_optim_sgd_pair(1e-6, 1e-6, 0.9, it, j->x, j->gx, j->bx, j->l, j->gl, j->bl));
    } else {
        KR_TRY(kr_optim_sgd_rows(j->lrx, j->mom, it, j->x, j->gx, j->bx));
        KR_TRY(kr_optim_sgd_rows(j->lrl, j->mom, it, j->l, j->gl, j->bl));
    }
    if (counters) kr_device_counters_get(dev, counters);
    KR_TRY(kr_kkt_read_losses(j->k, j->loss, NULL));
    KR_TRY(kr_device_finish(dev));
    *sec = kr_time_now() - t0;
    return KR_OK;
}

/* P batched points against P sequential single-point iterations, the two timed alternately
 * (one iteration each per round, after one untimed round) so that both see the same machine:
 * medians of the rounds. rounds: reps, raised (budget_s > 0) to about min(budget_s, 0.5)
 * seconds of the batched work; at most 64. */
static kr_status bench_points(kr_device *dev, kr_dtype dt, points_job *single, size_t P,
                              size_t mp, size_t d, size_t h, int reps, double budget_s,
                              double *sec1, double *sec, kr_device_counters *per_iter)
{
    points_job pj, *batch = single;
    if (P > 1) {
        KR_TRY(points_new(dev, dt, P, mp, d, h, &pj));
        batch = &pj;
    }
    double t1[64], tp[64], warm;
    kr_status st;
    KR_TRY_GOTO(points_iterate(single, dev, &warm, NULL));
    KR_TRY_GOTO(points_iterate(batch, dev, &warm, per_iter));
    int rounds = reps > 0 ? reps : 1;
    const double target = budget_s < 0.5 ? budget_s : 0.5;
    if (warm > 0 && target > 0 && rounds < (int)(target / warm)) rounds = (int)(target / warm);
    if (rounds > 64) rounds = 64;
    for (int r = 0; r < rounds; r++) {
        KR_TRY_GOTO(points_iterate(single, dev, &t1[r], NULL));
        if (P == 1) tp[r] = t1[r];
        else KR_TRY_GOTO(points_iterate(batch, dev, &tp[r], NULL));
    }
    *sec1 = kr_median(t1, (size_t)rounds);
    *sec = kr_median(tp, (size_t)rounds);
fail:
    if (P > 1) points_free(&pj);
    return st;
}

/* Time to the first attack iteration on a fresh instance of the device: open it (its own
 * context), build what the precision needs, set up the attack at the benchmark's size, run one
 * iteration and wait for it. cold: with an empty program cache of our own (a temporary folder;
 * a driver's own cache, e.g. PoCL's, may still hold the kernels, and CLBlast compiles its
 * kernels for every new context in any case); warm: again, with the cache that run filled. */
static kr_status start_time(const kr_device *dev, kr_dtype dt, const kr_bench_opts *o,
                            double sec[2])
{
    const kr_device_info *info = kr_device_get_info(dev);
    char spec[32], dir[64] = "/tmp/kktrecon-bench-cache-XXXXXX", old[4096] = "";
    if (info->backend == KR_BACKEND_HOST)
        snprintf(spec, sizeof spec, "host");
    else
        snprintf(spec, sizeof spec, "%d:%d", info->platform, info->device);
    const char *prev = getenv("KKTRECON_CACHE_DIR");
    const bool had = prev != NULL;
    if (had) snprintf(old, sizeof old, "%s", prev);
    if (!mkdtemp(dir)) return KR_FAIL(KR_E_IO, "bench: cannot create a temporary cache folder");
    setenv("KKTRECON_CACHE_DIR", dir, 1);
    kr_status st = KR_OK;
    for (int t = 0; t < 2 && st == KR_OK; t++) {
        double t0 = kr_time_now();
        kr_device *d2 = NULL;
        bench_work w;
        st = kr_device_open(spec, &d2);
        if (st == KR_OK) st = kr_device_prepare(d2, dt);
        if (st == KR_OK && (st = work_open(d2, dt, o, true, &w)) == KR_OK) {
            st = work_iter(&w, true);
            if (st == KR_OK) st = kr_device_finish(d2);
            work_close(&w);
        }
        sec[t] = kr_time_now() - t0;
        kr_device_close(d2);
    }
    if (had)
        setenv("KKTRECON_CACHE_DIR", old, 1);
    else
        unsetenv("KKTRECON_CACHE_DIR");
    /* The folder holds our own entries only: remove them, then it. */
    DIR *dd = opendir(dir);
    struct dirent *e;
    char path[4200];
    while (dd && (e = readdir(dd)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (dd) closedir(dd);
    rmdir(dir);
    return st;
}

/* The device's facts (kr_device_info) as the schema's "facts" object. */
static cJSON *facts_json(const kr_device_info *i)
{
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    bool host = i->backend == KR_BACKEND_HOST;
    cJSON_AddStringToObject(j, "backend", host ? "host" : "opencl");
    cJSON_AddStringToObject(j, "type", i->type);
    cJSON_AddStringToObject(j, "name", i->name);
    cJSON_AddStringToObject(j, "vendor", i->vendor);
    cJSON_AddStringToObject(j, "platform", host ? "" : i->platform_name);
    cJSON_AddStringToObject(j, "driver", i->driver);
    cJSON_AddStringToObject(j, "opencl_c", i->opencl_c);
    cJSON_AddNumberToObject(j, "compute_units", i->compute_units);
    kr_report_json_number(j, "clock_mhz", i->clock_mhz ? (double)i->clock_mhz : NAN);
    cJSON_AddNumberToObject(j, "global_mem_bytes", (double)i->global_mem);
    cJSON_AddNumberToObject(j, "max_alloc_bytes", (double)i->max_alloc);
    cJSON_AddBoolToObject(j, "fp64", i->fp64);
    cJSON_AddStringToObject(j, "blas", host ? i->platform_name : "CLBlast");
    return j;
}

static cJSON *device_json(cJSON *jdevs, const kr_device_info *info, const char *describe)
{
    if (!jdevs) return NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddItemToArray(jdevs, j);
    cJSON_AddNumberToObject(j, "index", info->index);
    char label[300];
    snprintf(label, sizeof label, "%s", info->name);
    cJSON_AddStringToObject(j, "label", label);
    cJSON_AddStringToObject(j, "describe", describe);
    cJSON_AddItemToObject(j, "facts", facts_json(info));
    return j;
}

void kr_bench_json_open_error(cJSON *jdevs, const kr_device_info *info, const char *message)
{
    cJSON *j = device_json(jdevs, info, "");
    if (!j) return;
    cJSON_AddStringToObject(j, "status", "error");
    cJSON_AddStringToObject(j, "message", message);
}

cJSON *kr_bench_json_new(const kr_bench_opts *o, const char *version)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "schema", KR_BENCH_SCHEMA);
    cJSON_AddStringToObject(root, "kktrecon_version", version ? version : "");
    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    char host[256] = "", cpu[256] = "";
    if (gethostname(host, sizeof host) != 0) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                const char *v = strchr(line, ':') + 1;
                while (*v == ' ' || *v == '\t') v++;
                snprintf(cpu, sizeof cpu, "%s", v);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        fclose(f);
    }
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON_AddStringToObject(mach, "hostname", host);
    cJSON_AddStringToObject(mach, "cpu_model", cpu);
    cJSON_AddNumberToObject(mach, "cpus", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(mach, "date", date);
    cJSON *set = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddStringToObject(set, "size", o->size_name);
    cJSON_AddNumberToObject(set, "d", (double)o->d);
    cJSON_AddNumberToObject(set, "h", (double)o->h);
    cJSON_AddNumberToObject(set, "n", (double)o->n);
    cJSON_AddNumberToObject(set, "m", (double)o->m);
    cJSON_AddNumberToObject(set, "repeat", o->reps);
    cJSON_AddNumberToObject(set, "budget_s", o->budget_s);
    cJSON_AddNumberToObject(set, "spread_target", o->spread_target);
    cJSON_AddNumberToObject(set, "window", KR_BENCH_WINDOW);
    cJSON_AddArrayToObject(root, "devices");
    return root;
}

static void fig_json(cJSON *arr, kr_dtype dt, const char *workload, size_t rows, double flops,
                     const bench_fig *f, double peak, bool suspect)
{
    if (!arr) return;
    cJSON *j = cJSON_CreateObject();
    if (!j) return;
    cJSON_AddItemToArray(arr, j);
    cJSON_AddStringToObject(j, "dtype", kr_dtype_name(dt));
    cJSON_AddStringToObject(j, "workload", workload);
    cJSON_AddNumberToObject(j, "rows", (double)rows);
    cJSON_AddNumberToObject(j, "flop", flops);
    cJSON_AddNumberToObject(j, "pairs", f->pairs);
    cJSON_AddBoolToObject(j, "converged", f->converged);
    cJSON_AddNumberToObject(j, "ms_median", f->ms_med);
    cJSON_AddNumberToObject(j, "ms_min", f->ms_min);
    cJSON_AddNumberToObject(j, "ms_max", f->ms_max);
    cJSON_AddNumberToObject(j, "iterations_per_s", 1e3 / f->ms_med);
    cJSON_AddNumberToObject(j, "gflops", f->gflops);
    cJSON_AddNumberToObject(j, "gemm_gflops", f->gemm_gflops);
    cJSON_AddNumberToObject(j, "fraction_of_gemm", f->ratio);
    kr_report_json_number(j, "fraction_spread", f->spread);
    kr_report_json_number(j, "fraction_of_peak", f->gflops / peak);
    cJSON_AddBoolToObject(j, "suspect", suspect);
    cJSON_AddItemToObject(j, "per_iteration", counters_json(&f->per_iter));
}

static void print_fig(FILE *out, kr_dtype dt, const char *name, const bench_fig *f, double peak,
                      bool suspect)
{
    fprintf(out, "%-8s %-30s %9.2f %7.2f-%-8.2f %8.1f %8.1f %5.2f ±%3.0f%% %5.1f%% %8.1f%s\n",
            kr_dtype_name(dt), name, f->ms_med, f->ms_min, f->ms_max, f->gflops, f->gemm_gflops,
            f->ratio, 100 * f->spread, 100 * f->gflops / peak, 1e3 / f->ms_med,
            suspect ? "  SUSPECT: above 1 on host, where every GEMM is the reference"
            : f->converged || f->pairs < KR_BENCH_WINDOW ? "" : "  (spread above target)");
}

kr_status kr_bench_run(kr_device *dev, const kr_bench_opts *o, FILE *out, cJSON *jdevs)
{
    const kr_device_info *info = kr_device_get_info(dev);
    bool host = kr_device_backend(dev) == KR_BACKEND_HOST;
    fprintf(out, "device %d: %s\n", info->index, kr_device_describe(dev));
    cJSON *jd = device_json(jdevs, info, kr_device_describe(dev));
    cJSON *jst = jd ? cJSON_AddObjectToObject(jd, "selftest") : NULL;

    /* The known-answer self-test gates every timing of this device. */
    for (int i = 0; i < o->n_dtypes; i++) {
        kr_dtype dt = o->dtypes[i];
        if (kr_device_check_dtype(dev, dt) != KR_OK) {
            if (jst) cJSON_AddStringToObject(jst, kr_dtype_name(dt), "unsupported");
            continue;
        }
        kr_status st = kr_selftest_run(dev, dt);
        if (st == KR_E_INTERRUPTED) return st;
        if (st != KR_OK) {
            fprintf(out, "FAILED  self-test %s: %s\n", kr_dtype_name(dt), kr_error_message());
            if (jd) {
                cJSON_AddStringToObject(jst, kr_dtype_name(dt), "failed");
                cJSON_AddStringToObject(jd, "status", "FAILED");
                cJSON_AddStringToObject(jd, "message", kr_error_message());
            }
            fflush(out);
            return KR_OK;
        }
        if (jst) cJSON_AddStringToObject(jst, kr_dtype_name(dt), "passed");
        if (!host) { /* which CLBlast parameters the GEMMs below run (device/gemm_plan.h) */
            char plan[600];
            kr_device_gemm_plan_describe(dev, dt, plan, sizeof plan);
            fprintf(out, "GEMM %s: %s\n", kr_dtype_name(dt), plan);
            cJSON *jp = jd ? cJSON_GetObjectItem(jd, "gemm_plan") : NULL;
            if (jd && !jp) jp = cJSON_AddObjectToObject(jd, "gemm_plan");
            if (jp) cJSON_AddStringToObject(jp, kr_dtype_name(dt), plan);
        }
    }
    fprintf(out, "self-test: passed\n");
    if (jd) cJSON_AddStringToObject(jd, "status", "ok");

    kr_peak pk;
    KR_TRY(kr_peak_measure(dev, &pk));
    char transfers[96] = "no transfers (one memory)";
    if (!isnan(pk.to_device_gbs))
        snprintf(transfers, sizeof transfers, "transfers %.2f GB/s to and %.2f from the device",
                 pk.to_device_gbs, pk.from_device_gbs);
    char dep[96] = "";
    if (!isnan(pk.gflops_dependent[KR_F32]))
        snprintf(dep, sizeof dep, " (dependent chains, clpeak's method: %.1f and %.1f)",
                 pk.gflops_dependent[KR_F32], pk.gflops_dependent[KR_F64]);
    fprintf(out, "limits: compute %.1f GFLOP/s float32, %.1f float64%s; read bandwidth %.1f GB/s; "
            "%s; %.2f us per launch\n",
            pk.gflops[KR_F32], pk.gflops[KR_F64], dep, pk.read_gbs, transfers, pk.launch_us);
    if (jd) {
        cJSON *jl = cJSON_AddObjectToObject(jd, "limits");
        kr_report_json_number(jl, "gflops_float32", pk.gflops[KR_F32]);
        kr_report_json_number(jl, "gflops_float64", pk.gflops[KR_F64]);
        kr_report_json_number(jl, "gflops_float32_dependent", pk.gflops_dependent[KR_F32]);
        kr_report_json_number(jl, "gflops_float64_dependent", pk.gflops_dependent[KR_F64]);
        kr_report_json_number(jl, "read_gbs", pk.read_gbs);
        kr_report_json_number(jl, "to_device_gbs", pk.to_device_gbs);
        kr_report_json_number(jl, "from_device_gbs", pk.from_device_gbs);
        kr_report_json_number(jl, "launch_us", pk.launch_us);
    }
    cJSON *jr = jd ? cJSON_AddArrayToObject(jd, "results") : NULL;
    fprintf(out, "%-8s %-30s %9s %-16s %8s %8s %12s %6s %8s\n", "dtype", "workload", "ms median",
            "min-max", "GFLOP/s", "GEMM", "ratio±spread", "%peak", "it/s");
    for (int i = 0; i < o->n_dtypes; i++) {
        kr_dtype dt = o->dtypes[i];
        if (kr_device_check_dtype(dev, dt) != KR_OK) {
            fprintf(out, "%-8s skipped: %s\n", kr_dtype_name(dt), kr_error_message());
            continue;
        }
        char name[64];
        for (int kind = 0; kind < 2; kind++) {
            bool attack = kind == 1;
            if (attack ? !o->attack : !o->train) continue;
            bench_work w;
            bench_ref r;
            bench_fig f;
            KR_TRY(work_open(dev, dt, o, attack, &w));
            kr_status st = ref_open(dev, dt, o, &r);
            if (st == KR_OK) st = measure(dev, &w, &r, o, &f);
            double flops = w.flops;
            work_close(&w);
            ref_close(&r);
            KR_TRY(st);
            bool suspect = host && f.ratio > 1.0;
            if (attack)
                snprintf(name, sizeof name, "attack iter m=%zu %zu-%zu-%zu-1", o->m, o->d, o->h, o->h);
            else
                snprintf(name, sizeof name, "train step n=%zu %zu-%zu-%zu-1", o->n, o->d, o->h, o->h);
            print_fig(out, dt, name, &f, pk.gflops[dt], suspect);
            print_counters(out, &f.per_iter);
            fig_json(jr, dt, attack ? "attack" : "train", attack ? o->m : o->n, flops, &f,
                     pk.gflops[dt], suspect);
        }
        if (o->points) {
            /* The demo's attack size; "sequential" is P single-point iterations. */
            static const size_t Ps[] = {1, 2, 4, 8, 16};
            double t1 = 0, sec = 0;
            kr_device_counters pc;
            cJSON *jp = jd ? cJSON_GetObjectItem(jd, "points") : NULL;
            if (jd && !jp) jp = cJSON_AddArrayToObject(jd, "points");
            const double flops_point = 2.0 * 160 * (5.0 * 784 * 200 + 7.0 * 200 * 200);
            points_job single;
            KR_TRY(points_new(dev, dt, 1, 160, 784, 200, &single));
            for (size_t p = 0; p < sizeof Ps / sizeof Ps[0]; p++) {
                kr_status st = bench_points(dev, dt, &single, Ps[p], 160, 784, 200, o->reps,
                                            o->budget_s, &t1, &sec, &pc);
                if (st != KR_OK) {
                    points_free(&single);
                    return st;
                }
                snprintf(name, sizeof name, "points P=%zu m=160 784-200-200-1", Ps[p]);
                /* The most batching can give: every point's work at the device's peak against
                 * the single point's measured time. */
                const double bound = t1 * pk.gflops[dt] * 1e9 / flops_point;
                fprintf(out, "%-8s %-30s %9.2f   %.0f point-it/s, %.2fx P sequential (at most "
                        "%.2fx: the device's peak)\n", kr_dtype_name(dt), name, 1e3 * sec,
                        (double)Ps[p] / sec, (double)Ps[p] * t1 / sec, bound);
                print_counters(out, &pc);
                cJSON *j = jp ? cJSON_CreateObject() : NULL;
                if (!j) continue;
                cJSON_AddItemToArray(jp, j);
                cJSON_AddStringToObject(j, "dtype", kr_dtype_name(dt));
                cJSON_AddNumberToObject(j, "points", (double)Ps[p]);
                cJSON_AddNumberToObject(j, "candidates_per_point", 160);
                cJSON_AddStringToObject(j, "model", "784-200-200-1");
                kr_report_json_number(j, "ms_median", 1e3 * sec);
                kr_report_json_number(j, "point_iterations_per_s", (double)Ps[p] / sec);
                kr_report_json_number(j, "vs_sequential", (double)Ps[p] * t1 / sec);
                kr_report_json_number(j, "peak_bound_vs_sequential", bound);
                cJSON_AddItemToObject(j, "per_iteration", counters_json(&pc));
            }
            points_free(&single);
        }
        if (o->start) {
            double sec[2];
            KR_TRY(start_time(dev, dt, o, sec));
            snprintf(name, sizeof name, "first attack iter m=%zu", o->m);
            fprintf(out, "%-8s %-30s %9.0f ms cold (empty program cache), %.0f ms warm\n",
                    kr_dtype_name(dt), name, 1e3 * sec[0], 1e3 * sec[1]);
            cJSON *js = jd ? cJSON_GetObjectItem(jd, "start") : NULL;
            if (jd && !js) js = cJSON_AddArrayToObject(jd, "start");
            cJSON *j = js ? cJSON_CreateObject() : NULL;
            if (j) {
                cJSON_AddItemToArray(js, j);
                cJSON_AddStringToObject(j, "dtype", kr_dtype_name(dt));
                kr_report_json_number(j, "cold_ms", 1e3 * sec[0]);
                kr_report_json_number(j, "warm_ms", 1e3 * sec[1]);
            }
        }
        fflush(out);
    }
    return KR_OK;
}
