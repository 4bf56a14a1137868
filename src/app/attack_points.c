/* attack_points.c — many hyperparameter points in one device job: the batch engine
 * (kr_attack_points_batch, shared by `attack` with attack.points_file and by `sweep`) and the
 * attack command's points mode (attack.h).
 *
 * Each point is the [attack] configuration with the point's values set through the same
 * `--set` path (so the same ranges and messages apply), initialised exactly as a single run
 * with its seed would be (X ~ N(0,1)·init_scale row-major, then λ ~ U[0,1), one stream), and
 * optimised by SGD with its own lr_x, lr_lambda and momentum (per-row rates,
 * kr_optim_sgd_rows); its loss and gradient are those of a single run with its α and λ_min
 * (nn/kkt.h points). Rows of different points never mix (every GEMM is row-wise or per point
 * block, every reduction per point: nn/kkt.c), so a point that diverges is marked, its rows
 * are zeroed and frozen (learning rates 0: they stay finite, so checkpoints stay writable) and
 * the others go on bit for bit as if it had not been there.
 *
 * Checkpoints: with a checkpoint path the batch's stacked state (all P·m rows, checkpoint.h) is
 * written every attack.checkpoint_every iterations, after a per-point finiteness check of the
 * whole state; a resume restores it raw and continues bit for bit (same device and precision).
 * Which points failed is the caller's record (the sweep's manifest): they come in frozen.
 * Not here: Adam per row.
 */
#include "app/attack.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/runid.h"
#include "base/alloc.h"
#include "base/log.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "io/points.h"
#include "io/report.h"
#include "nn/kkt.h"
#include "nn/optim.h"

static const char *const POINT_COLUMNS[] = {"init_scale", "lr_x",  "lr_lambda", "momentum",
                                            "lambda_min", "alpha", "seed",      NULL};

kr_status kr_attack_points_configs_table(const kr_config *cfg, const kr_points_table *t,
                                         const char *what, kr_config *pc)
{
    for (size_t c = 0; c < t->cols; c++) {
        bool known = false;
        for (int k = 0; POINT_COLUMNS[k]; k++) known |= !strcmp(t->names[c], POINT_COLUMNS[k]);
        if (!known)
            return KR_FAIL(KR_E_INVALID, "%s: unknown column '%s' (allowed: init_scale, lr_x, "
                           "lr_lambda, momentum, lambda_min, alpha, seed)", what, t->names[c]);
    }
    for (size_t p = 0; p < t->rows; p++) {
        pc[p] = *cfg;
        for (size_t c = 0; c < t->cols; c++) {
            double v = t->v[p * t->cols + c];
            if (!strcmp(t->names[c], "seed") && (v < 0 || v != floor(v) || v > 9007199254740992.0))
                return KR_FAIL(KR_E_INVALID, "%s: point %zu: seed %.17g is not a whole number "
                               "in [0, 2^53]", what, p, v);
            char set[96];
            snprintf(set, sizeof set, "attack.%s=%.17g", t->names[c], v);
            kr_status st = kr_config_set(&pc[p], set);
            if (st == KR_OK) st = kr_config_validate(&pc[p]);
            if (st != KR_OK) return kr_error_context(st, "%s: point %zu", what, p);
        }
    }
    return KR_OK;
}

kr_status kr_attack_points_configs(const kr_config *cfg, const char *file, kr_config **out,
                                   size_t *n)
{
    *out = NULL;
    *n = 0;
    kr_points_table t;
    KR_TRY(kr_points_read(file, &t));
    kr_config *pc = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&pc, "points", t.rows, 1, sizeof *pc));
    KR_TRY_GOTO(kr_attack_points_configs_table(cfg, &t, file, pc));
    *out = pc;
    *n = t.rows;
    kr_points_free(&t);
    return KR_OK;
fail:
    free(pc);
    kr_points_free(&t);
    return st;
}

kr_attack_point kr_attack_points_values(const kr_config *pc)
{
    return (kr_attack_point){.init_scale = pc->attack.init_scale, .lr_x = pc->attack.lr_x,
                             .lr_lambda = pc->attack.lr_lambda, .momentum = pc->attack.momentum,
                             .lambda_min = pc->attack.lambda_min, .alpha = pc->attack.alpha,
                             .seed = pc->attack.seed};
}

