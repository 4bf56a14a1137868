/* sweep.c — `kktrecon sweep` (sweep.h): the run folder and its manifest, the queue of
 * batches and one worker thread per device. The points are sweep_points.c, a batch's run the
 * batch engine of attack_points.c, the report sweep_report.c, MPI sweep_mpi.c.
 *
 * Queue: a worker takes first a batch that exists but is not running (one a killed sweep left,
 * resumed from its checkpoint with the same points), else the next `batch` pending points in
 * point order as a new batch; a faster device simply comes back sooner. Every change of state
 * is written to DIR/sweep.json at once (atomically), so a sweep killed at any moment resumes
 * with --resume: finished points stay finished, running batches continue from their last
 * checkpoint (at most attack.checkpoint_every iterations lost).
 *
 * Threads: each worker opens its own device (own context, queue, CLBlast cache entries) and
 * shares only the sweep state (under sw->mu), the error buffer (thread-local, base/status.c)
 * and stderr (each log line is written whole, base/log.c). On the host backend the worker's
 * GEMMs and loops use the OpenMP pool of that thread.
 */
#include "app/sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/runid.h"
#include "app/selftest.h"
#include "app/sweep_impl.h"
#include "base/alloc.h"
#include "base/log.h"
#include "io/model_io.h"
#include "io/report.h"
#include "io/rundir.h"

/* ---------------------------------------------------------------- the local queue */

static void save_manifest(kr_sweep *sw)
{
    if (kr_manifest_save(sw->man_path, &sw->man) != KR_OK && sw->err == KR_OK) {
        sw->err = KR_E_IO;
        snprintf(sw->err_msg, sizeof sw->err_msg, "%s", kr_error_message());
        sw->stop = true;
    }
}

static kr_status local_take(kr_sweep *sw, size_t want, const char *device, long *b,
                            size_t *points, kr_points_outcome *init, size_t *n)
{
    *b = -1;
    *n = 0;
    pthread_mutex_lock(&sw->mu);
    kr_status st = KR_OK;
    kr_manifest *m = &sw->man;
    if (sw->stop || kr_interrupted()) goto done;
    size_t got = SIZE_MAX;
    for (size_t k = 0; k < m->n_batches && got == SIZE_MAX; k++) {
        kr_manifest_batch *t = &m->bt[k];
        if (t->status != KR_PT_PENDING || t->taken) continue;
        bool live = false; /* a resumed batch whose points all failed has nothing left to do */
        for (size_t i = 0; i < t->n; i++) live |= m->pt[t->points[i]].status != KR_PT_FAILED;
        if (live) got = k;
        else t->status = KR_PT_DONE;
    }
    if (got == SIZE_MAX) {
        size_t ids[1024], c = 0;
        for (size_t i = 0; i < m->n_points && c < want && c < 1024; i++)
            if (m->pt[i].status == KR_PT_PENDING && m->pt[i].batch < 0) ids[c++] = i;
        if (c == 0) goto done;
        if ((st = kr_manifest_add_batch(m, ids, c, &got)) != KR_OK) goto done;
    }
    kr_manifest_batch *t = &m->bt[got];
    t->taken = true;
    t->status = KR_PT_RUNNING;
    snprintf(t->device, sizeof t->device, "%s", device);
    for (size_t i = 0; i < t->n; i++) {
        kr_manifest_point *p = &m->pt[t->points[i]];
        memset(&init[i], 0, sizeof init[i]);
        if (p->status == KR_PT_FAILED) {
            init[i].failed = true;
            snprintf(init[i].reason, sizeof init[i].reason, "%s", p->reason);
        } else {
            p->status = KR_PT_RUNNING;
        }
        snprintf(p->device, sizeof p->device, "%s", device);
        points[i] = t->points[i];
    }
    *n = t->n;
    *b = (long)got;
    save_manifest(sw);
done:
    pthread_mutex_unlock(&sw->mu);
    return st;
}

