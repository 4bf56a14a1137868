/* attack_points.c — many hyperparameter points in one device job: the batch engine
 * (kr_attack_points_batch, shared by `attack` with attack.points_file and by `sweep`) and the
 * attack command's points mode (attack.h).
 *
 * Each point is the [attack] configuration with the point's values set through the same
 * `--set` path (so the same ranges and messages apply), initialised exactly as a single run
 * with its seed would be (X ~ N(0,1)·init_scale row-major, then λ ~ U[0,1), one stream), and
 * optimised by SGD with its own lr_x, lr_lambda and momentum (per-row rates,
 * kr_optim_sgd_rows) or by Adam with its own lr_x and lr_lambda (kr_optim_adam_rows, the
 * second moments in the state and its checkpoints); its loss and gradient are those of a
 * single run with its α and λ_min (nn/kkt.h points). Rows of different points never mix (every GEMM is row-wise or per point
 * block, every reduction per point: nn/kkt.c), so a point that diverges is marked, its rows
 * are zeroed and frozen (learning rates 0: they stay finite, so checkpoints stay writable) and
 * the others go on bit for bit as if it had not been there.
 *
 * Checkpoints: with a checkpoint path the batch's stacked state (all P·m rows, checkpoint.h) is
 * written every attack.checkpoint_every iterations, after a per-point finiteness check of the
 * whole state; a resume restores it raw and continues bit for bit (same device and precision).
 * Which points failed is the caller's record (the sweep's manifest): they come in frozen.
 *
 * Successive halving (kr_points_batch.prune, `sweep.prune = loss`): at 10% and 30% of the
 * iterations the worse half of the running points by total loss stops, and the rest go on in
 * a smaller job (their rows moved into a new state, the KKT object rebuilt), so the work saved
 * is real. The decisions are re-derived from the points' logs on a resume (below).
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
    cJSON_AddStringToObject(j, "status", o->failed ? "diverged" : o->pruned ? "pruned" : "done");
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

/* Row block k [k·m, (k+1)·m) of the stacked state, as a single run's state (Adam's second
 * moments too when the state has them). */
static kr_attack_state block_state(kr_attack_state *all, size_t k, size_t m, kr_tensor v[6])
{
    v[0] = kr_tensor_rows(all->x, k * m, m);
    v[1] = kr_tensor_rows(all->lambda, k * m, m);
    v[2] = kr_tensor_rows(all->bx, k * m, m);
    v[3] = kr_tensor_rows(all->blambda, k * m, m);
    kr_attack_state s = {.x = &v[0], .lambda = &v[1], .bx = &v[2], .blambda = &v[3]};
    if (all->vx) {
        v[4] = kr_tensor_rows(all->vx, k * m, m);
        v[5] = kr_tensor_rows(all->vlambda, k * m, m);
        s.vx = &v[4];
        s.vlambda = &v[5];
    }
    return s;
}

static double lr_x_of(const kr_config *c) { return c->attack.lr_x; }
static double lr_lambda_of(const kr_config *c) { return c->attack.lr_lambda; }
static double momentum_of(const kr_config *c) { return c->attack.momentum; }

/* A running batch. The state holds L row blocks of m rows; block k belongs to point live[k]
 * (increasing). Without pruning L = P and live[k] = k for the whole run; successive halving
 * drops the pruned points' blocks (compact), and the KKT object and per-row tensors are
 * rebuilt for the blocks left (build_job). */
typedef struct batch_run {
    const kr_points_batch *b;
    const kr_config *cfg;
    kr_device *dev;
    kr_dtype dt;
    const kr_model *model;
    const char *model_path;
    kr_objective obj;
    kr_points_outcome *out;
    size_t m, d;
    const double *y;   /* one point's m labels */
    size_t *live, L;
    kr_attack_state s; /* L·m rows */
    kr_kkt *kkt;
    kr_tensor *lrx, *lrl, *mom; /* per row: lr_x, lr_lambda, momentum of the row's point */
    double *yrep;      /* L·m labels (the checkpoint's) */
    double *host;      /* (P·m) × (D + 1) scratch */
} batch_run;

static size_t point_id(const kr_points_batch *b, size_t p) { return b->ids ? b->ids[p] : p; }

