/* attack.c — the KKT attack driver: candidate initialisation (DESIGN §3), the optimisation
 * loop with progress, NaN/Inf guard, when to checkpoint and where to resume, the run folder,
 * and the one-shot `kkt` evaluation. The loss and gradient are nn/kkt.c; the update rules
 * nn/optim.c (PyTorch's SGD and Adam); the state, its atomic bit-exact checkpoint and the log
 * trimming of a resume io/checkpoint.c; reading a candidates file io/candidates.c.
 */
#include "app/attack.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/runid.h"
#include "base/alloc.h"
#include "base/log.h"
#include "device/tensor.h"
#include "engine/attack_loop.h"
#include "io/candidates.h"
#include "io/checkpoint.h"
#include "io/model_io.h"
#include "io/report.h"
#include "io/rundir.h"
#include "io/safetensors.h"
#include "nn/kkt.h"
#include "nn/optim.h"

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
kr_status kr_attack_objective(const kr_config *cfg, const kr_model *model, const char *path,
                              kr_objective *out)
{
    const size_t C = model->dims[model->layers];
    *out = kr_objective_resolve(cfg->attack.objective, C);
    if (*out == KR_OBJ_AUTO)
        return KR_FAIL(KR_E_INVALID, "attack.objective = %s does not fit %s, a model with %zu "
                       "output(s): binary and regression need 1, multiclass 2 or more",
                       kr_objective_name(cfg->attack.objective), path, C);
    return KR_OK;
}

size_t kr_attack_candidate_count(const kr_config *cfg, const char *model_path)
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

/* Everything that shapes the trajectory (run.json, io/rundir.h); iterations, the log and
 * checkpoint intervals and the device may change on --resume. */
static const char *const ATTACK_IDENTITY[] = {
    "attack.lr_x", "attack.lr_lambda", "attack.momentum", "attack.init_scale",
    "attack.lambda_min", "attack.alpha", "attack.activation", "attack.optimizer", "attack.seed",
    "attack.precision", "attack.objective", NULL};
static const char *const ATTACK_SETTINGS[] = {"attack.iterations", "attack.checkpoint_every",
                                              "attack.log_every", NULL};

static kr_status build_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                           size_t m, cJSON **out)
{
    cJSON *run = *out = kr_runid_new("attack");
    if (!run) return KR_FAIL(KR_E_NOMEM, "run.json");
    char mm[32];
    snprintf(mm, sizeof mm, "%zu", m);
    kr_status st = kr_runid_add_file(run, "model", model_path);
    if (st == KR_OK) st = kr_runid_add(run, true, "attack.candidates", mm);
    if (st == KR_OK) st = kr_runid_add_config(run, true, cfg, ATTACK_IDENTITY);
    if (st == KR_OK) st = kr_runid_add_config(run, false, cfg, ATTACK_SETTINGS);
    if (st == KR_OK) st = kr_runid_add(run, false, "device", kr_device_describe(dev));
    return st;
}

/* Writes a checkpoint; the first one of a staged run switches the run into its folder
 * (io/rundir.h), after which the paths point there. */
static kr_status save(kr_rundir *rd, char *ck_path, char *log_path, size_t cap,
                      kr_attack_state *s, const double *y, long it, const kr_checkpoint_info *ck)
{
    KR_TRY(kr_checkpoint_write(ck_path, s, y, it, ck));
    if (!rd->staged) return KR_OK;
    KR_TRY(kr_rundir_commit(rd));
    KR_TRY(kr_rundir_path(rd, ck_path, cap, "candidates.safetensors"));
    return kr_rundir_path(rd, log_path, cap, "attack.jsonl");
}

/* What the command does around the loop (engine/attack_loop.h): the kill test hook, Ctrl-C
 * (a checkpoint, then stop), the log file and progress lines, checkpoints, and the messages
 * of a divergence, which depend on whether a checkpoint was reached. */
typedef struct run_hook {
    const kr_config *cfg;
    kr_rundir *rd;
    const char *out_dir;
    char *ck_path, *log_path;
    size_t cap;
    kr_attack_state *s;
    const double *y;
    const kr_checkpoint_info *ck;
    FILE *jl;
    long kill_at, start;
    kr_progress prog;
} run_hook;

