/* attack_loop.c — the attack's optimisation loop (attack_loop.h): one run and P stacked
 * hyperparameter points, and the objective at one point. Moved here from app/attack.c and
 * app/attack_points.c unchanged in what it computes and in which order, so `kktrecon attack`
 * and kktrecon_attack() (include/kktrecon.h) produce bit-identical candidates on the same
 * device, precision, seed and settings.
 */
#include "engine/attack_loop.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/rng.h"

void kr_attack_labels(size_t m, double *y)
{
    kr_attack_labels_obj(KR_OBJ_BINARY, 1, m, y);
}

void kr_attack_labels_obj(kr_objective obj, size_t C, size_t m, double *y)
{
    for (size_t i = 0; i < m; i++)
        y[i] = obj == KR_OBJ_MULTICLASS ? (double)(i * C / m)
             : obj == KR_OBJ_REGRESSION ? 0.0 : i < m / 2 ? -1.0 : 1.0;
}

void kr_attack_init(uint64_t seed, double init_scale, size_t m, size_t d, double *host)
{
    kr_attack_init_obj(KR_OBJ_BINARY, seed, init_scale, m, d, host);
}

void kr_attack_init_obj(kr_objective obj, uint64_t seed, double init_scale, size_t m, size_t d,
                        double *host)
{
    kr_rng r;
    kr_rng_seed(&r, seed);
    for (size_t i = 0; i < m * d; i++) host[i] = kr_rng_normal(&r) * init_scale;
    for (size_t i = 0; i < m; i++)
        host[m * d + i] = obj == KR_OBJ_REGRESSION ? kr_rng_normal(&r) : kr_rng_uniform(&r);
}

static kr_status notify(kr_attack_hook hook, void *user, kr_attack_event e)
{
    return hook ? hook(user, &e) : KR_OK;
}

static kr_attack_event ev(kr_attack_event_kind kind, long it, const kr_kkt_loss *loss,
                          const double *xsq, const bool *diverged, size_t points, size_t point)
{
    return (kr_attack_event){.kind = kind, .it = it, .loss = loss, .x_sumsq = xsq,
                             .diverged = diverged, .points = points, .point = point};
}

/* One step of the configured optimiser on x and on λ (their own learning rates); SGD does
 * both in one op (sgd_pair), the same update as two kr_optim_step calls. */
static kr_status optimizer_step(const kr_attack_loop_opts *o, kr_attack_state *s, long it)
{
    if (o->optimizer == KR_OPT_SGD)
        return kr_optim_sgd_pair(o->lr_x, o->lr_lambda, o->momentum, it, s->x, s->gx, s->bx,
                                 s->lambda, s->glambda, s->blambda);
    KR_TRY(kr_optim_step(o->optimizer, o->lr_x, o->momentum, it, s->x, s->gx, s->bx, s->vx));
    return kr_optim_step(o->optimizer, o->lr_lambda, o->momentum, it, s->lambda, s->glambda,
                         s->blambda, s->vlambda);
}