/* A column tensor (L·m × 1) holding value_of(block's point) on each row. */
static kr_status per_row(batch_run *r, double (*value_of)(const kr_config *), const char *name,
                         kr_tensor **out)
{
    for (size_t k = 0; k < r->L; k++)
        for (size_t i = 0; i < r->m; i++) r->host[k * r->m + i] = value_of(&r->b->pc[r->live[k]]);
    KR_TRY(kr_tensor_new(r->dev, r->dt, r->L * r->m, 1, name, out));
    return kr_tensor_write(*out, r->host);
}

static void free_job(batch_run *r)
{
    kr_tensor_free(r->lrx), kr_tensor_free(r->lrl), kr_tensor_free(r->mom);
    kr_kkt_free(r->kkt);
    r->lrx = r->lrl = r->mom = NULL;
    r->kkt = NULL;
}

/* The KKT object, the per-row rates and the checkpoint's labels for the live blocks. */
static kr_status build_job(batch_run *r)
{
    free_job(r);
    kr_kkt_point kp[1024];
    for (size_t k = 0; k < r->L; k++) {
        const kr_config *c = &r->b->pc[r->live[k]];
        kp[k] = (kr_kkt_point){c->attack.alpha, c->attack.lambda_min};
        memcpy(r->yrep + k * r->m, r->y, r->m * sizeof *r->y);
    }
    KR_TRY(kr_kkt_new_objective(r->dev, r->dt, r->model, r->cfg->attack.activation, r->obj, kp,
                                r->L, r->m, r->y, &r->kkt));
    KR_TRY(per_row(r, lr_x_of, "lr_x per row", &r->lrx));
    KR_TRY(per_row(r, lr_lambda_of, "lr_lambda per row", &r->lrl));
    return per_row(r, momentum_of, "momentum per row", &r->mom);
}

/* Freezes block k: its state rows zeroed and its learning rates 0, so it stays finite and
 * touches nothing (its rows are its own). */
static kr_status freeze(batch_run *r, size_t k)
{
    const size_t m = r->m;
    kr_tensor v[6];
    kr_attack_state ps = block_state(&r->s, k, m, v);
    KR_TRY(kr_tensor_fill(ps.x, 0.0));
    KR_TRY(kr_tensor_fill(ps.lambda, 0.0));
    KR_TRY(kr_tensor_fill(ps.bx, 0.0));
    KR_TRY(kr_tensor_fill(ps.blambda, 0.0));
    if (ps.vx) KR_TRY(kr_tensor_fill(ps.vx, 0.0));
    if (ps.vx) KR_TRY(kr_tensor_fill(ps.vlambda, 0.0));
    kr_tensor a = kr_tensor_rows(r->lrx, k * m, m), b = kr_tensor_rows(r->lrl, k * m, m);
    KR_TRY(kr_tensor_fill(&a, 0.0));
    return kr_tensor_fill(&b, 0.0);
}

