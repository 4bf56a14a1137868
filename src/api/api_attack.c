/* api_attack.c — the attack (one run and hyperparameter points) and the objective at a point
 * (include/kktrecon.h), over engine/attack_loop.h: the loop `kktrecon attack` runs, here
 * without files, with the caller's progress callback as the hook.
 */
#include "api/api_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/attack.h" /* kr_attack_points_configs */
#include "base/alloc.h"
#include "base/log.h"
#include "engine/attack_loop.h"
#include "io/checkpoint.h"
#include "io/points.h"

/* The hook: the caller's callback at every iteration (loss on the reading ones); a non-zero
 * answer stops the loop before the iteration, or after its evaluation (state unchanged). */
typedef struct api_hook {
    kktrecon_attack_progress progress;
    void *user;
    long total, stopped_at; /* stopped_at: −1 unless the callback stopped the loop */
} api_hook;

static kr_status on_event(void *user, const kr_attack_event *e)
{
    api_hook *h = user;
    if (!h->progress) return KR_OK;
    const kr_kkt_loss *l = NULL;
    kktrecon_loss pub;
    if (e->kind == KR_ATTACK_LOSS || e->kind == KR_ATTACK_END) {
        /* Points: the best point still running. */
        size_t best = e->points;
        for (size_t p = 0; p < e->points; p++)
            if (!(e->diverged && e->diverged[p]) &&
                (best == e->points || e->loss[p].total < e->loss[best].total))
                best = p;
        if (best < e->points) l = &e->loss[best];
    } else if (e->kind != KR_ATTACK_BEGIN) {
        return KR_OK;
    }
    if (l) api_loss(l, &pub);
    int stop = h->progress(h->user, e->it, h->total, l ? &pub : NULL);
    if (stop && e->kind != KR_ATTACK_END) {
        h->stopped_at = e->it;
        return KR_FAIL(KR_E_INTERRUPTED, "attack stopped by the progress callback at iteration "
                       "%ld of %ld", e->it, h->total);
    }
    return KR_OK;
}

static size_t candidate_count(const kktrecon_model *m, const kr_config *c)
{
    if (c->attack.candidates > 0) return (size_t)c->attack.candidates;
    size_t n = m->n_train ? m->n_train : 2 * (size_t)c->data.per_class;
    return 2 * n;
}

kktrecon_status kktrecon_attack_size(const kktrecon_model *m, const kktrecon_config *cfg,
                                     size_t *count, size_t *d)
{
    API_NEED("kktrecon_attack_size", m);
    API_NEED("kktrecon_attack_size", cfg);
    API_NEED("kktrecon_attack_size", count);
    API_NEED("kktrecon_attack_size", d);
    *count = candidate_count(m, &cfg->cfg);
    *d = m->m->dims[0];
    return KKTRECON_OK;
}

static void result_init(kktrecon_attack_result *r, size_t m, size_t d, kr_dtype dt)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->d = d;
    r->precision = (int)dt;
    r->loss.total = r->loss.kkt = r->loss.prior = r->loss.lambda = NAN;
}