/* point.json: values, status, final loss terms and per-tensor residuals, device, time. */
static kr_status write_point_json(const char *dir, size_t id, const kr_config *pc,
                                  kr_device *dev, const kr_points_outcome *o)
{
    char path[4500];
    cJSON *j = cJSON_CreateObject();
    if (!j) return KR_FAIL(KR_E_NOMEM, "point.json");
    cJSON_AddNumberToObject(j, "point", (double)id);
    cJSON_AddStringToObject(j, "status", o->failed ? "diverged" : "done");
    if (o->failed) cJSON_AddStringToObject(j, "reason", o->reason);
    cJSON *v = cJSON_AddObjectToObject(j, "values");
    const double values[] = {pc->attack.init_scale, pc->attack.lr_x,       pc->attack.lr_lambda,
                             pc->attack.momentum,   pc->attack.lambda_min, pc->attack.alpha,
                             (double)pc->attack.seed};
    for (int k = 0; POINT_COLUMNS[k]; k++) cJSON_AddNumberToObject(v, POINT_COLUMNS[k], values[k]);
    kr_report_json_number(j, "loss", o->loss.total);
    kr_report_json_number(j, "loss_kkt", o->loss.kkt);
    kr_report_json_number(j, "loss_prior", o->loss.prior);
    kr_report_json_number(j, "loss_lambda", o->loss.lambda);
    cJSON *per = cJSON_AddArrayToObject(j, "loss_kkt_per_tensor");
    for (int t = 0; t < o->loss.n_tensors; t++)
        cJSON_AddItemToArray(per, cJSON_CreateNumber(o->loss.kkt_per_tensor[t]));
    cJSON_AddNumberToObject(j, "iterations", (double)o->iterations);
    kr_report_json_number(j, "seconds", o->seconds);
    cJSON_AddStringToObject(j, "precision", kr_dtype_name(pc->attack.precision));
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    snprintf(path, sizeof path, "%s/point.json", dir);
    kr_status st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    return st;
}

/* Point p's rows [p·m, (p+1)·m) of the stacked state, as a single run's state. */
static kr_attack_state point_state(kr_attack_state *all, size_t p, size_t m, kr_tensor v[4])
{
    v[0] = kr_tensor_rows(all->x, p * m, m);
    v[1] = kr_tensor_rows(all->lambda, p * m, m);
    v[2] = kr_tensor_rows(all->bx, p * m, m);
    v[3] = kr_tensor_rows(all->blambda, p * m, m);
    return (kr_attack_state){.x = &v[0], .lambda = &v[1], .bx = &v[2], .blambda = &v[3]};
}

/* A column tensor (rows × 1) holding value_of(point) on each of the point's m rows. */
static kr_status per_row(kr_device *dev, kr_dtype dt, const kr_config *pc, size_t P, size_t m,
                         double (*value_of)(const kr_config *), const char *name, kr_tensor **out)
{
    double *h = NULL;
    KR_TRY(kr_alloc((void **)&h, name, P, m, sizeof *h));
    for (size_t p = 0; p < P; p++)
        for (size_t i = 0; i < m; i++) h[p * m + i] = value_of(&pc[p]);
    kr_status st = kr_tensor_new(dev, dt, P * m, 1, name, out);
    if (st == KR_OK) st = kr_tensor_write(*out, h);
    free(h);
    return st;
}
static double lr_x_of(const kr_config *c) { return c->attack.lr_x; }
static double lr_lambda_of(const kr_config *c) { return c->attack.lr_lambda; }
static double momentum_of(const kr_config *c) { return c->attack.momentum; }

/* Freezes point p: its state rows zeroed and its learning rates 0, so it stays finite and
 * touches nothing (its rows are its own). */
static kr_status freeze(kr_attack_state *s, kr_tensor *lrx, kr_tensor *lrl, size_t p, size_t m)
{
    kr_tensor v[4];
    kr_attack_state ps = point_state(s, p, m, v);
    KR_TRY(kr_tensor_fill(ps.x, 0.0));
    KR_TRY(kr_tensor_fill(ps.lambda, 0.0));
    KR_TRY(kr_tensor_fill(ps.bx, 0.0));
    KR_TRY(kr_tensor_fill(ps.blambda, 0.0));
    kr_tensor a = kr_tensor_rows(lrx, p * m, m), b = kr_tensor_rows(lrl, p * m, m);
    KR_TRY(kr_tensor_fill(&a, 0.0));
    return kr_tensor_fill(&b, 0.0);
}

typedef struct batch_run {
    const kr_points_batch *b;
    kr_points_outcome *out;
    kr_attack_state *s;
    kr_tensor *lrx, *lrl;
    size_t m, d;
    size_t failed;
    double *host; /* (P·m) × D scratch */
} batch_run;

