/* attack_points.c — `kktrecon attack` with attack.points_file: many hyperparameter points in
 * one device job (attack.h).
 *
 * Each point is the [attack] configuration with the point's columns set through the same
 * `--set` path (so the same ranges and messages apply), initialised exactly as a single run
 * with its seed would be (X ~ N(0,1)·init_scale row-major, then λ ~ U[0,1), one stream), and
 * optimised by SGD with its own lr_x, lr_lambda and momentum (per-row rates,
 * kr_optim_sgd_rows); its loss and gradient are those of a single run with its α and λ_min
 * (nn/kkt.h points). Rows of different points never mix, so a point that diverges is marked
 * and the others go on. The loss terms are read back on log iterations only.
 * Not yet: checkpoints and --resume for points, Adam per row.
 */
#include "app/attack.h"

#include <cjson/cJSON.h>
#include <math.h>
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

/* The table's rows as configurations: cfg with each point's columns set and validated. */
static kr_status points_configs(const kr_config *cfg, const kr_points_table *t, kr_config *pc)
{
    const char *file = cfg->attack.points_file;
    for (size_t c = 0; c < t->cols; c++) {
        bool known = false;
        for (int k = 0; POINT_COLUMNS[k]; k++) known |= !strcmp(t->names[c], POINT_COLUMNS[k]);
        if (!known)
            return KR_FAIL(KR_E_INVALID, "%s: unknown column '%s' (allowed: init_scale, lr_x, "
                           "lr_lambda, momentum, lambda_min, alpha, seed)", file, t->names[c]);
    }
    for (size_t p = 0; p < t->rows; p++) {
        pc[p] = *cfg;
        for (size_t c = 0; c < t->cols; c++) {
            double v = t->v[p * t->cols + c];
            if (!strcmp(t->names[c], "seed") && (v < 0 || v != floor(v) || v > 9007199254740992.0))
                return KR_FAIL(KR_E_INVALID, "%s: point %zu: seed %.17g is not a whole number "
                               "in [0, 2^53]", file, p, v);
            char set[96];
            snprintf(set, sizeof set, "attack.%s=%.17g", t->names[c], v);
            kr_status st = kr_config_set(&pc[p], set);
            if (st == KR_OK) st = kr_config_validate(&pc[p]);
            if (st != KR_OK) return kr_error_context(st, "%s: point %zu", file, p);
        }
    }
    return KR_OK;
}

/* DIR/points/NNNN/: the point's candidates (a checkpoint-format file evaluate reads) and
 * point.json. */