kktrecon_status kktrecon_attack(const kktrecon_model *m, kktrecon_device *dev,
                                const kktrecon_config *cfg, kktrecon_attack_progress progress,
                                void *user, double *x, double *lambda, double *y,
                                kktrecon_attack_result *result)
{
    const char *fn = "kktrecon_attack";
    API_NEED(fn, m);
    API_NEED(fn, dev);
    API_NEED(fn, cfg);
    API_NEED(fn, x);
    API_NEED(fn, lambda);
    kr_config c;
    api_resolved(cfg, dev->dev, &c);
    if (c.attack.points_file[0])
        return api_status(KR_FAIL(KR_E_INVALID, "%s: attack.points_file is set (%s); run points "
                                  "with kktrecon_attack_points", fn, c.attack.points_file));
    API_TRY(kr_config_validate(&c));
    const kr_dtype dt = c.attack.precision;
    API_TRY(kr_device_check_dtype(dev->dev, dt));
    const size_t mc = candidate_count(m, &c), d = m->m->dims[0];
    kktrecon_attack_result res;
    result_init(&res, mc, d, dt);
    kr_kkt *kkt = NULL;
    kr_attack_state s = {0};
    double *labels = NULL, *host = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&labels, "attack labels", mc, 1, sizeof *labels));
    KR_TRY_GOTO(kr_alloc((void **)&host, "attack candidates on the host", mc, d + 1,
                         sizeof *host));
    kr_objective obj;
    KR_TRY_GOTO(kr_attack_objective(&c, m->m, "the model", &obj));
    kr_attack_labels_obj(obj, m->m->dims[m->m->layers], mc, labels);
    const kr_kkt_opts o = {c.attack.activation, c.attack.alpha, c.attack.lambda_min, obj};
    KR_TRY_GOTO(kr_kkt_new(dev->dev, dt, m->m, &o, mc, labels, &kkt));
    KR_TRY_GOTO(kr_checkpoint_state_new(dev->dev, dt, mc, d, c.attack.optimizer == KR_OPT_ADAM,
                                        &s));
    kr_attack_init_obj(obj, c.attack.seed, c.attack.init_scale, mc, d, host);
    KR_TRY_GOTO(kr_tensor_write(s.x, host));
    KR_TRY_GOTO(kr_tensor_write(s.lambda, host + mc * d));

    api_hook h = {progress, user, c.attack.iterations, -1};
    const kr_attack_loop_opts lo = {c.attack.optimizer, c.attack.lr_x, c.attack.lr_lambda,
                                    c.attack.momentum, c.attack.iterations,
                                    c.attack.log_every > 0 ? c.attack.log_every
                                                           : c.attack.iterations + 1};
    kr_kkt_loss loss;
    const double t0 = kr_time_now();
    st = kr_attack_loop_run(kkt, &s, 0, &lo, on_event, &h, &loss);
    res.seconds = kr_time_now() - t0;
    if (st == KR_OK) {
        res.iterations = c.attack.iterations;
        api_loss(&loss, &res.loss);
    } else if (st == KR_E_INTERRUPTED && h.stopped_at >= 0) {
        res.iterations = h.stopped_at;
        res.interrupted = 1;
    } else {
        goto fail;
    }
    {   /* The state reached (on a stop too), then the stop's status. */
        kr_status rd = kr_tensor_read(s.x, x);
        if (rd == KR_OK) rd = kr_tensor_read(s.lambda, lambda);
        if (rd != KR_OK) {
            st = rd;
            goto fail;
        }
    }
    if (y) memcpy(y, labels, mc * sizeof *y);
    if (result) *result = res;
fail:
    kr_checkpoint_state_free(&s);
    kr_kkt_free(kkt);
    free(labels);
    free(host);
    return api_status(st);
}

kktrecon_status kktrecon_kkt(const kktrecon_model *m, kktrecon_device *dev,
                             const kktrecon_config *cfg, size_t count, const double *x,
                             const double *lambda, const double *y, kktrecon_loss *loss,
                             double *grad_x, double *grad_lambda)
{
    const char *fn = "kktrecon_kkt";
    API_NEED(fn, m);
    API_NEED(fn, dev);
    API_NEED(fn, x);
    API_NEED(fn, lambda);
    API_NEED(fn, y);
    API_NEED(fn, loss);
    if (count == 0) return api_status(KR_FAIL(KR_E_INVALID, "%s: no candidates (count 0)", fn));
    kr_config c;
    api_resolved(cfg, dev->dev, &c);
    API_TRY(kr_config_validate(&c));
    API_TRY(kr_device_check_dtype(dev->dev, c.attack.precision));
    const kr_kkt_opts o = {c.attack.activation, c.attack.alpha, c.attack.lambda_min,
                           c.attack.objective};
    kr_kkt_loss l;
    API_TRY(kr_attack_eval_at(dev->dev, c.attack.precision, m->m, &o, count, x, lambda, y, fn,
                              &l, grad_x, grad_lambda));
    api_loss(&l, loss);
    return KKTRECON_OK;
}