kr_status kr_attack_loop_run(kr_kkt *kkt, kr_attack_state *s, long start,
                             const kr_attack_loop_opts *o, kr_attack_hook hook, void *user,
                             kr_kkt_loss *final)
{
    if (o->log_every <= 0 || start < 0 || start > o->iterations)
        return KR_FAIL(KR_E_INVALID, "attack loop: log_every %ld, start %ld, iterations %ld",
                       o->log_every, start, o->iterations);
    kr_kkt_loss loss = {0};
    double xsq;
    const long total = o->iterations;
    for (long it = start; it < total; it++) {
        KR_TRY(notify(hook, user, ev(KR_ATTACK_BEGIN, it, NULL, NULL, NULL, 1, 0)));
        /* The loss terms are read back (a blocking wait for the device) only on log
         * iterations; in between the device runs ahead. A NaN is caught at the next read. */
        const bool log_now = it == start || it % o->log_every == 0;
        KR_TRY(kr_kkt_eval(kkt, s->x, s->lambda, s->gx, s->glambda));
        if (log_now) {
            KR_TRY(kr_kkt_read_loss(kkt, &loss, &xsq));
            kr_attack_event e = ev(KR_ATTACK_LOSS, it, &loss, &xsq, NULL, 1, 0);
            if (!isfinite(loss.total) || !isfinite(xsq)) {
                e.kind = KR_ATTACK_DIVERGED;
                KR_TRY(notify(hook, user, e));
                return KR_FAIL(KR_E_NUMERIC, "attack diverged by iteration %ld (loss %g, |X|² %g): "
                               "lower attack.lr_x or attack.alpha", it, loss.total, xsq);
            }
            KR_TRY(notify(hook, user, e));
        }
        KR_TRY(optimizer_step(o, s, it));
        KR_TRY(notify(hook, user, ev(KR_ATTACK_STEPPED, it + 1, NULL, NULL, NULL, 1, 0)));
    }
    /* The loss at the final point (after the last step). */
    KR_TRY(kr_kkt_eval(kkt, s->x, s->lambda, NULL, NULL));
    KR_TRY(kr_kkt_read_loss(kkt, &loss, &xsq));
    kr_attack_event e = ev(KR_ATTACK_END, total, &loss, &xsq, NULL, 1, 0);
    if (!isfinite(loss.total) || !isfinite(xsq)) {
        e.kind = KR_ATTACK_DIVERGED;
        KR_TRY(notify(hook, user, e));
        return KR_FAIL(KR_E_NUMERIC, "attack ended on non-finite values (loss %g, |X|² %g)",
                       loss.total, xsq);
    }
    *final = loss;
    return notify(hook, user, e);
}

kr_status kr_attack_step_rows(kr_optimizer opt, const kr_tensor *lr_x, const kr_tensor *lr_lambda,
                              const kr_tensor *momentum, long it, kr_attack_state *s)
{
    if (opt == KR_OPT_ADAM) {
        KR_TRY(kr_optim_adam_rows(lr_x, it, s->x, s->gx, s->bx, s->vx));
        return kr_optim_adam_rows(lr_lambda, it, s->lambda, s->glambda, s->blambda, s->vlambda);
    }
    KR_TRY(kr_optim_sgd_rows(lr_x, momentum, it, s->x, s->gx, s->bx));
    return kr_optim_sgd_rows(lr_lambda, momentum, it, s->lambda, s->glambda, s->blambda);
}

kr_status kr_attack_loop_points(kr_kkt *kkt, kr_attack_state *s, const kr_tensor *lr_x,
                                const kr_tensor *lr_lambda, const kr_tensor *momentum,
                                const kr_attack_loop_opts *o, kr_attack_hook hook, void *user,
                                kr_kkt_loss *final, bool *diverged)
{
    if (o->log_every <= 0 || o->iterations < 0)
        return KR_FAIL(KR_E_INVALID, "attack loop: log_every %ld, iterations %ld", o->log_every,
                       o->iterations);
    const size_t P = kr_kkt_points(kkt);
    double *xsq = NULL;
    KR_TRY(kr_alloc((void **)&xsq, "point norms", P, 1, sizeof *xsq));
    kr_status st;
    size_t failed = 0;
    const long total = o->iterations;
    for (long it = 0; it <= total; it++) {
        const bool last = it == total;
        const bool log_now = last || it % o->log_every == 0;
        KR_TRY_GOTO(notify(hook, user, ev(KR_ATTACK_BEGIN, it, NULL, NULL, diverged, P, 0)));
        KR_TRY_GOTO(kr_kkt_eval(kkt, s->x, s->lambda, last ? NULL : s->gx,
                                last ? NULL : s->glambda));
        if (log_now) {
            KR_TRY_GOTO(kr_kkt_read_losses(kkt, final, xsq));
            for (size_t p = 0; p < P; p++)
                if (!diverged[p] && !(isfinite(final[p].total) && isfinite(xsq[p]))) {
                    diverged[p] = true;
                    failed++;
                    KR_TRY_GOTO(notify(hook, user, ev(KR_ATTACK_DIVERGED, it, final,
                                                                     xsq, diverged, P, p)));
                }
            KR_TRY_GOTO(notify(hook, user, ev(last ? KR_ATTACK_END : KR_ATTACK_LOSS,
                                                             it, final, xsq, diverged, P, 0)));
        }
        if (last) break;
        KR_TRY_GOTO(kr_attack_step_rows(o->optimizer, lr_x, lr_lambda, momentum, it, s));
        KR_TRY_GOTO(notify(hook, user, ev(KR_ATTACK_STEPPED, it + 1, NULL, NULL,
                                                         diverged, P, 0)));
    }
    st = failed == P ? KR_FAIL(KR_E_NUMERIC, "all %zu points diverged: nothing was written "
                               "(lower lr_x)", P)
                     : KR_OK;
fail:
    free(xsq);
    return st;
}