static kr_status write_point(const char *work, size_t p, const kr_config *pc, const char *model,
                             kr_device *dev, kr_attack_state *all, size_t m, const double *y,
                             long iterations, const kr_kkt_loss *loss, bool diverged)
{
    char dir[4400], path[4500];
    snprintf(dir, sizeof dir, "%s/points/%04zu", work, p);
    KR_TRY(kr_report_mkdir(dir));
    kr_tensor x = kr_tensor_rows(all->x, p * m, m), l = kr_tensor_rows(all->lambda, p * m, m);
    kr_tensor bx = kr_tensor_rows(all->bx, p * m, m), bl = kr_tensor_rows(all->blambda, p * m, m);
    kr_attack_state s = {.x = &x, .lambda = &l, .bx = &bx, .blambda = &bl};
    const kr_checkpoint_info ck = {model,
                                   {pc->attack.activation, pc->attack.alpha, pc->attack.lambda_min,
                                    pc->attack.objective},
                                   pc->attack.seed, "sgd", kr_device_describe(dev)};
    if (!diverged) {
        snprintf(path, sizeof path, "%s/candidates.safetensors", dir);
        KR_TRY(kr_checkpoint_write(path, &s, y, iterations, &ck));
    }
    cJSON *j = cJSON_CreateObject();
    if (!j) return KR_FAIL(KR_E_NOMEM, "point.json");
    cJSON_AddNumberToObject(j, "point", (double)p);
    cJSON_AddStringToObject(j, "status", diverged ? "diverged" : "done");
    cJSON *v = cJSON_AddObjectToObject(j, "values");
    const double values[] = {pc->attack.init_scale, pc->attack.lr_x,       pc->attack.lr_lambda,
                             pc->attack.momentum,   pc->attack.lambda_min, pc->attack.alpha,
                             (double)pc->attack.seed};
    for (int k = 0; POINT_COLUMNS[k]; k++) cJSON_AddNumberToObject(v, POINT_COLUMNS[k], values[k]);
    kr_report_json_number(j, "loss", loss->total);
    kr_report_json_number(j, "loss_kkt", loss->kkt);
    kr_report_json_number(j, "loss_prior", loss->prior);
    kr_report_json_number(j, "loss_lambda", loss->lambda);
    cJSON *per = cJSON_AddArrayToObject(j, "loss_kkt_per_tensor");
    for (int t = 0; t < loss->n_tensors; t++)
        cJSON_AddItemToArray(per, cJSON_CreateNumber(loss->kkt_per_tensor[t]));
    cJSON_AddNumberToObject(j, "iterations", (double)iterations);
    cJSON_AddStringToObject(j, "device", kr_device_describe(dev));
    snprintf(path, sizeof path, "%s/point.json", dir);
    kr_status st = kr_report_write_json(path, j);
    cJSON_Delete(j);
    return st;
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

kr_status kr_attack_points_run(const kr_config *cfg, kr_device *dev, const char *model_path,
                               const char *out_dir, kr_run_mode mode, kr_attack_result *res)
{
    memset(res, 0, sizeof *res);
    if (mode == KR_RUN_RESUME)
        return KR_FAIL(KR_E_INVALID, "--resume is not available with attack.points_file (points "
                       "are not checkpointed yet); rerun with --overwrite");
    if (cfg->attack.optimizer != KR_OPT_SGD)
        return KR_FAIL(KR_E_INVALID, "attack.points_file runs SGD only (attack.optimizer = adam "
                       "is not available per point)");
    KR_TRY(kr_config_validate(cfg));
    const kr_dtype dt = cfg->attack.precision;
    KR_TRY(kr_device_check_dtype(dev, dt));

    kr_points_table t;
    KR_TRY(kr_points_read(cfg->attack.points_file, &t));
    const size_t P = t.rows;
    kr_config *pc = NULL;
    kr_model *model = NULL;
    kr_kkt *kkt = NULL;
    kr_kkt_point *kp = NULL;
    kr_kkt_loss *loss = NULL;
    double *xsq = NULL, *y = NULL, *host = NULL;
    bool *diverged = NULL;
    kr_attack_state s = {0};
    kr_tensor *lrx = NULL, *lrl = NULL, *mom = NULL;
    cJSON *run = NULL, *summary = NULL;
    kr_rundir rd;
    bool rd_open = false;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&pc, "points", P, 1, sizeof *pc));
    KR_TRY_GOTO(points_configs(cfg, &t, pc));
    KR_TRY_GOTO(kr_model_load(model_path, &model));
    const size_t m = kr_attack_candidate_count(cfg, model_path), d = model->dims[0];
    res->m = m;
    res->d = d;

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

    /* The labels of every point, and one KKT object for all points. */
    KR_TRY_GOTO(kr_alloc((void **)&y, "labels", m, 1, sizeof *y));
    kr_objective obj;
    KR_TRY_GOTO(kr_attack_objective(cfg, model, model_path, &obj));
    kr_attack_labels_obj(obj, model->dims[model->layers], m, y);
    KR_TRY_GOTO(kr_alloc((void **)&kp, "points", P, 1, sizeof *kp));
    for (size_t p = 0; p < P; p++) kp[p] = (kr_kkt_point){pc[p].attack.alpha, pc[p].attack.lambda_min};
    KR_TRY_GOTO(kr_kkt_new_objective(dev, dt, model, cfg->attack.activation, obj, kp, P, m, y,
                                     &kkt));
    KR_TRY_GOTO(kr_checkpoint_state_new(dev, dt, P * m, d, false, &s));

    /* Point p starts where a single run with its seed starts. */
    KR_TRY_GOTO(kr_alloc((void **)&host, "initial candidates", m, d + 1, sizeof *host));
    for (size_t p = 0; p < P; p++) {
        kr_attack_init_obj(obj, pc[p].attack.seed, pc[p].attack.init_scale, m, d, host);
        kr_tensor xv = kr_tensor_rows(s.x, p * m, m), lv = kr_tensor_rows(s.lambda, p * m, m);
        KR_TRY_GOTO(kr_tensor_write(&xv, host));
        KR_TRY_GOTO(kr_tensor_write(&lv, host + m * d));
    }
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, lr_x_of, "lr_x per row", &lrx));
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, lr_lambda_of, "lr_lambda per row", &lrl));
    KR_TRY_GOTO(per_row(dev, dt, pc, P, m, momentum_of, "momentum per row", &mom));

    KR_TRY_GOTO(kr_alloc((void **)&loss, "point losses", P, 1, sizeof *loss));
    KR_TRY_GOTO(kr_alloc((void **)&xsq, "point norms", P, 1, sizeof *xsq));
    KR_TRY_GOTO(kr_alloc_zero((void **)&diverged, "point status", P, 1, sizeof *diverged));
    char arch[256];
    kr_model_describe(model, arch, sizeof arch);
    kr_log_info("attack: model %s, %zu points x %zu candidates, %s, sgd, %s", arch, P, m,
                kr_dtype_name(dt), kr_device_describe(dev));

    const long total = cfg->attack.iterations;
    kr_progress prog;
    kr_progress_begin(&prog, "attack", 0, total);
    size_t failed = 0;
    for (long it = 0; it <= total; it++) {
        const bool last = it == total;
        const bool log_now = last || it % cfg->attack.log_every == 0;
        if (kr_interrupted()) {
            st = KR_FAIL(KR_E_INTERRUPTED, "attack interrupted at iteration %ld; points are not "
                         "checkpointed yet: nothing was written", it);
            goto fail;
        }
        KR_TRY_GOTO(kr_kkt_eval(kkt, s.x, s.lambda, last ? NULL : s.gx, last ? NULL : s.glambda));
        if (log_now) {
            KR_TRY_GOTO(kr_kkt_read_losses(kkt, loss, xsq));
            double best = INFINITY;
            for (size_t p = 0; p < P; p++) {
                if (!diverged[p] && !(isfinite(loss[p].total) && isfinite(xsq[p]))) {
                    diverged[p] = true;
                    failed++;
                    kr_log_info("attack: point %zu diverged by iteration %ld (loss %g); the "
                                "others go on", p, it, loss[p].total);
                }
                if (!diverged[p]) best = fmin(best, loss[p].total);
            }
            char extra[128];
            snprintf(extra, sizeof extra, "best loss %.4e  %zu/%zu points running", best,
                     P - failed, P);
            if (it > 0) kr_progress_line(&prog, it, extra);
        }
        if (last) break;
        KR_TRY_GOTO(kr_optim_sgd_rows(lrx, mom, it, s.x, s.gx, s.bx));
        KR_TRY_GOTO(kr_optim_sgd_rows(lrl, mom, it, s.lambda, s.glambda, s.blambda));
    }
    if (failed == P) {
        st = KR_FAIL(KR_E_NUMERIC, "all %zu points diverged: nothing was written (lower lr_x)", P);
        goto fail;
    }
    res->seconds = kr_time_now() - prog.t0;
    res->iterations = total;

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
    cJSON_AddNumberToObject(summary, "iterations", (double)total);
    cJSON_AddNumberToObject(summary, "seconds", res->seconds);
    cJSON_AddStringToObject(summary, "device", kr_device_describe(dev));
    cJSON *arr = cJSON_AddArrayToObject(summary, "loss");
    size_t best = P;
    for (size_t p = 0; p < P; p++) {
        KR_TRY_GOTO(write_point(rd.work, p, &pc[p], model_path, dev, &s, m, y, total, &loss[p],
                                diverged[p]));
        cJSON_AddItemToArray(arr, diverged[p] ? cJSON_CreateNull()
                                              : cJSON_CreateNumber(loss[p].total));
        if (!diverged[p] && (best == P || loss[p].total < loss[best].total)) best = p;
    }
    res->loss = loss[best]; /* the lowest final loss among the points that did not diverge */
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
    kr_tensor_free(lrx), kr_tensor_free(lrl), kr_tensor_free(mom);
    kr_checkpoint_state_free(&s);
    kr_kkt_free(kkt);
    kr_model_free(model);
    free(pc), free(kp), free(loss), free(xsq), free(y), free(host), free(diverged);
    kr_points_free(&t);
    return rd_open ? kr_rundir_close(&rd, st) : st;
}