kktrecon_status kktrecon_attack_points(const kktrecon_model *m, kktrecon_device *dev,
                                       const kktrecon_config *cfg, size_t points, size_t ncols,
                                       const char *const *columns, const double *values,
                                       kktrecon_attack_progress progress, void *user, double *x,
                                       double *lambda, double *y, kktrecon_loss *losses,
                                       int *diverged, kktrecon_attack_result *result)
{
    const char *fn = "kktrecon_attack_points";
    API_NEED(fn, m);
    API_NEED(fn, dev);
    API_NEED(fn, cfg);
    API_NEED(fn, x);
    API_NEED(fn, lambda);
    if (points == 0 || points > KR_POINTS_MAX_ROWS)
        return api_status(KR_FAIL(KR_E_INVALID, "%s: %zu points; 1..%d", fn, points,
                                  KR_POINTS_MAX_ROWS));
    if (ncols > KR_POINTS_MAX_COLS || (ncols && (!columns || !values)))
        return api_status(KR_FAIL(KR_E_INVALID, "%s: %zu columns (at most %d, names and values "
                                  "given)", fn, ncols, KR_POINTS_MAX_COLS));
    kr_config c;
    api_resolved(cfg, dev->dev, &c);
    API_TRY(kr_config_validate(&c));
    const kr_dtype dt = c.attack.precision;
    API_TRY(kr_device_check_dtype(dev->dev, dt));
    /* The table as attack_points.c reads it from a file; messages name "points". */
    kr_points_table t = {.rows = points, .cols = ncols, .v = (double *)values};
    for (size_t k = 0; k < ncols; k++) {
        if (!columns[k] || strlen(columns[k]) >= sizeof t.names[k])
            return api_status(KR_FAIL(KR_E_INVALID, "%s: column %zu has no name or a too long "
                                      "one", fn, k));
        memcpy(t.names[k], columns[k], strlen(columns[k]) + 1);
    }
    snprintf(c.attack.points_file, sizeof c.attack.points_file, "%s", "points");
    const size_t mc = candidate_count(m, &c), d = m->m->dims[0], P = points;
    kktrecon_attack_result res;
    result_init(&res, mc, d, dt);
    kr_config *pc = NULL;
    kr_attack_point *pts = NULL;
    kr_attack_points_job job = {0};
    kr_kkt_loss *loss = NULL;
    bool *div = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&pc, "points", P, 1, sizeof *pc));
    KR_TRY_GOTO(kr_attack_points_configs_table(&c, &t, "points", pc));
    KR_TRY_GOTO(kr_alloc((void **)&pts, "points", P, 1, sizeof *pts));
    for (size_t p = 0; p < P; p++) pts[p] = kr_attack_points_values(&pc[p]);
    KR_TRY_GOTO(kr_attack_points_new(dev->dev, dt, m->m, c.attack.activation, c.attack.objective,
                                     c.attack.optimizer, pts, P, mc, &job));
    KR_TRY_GOTO(kr_alloc((void **)&loss, "point losses", P, 1, sizeof *loss));
    KR_TRY_GOTO(kr_alloc_zero((void **)&div, "point status", P, 1, sizeof *div));
    api_hook h = {progress, user, c.attack.iterations, -1};
    const kr_attack_loop_opts lo = {c.attack.optimizer, 0, 0, 0, c.attack.iterations,
                                    c.attack.log_every};
    const double t0 = kr_time_now();
    st = kr_attack_loop_points(job.kkt, &job.s, job.lr_x, job.lr_lambda, job.momentum, &lo,
                               on_event, &h, loss, div);
    res.seconds = kr_time_now() - t0;
    if (st == KR_E_INTERRUPTED && h.stopped_at >= 0) {
        res.iterations = h.stopped_at;
        res.interrupted = 1;
    } else if (st != KR_OK) {
        goto fail;
    } else {
        res.iterations = c.attack.iterations;
        size_t best = P;
        for (size_t p = 0; p < P; p++)
            if (!div[p] && (best == P || loss[p].total < loss[best].total)) best = p;
        api_loss(&loss[best], &res.loss);
        for (size_t p = 0; losses && p < P; p++) api_loss(&loss[p], &losses[p]);
    }
    {
        kr_status rd = kr_tensor_read(job.s.x, x);
        if (rd == KR_OK) rd = kr_tensor_read(job.s.lambda, lambda);
        if (rd != KR_OK) {
            st = rd;
            goto fail;
        }
    }
    for (size_t p = 0; diverged && p < P; p++) diverged[p] = div[p];
    if (y) memcpy(y, job.y, mc * sizeof *y);
    if (result) *result = res;
fail:
    kr_attack_points_free(&job);
    free(pc), free(pts), free(loss), free(div);
    return api_status(st);
}