static void local_failed(kr_sweep *sw, long b, size_t point, const char *reason, const char *device)
{
    (void)b;
    pthread_mutex_lock(&sw->mu);
    kr_manifest_point *p = &sw->man.pt[point];
    p->status = KR_PT_FAILED;
    snprintf(p->reason, sizeof p->reason, "%s", reason);
    snprintf(p->device, sizeof p->device, "%s", device);
    save_manifest(sw);
    pthread_mutex_unlock(&sw->mu);
}

static void local_checkpoint(kr_sweep *sw, long b, long it)
{
    pthread_mutex_lock(&sw->mu);
    sw->man.bt[b].checkpoint_iteration = it;
    save_manifest(sw);
    pthread_mutex_unlock(&sw->mu);
}

static void local_done(kr_sweep *sw, long b, const size_t *points, size_t n,
                       const kr_points_outcome *out, const char *device)
{
    pthread_mutex_lock(&sw->mu);
    size_t nf = 0, np = 0;
    double secs = 0;
    for (size_t i = 0; i < n; i++) {
        kr_manifest_point *p = &sw->man.pt[points[i]];
        p->status = out[i].failed ? KR_PT_FAILED : out[i].pruned ? KR_PT_PRUNED : KR_PT_DONE;
        p->seconds = out[i].seconds;
        secs = fmax(secs, out[i].seconds);
        snprintf(p->reason, sizeof p->reason, "%s", out[i].failed ? out[i].reason : "");
        snprintf(p->device, sizeof p->device, "%s", device);
        nf += out[i].failed;
        np += out[i].pruned && !out[i].failed;
        if (!out[i].failed && !out[i].pruned && (sw->best_point < 0 || out[i].loss.total < sw->best_loss)) {
            sw->best_loss = out[i].loss.total;
            sw->best_point = (long)points[i];
        }
    }
    kr_manifest_batch *t = &sw->man.bt[b];
    t->status = KR_PT_DONE;
    save_manifest(sw);
    char ck[4400];
    snprintf(ck, sizeof ck, "%s/batches/%04ld.safetensors", sw->dir, b);
    remove(ck);
    sw->finished += n;
    sw->failed += nf;
    sw->batches_done++;
    double el = kr_time_now() - sw->t0, rate = el > 0 ? (double)sw->finished / el : 0;
    char eta[32], best[96] = "";
    kr_format_duration(rate > 0 ? (double)(sw->todo - sw->finished) / rate : -1, eta, sizeof eta);
    if (sw->best_point >= 0)
        snprintf(best, sizeof best, ", best final loss %.4e (point %ld)", sw->best_loss,
                 sw->best_point);
    char pruned[48] = "";
    if (np) snprintf(pruned, sizeof pruned, ", %zu pruned", np);
    kr_log_info("sweep: batch %ld (%zu point%s from %zu) done in %.1fs on %s: %zu failed%s; "
                "%zu/%zu points finished%s; ETA %s", b, n, n == 1 ? "" : "s", points[0], secs,
                device, nf, pruned, sw->finished, sw->todo, best, eta);
    pthread_mutex_unlock(&sw->mu);
}

static void local_error(kr_sweep *sw, kr_status st, const char *text)
{
    pthread_mutex_lock(&sw->mu);
    if (sw->err == KR_OK || (sw->err == KR_E_INTERRUPTED && st != KR_E_INTERRUPTED)) {
        sw->err = st;
        snprintf(sw->err_msg, sizeof sw->err_msg, "%s", text);
    }
    sw->stop = true;
    pthread_mutex_unlock(&sw->mu);
}

const kr_sweep_queue kr_sweep_local_queue = {local_take, local_failed, local_checkpoint,
                                             local_done, local_error};

/* ---------------------------------------------------------------- workers */

typedef struct worker {
    kr_sweep *sw;
    const char *spec;
    long b;               /* the batch running (for the callbacks) */
    char device[160];
} worker;

static void on_failed(void *user, size_t p, const char *reason);
static void on_checkpoint(void *user, long it);