static size_t point_id(const kr_points_batch *b, size_t p) { return b->ids ? b->ids[p] : p; }

static kr_status mark_failed(batch_run *r, size_t p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kr_status mark_failed(batch_run *r, size_t p, const char *fmt, ...)
{
    kr_points_outcome *o = &r->out[p];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
    o->failed = true;
    r->failed++;
    kr_log_info("attack: point %zu %s; the others go on", point_id(r->b, p), o->reason);
    if (r->b->on_failed) r->b->on_failed(r->b->user, p, o->reason);
    return freeze(r->s, r->lrx, r->lrl, p, r->m);
}

/* Before a checkpoint: every value of every running point's state must be finite (a NaN may
 * have appeared since the last loss read); a point that is not fails and is frozen. */
static kr_status check_finite(batch_run *r, long it)
{
    const size_t P = r->b->P, m = r->m;
    kr_tensor *ts[4] = {r->s->x, r->s->bx, r->s->lambda, r->s->blambda};
    bool bad[1024] = {false};
    for (int k = 0; k < 4; k++) {
        size_t cols = ts[k]->cols;
        KR_TRY(kr_tensor_read(ts[k], r->host));
        for (size_t p = 0; p < P; p++)
            for (size_t i = p * m * cols; !bad[p] && i < (p + 1) * m * cols; i++)
                if (!isfinite(r->host[i])) bad[p] = true;
    }
    for (size_t p = 0; p < P; p++)
        if (bad[p] && !r->out[p].failed)
            KR_TRY(mark_failed(r, p, "diverged by iteration %ld (non-finite candidates)", it));
    return KR_OK;
}

static void log_point(const char *dir, long it, const kr_kkt_loss *l, double seconds)
{
    char path[4500];
    snprintf(path, sizeof path, "%s/attack.jsonl", dir);
    FILE *f = fopen(path, "a");
    if (!f) return; /* the log is a convenience; the results are point.json and the candidates */
    fprintf(f, "{\"iteration\": %ld, \"loss\": %.10g, \"loss_kkt\": %.10g, \"loss_prior\": %.10g, "
            "\"loss_lambda\": %.10g, \"seconds\": %.3f}\n",
            it, l->total, l->kkt, l->prior, l->lambda, seconds);
    fclose(f);
}

/* KKTRECON_TEST_KILL_AT=N (a decimal N >= 1): SIGKILL when iteration N starts (attack.c has
 * the same hook for a single run), so the resume tests can interrupt a batch at an exact point. */
static long kill_at_env(void)
{
    const char *e = getenv("KKTRECON_TEST_KILL_AT");
    if (!e || !*e) return -1;
    char *end;
    errno = 0;
    long v = strtol(e, &end, 10);
    return !errno && !*end && v >= 1 ? v : -1;
}

kr_status kr_attack_points_batch(const kr_config *cfg, kr_device *dev, const char *model_path,
                                 const kr_points_batch *b, kr_points_outcome *out)
{
    const size_t P = b->P;
    const kr_config *pc = b->pc;
    if (P == 0 || P > 1024) return KR_FAIL(KR_E_INVALID, "a batch holds 1..1024 points, not %zu", P);
    if (cfg->attack.optimizer != KR_OPT_SGD)
        return KR_FAIL(KR_E_INVALID, "points run SGD only (attack.optimizer = adam is not "
                       "available per point)");
    const kr_dtype dt = cfg->attack.precision;
    KR_TRY(kr_device_check_dtype(dev, dt));
    kr_model *model = NULL;
    kr_kkt *kkt = NULL;
    kr_kkt_point *kp = NULL;
    kr_kkt_loss *loss = NULL;
    double *xsq = NULL, *y = NULL, *yrep = NULL;
    kr_attack_state s = {0};
    kr_tensor *lrx = NULL, *lrl = NULL, *mom = NULL;
    batch_run r = {.b = b, .out = out, .s = &s};
    kr_status st;
    KR_TRY_GOTO(kr_model_load(model_path, &model));
    const size_t m = kr_attack_candidate_count(cfg, model_path), d = model->dims[0];
    r.m = m;
    r.d = d;
    for (size_t p = 0; p < P; p++) {
        if (pc[p].attack.precision != dt || pc[p].attack.activation != cfg->attack.activation) {
            st = KR_FAIL(KR_E_INVALID, "point %zu: precision and activation are common to a batch",
                         point_id(b, p));
            goto fail;
        }
        out[p].iterations = 0;
        out[p].seconds = 0;
        out[p].loss = (kr_kkt_loss){.total = NAN, .kkt = NAN, .prior = NAN, .lambda = NAN};
        if (out[p].failed) r.failed++;
        else out[p].reason[0] = '\0';
    }

    KR_TRY_GOTO(kr_alloc((void **)&y, "labels", m, 1, sizeof *y));
    KR_TRY_GOTO(kr_alloc((void **)&yrep, "labels of the batch", P, m, sizeof *yrep));
    kr_objective obj;
    KR_TRY_GOTO(kr_attack_objective(cfg, model, model_path, &obj));
    kr_attack_labels_obj(obj, model->dims[model->layers], m, y);
    for (size_t p = 0; p < P; p++) memcpy(yrep + p * m, y, m * sizeof *y);
    KR_TRY_GOTO(kr_alloc((void **)&kp, "points", P, 1, sizeof *kp));
    for (size_t p = 0; p < P; p++) kp[p] = (kr_kkt_point){pc[p].attack.alpha, pc[p].attack.lambda_min};
    KR_TRY_GOTO(kr_kkt_new_objective(dev, dt, model, cfg->attack.activation, obj, kp, P, m, y,
                                     &kkt));
    KR_TRY_GOTO(kr_checkpoint_state_new(dev, dt, P * m, d, false, &s));
    KR_TRY_GOTO(kr_alloc((void **)&r.host, "batch state on the host", P * m, d + 1, sizeof *r.host));
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, lr_x_of, "lr_x per row", &lrx));
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, lr_lambda_of, "lr_lambda per row", &lrl));
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, momentum_of, "momentum per row", &mom));
    r.lrx = lrx;
    r.lrl = lrl;
    const kr_checkpoint_info ck = {model_path,
                                   {cfg->attack.activation, kp[0].alpha, kp[0].lambda_min, obj},
                                   pc[0].attack.seed, "sgd", kr_device_describe(dev)};

    long start = 0;
    FILE *probe = b->resume && b->checkpoint ? fopen(b->checkpoint, "rb") : NULL;
    if (probe) {
        fclose(probe);
        KR_TRY_GOTO(kr_checkpoint_read(b->checkpoint, &s, &start));
        if (start > cfg->attack.iterations) {
            st = KR_FAIL(KR_E_INVALID, "--resume: %s is at iteration %ld, past attack.iterations "
                         "= %ld", b->checkpoint, start, cfg->attack.iterations);
            goto fail;
        }
        for (size_t p = 0; p < P; p++) {
            char path[4500];
            snprintf(path, sizeof path, "%s/attack.jsonl", b->dirs[p]);
            KR_TRY_GOTO(kr_checkpoint_trim_log(path, start));
        }
    } else {
        /* Point p starts where a single run with its seed starts. */
        for (size_t p = 0; p < P; p++) {
            kr_attack_init_obj(obj, pc[p].attack.seed, pc[p].attack.init_scale, m, d, r.host);
            kr_tensor xv = kr_tensor_rows(s.x, p * m, m), lv = kr_tensor_rows(s.lambda, p * m, m);
            KR_TRY_GOTO(kr_tensor_write(&xv, r.host));
            KR_TRY_GOTO(kr_tensor_write(&lv, r.host + m * d));
            char path[4500];
            snprintf(path, sizeof path, "%s/attack.jsonl", b->dirs[p]);
            remove(path);
        }
    }
    for (size_t p = 0; p < P; p++)
        if (out[p].failed) KR_TRY_GOTO(freeze(&s, lrx, lrl, p, m));

    KR_TRY_GOTO(kr_alloc((void **)&loss, "point losses", P, 1, sizeof *loss));
    KR_TRY_GOTO(kr_alloc((void **)&xsq, "point norms", P, 1, sizeof *xsq));
    const long total = cfg->attack.iterations, every = cfg->attack.checkpoint_every;
    const long kill_at = kill_at_env();
    kr_progress prog;
    kr_progress_begin(&prog, b->label ? b->label : "attack", start, total);
    for (long it = start; it <= total; it++) {
        const bool last = it == total;
        if (b->checkpoint && every > 0 && it > start && it % every == 0 && !last) {
            KR_TRY_GOTO(check_finite(&r, it));
            if (r.failed < P) KR_TRY_GOTO(kr_checkpoint_write(b->checkpoint, &s, yrep, it, &ck));
            if (b->on_checkpoint) b->on_checkpoint(b->user, it);
        }
        if (it == kill_at) raise(SIGKILL);
        if (kr_interrupted()) {
            if (b->checkpoint && it > start) {
                KR_TRY_GOTO(check_finite(&r, it));
                if (r.failed < P) KR_TRY_GOTO(kr_checkpoint_write(b->checkpoint, &s, yrep, it, &ck));
                if (b->on_checkpoint) b->on_checkpoint(b->user, it);
            }
            st = KR_FAIL(KR_E_INTERRUPTED, "interrupted at iteration %ld%s", it,
                         b->checkpoint && it > start ? "; checkpoint written, continue with --resume"
                                                     : "");
            goto fail;
        }
        const bool log_now = last || it == start || it % cfg->attack.log_every == 0;
        KR_TRY_GOTO(kr_kkt_eval(kkt, s.x, s.lambda, last ? NULL : s.gx, last ? NULL : s.glambda));
        if (log_now) {
            KR_TRY_GOTO(kr_kkt_read_losses(kkt, loss, xsq));
            double best = INFINITY;
            const double el = kr_time_now() - prog.t0;
            for (size_t p = 0; p < P; p++) {
                if (out[p].failed) continue;
                if (!(isfinite(loss[p].total) && isfinite(xsq[p]))) {
                    KR_TRY_GOTO(mark_failed(&r, p, "diverged by iteration %ld (loss %g, |X|^2 %g)",
                                            it, loss[p].total, xsq[p]));
                    continue;
                }
                out[p].loss = loss[p];
                out[p].iterations = it;
                out[p].seconds = el;
                best = fmin(best, loss[p].total);
                log_point(b->dirs[p], it, &loss[p], el);
            }
            if (b->label && it > start) {
                char extra[128];
                snprintf(extra, sizeof extra, "best loss %.4e  %zu/%zu points running", best,
                         P - r.failed, P);
                kr_progress_line(&prog, it, extra);
            }
        }
        if (last) break;
        KR_TRY_GOTO(kr_optim_sgd_rows(lrx, mom, it, s.x, s.gx, s.bx));
        KR_TRY_GOTO(kr_optim_sgd_rows(lrl, mom, it, s.lambda, s.glambda, s.blambda));
    }
    KR_TRY_GOTO(check_finite(&r, total));
    for (size_t p = 0; p < P; p++) {
        if (!out[p].failed) {
            char path[4500];
            kr_tensor v[4];
            kr_attack_state ps = point_state(&s, p, m, v);
            const kr_checkpoint_info pk = {model_path,
                                           {pc[p].attack.activation, pc[p].attack.alpha,
                                            pc[p].attack.lambda_min, obj},
                                           pc[p].attack.seed, "sgd", kr_device_describe(dev)};
            snprintf(path, sizeof path, "%s/candidates.safetensors", b->dirs[p]);
            KR_TRY_GOTO(kr_checkpoint_write(path, &ps, y, total, &pk));
        }
        KR_TRY_GOTO(write_point_json(b->dirs[p], point_id(b, p), &pc[p], dev, &out[p]));
    }
    st = KR_OK;