/* A column tensor (rows × 1) holding value_of(point) on each of the point's m rows. */
static kr_status per_row(kr_device *dev, kr_dtype dt, const kr_attack_point *pts, size_t P,
                         size_t m, size_t field, const char *name, kr_tensor **out)
{
    double *h = NULL;
    KR_TRY(kr_alloc((void **)&h, name, P, m, sizeof *h));
    for (size_t p = 0; p < P; p++)
        for (size_t i = 0; i < m; i++)
            h[p * m + i] = *(const double *)((const char *)&pts[p] + field);
    kr_status st = kr_tensor_new(dev, dt, P * m, 1, name, out);
    if (st == KR_OK) st = kr_tensor_write(*out, h);
    free(h);
    return st;
}

kr_status kr_attack_points_new(kr_device *dev, kr_dtype dt, const kr_model *model, kr_act act,
                               kr_objective objective, kr_optimizer opt,
                               const kr_attack_point *pts, size_t P, size_t m,
                               kr_attack_points_job *job)
{
    memset(job, 0, sizeof *job);
    const size_t d = model->dims[0];
    job->P = P, job->m = m, job->d = d;
    kr_kkt_point *kp = NULL;
    double *host = NULL;
    kr_status st;
    /* The labels of every point, and one KKT object for all points. */
    const size_t C = model->dims[model->layers];
    const kr_objective obj = kr_objective_resolve(objective, C);
    if (obj == KR_OBJ_AUTO)
        return KR_FAIL(KR_E_INVALID, "attack points: objective %s does not fit a model with %zu "
                       "output(s)", kr_objective_name(objective), C);
    KR_TRY_GOTO(kr_alloc((void **)&job->y, "labels", m, 1, sizeof *job->y));
    kr_attack_labels_obj(obj, C, m, job->y);
    KR_TRY_GOTO(kr_alloc((void **)&kp, "points", P, 1, sizeof *kp));
    for (size_t p = 0; p < P; p++) kp[p] = (kr_kkt_point){pts[p].alpha, pts[p].lambda_min};
    KR_TRY_GOTO(kr_kkt_new_objective(dev, dt, model, act, obj, kp, P, m, job->y, &job->kkt));
    KR_TRY_GOTO(kr_checkpoint_state_new(dev, dt, P * m, d, opt == KR_OPT_ADAM, &job->s));
    /* Point p starts where a single run with its seed starts. */
    KR_TRY_GOTO(kr_alloc((void **)&host, "initial candidates", m, d + 1, sizeof *host));
    for (size_t p = 0; p < P; p++) {
        kr_attack_init_obj(obj, pts[p].seed, pts[p].init_scale, m, d, host);
        kr_tensor xv = kr_tensor_rows(job->s.x, p * m, m);
        kr_tensor lv = kr_tensor_rows(job->s.lambda, p * m, m);
        KR_TRY_GOTO(kr_tensor_write(&xv, host));
        KR_TRY_GOTO(kr_tensor_write(&lv, host + m * d));
    }
    KR_TRY_GOTO(per_row(dev, dt, pts, P, m, offsetof(kr_attack_point, lr_x), "lr_x per row",
                        &job->lr_x));
    KR_TRY_GOTO(per_row(dev, dt, pts, P, m, offsetof(kr_attack_point, lr_lambda),
                        "lr_lambda per row", &job->lr_lambda));
    KR_TRY_GOTO(per_row(dev, dt, pts, P, m, offsetof(kr_attack_point, momentum),
                        "momentum per row", &job->momentum));
fail:
    free(kp);
    free(host);
    if (st != KR_OK) kr_attack_points_free(job);
    return st;
}