static kr_status on_event(void *user, const kr_attack_event *e)
{
    run_hook *h = user;
    const long it = e->it, total = h->cfg->attack.iterations;
    switch (e->kind) {
    case KR_ATTACK_BEGIN:
        if (it == h->kill_at) raise(SIGKILL);
        if (kr_interrupted() && h->rd->staged)
            return KR_FAIL(KR_E_INTERRUPTED, "attack interrupted at iteration %ld, before its "
                           "first checkpoint: nothing was written to %s (a run already there is "
                           "kept)", it, h->out_dir);
        if (kr_interrupted()) {
            KR_TRY(kr_checkpoint_write(h->ck_path, h->s, h->y, it, h->ck));
            return KR_FAIL(KR_E_INTERRUPTED, "attack interrupted at iteration %ld; checkpoint "
                           "written, continue with --resume", it);
        }
        return KR_OK;
    case KR_ATTACK_LOSS: {
        log_json(h->jl, it, e->loss, kr_time_now() - h->prog.t0);
        char extra[160];
        snprintf(extra, sizeof extra, "loss %.4e  kkt %.4e  prior %.3e  lambda %.3e",
                 e->loss->total, e->loss->kkt, e->loss->prior, e->loss->lambda);
        if (it > h->start) kr_progress_line(&h->prog, it, extra);
        return KR_OK;
    }
    case KR_ATTACK_STEPPED:
        if (h->cfg->attack.checkpoint_every > 0 && it % h->cfg->attack.checkpoint_every == 0 &&
            it < total)
            return save(h->rd, h->ck_path, h->log_path, h->cap, h->s, h->y, it, h->ck);
        return KR_OK;
    case KR_ATTACK_DIVERGED:
        if (it == total)
            return KR_FAIL(KR_E_NUMERIC, "attack ended on non-finite values (loss %g); the last "
                           "good checkpoint is kept", e->loss->total);
        return KR_FAIL(KR_E_NUMERIC, "attack diverged by iteration %ld (loss %g, |X|² %g); %s: "
                       "lower attack.lr_x or attack.alpha", it, e->loss->total, *e->x_sumsq,
                       h->rd->staged ? "no checkpoint had been reached, nothing was written"
                                     : "the last good checkpoint is kept");
    case KR_ATTACK_END:
        return KR_OK;
    }
    return KR_OK;
}

kr_status kr_attack_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                        const char *out_dir, kr_run_mode mode, kr_attack_result *res)
{
    const bool resume = mode == KR_RUN_RESUME;
    memset(res, 0, sizeof *res);
    const kr_dtype dt = cfg->attack.precision;
    kr_model *model = NULL;
    kr_kkt *kkt = NULL;
    kr_attack_state s = {0};
    double *y = NULL, *host = NULL;
    FILE *jl = NULL;
    cJSON *run = NULL;
    kr_rundir rd;
    kr_status st;
    char ck_path[4200], log_path[4200], path[4200];

    KR_TRY(kr_config_validate(cfg));
    KR_TRY(kr_device_check_dtype(dev, dt));
    KR_TRY(kr_rundir_open(&rd, out_dir, "attack", mode));
    KR_TRY_GOTO(kr_rundir_path(&rd, ck_path, sizeof ck_path, "candidates.safetensors"));
    KR_TRY_GOTO(kr_rundir_path(&rd, log_path, sizeof log_path, "attack.jsonl"));
    KR_TRY_GOTO(kr_model_load(model_path, &model));

    const size_t m = kr_attack_candidate_count(cfg, model_path), d = model->dims[0];
    res->m = m;
    res->d = d;
    KR_TRY_GOTO(build_run(cfg, dev, model_path, m, &run));
    if (resume) KR_TRY_GOTO(kr_rundir_check_identity(&rd, run));
    KR_TRY_GOTO(kr_rundir_write_run(&rd, run));
    kr_objective obj;
    KR_TRY_GOTO(kr_attack_objective(cfg, model, model_path, &obj));
    const kr_kkt_opts o = {cfg->attack.activation, cfg->attack.alpha, cfg->attack.lambda_min, obj};
    KR_TRY_GOTO(kr_alloc((void **)&y, "attack labels", m, 1, sizeof *y));
    KR_TRY_GOTO(kr_alloc((void **)&host, "attack candidates on the host", m, d + 1, sizeof *host));
    kr_attack_labels_obj(obj, model->dims[model->layers], m, y);
    KR_TRY_GOTO(kr_kkt_new(dev, dt, model, &o, m, y, &kkt));
    KR_TRY_GOTO(kr_checkpoint_state_new(dev, dt, m, d, cfg->attack.optimizer == KR_OPT_ADAM, &s));
    const kr_checkpoint_info ck = {model_path, o, cfg->attack.seed,
                                   kr_optim_name(cfg->attack.optimizer), kr_device_describe(dev)};

    long start = 0;
    if (resume) {
        KR_TRY_GOTO(kr_checkpoint_read(ck_path, &s, &start));
        if (start > cfg->attack.iterations) {
            st = KR_FAIL(KR_E_INVALID, "--resume: %s is at iteration %ld, past attack.iterations "
                         "= %ld; raise attack.iterations to extend the run", ck_path, start,
                         cfg->attack.iterations);
            goto fail;
        }
        KR_TRY_GOTO(kr_checkpoint_trim_log(log_path, start));
        kr_log_info("attack: resuming %s at iteration %ld", ck_path, start);
    } else {
        kr_attack_init_obj(obj, cfg->attack.seed, cfg->attack.init_scale, m, d, host);
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
                "%s", arch, m, kr_dtype_name(dt), kr_optim_name(cfg->attack.optimizer),
                cfg->attack.alpha, cfg->attack.lambda_min, cfg->attack.lr_x, kr_device_describe(dev));

    /* Test hook: KKTRECON_TEST_KILL_AT=N (a decimal N >= 1, anything else is ignored) kills
     * the process (SIGKILL, no clean-up) when iteration N starts, so the resume test can
     * interrupt a run at an exact point. Iterations come from validated checkpoints (>= 0),
     * so no file can steer a run into it. */
    const char *kill_env = getenv("KKTRECON_TEST_KILL_AT");
    long kill_at = -1;
    if (kill_env && *kill_env) {
        char *end;
        errno = 0;
        long v = strtol(kill_env, &end, 10);
        if (!errno && !*end && v >= 1) kill_at = v;
    }
    const long total = cfg->attack.iterations;
    run_hook h = {.cfg = cfg, .rd = &rd, .out_dir = out_dir, .ck_path = ck_path, .log_path = log_path,
                  .cap = sizeof ck_path, .s = &s, .y = y, .ck = &ck, .jl = jl, .kill_at = kill_at,
                  .start = start};
    kr_progress_begin(&h.prog, "attack", start, total);
    const kr_attack_loop_opts lo = {cfg->attack.optimizer, cfg->attack.lr_x, cfg->attack.lr_lambda,
                                    cfg->attack.momentum, total,
                                    cfg->attack.log_every > 0 ? cfg->attack.log_every : total + 1};
    kr_kkt_loss loss = {0};
    KR_TRY_GOTO(kr_attack_loop_run(kkt, &s, start, &lo, on_event, &h, &loss));
    kr_progress prog = h.prog;
    log_json(jl, total, &loss, kr_time_now() - prog.t0);
    res->seconds = kr_time_now() - prog.t0;
    res->iterations = total;
    res->loss = loss;
    KR_TRY_GOTO(save(&rd, ck_path, log_path, sizeof ck_path, &s, y, total, &ck));

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
    st = kr_rundir_path(&rd, path, sizeof path, "attack.json");
    if (st == KR_OK) st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    if (st != KR_OK) goto fail;
    KR_TRY_GOTO(kr_rundir_path(&rd, path, sizeof path, "config.ini"));
    FILE *cf;
    KR_TRY_GOTO(kr_report_open(path, &cf));
    kr_config_write(cfg, cf);
    KR_TRY_GOTO(kr_report_close(cf, path, KR_OK));
    kr_log_info("attack: %ld iterations in %.1fs: loss %.4e (kkt %.4e, prior %.3e, lambda %.3e)",
                total - start, res->seconds, loss.total, loss.kkt, loss.prior, loss.lambda);
    st = KR_OK;
fail:
    if (jl) fclose(jl);
    cJSON_Delete(run);
    kr_checkpoint_state_free(&s);
    kr_kkt_free(kkt);
    kr_model_free(model);
    free(y);
    free(host);
    return kr_rundir_close(&rd, st);
}

