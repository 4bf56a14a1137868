/* attack.c — the KKT attack driver: candidate initialisation (DESIGN §3), the optimisation
 * loop with progress, NaN/Inf guard, atomic checkpoints and bit-exact resume, and the
 * one-shot `kkt` evaluation. The loss and gradient are kkt.c; the update rules are ops.h
 * (kr_op_sgd / kr_op_adam, PyTorch's definitions).
 */
#include "app/attack.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kkt.h"
#include "base/log.h"
#include "io/model_io.h"
#include "device/ops.h"
#include "io/report.h"
#include "base/rng.h"
#include "io/safetensors.h"
#include "device/tensor.h"

/* The optimisation state: what a checkpoint must hold to continue bit-for-bit. */
typedef struct state {
    kr_tensor *x, *lambda;   /* m×D, m×1 */
    kr_tensor *gx, *glambda; /* gradients, same shapes */
    kr_tensor *bx, *blambda; /* SGD momentum buffers, or Adam first moments */
    kr_tensor *vx, *vlambda; /* Adam second moments (NULL for SGD) */
} state;

static void state_free(state *s)
{
    kr_tensor_free(s->x);
    kr_tensor_free(s->lambda);
    kr_tensor_free(s->gx);
    kr_tensor_free(s->glambda);
    kr_tensor_free(s->bx);
    kr_tensor_free(s->blambda);
    kr_tensor_free(s->vx);
    kr_tensor_free(s->vlambda);
    memset(s, 0, sizeof *s);
}

static kr_status state_new(kr_device *dev, kr_dtype dt, size_t m, size_t d, bool adam, state *s)
{
    memset(s, 0, sizeof *s);
    kr_status st;
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "X", &s->x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "lambda", &s->lambda));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "dX", &s->gx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "dlambda", &s->glambda));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "X momentum", &s->bx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "lambda momentum", &s->blambda));
    if (adam) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "X second moment", &s->vx));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "lambda second moment", &s->vlambda));
    }
    return KR_OK;
fail:
    state_free(s);
    return st;
}

/* Tensors of a checkpoint, in file order; entries with t == NULL are skipped. */
typedef struct ck_entry {
    const char *name;
    kr_tensor *t;
} ck_entry;

static size_t ck_entries(state *s, ck_entry *e)
{
    size_t n = 0;
    e[n++] = (ck_entry){"x", s->x};
    e[n++] = (ck_entry){"lambda", s->lambda};
    e[n++] = (ck_entry){"opt.x.buf", s->bx};
    e[n++] = (ck_entry){"opt.lambda.buf", s->blambda};
    if (s->vx) {
        e[n++] = (ck_entry){"opt.x.v", s->vx};
        e[n++] = (ck_entry){"opt.lambda.v", s->vlambda};
    }
    return n;
}

static kr_st_dtype st_dtype(kr_dtype dt) { return dt == KR_F64 ? KR_ST_F64 : KR_ST_F32; }

static bool all_finite(const void *raw, size_t n, kr_dtype dt)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dt == KR_F64 ? ((const double *)raw)[i] : ((const float *)raw)[i])) return false;
    return true;
}

/* Writes the state (raw, bit-exact) plus y and the iteration reached; refuses non-finite
 * state, so a checkpoint on disk is always a good point to resume from. */