static kr_status mark_failed(batch_run *r, size_t k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static kr_status mark_failed(batch_run *r, size_t k, const char *fmt, ...)
{
    const size_t p = r->live[k];
    kr_points_outcome *o = &r->out[p];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
    o->failed = true;
    kr_log_info("attack: point %zu %s; the others go on", point_id(r->b, p), o->reason);
    if (r->b->on_failed) r->b->on_failed(r->b->user, p, o->reason);
    return freeze(r, k);
}

static size_t running(const batch_run *r)
{
    size_t n = 0;
    for (size_t k = 0; k < r->L; k++) n += !r->out[r->live[k]].failed;
    return n;
}

/* Before a checkpoint: every value of every running point's state must be finite (a NaN may
 * have appeared since the last loss read); a point that is not fails and is frozen. */
static kr_status check_finite(batch_run *r, long it)
{
    const size_t m = r->m;
    kr_tensor *ts[6] = {r->s.x, r->s.bx, r->s.lambda, r->s.blambda, r->s.vx, r->s.vlambda};
    bool bad[1024] = {false};
    for (int t = 0; t < (r->s.vx ? 6 : 4); t++) {
        size_t cols = ts[t]->cols;
        KR_TRY(kr_tensor_read(ts[t], r->host));
        for (size_t k = 0; k < r->L; k++)
            for (size_t i = k * m * cols; !bad[k] && i < (k + 1) * m * cols; i++)
                if (!isfinite(r->host[i])) bad[k] = true;
    }
    for (size_t k = 0; k < r->L; k++)
        if (bad[k] && !r->out[r->live[k]].failed)
            KR_TRY(mark_failed(r, k, "diverged by iteration %ld (non-finite candidates)", it));
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

/* ---------------------------------------------------------------- successive halving
 * kr_points_batch.prune: at each rung, the iterations round(0.1 · attack.iterations) and
 * round(0.3 · attack.iterations), the points still running are ranked by their total loss at
 * that iteration and the worse half (floor(n/2) of n) stops there: its candidates and
 * point.json (status "pruned") are written as they are, and the others go on in a smaller
 * job. The ranking uses the loss as attack.jsonl holds it (%.10g; ties by position in the
 * batch), so a resume re-derives every earlier rung's decision from the logs alone and
 * continues bit for bit from a checkpoint of the blocks then live. (A third rung at 90% would
 * save a tenth of a pruned point's work and lose its candidates from the pool.) */

static bool is_rung(long it, long total)
{
    static const double RUNGS[] = {0.1, 0.3};
    for (size_t i = 0; i < sizeof RUNGS / sizeof RUNGS[0]; i++) {
        const long r = lround(RUNGS[i] * (double)total);
        if (r > 0 && r < total && r == it) return true;
    }
    return false;
}

static double as_logged(double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.10g", v);
    return strtod(buf, NULL);
}

/* keep[k] for the n ranked blocks, those with a key (NAN: failed, not kept): the better
 * ceil(n/2). With none ranked (all failed) every block is kept: there is nothing to halve. */
static void halve(const double *key, size_t L, bool *keep)
{
    size_t n = 0;
    for (size_t k = 0; k < L; k++) n += !isnan(key[k]);
    for (size_t k = 0; k < L; k++) {
        keep[k] = n == 0;
        if (isnan(key[k])) continue;
        size_t better = 0; /* rank: lower loss first, then earlier block */
        for (size_t j = 0; j < L; j++)
            better += !isnan(key[j]) && (key[j] < key[k] || (key[j] == key[k] && j < k));
        keep[k] = better < (n + 1) / 2;
    }
}

/* The line of a point's attack.jsonl at iteration `it`: its loss terms; false if none. */
static bool logged_loss(const char *dir, long it, kr_kkt_loss *l)
{
    char path[4500], line[1024];
    snprintf(path, sizeof path, "%s/attack.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(j, "iteration");
        if (cJSON_IsNumber(i) && (long)i->valuedouble == it) {
            const char *keys[4] = {"loss", "loss_kkt", "loss_prior", "loss_lambda"};
            double v[4];
            found = true;
            for (int t = 0; t < 4; t++) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, keys[t]);
                found &= cJSON_IsNumber(x);
                v[t] = found ? x->valuedouble : NAN;
            }
            *l = (kr_kkt_loss){.total = v[0], .kkt = v[1], .prior = v[2], .lambda = v[3]};
        }
        cJSON_Delete(j);
    }
    fclose(f);
    return found;
}

/* Keeps the blocks with keep[k]: the state's rows (and the gradients just computed) move to a
 * new, smaller state through the host, and the job is rebuilt for them. */
static kr_status compact(batch_run *r, const bool *keep)
{
    size_t n = 0, live[1024];
    for (size_t k = 0; k < r->L; k++)
        if (keep[k]) live[n++] = r->live[k];
    kr_attack_state ns = {0};
    KR_TRY(kr_checkpoint_state_new(r->dev, r->dt, n * r->m, r->d, r->s.vx != NULL, &ns));
    /* The gradients too: a rung falls between an evaluation and its step. */
    kr_tensor *from[8] = {r->s.x,  r->s.lambda,  r->s.bx, r->s.blambda,
                          r->s.gx, r->s.glambda, r->s.vx, r->s.vlambda};
    kr_tensor *to[8] = {ns.x, ns.lambda, ns.bx, ns.blambda, ns.gx, ns.glambda, ns.vx, ns.vlambda};
    kr_status st = KR_OK;
    for (int t = 0; t < (ns.vx ? 8 : 6) && st == KR_OK; t++) {
        const size_t rows = r->m * from[t]->cols; /* values per block */
        st = kr_tensor_read(from[t], r->host);
        for (size_t k = 0, j = 0; st == KR_OK && k < r->L; k++) {
            if (!keep[k]) continue;
            kr_tensor v = kr_tensor_rows(to[t], j++ * r->m, r->m);
            st = kr_tensor_write(&v, r->host + k * rows);
        }
    }
    if (st != KR_OK) {
        kr_checkpoint_state_free(&ns);
        return st;
    }
    kr_checkpoint_state_free(&r->s);
    r->s = ns;
    memcpy(r->live, live, n * sizeof *live);
    r->L = n;
    return build_job(r);
}