void kr_attack_points_free(kr_attack_points_job *job)
{
    kr_tensor_free(job->lr_x);
    kr_tensor_free(job->lr_lambda);
    kr_tensor_free(job->momentum);
    kr_checkpoint_state_free(&job->s);
    kr_kkt_free(job->kkt);
    free(job->y);
    memset(job, 0, sizeof *job);
}

kr_status kr_attack_eval_at(kr_device *dev, kr_dtype dt, const kr_model *model,
                            const kr_kkt_opts *o, size_t m, const double *x,
                            const double *lambda, const double *y, const char *what,
                            kr_kkt_loss *loss, double *gx, double *glambda)
{
    const size_t d = model->dims[0], C = model->dims[model->layers];
    const kr_objective obj = kr_objective_resolve(o->objective, C);
    if (obj == KR_OBJ_AUTO)
        return KR_FAIL(KR_E_INVALID, "%s: objective %s does not fit a model with %zu output(s)",
                       what, kr_objective_name(o->objective), C);
    /* The loss of a NaN point is NaN and a label the objective cannot use (binary: ±1,
     * multiclass: a class index; regression ignores y) is no task: refused with the place
     * named rather than evaluated. */
    for (size_t i = 0; i < m; i++) {
        for (size_t k = 0; k < d; k++)
            if (!isfinite(x[i * d + k]))
                return KR_FAIL(KR_E_INVALID, "%s: tensor 'x' row %zu, value %zu is %g: the point "
                               "to evaluate must be finite", what, i, k, x[i * d + k]);
        if (!isfinite(lambda[i]))
            return KR_FAIL(KR_E_INVALID, "%s: tensor 'lambda' element %zu is %g: the point to "
                           "evaluate must be finite", what, i, lambda[i]);
        if (obj == KR_OBJ_BINARY && y[i] != 1.0 && y[i] != -1.0)
            return KR_FAIL(KR_E_INVALID, "%s: tensor 'y' element %zu is %g: labels must be -1 "
                           "or +1", what, i, y[i]);
        if (obj == KR_OBJ_MULTICLASS && !(y[i] >= 0 && y[i] < (double)C && y[i] == floor(y[i])))
            return KR_FAIL(KR_E_INVALID, "%s: tensor 'y' element %zu is %g: multiclass labels "
                           "must be class indices 0..%zu", what, i, y[i], C - 1);
    }
    kr_kkt *kkt = NULL;
    kr_tensor *tx = NULL, *tl = NULL, *tgx = NULL, *tgl = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_kkt_new(dev, dt, model, o, m, y, &kkt));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "X", &tx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "lambda", &tl));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, d, "dX", &tgx));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, m, 1, "dlambda", &tgl));
    KR_TRY_GOTO(kr_tensor_write(tx, x));
    KR_TRY_GOTO(kr_tensor_write(tl, lambda));
    KR_TRY_GOTO(kr_kkt_eval(kkt, tx, tl, tgx, tgl));
    KR_TRY_GOTO(kr_kkt_read_loss(kkt, loss, NULL));
    if (gx) KR_TRY_GOTO(kr_tensor_read(tgx, gx));
    if (glambda) KR_TRY_GOTO(kr_tensor_read(tgl, glambda));
fail:
    kr_tensor_free(tx);
    kr_tensor_free(tl);
    kr_tensor_free(tgx);
    kr_tensor_free(tgl);
    kr_kkt_free(kkt);
    return st;
}