typedef struct batch_ctx {
    worker *w;
    const size_t *ids;
} batch_ctx;

static void on_failed(void *user, size_t p, const char *reason)
{
    batch_ctx *c = user;
    c->w->sw->queue->failed(c->w->sw, c->w->b, c->ids[p], reason, c->w->device);
}

static void on_checkpoint(void *user, long it)
{
    batch_ctx *c = user;
    c->w->sw->queue->checkpoint(c->w->sw, c->w->b, it);
}

/* Points per batch on dev: sweep.batch, or what fits a quarter of its memory (at most 16). */
static size_t batch_size(const kr_sweep *sw, kr_device *dev, kr_dtype dt, const kr_model *model)
{
    if (sw->batch_fixed > 0) return (size_t)sw->batch_fixed;
    double es = (double)kr_dtype_size(dt), rows = 0, params = 0;
    for (int l = 1; l <= model->layers; l++) {
        rows += (double)model->dims[l];
        params += (double)model->dims[l] * (double)model->dims[l - 1];
    }
    /* X, its gradient and momentum; about 8 per-row tensors per layer; E and W per point. */
    double per_point = es * ((double)sw->m * (3.0 * (double)sw->d + 8.0 * rows) + 2.0 * params);
    double budget = (double)kr_device_get_info(dev)->global_mem / 4.0;
    double k = floor(budget / per_point);
    return k < 1 ? 1 : k > 16 ? 16 : (size_t)k;
}

static kr_status run_batch(worker *w, kr_device *dev, const kr_config *wc, long b,
                           const size_t *ids, const kr_points_outcome *init, size_t n)
{
    kr_sweep *sw = w->sw;
    kr_config *pc = NULL;
    kr_points_outcome *out = NULL;
    char (*dirs)[4400] = NULL;
    const char **dirp = NULL;
    kr_status st;
    KR_TRY_GOTO(kr_alloc((void **)&pc, "batch points", n, 1, sizeof *pc));
    KR_TRY_GOTO(kr_alloc_zero((void **)&out, "batch outcomes", n, 1, sizeof *out));
    KR_TRY_GOTO(kr_alloc((void **)&dirs, "point folders", n, 1, sizeof *dirs));
    KR_TRY_GOTO(kr_alloc((void **)&dirp, "point folders", n, 1, sizeof *dirp));
    for (size_t i = 0; i < n; i++) {
        pc[i] = sw->pc[ids[i]];
        pc[i].attack.precision = wc->attack.precision;
        out[i] = init[i];
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/points/%04zu", sw->dir, ids[i]);
        KR_TRY_GOTO(kr_report_mkdir(dirs[i]));
        dirp[i] = dirs[i];
    }
    char ck[4400];
    snprintf(ck, sizeof ck, "%s/batches/%04ld.safetensors", sw->dir, b);
    batch_ctx ctx = {w, ids};
    const kr_points_batch pb = {.pc = pc, .P = n, .ids = ids, .dirs = dirp, .checkpoint = ck,
                                .resume = true, .prune = sw->prune, .label = NULL,
                                .on_failed = on_failed,
                                .on_checkpoint = on_checkpoint, .user = &ctx};
    w->b = b;
    KR_TRY_GOTO(kr_attack_points_batch(wc, dev, sw->model, &pb, out));
    sw->queue->done(sw, b, ids, n, out, w->device);
    st = KR_OK;
fail:
    free(pc), free(out), free(dirs), free(dirp);
    return st;
}

static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;