/* The rung at iteration `it` in a running batch (the losses just read and logged). */
static kr_status prune_rung(batch_run *r, long it)
{
    double key[1024];
    bool keep[1024];
    for (size_t k = 0; k < r->L; k++) {
        const kr_points_outcome *o = &r->out[r->live[k]];
        key[k] = o->failed ? NAN : as_logged(o->loss.total);
    }
    halve(key, r->L, keep);
    size_t dropped = 0;
    for (size_t k = 0; k < r->L; k++) {
        const size_t p = r->live[k];
        if (keep[k] || r->out[p].failed) continue;
        char path[4500];
        kr_tensor v[6];
        kr_attack_state ps = block_state(&r->s, k, r->m, v);
        const kr_config *c = &r->b->pc[p];
        const kr_checkpoint_info pk = {r->model_path,
                                       {c->attack.activation, c->attack.alpha,
                                        c->attack.lambda_min, r->obj},
                                       c->attack.seed, kr_optim_name(c->attack.optimizer),
                                       kr_device_describe(r->dev)};
        snprintf(path, sizeof path, "%s/candidates.safetensors", r->b->dirs[p]);
        KR_TRY(kr_checkpoint_write(path, &ps, r->y, it, &pk));
        r->out[p].pruned = true;
        KR_TRY(write_point_json(r->b->dirs[p], point_id(r->b, p), c, r->dev, &r->out[p]));
        dropped++;
    }
    bool all = true;
    for (size_t k = 0; k < r->L; k++) all &= keep[k];
    if (all) return KR_OK;
    kr_log_info("%s: iteration %ld: %zu of %zu points pruned (successive halving by loss)",
                r->b->label ? r->b->label : "sweep batch", it, dropped, running(r));
    return compact(r, keep);
}