static kr_status write_checkpoint(const char *path, state *s, const double *y, long iteration,
                                  const kr_config *cfg, kr_device *dev, const char *model_path)
{
    ck_entry ce[8];
    size_t n = ck_entries(s, ce);
    kr_st_entry ent[10];
    void *raw[8] = {0};
    kr_status st = KR_OK;
    int64_t it = iteration;
    for (size_t i = 0; i < n; i++) {
        kr_tensor *t = ce[i].t;
        if (!(raw[i] = malloc(kr_tensor_numel(t) * kr_dtype_size(t->dtype) + 1))) {
            st = KR_FAIL(KR_E_NOMEM, "checkpoint buffer for %s", ce[i].name);
            goto done;
        }
        if ((st = kr_tensor_read_raw(t, raw[i])) != KR_OK) goto done;
        if (!all_finite(raw[i], kr_tensor_numel(t), t->dtype)) {
            st = KR_FAIL(KR_E_NUMERIC, "attack diverged before iteration %ld (non-finite %s); the "
                         "last good checkpoint is kept: lower attack.lr_x or attack.alpha",
                         iteration, ce[i].name);
            goto done;
        }
        ent[i] = (kr_st_entry){.name = ce[i].name, .dtype = st_dtype(t->dtype), .data = raw[i]};
        if (t->cols == 1) {
            ent[i].ndim = 1;
            ent[i].shape[0] = t->rows;
        } else {
            ent[i].ndim = 2;
            ent[i].shape[0] = t->rows;
            ent[i].shape[1] = t->cols;
        }
    }
    ent[n++] = (kr_st_entry){.name = "y", .dtype = KR_ST_F64, .ndim = 1, .shape = {s->x->rows},
                             .data = y};
    ent[n++] = (kr_st_entry){.name = "iteration", .dtype = KR_ST_I64, .ndim = 0, .data = &it};
    char alpha[32], lmin[32], seed[32];
    snprintf(alpha, sizeof alpha, "%.17g", cfg->attack.alpha);
    snprintf(lmin, sizeof lmin, "%.17g", cfg->attack.lambda_min);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->attack.seed);
    kr_st_meta meta[] = {
        {"format", "kktrecon-candidates"},
        {"model", model_path},
        {"alpha", alpha},
        {"lambda_min", lmin},
        {"seed", seed},
        {"optimizer", cfg->attack.optimizer == KR_OPT_ADAM ? "adam" : "sgd"},
        {"precision", kr_dtype_name(s->x->dtype)},
        {"activation", cfg->attack.activation == KR_ACT_SOFTPLUS ? "softplus" : "relu"},
        {"device", kr_device_describe(dev)},
    };
    st = kr_st_write(path, ent, n, meta, sizeof meta / sizeof meta[0]);
done:
    for (size_t i = 0; i < 8; i++) free(raw[i]);
    return st;
}

/* Restores the state from a checkpoint written by write_checkpoint (same dtype and sizes). */
static kr_status read_checkpoint(const char *path, state *s, long *iteration)
{
    FILE *probe = fopen(path, "rb");
    if (!probe)
        return KR_FAIL(KR_E_IO, "--resume: no checkpoint to resume from at %s (%s); start the "
                       "attack without --resume", path, strerror(errno));
    fclose(probe);
    kr_st_file *f;
    KR_TRY(kr_st_open(path, &f));
    kr_status st = KR_OK;
    ck_entry ce[8];
    size_t n = ck_entries(s, ce);
    void *raw = NULL;
    const char *prec = kr_st_metadata(f, "precision");
    if (prec && strcmp(prec, kr_dtype_name(s->x->dtype))) {
        st = KR_FAIL(KR_E_INVALID, "%s: checkpoint is %s but attack.precision is %s; a resume "
                     "must use the same precision", path, prec, kr_dtype_name(s->x->dtype));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        kr_tensor *t = ce[i].t;
        size_t shape[2] = {t->rows, t->cols};
        int ndim = t->cols == 1 ? 1 : 2;
        free(raw);
        if (!(raw = malloc(kr_tensor_numel(t) * 8 + 8))) {
            st = KR_FAIL(KR_E_NOMEM, "checkpoint buffer");
            goto done;
        }
        st = t->dtype == KR_F64 ? kr_st_read_f64(f, ce[i].name, ndim, shape, raw)
                                : kr_st_read_f32(f, ce[i].name, ndim, shape, raw);
        if (st != KR_OK) {
            kr_error_context(st, "resuming from %s (the run's configuration or optimizer changed?)", path);
            goto done;
        }
        if ((st = kr_tensor_write_raw(t, raw)) != KR_OK) goto done;
    }
    int64_t it;
    if ((st = kr_st_read_i64_scalar(f, "iteration", &it)) != KR_OK) goto done;
    *iteration = (long)it;
done:
    free(raw);
    kr_st_close(f);
    return st;
}