static void *worker_main(void *arg)
{
    worker *w = arg;
    kr_sweep *sw = w->sw;
    kr_device *dev = NULL;
    kr_model *model = NULL;
    size_t *ids = NULL;
    kr_points_outcome *init = NULL;
    kr_config wc = *sw->cfg;
    kr_status st;
    /* Opening (and closing) devices is serialised: the OpenCL ICD loader's and PoCL's first
     * platform query are not thread-safe (two workers racing there lost PoCL's device or
     * crashed, measured with ocl-icd 2.3.1 and PoCL 3.1). */
    pthread_mutex_lock(&open_mu);
    st = kr_device_open(w->spec, &dev);
    pthread_mutex_unlock(&open_mu);
    if (st != KR_OK) goto fail;
    const kr_device_info *di = kr_device_get_info(dev);
    if (di->backend == KR_BACKEND_HOST) snprintf(w->device, sizeof w->device, "host");
    else snprintf(w->device, sizeof w->device, "%.100s (%d:%d)", di->name, di->platform, di->device);
    if (sw->ranks > 1) {
        size_t k = strlen(w->device);
        snprintf(w->device + k, sizeof w->device - k, " rank %d", sw->rank);
    }
    kr_config_resolve_precision(&wc, dev);
    if (kr_device_backend(dev) == KR_BACKEND_OPENCL) KR_TRY_GOTO(kr_selftest_run(dev, wc.attack.precision));
    KR_TRY_GOTO(kr_model_load(sw->model, &model));
    const size_t want = batch_size(sw, dev, wc.attack.precision, model);
    kr_log_info("sweep: worker on %s, %s, %zu point%s per batch", kr_device_describe(dev),
                kr_dtype_name(wc.attack.precision), want, want == 1 ? "" : "s");
    KR_TRY_GOTO(kr_alloc((void **)&ids, "batch", 1024, 1, sizeof *ids));
    KR_TRY_GOTO(kr_alloc((void **)&init, "batch", 1024, 1, sizeof *init));
    for (;;) {
        long b;
        size_t n;
        KR_TRY_GOTO(sw->queue->take(sw, want, w->device, &b, ids, init, &n));
        if (b < 0) break;
        KR_TRY_GOTO(run_batch(w, dev, &wc, b, ids, init, n));
    }
    st = KR_OK;
fail:
    if (st != KR_OK) {
        char text[1100];
        snprintf(text, sizeof text, "worker on %s: %s", w->spec[0] ? w->spec : "the default device",
                 kr_error_message());
        sw->queue->error(sw, st, text);
    }
    free(ids);
    free(init);
    kr_model_free(model);
    pthread_mutex_lock(&open_mu);
    kr_device_close(dev);
    pthread_mutex_unlock(&open_mu);
    atomic_fetch_sub(&sw->workers_left, 1);
    return NULL;
}

kr_status kr_sweep_workers(kr_sweep *sw, char specs[][128], size_t n_specs)
{
    worker *w = calloc(n_specs, sizeof *w);
    pthread_t *th = calloc(n_specs, sizeof *th);
    if (!w || !th) {
        free(w);
        free(th);
        return KR_FAIL(KR_E_NOMEM, "sweep workers");
    }
    atomic_store(&sw->workers_left, (int)n_specs);
#ifdef KR_HAVE_MPI
    if (sw->ranks > 1 && sw->rank > 0) kr_sweep_mpi_hello((int)n_specs);
#endif
    size_t started = 0;
    for (size_t i = 0; i < n_specs; i++) {
        w[i] = (worker){.sw = sw, .spec = specs[i], .b = -1};
        if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0) {
            atomic_fetch_sub(&sw->workers_left, 1);
            sw->queue->error(sw, KR_E_NOMEM, "cannot start a worker thread");
            continue;
        }
        started++;
    }
#ifdef KR_HAVE_MPI
    if (sw->ranks > 1 && sw->rank == 0) {
        kr_status st = kr_sweep_mpi_serve(sw);
        if (st != KR_OK) local_error(sw, st, kr_error_message());
    }
#endif
    for (size_t i = 0; i < n_specs; i++)
        if (th[i]) pthread_join(th[i], NULL);
    (void)started;
    free(w);
    free(th);
    return KR_OK;
}

/* ---------------------------------------------------------------- the command */