/* A resume: the decisions of the rungs before `start`, from the points' logs. */
static kr_status replay_rungs(batch_run *r, long start)
{
    kr_kkt_loss *l;
    KR_TRY(kr_alloc((void **)&l, "logged losses", r->L, 1, sizeof *l));
    for (long it = 1; it < start; it++) {
        if (!is_rung(it, r->cfg->attack.iterations)) continue;
        double key[1024];
        bool keep[1024];
        for (size_t k = 0; k < r->L; k++)
            key[k] = logged_loss(r->b->dirs[r->live[k]], it, &l[k]) ? l[k].total : NAN;
        halve(key, r->L, keep);
        size_t n = 0;
        for (size_t k = 0; k < r->L; k++) {
            kr_points_outcome *o = &r->out[r->live[k]];
            if (keep[k]) r->live[n++] = r->live[k];
            else if (!isnan(key[k]) && !o->failed) {
                o->pruned = true;
                o->iterations = it;
                o->loss = l[k];
            }
        }
        r->L = n;
    }
    free(l);
    return KR_OK;
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

static kr_status write_checkpoint(batch_run *r, long it, const kr_checkpoint_info *ck)
{
    KR_TRY(check_finite(r, it));
    if (running(r) > 0) KR_TRY(kr_checkpoint_write(r->b->checkpoint, &r->s, r->yrep, it, ck));
    if (r->b->on_checkpoint) r->b->on_checkpoint(r->b->user, it);
    return KR_OK;
}

kr_status kr_attack_points_batch(const kr_config *cfg, kr_device *dev, const char *model_path,
                                 const kr_points_batch *b, kr_points_outcome *out)
{
    const size_t P = b->P;
    const kr_config *pc = b->pc;
    if (P == 0 || P > 1024) return KR_FAIL(KR_E_INVALID, "a batch holds 1..1024 points, not %zu", P);
    const kr_dtype dt = cfg->attack.precision;
    const bool adam = cfg->attack.optimizer == KR_OPT_ADAM;
    KR_TRY(kr_device_check_dtype(dev, dt));
    kr_model *model = NULL;
    kr_kkt_loss *loss = NULL;
    double *xsq = NULL, *y = NULL;
    batch_run r = {.b = b, .cfg = cfg, .dev = dev, .dt = dt, .out = out, .model_path = model_path};
    kr_status st;
    KR_TRY_GOTO(kr_model_load(model_path, &model));
    const size_t m = kr_attack_candidate_count(cfg, model_path), d = model->dims[0];
    r.model = model;
    r.m = m;
    r.d = d;
    for (size_t p = 0; p < P; p++) {
        if (pc[p].attack.precision != dt || pc[p].attack.activation != cfg->attack.activation ||
            pc[p].attack.optimizer != cfg->attack.optimizer) {
            st = KR_FAIL(KR_E_INVALID, "point %zu: precision, activation and optimizer are common "
                         "to a batch", point_id(b, p));
            goto fail;
        }
        out[p].iterations = 0;
        out[p].seconds = 0;
        out[p].pruned = false;
        out[p].loss = (kr_kkt_loss){.total = NAN, .kkt = NAN, .prior = NAN, .lambda = NAN};
        if (!out[p].failed) out[p].reason[0] = '\0';
    }

    KR_TRY_GOTO(kr_alloc((void **)&y, "labels", m, 1, sizeof *y));
    KR_TRY_GOTO(kr_alloc((void **)&r.yrep, "labels of the batch", P, m, sizeof *r.yrep));
    KR_TRY_GOTO(kr_alloc((void **)&r.live, "live points", P, 1, sizeof *r.live));
    KR_TRY_GOTO(kr_alloc((void **)&r.host, "batch state on the host", P * m, d + 1, sizeof *r.host));
    KR_TRY_GOTO(kr_attack_objective(cfg, model, model_path, &r.obj));
    kr_attack_labels_obj(r.obj, model->dims[model->layers], m, y);
    r.y = y;
    r.L = P;
    for (size_t p = 0; p < P; p++) r.live[p] = p;
    const kr_checkpoint_info ck = {model_path,
                                   {cfg->attack.activation, pc[0].attack.alpha,
                                    pc[0].attack.lambda_min, r.obj},
                                   pc[0].attack.seed, kr_optim_name(cfg->attack.optimizer),
                                   kr_device_describe(dev)};

    long start = 0;
    FILE *probe = b->resume && b->checkpoint ? fopen(b->checkpoint, "rb") : NULL;
    bool fresh = !probe;
    if (probe) {
        fclose(probe);
        st = kr_checkpoint_read_iteration(b->checkpoint, &start);
        if (st == KR_OK && start > cfg->attack.iterations) {
            st = KR_FAIL(KR_E_INVALID, "--resume: %s is at iteration %ld, past attack.iterations "
                         "= %ld", b->checkpoint, start, cfg->attack.iterations);
            goto fail;
        }
        if (st == KR_OK && b->prune) st = replay_rungs(&r, start); /* the blocks it holds */
        if (st == KR_OK) st = kr_checkpoint_state_new(dev, dt, r.L * m, d, adam, &r.s);
        if (st == KR_OK) st = kr_checkpoint_read(b->checkpoint, &r.s, &start);
        if (st == KR_E_INVALID || st == KR_E_IO) {
            /* A damaged checkpoint costs its batch's progress, not the sweep: the batch starts
             * over, which gives the same result (every point is a function of its values). */
            kr_log_info("warning: cannot resume from %s (%s); the batch starts over",
                        b->checkpoint, kr_error_message());
            kr_checkpoint_state_free(&r.s);
            r.L = P;
            for (size_t p = 0; p < P; p++) {
                r.live[p] = p;
                out[p].pruned = false;
                out[p].iterations = 0;
                out[p].loss = (kr_kkt_loss){.total = NAN, .kkt = NAN, .prior = NAN, .lambda = NAN};
            }
            start = 0;
            fresh = true;
        } else if (st != KR_OK) {
            goto fail;
        } else {
            for (size_t k = 0; k < r.L; k++) {
                char path[4500];
                snprintf(path, sizeof path, "%s/attack.jsonl", b->dirs[r.live[k]]);
                KR_TRY_GOTO(kr_checkpoint_trim_log(path, start));
            }
            KR_TRY_GOTO(build_job(&r));
        }
    }
    if (fresh) {
        /* Point p starts where a single run with its seed starts. */
        KR_TRY_GOTO(kr_checkpoint_state_new(dev, dt, P * m, d, adam, &r.s));
        for (size_t p = 0; p < P; p++) {
            kr_attack_init_obj(r.obj, pc[p].attack.seed, pc[p].attack.init_scale, m, d, r.host);
            kr_tensor xv = kr_tensor_rows(r.s.x, p * m, m), lv = kr_tensor_rows(r.s.lambda, p * m, m);
            KR_TRY_GOTO(kr_tensor_write(&xv, r.host));
            KR_TRY_GOTO(kr_tensor_write(&lv, r.host + m * d));
            char path[4500];
            snprintf(path, sizeof path, "%s/attack.jsonl", b->dirs[p]);
            remove(path);
        }
        KR_TRY_GOTO(build_job(&r));
    }
    for (size_t k = 0; k < r.L; k++)
        if (out[r.live[k]].failed) KR_TRY_GOTO(freeze(&r, k));

    KR_TRY_GOTO(kr_alloc((void **)&loss, "point losses", P, 1, sizeof *loss));
    KR_TRY_GOTO(kr_alloc((void **)&xsq, "point norms", P, 1, sizeof *xsq));
    const long total = cfg->attack.iterations, every = cfg->attack.checkpoint_every;
    const long kill_at = kill_at_env();
    kr_progress prog;
    kr_progress_begin(&prog, b->label ? b->label : "attack", start, total);
    for (long it = start; it <= total; it++) {
        const bool last = it == total, rung = b->prune && is_rung(it, total);
        if (b->checkpoint && every > 0 && it > start && it % every == 0 && !last)
            KR_TRY_GOTO(write_checkpoint(&r, it, &ck));
        if (it == kill_at) raise(SIGKILL);
        if (kr_interrupted()) {
            if (b->checkpoint && it > start) KR_TRY_GOTO(write_checkpoint(&r, it, &ck));
            st = KR_FAIL(KR_E_INTERRUPTED, "interrupted at iteration %ld%s", it,
                         b->checkpoint && it > start ? "; checkpoint written, continue with --resume"
                                                     : "");
            goto fail;
        }
        const bool log_now = last || rung || it == start || it % cfg->attack.log_every == 0;
        KR_TRY_GOTO(kr_kkt_eval(r.kkt, r.s.x, r.s.lambda, last ? NULL : r.s.gx,
                                last ? NULL : r.s.glambda));
        if (log_now) {
            KR_TRY_GOTO(kr_kkt_read_losses(r.kkt, loss, xsq));
            double best = INFINITY;
            const double el = kr_time_now() - prog.t0;
            for (size_t k = 0; k < r.L; k++) {
                kr_points_outcome *o = &out[r.live[k]];
                if (o->failed) continue;
                if (!(isfinite(loss[k].total) && isfinite(xsq[k]))) {
                    KR_TRY_GOTO(mark_failed(&r, k, "diverged by iteration %ld (loss %g, |X|^2 %g)",
                                            it, loss[k].total, xsq[k]));
                    continue;
                }
                o->loss = loss[k];
                o->iterations = it;
                o->seconds = el;
                best = fmin(best, loss[k].total);
                log_point(b->dirs[r.live[k]], it, &loss[k], el);
            }
            if (b->label && it > start) {
                char extra[128];
                snprintf(extra, sizeof extra, "best loss %.4e  %zu/%zu points running", best,
                         running(&r), P);
                kr_progress_line(&prog, it, extra);
            }
            if (rung) KR_TRY_GOTO(prune_rung(&r, it));
        }
        if (last) break;
        KR_TRY_GOTO(kr_attack_step_rows(cfg->attack.optimizer, r.lrx, r.lrl, r.mom, it, &r.s));
    }
    KR_TRY_GOTO(check_finite(&r, total));
    for (size_t k = 0; k < r.L; k++) {
        const size_t p = r.live[k];
        if (out[p].failed) continue;
        char path[4500];
        kr_tensor v[6];
        kr_attack_state ps = block_state(&r.s, k, m, v);
        const kr_checkpoint_info pk = {model_path,
                                       {pc[p].attack.activation, pc[p].attack.alpha,
                                        pc[p].attack.lambda_min, r.obj},
                                       pc[p].attack.seed, kr_optim_name(cfg->attack.optimizer),
                                       kr_device_describe(dev)};
        snprintf(path, sizeof path, "%s/candidates.safetensors", b->dirs[p]);
        KR_TRY_GOTO(kr_checkpoint_write(path, &ps, y, total, &pk));
    }
    for (size_t p = 0; p < P; p++) /* a pruned point's were written at its rung */
        if (!out[p].pruned)
            KR_TRY_GOTO(write_point_json(b->dirs[p], point_id(b, p), &pc[p], dev, &out[p]));
    st = KR_OK;
fail:
    free_job(&r);
    kr_checkpoint_state_free(&r.s);
    kr_model_free(model);
    free(loss), free(xsq), free(y), free(r.yrep), free(r.live), free(r.host);
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