/* Keeps the lines of attack.jsonl from before `start` (a resumed run rewrites the rest). */
static kr_status trim_log(const char *path, long start)
{
    FILE *in = fopen(path, "r");
    if (!in) return KR_OK;
    FILE *out;
    kr_status st = kr_report_open(path, &out);
    if (st != KR_OK) {
        fclose(in);
        return st;
    }
    char line[4096];
    while (fgets(line, sizeof line, in)) {
        const char *p = strstr(line, "\"iteration\":");
        if (p && strtol(p + 12, NULL, 10) < start) fputs(line, out);
    }
    fclose(in);
    return kr_report_close(out, path, KR_OK);
}

static kr_status optimizer_step(const kr_config *cfg, state *s, long it)
{
    const double mom = cfg->attack.momentum;
    if (cfg->attack.optimizer == KR_OPT_ADAM) {
        KR_TRY(kr_op_adam(cfg->attack.lr_x, 0.9, 0.999, 1e-8, it + 1, s->x, s->gx, s->bx, s->vx));
        return kr_op_adam(cfg->attack.lr_lambda, 0.9, 0.999, 1e-8, it + 1, s->lambda, s->glambda,
                          s->blambda, s->vlambda);
    }
    KR_TRY(kr_op_sgd(cfg->attack.lr_x, mom, it == 0, s->x, s->gx, s->bx));
    return kr_op_sgd(cfg->attack.lr_lambda, mom, it == 0, s->lambda, s->glambda, s->blambda);
}

static void log_json(FILE *f, long it, const kr_kkt_loss *l, double seconds)
{
    if (!f) return;
    fprintf(f, "{\"iteration\": %ld, \"loss\": %.10g, \"loss_kkt\": %.10g, \"loss_prior\": %.10g, "
            "\"loss_lambda\": %.10g, \"seconds\": %.3f}\n",
            it, l->total, l->kkt, l->prior, l->lambda, seconds);
    fflush(f);
}

/* Candidate count: attack.candidates, else twice the training-set size the model reports
 * (metadata n_train), else twice 2·data.per_class. */
static size_t candidate_count(const kr_config *cfg, const char *model_path)
{
    if (cfg->attack.candidates > 0) return (size_t)cfg->attack.candidates;
    kr_st_file *f;
    size_t n = 2 * (size_t)cfg->data.per_class;
    if (kr_st_open(model_path, &f) == KR_OK) {
        const char *v = kr_st_metadata(f, "n_train");
        if (v && atol(v) > 0) n = (size_t)atol(v);
        kr_st_close(f);
    }
    kr_error_clear();
    return 2 * n;
}