static kr_status device_specs(const kr_sweep_opts *o, const kr_config *cfg, int local_rank,
                              char specs[][128], size_t *n)
{
    *n = 0;
    const char *list = o->devices;
    if (!list || !*list) {
        const char *spec = kr_device_spec_resolve(o->device, cfg->device);
        snprintf(specs[0], 128, "%s", spec ? spec : "");
        *n = 1;
        if (local_rank < 0 || specs[0][0]) return KR_OK;
        /* Under MPI with no device named: this node's local rank's GPU, else the host. */
        kr_device_info *infos = NULL;
        int nd = 0, gpus = 0;
        KR_TRY(kr_device_list(&infos, &nd));
        for (int i = 0; i < nd; i++) gpus += !strcmp(infos[i].type, "gpu");
        snprintf(specs[0], 128, "host");
        for (int i = 0, g = 0; gpus && i < nd; i++)
            if (!strcmp(infos[i].type, "gpu") && g++ == local_rank % gpus)
                snprintf(specs[0], 128, "%d", infos[i].index);
        free(infos);
        return KR_OK;
    }
    if (!strcmp(list, "all")) {
        kr_device_info *infos = NULL;
        int nd = 0;
        KR_TRY(kr_device_list(&infos, &nd));
        for (int i = 0; i < nd && *n < 16; i++) snprintf(specs[(*n)++], 128, "%d", infos[i].index);
        free(infos);
        return KR_OK;
    }
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *s = buf, *next; s; s = next) {
        next = strchr(s, ',');
        if (next) *next++ = '\0';
        if (!*s) return KR_FAIL(KR_E_INVALID, "--devices '%s': an empty device spec", list);
        if (*n == 16) return KR_FAIL(KR_E_INVALID, "--devices '%s': at most 16 devices", list);
        size_t len = strlen(s);
        if (len >= 128) return KR_FAIL(KR_E_INVALID, "--devices: device spec '%.40s...' too long", s);
        for (size_t k = 0; k < *n; k++)
            if (!strcmp(specs[k], s))
                return KR_FAIL(KR_E_INVALID, "--devices '%s' names '%s' twice: one worker per "
                               "device (a batch already fills it)", list, s);
        memcpy(specs[(*n)++], s, len + 1);
    }
    return KR_OK;
}

/* Everything that shapes the points' trajectories (run.json); sweep.points may grow and
 * sweep.batch change on --resume (existing batches keep their points). */
static const char *const SWEEP_IDENTITY[] = {
    "attack.lr_lambda", "attack.momentum", "attack.activation", "attack.optimizer",
    "attack.precision", "attack.iterations", "sweep.seed", "sweep.init_scale", "sweep.lr_x",
    "sweep.lambda_min", "sweep.alpha", NULL};
static const char *const SWEEP_SETTINGS[] = {"sweep.points", "sweep.batch",
                                             "attack.checkpoint_every", "attack.log_every", NULL};

static kr_status write_identity(kr_sweep *sw, kr_rundir *rd, bool resume)
{
    cJSON *run = kr_runid_new("sweep");
    if (!run) return KR_FAIL(KR_E_NOMEM, "run.json");
    char mm[32];
    snprintf(mm, sizeof mm, "%zu", sw->m);
    kr_status st = kr_runid_add_file(run, "model", sw->model);
    if (st == KR_OK && sw->cfg->sweep.points_file[0])
        st = kr_runid_add_file(run, "sweep.points_file", sw->cfg->sweep.points_file);
    if (st == KR_OK) st = kr_runid_add(run, true, "attack.candidates", mm);
    if (st == KR_OK) st = kr_runid_add_config(run, true, sw->cfg, SWEEP_IDENTITY);
    /* Only when on, so that sweeps from before the setting existed still resume. */
    if (st == KR_OK && sw->prune) st = kr_runid_add(run, true, "sweep.prune", "loss");
    if (st == KR_OK) st = kr_runid_add_config(run, false, sw->cfg, SWEEP_SETTINGS);
    if (st == KR_OK && resume) st = kr_rundir_check_identity(rd, run);
    if (st == KR_OK) st = kr_rundir_write_run(rd, run);
    cJSON_Delete(run);
    if (st != KR_OK) return st;
    char path[4400];
    KR_TRY(kr_rundir_path(rd, path, sizeof path, "config.ini"));
    FILE *cf;
    KR_TRY(kr_report_open(path, &cf));
    kr_config_write(sw->cfg, cf);
    return kr_report_close(cf, path, KR_OK);
}