fail:
    kr_tensor_free(lrx), kr_tensor_free(lrl), kr_tensor_free(mom);
    kr_checkpoint_state_free(&s);
    kr_kkt_free(kkt);
    kr_model_free(model);
    free(kp), free(loss), free(xsq), free(y), free(yrep), free(r.host);
    return st;
}

kr_status kr_attack_points_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                               const char *out_dir, kr_run_mode mode, kr_attack_result *res)
{
    memset(res, 0, sizeof *res);
    if (mode == KR_RUN_RESUME)
        return KR_FAIL(KR_E_INVALID, "--resume is not available with attack.points_file (use "
                       "`kktrecon sweep`, which checkpoints its batches); rerun with --overwrite");
    KR_TRY(kr_config_validate(cfg));
    kr_config *pc = NULL;
    size_t P = 0;
    KR_TRY(kr_attack_points_configs(cfg, cfg->attack.points_file, &pc, &P));
    if (P > 1024) {
        free(pc);
        return KR_FAIL(KR_E_INVALID, "%s: %zu points; one job holds at most 1024 (use `kktrecon "
                       "sweep` with sweep.points_file)", cfg->attack.points_file, P);
    }
    kr_points_outcome *out = NULL;
    char (*dirs)[4400] = NULL;
    const char **dirp = NULL;
    cJSON *run = NULL, *summary = NULL;
    kr_rundir rd;
    bool rd_open = false;
    kr_status st;
    const size_t m = kr_attack_candidate_count(cfg, model_path);
    res->m = m;

    KR_TRY_GOTO(kr_rundir_open(&rd, out_dir, "attack", mode));
    rd_open = true;
    run = kr_runid_new("attack");
    if (!run) {
        st = KR_FAIL(KR_E_NOMEM, "run.json");
        goto fail;
    }
    char mm[32];
    snprintf(mm, sizeof mm, "%zu", m);
    static const char *const IDENTITY[] = {"attack.activation", "attack.precision",
                                           "attack.objective", NULL};
    KR_TRY_GOTO(kr_runid_add_file(run, "model", model_path));
    KR_TRY_GOTO(kr_runid_add_file(run, "attack.points_file", cfg->attack.points_file));
    KR_TRY_GOTO(kr_runid_add(run, true, "attack.candidates", mm));
    KR_TRY_GOTO(kr_runid_add_config(run, true, cfg, IDENTITY));
    KR_TRY_GOTO(kr_runid_add(run, false, "device", kr_device_describe(dev)));
    KR_TRY_GOTO(kr_rundir_write_run(&rd, run));

    KR_TRY_GOTO(kr_alloc_zero((void **)&out, "point outcomes", P, 1, sizeof *out));
    KR_TRY_GOTO(kr_alloc((void **)&dirs, "point folders", P, 1, sizeof *dirs));
    KR_TRY_GOTO(kr_alloc((void **)&dirp, "point folders", P, 1, sizeof *dirp));
    for (size_t p = 0; p < P; p++) {
        snprintf(dirs[p], sizeof dirs[p], "%s/points/%04zu", rd.work, p);
        KR_TRY_GOTO(kr_report_mkdir(dirs[p]));
        dirp[p] = dirs[p];
    }
    kr_log_info("attack: %zu points x %zu candidates, %s, sgd, %s", P, m,
                kr_dtype_name(cfg->attack.precision), kr_device_describe(dev));
    const kr_points_batch b = {.pc = pc, .P = P, .dirs = dirp, .label = "attack"};
    double t0 = kr_time_now();
    KR_TRY_GOTO(kr_attack_points_batch(cfg, dev, model_path, &b, out));
    size_t failed = 0, best = P;
    for (size_t p = 0; p < P; p++) {
        failed += out[p].failed;
        if (!out[p].failed && (best == P || out[p].loss.total < out[best].loss.total)) best = p;
    }
    if (failed == P) {
        st = KR_FAIL(KR_E_NUMERIC, "all %zu points diverged: nothing was written (lower lr_x)", P);
        goto fail;
    }
    res->seconds = kr_time_now() - t0;
    res->iterations = cfg->attack.iterations;
    res->loss = out[best].loss; /* the lowest final loss among the points that did not diverge */

    summary = cJSON_CreateObject();
    if (!summary) {
        st = KR_FAIL(KR_E_NOMEM, "attack.json");
        goto fail;
    }
    cJSON_AddStringToObject(summary, "model", model_path);
    cJSON_AddStringToObject(summary, "points_file", cfg->attack.points_file);
    cJSON_AddNumberToObject(summary, "points", (double)P);
    cJSON_AddNumberToObject(summary, "diverged", (double)failed);
    cJSON_AddNumberToObject(summary, "candidates_per_point", (double)m);
    cJSON_AddNumberToObject(summary, "iterations", (double)cfg->attack.iterations);
    cJSON_AddNumberToObject(summary, "seconds", res->seconds);
    cJSON_AddStringToObject(summary, "device", kr_device_describe(dev));
    cJSON *arr = cJSON_AddArrayToObject(summary, "loss");
    for (size_t p = 0; p < P; p++)
        cJSON_AddItemToArray(arr, out[p].failed ? cJSON_CreateNull()
                                                : cJSON_CreateNumber(out[p].loss.total));
    char path[4300];
    KR_TRY_GOTO(kr_rundir_path(&rd, path, sizeof path, "attack.json"));
    KR_TRY_GOTO(kr_report_write_json(path, summary));
    KR_TRY_GOTO(kr_rundir_commit(&rd));
    kr_log_info("attack: %zu points done (%zu diverged) in %.1fs; DIR/points/NNNN/ in %s", P,
                failed, res->seconds, out_dir);
    st = KR_OK;
fail:
    cJSON_Delete(summary);
    cJSON_Delete(run);
    free(pc), free(out), free(dirs), free(dirp);
    return rd_open ? kr_rundir_close(&rd, st) : st;
}