kr_status kr_attack_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                        const char *out_dir, bool resume, kr_attack_result *res)
{
    memset(res, 0, sizeof *res);
    const kr_dtype dt = cfg->attack.precision;
    kr_model *model = NULL;
    kr_kkt *kkt = NULL;
    state s = {0};
    double *y = NULL, *host = NULL;
    FILE *jl = NULL;
    kr_status st;
    char ck_path[4200], log_path[4200], path[4200];

    KR_TRY(kr_config_validate(cfg));
    KR_TRY(kr_device_check_dtype(dev, dt));
    KR_TRY(kr_report_mkdir(out_dir));
    KR_TRY(kr_report_path(ck_path, sizeof ck_path, out_dir, "candidates.safetensors"));
    KR_TRY(kr_report_path(log_path, sizeof log_path, out_dir, "attack.jsonl"));
    KR_TRY(kr_model_load(model_path, &model));

    const size_t m = candidate_count(cfg, model_path), d = model->dims[0];
    res->m = m;
    res->d = d;
    const kr_kkt_opts o = {cfg->attack.activation, cfg->attack.alpha, cfg->attack.lambda_min};
    if (!(y = malloc(m * sizeof *y)) || !(host = malloc((m * d + m) * sizeof *host))) {
        st = KR_FAIL(KR_E_NOMEM, "attack buffers for %zu candidates", m);
        goto fail;
    }
    /* Labels: first half −1, the rest +1 (DESIGN §3). */
    for (size_t i = 0; i < m; i++) y[i] = i < m / 2 ? -1.0 : 1.0;
    KR_TRY_GOTO(kr_kkt_new(dev, dt, model, &o, m, y, &kkt));
    KR_TRY_GOTO(state_new(dev, dt, m, d, cfg->attack.optimizer == KR_OPT_ADAM, &s));

    long start = 0;
    if (resume) {
        KR_TRY_GOTO(read_checkpoint(ck_path, &s, &start));
        KR_TRY_GOTO(trim_log(log_path, start));
        kr_log_info("attack: resuming %s at iteration %ld", ck_path, start);
    } else {
        /* X ~ N(0,1)·init_scale (row-major), then λ ~ U[0,1), from one seeded stream. */
        kr_rng r;
        kr_rng_seed(&r, cfg->attack.seed);
        for (size_t i = 0; i < m * d; i++) host[i] = kr_rng_normal(&r) * cfg->attack.init_scale;
        for (size_t i = 0; i < m; i++) host[m * d + i] = kr_rng_uniform(&r);
        KR_TRY_GOTO(kr_tensor_write(s.x, host));
        KR_TRY_GOTO(kr_tensor_write(s.lambda, host + m * d));
        remove(log_path);
    }
    res->start_iteration = start;
    if (!(jl = fopen(log_path, "a"))) {
        st = KR_FAIL(KR_E_IO, "cannot write %s: %s", log_path, strerror(errno));
        goto fail;
    }
    char arch[256];
    kr_model_describe(model, arch, sizeof arch);
    kr_log_info("attack: model %s, %zu candidates, %s, %s, alpha %g, lambda_min %g, lr_x %g, "
                "%s", arch, m, kr_dtype_name(dt), cfg->attack.optimizer == KR_OPT_ADAM ? "adam" : "sgd",
                cfg->attack.alpha, cfg->attack.lambda_min, cfg->attack.lr_x, kr_device_describe(dev));

    /* Test hook: KKTRECON_TEST_KILL_AT=N kills the process (SIGKILL, no clean-up) when
     * iteration N starts, so the resume test can interrupt a run at an exact point. */
    const char *kill_env = getenv("KKTRECON_TEST_KILL_AT");
    const long kill_at = kill_env && *kill_env ? atol(kill_env) : -1;
    const long total = cfg->attack.iterations;
    kr_progress prog;
    kr_progress_begin(&prog, "attack", start, total);
    kr_kkt_loss loss = {0};
    long it = start;
    for (; it < total; it++) {
        if (it == kill_at) raise(SIGKILL);
        if (kr_interrupted()) {
            KR_TRY_GOTO(write_checkpoint(ck_path, &s, y, it, cfg, dev, model_path));
            st = KR_FAIL(KR_E_INTERRUPTED, "attack interrupted at iteration %ld; checkpoint "
                         "written, continue with --resume", it);
            goto fail;
        }
        double xsq;
        KR_TRY_GOTO(kr_kkt_eval(kkt, s.x, s.lambda, s.gx, s.glambda));
        KR_TRY_GOTO(kr_kkt_read_loss(kkt, &loss, &xsq));
        if (!isfinite(loss.total) || !isfinite(xsq)) {
            st = KR_FAIL(KR_E_NUMERIC, "attack diverged at iteration %ld (loss %g, |X|² %g); the "
                         "last good checkpoint is kept: lower attack.lr_x or attack.alpha",
                         it, loss.total, xsq);
            goto fail;
        }
        bool log_now = it == start || (cfg->attack.log_every > 0 && it % cfg->attack.log_every == 0);
        if (log_now) {
            log_json(jl, it, &loss, kr_time_now() - prog.t0);
            char extra[160];
            snprintf(extra, sizeof extra, "loss %.4e  kkt %.4e  prior %.3e  lambda %.3e",
                     loss.total, loss.kkt, loss.prior, loss.lambda);
            if (it > start) kr_progress_line(&prog, it, extra);
        }
        KR_TRY_GOTO(optimizer_step(cfg, &s, it));
        long done = it + 1;
        if (cfg->attack.checkpoint_every > 0 && done % cfg->attack.checkpoint_every == 0 &&
            done < total)
            KR_TRY_GOTO(write_checkpoint(ck_path, &s, y, done, cfg, dev, model_path));
    }
    /* The loss at the final point (after the last step). */
    KR_TRY_GOTO(kr_kkt_eval(kkt, s.x, s.lambda, NULL, NULL));
    double xsq;
    KR_TRY_GOTO(kr_kkt_read_loss(kkt, &loss, &xsq));
    if (!isfinite(loss.total) || !isfinite(xsq)) {
        st = KR_FAIL(KR_E_NUMERIC, "attack ended on non-finite values (loss %g); the last good "
                     "checkpoint is kept", loss.total);
        goto fail;
    }
    log_json(jl, total, &loss, kr_time_now() - prog.t0);
    res->seconds = kr_time_now() - prog.t0;
    res->iterations = total;
    res->loss = loss;
    KR_TRY_GOTO(write_checkpoint(ck_path, &s, y, total, cfg, dev, model_path));

    cJSON *j = cJSON_CreateObject();
    if (!j) {
        st = KR_FAIL(KR_E_NOMEM, "attack.json");
        goto fail;
    }
    cJSON_AddStringToObject(j, "model", model_path);
    cJSON_AddNumberToObject(j, "candidates", (double)m);
    cJSON_AddNumberToObject(j, "iterations", (double)total);
    cJSON_AddNumberToObject(j, "resumed_from", (double)start);
    kr_report_json_number(j, "loss", loss.total);
    kr_report_json_number(j, "loss_kkt", loss.kkt);
    kr_report_json_number(j, "loss_prior", loss.prior);
    kr_report_json_number(j, "loss_lambda", loss.lambda);
    kr_report_json_number(j, "seconds", res->seconds);
    kr_report_json_number(j, "iterations_per_second",
                          res->seconds > 0 ? (double)(total - start) / res->seconds : NAN);
    cJSON_AddStringToObject(j, "precision", kr_dtype_name(dt));
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    st = kr_report_path(path, sizeof path, out_dir, "attack.json");
    if (st == KR_OK) st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    if (st != KR_OK) goto fail;
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "config.ini"));
    FILE *cf;
    KR_TRY_GOTO(kr_report_open(path, &cf));
    kr_config_write(cfg, cf);
    KR_TRY_GOTO(kr_report_close(cf, path, KR_OK));
    kr_log_info("attack: %ld iterations in %.1fs: loss %.4e (kkt %.4e, prior %.3e, lambda %.3e)",
                total - start, res->seconds, loss.total, loss.kkt, loss.prior, loss.lambda);
    st = KR_OK;