/* The manifest of a new sweep, or the one a resume continues: batches that were running are
 * to be resumed from their checkpoints, and new points are appended. */
static kr_status open_manifest(kr_sweep *sw, bool resume)
{
    snprintf(sw->man_path, sizeof sw->man_path, "%s/sweep.json", sw->dir);
    if (!resume) KR_TRY(kr_manifest_init(&sw->man, sw->n));
    else {
        KR_TRY(kr_manifest_load(sw->man_path, &sw->man));
        if (sw->man.n_points > sw->n)
            return KR_FAIL(KR_E_INVALID, "--resume: %s holds %zu points but sweep.points is %zu; a "
                           "sweep only grows (raise sweep.points to at least %zu)", sw->dir,
                           sw->man.n_points, sw->n, sw->man.n_points);
        KR_TRY(kr_manifest_grow(&sw->man, sw->n));
        for (size_t b = 0; b < sw->man.n_batches; b++) {
            kr_manifest_batch *t = &sw->man.bt[b];
            if (t->status != KR_PT_RUNNING) continue;
            t->status = KR_PT_PENDING;
            for (size_t i = 0; i < t->n; i++)
                if (sw->man.pt[t->points[i]].status == KR_PT_RUNNING)
                    sw->man.pt[t->points[i]].status = KR_PT_PENDING;
        }
    }
    for (size_t i = 0; i < sw->man.n_points; i++) {
        kr_pt_status s = sw->man.pt[i].status;
        if (s == KR_PT_DONE || s == KR_PT_FAILED || s == KR_PT_PRUNED) continue;
        /* A failed point inside an unfinished batch is not work left. */
        sw->todo++;
    }
    return kr_manifest_save(sw->man_path, &sw->man);
}

/* Rank 0 (or the only process): the run folder, its identity and the manifest. */
static kr_status setup_rank0(kr_sweep *sw, const kr_sweep_opts *o, kr_rundir *rd, bool *rd_open)
{
    char probe[4400];
    snprintf(probe, sizeof probe, "%s/sweep.json", sw->dir);
    FILE *f = o->mode == KR_RUN_NEW ? fopen(probe, "rb") : NULL;
    if (f) {
        fclose(f);
        return KR_FAIL(KR_E_INVALID, "%s already holds a sweep (%s exists): continue it with "
                       "--resume (raising sweep.points adds points), or choose another --out",
                       sw->dir, probe);
    }
    KR_TRY(kr_rundir_open(rd, sw->dir, "sweep", o->mode));
    *rd_open = true;
    KR_TRY(write_identity(sw, rd, o->mode == KR_RUN_RESUME));
    KR_TRY(kr_rundir_commit(rd));
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/points", sw->dir);
    KR_TRY(kr_report_mkdir(sub));
    snprintf(sub, sizeof sub, "%s/batches", sw->dir);
    KR_TRY(kr_report_mkdir(sub));
    return open_manifest(sw, o->mode == KR_RUN_RESUME);
}