kr_status kr_attack_eval_point(kr_device *dev, kr_dtype dt, const char *model_path,
                               const char *candidates_path, const kr_kkt_opts *o,
                               const char *out_path, kr_kkt_loss *loss)
{
    kr_model *model = NULL;
    double *x = NULL, *lambda = NULL, *y = NULL, *hgx = NULL, *hgl = NULL;
    size_t m, d;
    kr_status st;
    KR_TRY(kr_model_load(model_path, &model));
    KR_TRY_GOTO(kr_candidates_load(candidates_path, &m, &d, &x, &lambda, &y));
    const kr_objective obj = kr_objective_resolve(o->objective, model->dims[model->layers]);
    if (obj == KR_OBJ_AUTO) {
        st = KR_FAIL(KR_E_INVALID, "objective %s does not fit %s, a model with %zu output(s)",
                     kr_objective_name(o->objective), model_path, model->dims[model->layers]);
        goto fail;
    }
    if (d != model->dims[0]) {
        st = KR_FAIL(KR_E_INVALID, "%s: candidates have %zu values each but the model %s takes "
                     "%zu inputs", candidates_path, d, model_path, model->dims[0]);
        goto fail;
    }
    KR_TRY_GOTO(kr_alloc((void **)&hgx, "kkt gradient in x", m, d, sizeof *hgx));
    KR_TRY_GOTO(kr_alloc((void **)&hgl, "kkt gradient in lambda", m, 1, sizeof *hgl));
    KR_TRY_GOTO(kr_attack_eval_at(dev, dt, model, o, m, x, lambda, y, candidates_path, loss, hgx,
                                  hgl));
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
        {"objective", kr_objective_name(obj)},
        {"precision", kr_dtype_name(dt)},
        {"per_tensor_order", "state_dict order: layers.0.weight, layers.0.bias (if present), "
                             "layers.1.weight, ..."},
        {"device", kr_device_describe(dev)},
    };
    st = kr_st_write(out_path, e, sizeof e / sizeof e[0], meta, sizeof meta / sizeof meta[0]);
fail:
    kr_model_free(model);
    free(x);
    free(lambda);
    free(y);
    free(hgx);
    free(hgl);
    return st;
}