fail:
    if (jl) fclose(jl);
    state_free(&s);
    kr_kkt_free(kkt);
    kr_model_free(model);
    free(y);
    free(host);
    return st;
}

kr_status kr_attack_load_candidates(const char *path, size_t *m, size_t *d, double **x,
                                    double **lambda, double **y)
{
    if (x) *x = NULL;
    if (lambda) *lambda = NULL;
    if (y) *y = NULL;
    kr_st_file *f;
    KR_TRY(kr_st_open(path, &f));
    kr_status st;
    const kr_st_tensor *tx;
    KR_TRY_GOTO(kr_st_get(f, "x", &tx));
    if (tx->ndim != 2) {
        st = KR_FAIL(KR_E_INVALID, "%s: tensor 'x' must be m×D (2-D), has %d dims", path, tx->ndim);
        goto fail;
    }
    *m = tx->shape[0];
    *d = tx->shape[1];
    if (*m == 0 || *d == 0) { /* else a header alone could claim any m (found by fuzz_candidates) */
        st = KR_FAIL(KR_E_INVALID, "%s: tensor 'x' is %zu x %zu; expected m x D with m, D > 0",
                     path, *m, *d);
        goto fail;
    }
    size_t shp[1] = {*m};
    if (x) {
        if (!(*x = malloc(*m * *d * sizeof **x + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "x", 2, tx->shape, *x));
    }
    if (lambda) {
        if (!(*lambda = malloc(*m * sizeof **lambda + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "lambda", 1, shp, *lambda));
    }
    if (y) {
        if (!(*y = malloc(*m * sizeof **y + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "y", 1, shp, *y));
    }
    kr_st_close(f);
    return KR_OK;
nomem:
    st = KR_FAIL(KR_E_NOMEM, "reading %s", path);
fail:
    kr_st_close(f);
    if (x) free(*x), *x = NULL;
    if (lambda) free(*lambda), *lambda = NULL;
    if (y) free(*y), *y = NULL;
    return st;
}

kr_status kr_attack_eval_point(kr_device *dev, kr_dtype dt, const char *model_path,
                               const char *candidates_path, const kr_kkt_opts *o,
                               const char *out_path, kr_kkt_loss *loss)
{
    kr_model *model = NULL;
    kr_kkt *kkt = NULL;
    kr_tensor *tx = NULL, *tl = NULL, *gx = NULL, *gl = NULL;
    double *x = NULL, *lambda = NULL, *y = NULL, *hgx = NULL, *hgl = NULL;
    size_t m, d;
    kr_status st;
    KR_TRY(kr_model_load(model_path, &model));
    KR_TRY_GOTO(kr_attack_load_candidates(candidates_path, &m, &d, &x, &lambda, &y));
    if (d != model->dims[0]) {
        st = KR_FAIL(KR_E_INVALID, "%s: candidates have %zu values each but the model %s takes "
                     "%zu inputs", candidates_path, d, model_path, model->dims[0]);
        goto fail;
    }
    KR_TRY_GOTO(kr_kkt_new(dev, dt, model, o, m, y, &kkt));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "X", &tx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "lambda", &tl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "dX", &gx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "dlambda", &gl));
    KR_TRY_GOTO(kr_tensor_write(tx, x));
    KR_TRY_GOTO(kr_tensor_write(tl, lambda));
    KR_TRY_GOTO(kr_kkt_eval(kkt, tx, tl, gx, gl));
    KR_TRY_GOTO(kr_kkt_read_loss(kkt, loss, NULL));
    if (!(hgx = malloc(m * d * sizeof *hgx)) || !(hgl = malloc(m * sizeof *hgl))) {
        st = KR_FAIL(KR_E_NOMEM, "gradient buffers");
        goto fail;
    }
    KR_TRY_GOTO(kr_tensor_read(gx, hgx));
    KR_TRY_GOTO(kr_tensor_read(gl, hgl));
    kr_st_entry e[] = {
        {.name = "loss", .dtype = KR_ST_F64, .ndim = 0, .data = &loss->total},
        {.name = "loss_kkt", .dtype = KR_ST_F64, .ndim = 0, .data = &loss->kkt},
        {.name = "loss_prior", .dtype = KR_ST_F64, .ndim = 0, .data = &loss->prior},
        {.name = "loss_lambda", .dtype = KR_ST_F64, .ndim = 0, .data = &loss->lambda},
        {.name = "loss_kkt_per_tensor", .dtype = KR_ST_F64, .ndim = 1,
         .shape = {(size_t)loss->n_tensors}, .data = loss->kkt_per_tensor},
        {.name = "grad_x", .dtype = KR_ST_F64, .ndim = 2, .shape = {m, d}, .data = hgx},
        {.name = "grad_lambda", .dtype = KR_ST_F64, .ndim = 1, .shape = {m}, .data = hgl},
    };
    char alpha[32], lmin[32];
    snprintf(alpha, sizeof alpha, "%.17g", o->alpha);
    snprintf(lmin, sizeof lmin, "%.17g", o->lambda_min);
    kr_st_meta meta[] = {
        {"format", "kktrecon-kkt-eval"},
        {"alpha", alpha},
        {"lambda_min", lmin},
        {"activation", o->act == KR_ACT_SOFTPLUS ? "softplus" : "relu"},
        {"precision", kr_dtype_name(dt)},
        {"per_tensor_order", model->b1 ? "layers.0.weight, layers.0.bias, layers.1.weight, ..."
                                       : "layers.0.weight, layers.1.weight, ..."},
        {"device", kr_device_describe(dev)},
    };
    st = kr_st_write(out_path, e, sizeof e / sizeof e[0], meta, sizeof meta / sizeof meta[0]);
fail:
    kr_tensor_free(tx);
    kr_tensor_free(tl);
    kr_tensor_free(gx);
    kr_tensor_free(gl);
    kr_kkt_free(kkt);
    kr_model_free(model);
    free(x);
    free(lambda);
    free(y);
    free(hgx);
    free(hgl);
    return st;
}