kr_status kr_sweep_run(const kr_config *cfg, const char *model_path, const char *out_dir,
                       const kr_sweep_opts *o, kr_sweep_result *res)
{
    memset(res, 0, sizeof *res);
    KR_TRY(kr_config_validate(cfg));
    kr_sweep *sw = calloc(1, sizeof *sw);
    if (!sw) return KR_FAIL(KR_E_NOMEM, "sweep state");
    kr_status st;
    kr_rundir rd;
    bool rd_open = false;
    char specs[16][128] = {{0}};
    size_t n_specs = 0;
    int local_rank = -1;
    pthread_mutex_init(&sw->mu, NULL);
    sw->cfg = cfg;
    sw->model = model_path;
    sw->queue = &kr_sweep_local_queue;
    sw->ranks = 1;
    sw->best_point = -1;
    if (strlen(out_dir) >= sizeof sw->dir) {
        st = KR_FAIL(KR_E_INVALID, "output folder name too long");
        goto fail;
    }
    snprintf(sw->dir, sizeof sw->dir, "%s", out_dir);
    if (!strcmp(cfg->sweep.batch, "auto")) sw->batch_fixed = 0;
    else {
        char *end;
        errno = 0;
        long v = strtol(cfg->sweep.batch, &end, 10);
        if (errno || end == cfg->sweep.batch || *end || v < 1 || v > 1024) {
            st = KR_FAIL(KR_E_INVALID, "sweep.batch = '%s': expected auto or a whole number in "
                         "[1, 1024]", cfg->sweep.batch);
            goto fail;
        }
        sw->batch_fixed = v;
    }
    if (!strcmp(cfg->sweep.prune, "loss")) sw->prune = true;
    else if (strcmp(cfg->sweep.prune, "none")) {
        st = KR_FAIL(KR_E_INVALID, "sweep.prune = '%s': expected none or loss (successive halving "
                     "by the total loss at 10%% and 30%% of the iterations)",
                     cfg->sweep.prune);
        goto fail;
    }
    KR_TRY_GOTO(kr_sweep_points(cfg, &sw->pc, &sw->n, sw->log_axis));
    {
        kr_model *model = NULL;
        KR_TRY_GOTO(kr_model_load(model_path, &model));
        sw->d = model->dims[0];
        kr_model_free(model);
        sw->m = kr_attack_candidate_count(cfg, model_path);
    }
#ifdef KR_HAVE_MPI
    if (kr_sweep_mpi_start(&sw->rank, &sw->ranks, &local_rank) && sw->ranks > 1 && sw->rank > 0)
        sw->queue = &kr_sweep_mpi_queue;
#endif
    st = device_specs(o, cfg, local_rank, specs, &n_specs);
    if (st == KR_OK && sw->rank == 0) st = setup_rank0(sw, o, &rd, &rd_open);
#ifdef KR_HAVE_MPI
    if (sw->ranks > 1) st = kr_sweep_mpi_agree(st); /* the folder exists and is locked */
#endif
    if (st != KR_OK) goto fail;
    if (sw->rank == 0)
        kr_log_info("sweep: %zu points (%zu to run) of %zu candidates, %ld iterations, on %zu "
                    "device%s%s", sw->n, sw->todo, sw->m, cfg->attack.iterations, n_specs,
                    n_specs == 1 ? "" : "s", sw->ranks > 1 ? " on rank 0" : "");
    sw->t0 = kr_time_now();
    KR_TRY_GOTO(kr_sweep_workers(sw, specs, n_specs));
    res->seconds = kr_time_now() - sw->t0;
    res->ran = sw->finished;
    if (sw->err != KR_OK) {
        st = kr_error_raise(sw->err, sw->err_msg); /* the worker's message has its location */
        goto fail;
    }
    if (kr_interrupted()) {
        st = KR_FAIL(KR_E_INTERRUPTED, "sweep interrupted; running batches checkpointed, continue "
                     "with --resume");
        goto fail;
    }
    if (sw->rank == 0) KR_TRY_GOTO(kr_sweep_report(sw, specs[0], res));
    st = KR_OK;
fail:
    res->rank = sw->rank;
    /* After the commit the folder stays whatever happens (its manifest says what is
     * finished); before it, a failed sweep leaves nothing. The lock goes either way. */
    if (rd_open) st = kr_rundir_close(&rd, st);
#ifdef KR_HAVE_MPI
    if (sw->ranks > 1) kr_sweep_mpi_finish();
#endif
    kr_manifest_free(&sw->man);
    free(sw->pc);
    pthread_mutex_destroy(&sw->mu);
    free(sw);
    return st;
}
