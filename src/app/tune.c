/* tune.c — `kktrecon tune` (app/tune.h): every measurement in a child process of its own, the
 * parent only schedules, waits (with the time limit), compares and prints.
 *
 * A child reports on a pipe, one line: "ok SECONDS COMPILE_SECONDS", "wrong WHAT" or
 * "error MESSAGE" (list children: one line per device). A child that dies or says nothing
 * counts as "error".
 */
#define _POSIX_C_SOURCE 200809L
#include "app/tune.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/selftest.h"
#include "base/log.h"
#include "base/order.h"
#include "base/rng.h"
#include "device/blas.h"
#include "device/gemm_plan.h"
#include "device/tensor.h"

void kr_tune_defaults(kr_tune_opts *o)
{
    memset(o, 0, sizeof *o);
    o->device = "all";
    o->dtypes[0] = KR_F32;
    o->dtypes[1] = KR_F64;
    o->n_dtypes = 2;
    o->d = 784;
    o->h = 200;
    o->m = 160;
    o->timeout_s = 180.0;
    o->rounds = 5;
}

/* ---------- what a child does ---------- */

/* One product C (m×n) = op(A) op(B) with k inner; ta/tb as in kr_blas_gemm. */
typedef struct shape {
    size_t m, n, k;
    bool ta, tb;
} shape;

/* Entry (i, j) of op(A) op(B) in float64 from row-major hosts a (rows×cols as stored). */
static double ref_entry(const shape *s, const double *a, const double *b, size_t i, size_t j,
                        double *abs_sum)
{
    size_t lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double acc = 0.0, mag = 0.0;
    for (size_t p = 0; p < s->k; p++) {
        double x = s->ta ? a[p * lda + i] : a[i * lda + p];
        double y = s->tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += x * y;
        mag += fabs(x * y);
    }
    *abs_sum = mag;
    return acc;
}

/* Runs s on dev (batch blocks stacked along the rows when batch > 1) with fresh random inputs
 * and compares `samples` entries of every block (all of them when 0) with float64; true when
 * each is within tol of the reference's magnitude. On a mismatch *what says where. */
static kr_status check_shape(kr_device *dev, kr_dtype dt, const shape *s, size_t batch,
                             size_t samples, kr_rng *rng, bool *ok, char *what, size_t cap)
{
    kr_status st = KR_OK;
    size_t ar = s->ta ? s->k : s->m, ac = s->ta ? s->m : s->k;
    size_t br = s->tb ? s->n : s->k, bc = s->tb ? s->k : s->n;
    double *a = malloc(batch * ar * ac * sizeof *a), *b = malloc(batch * br * bc * sizeof *b);
    double *c = malloc(batch * s->m * s->n * sizeof *c);
    kr_tensor *ta = NULL, *tb = NULL, *tc = NULL;
    *ok = true;
    if (!a || !b || !c) {
        st = KR_FAIL(KR_E_NOMEM, "tune: host buffers");
        goto fail;
    }
    for (size_t i = 0; i < batch * ar * ac; i++) a[i] = 2.0 * kr_rng_uniform(rng) - 1.0;
    for (size_t i = 0; i < batch * br * bc; i++) b[i] = 2.0 * kr_rng_uniform(rng) - 1.0;
    KR_TRY_GOTO(kr_tensor_new(dev, dt, batch * ar, ac, "tune_A", &ta));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, batch * br, bc, "tune_B", &tb));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, batch * s->m, s->n, "tune_C", &tc));
    KR_TRY_GOTO(kr_tensor_write(ta, a));
    KR_TRY_GOTO(kr_tensor_write(tb, b));
    KR_TRY_GOTO(kr_tensor_fill(tc, 0.0));
    KR_TRY_GOTO(kr_blas_gemm_batched(batch, 1.0, ta, s->ta, tb, s->tb, 0.0, tc));
    KR_TRY_GOTO(kr_tensor_read(tc, c));
    const double tol = dt == KR_F64 ? 1e-12 : 2e-4;
    size_t count = samples ? samples : s->m * s->n;
    for (size_t q = 0; q < batch; q++) {
        const double *ap = a + q * ar * ac, *bp = b + q * br * bc, *cp = c + q * s->m * s->n;
        for (size_t e = 0; e < count; e++) {
            size_t idx = samples ? (size_t)(kr_rng_u64(rng) % (s->m * s->n)) : e;
            size_t i = idx / s->n, j = idx % s->n;
            double mag;
            double want = ref_entry(s, ap, bp, i, j, &mag);
            if (!(fabs(cp[idx] - want) <= tol * mag + 1e-300)) {
                snprintf(what, cap, "%zu x %zu x %zu %s%s%s: C[%zu][%zu] = %.9g, float64 says %.9g",
                         s->m, s->n, s->k, s->ta ? "T" : "N", s->tb ? "T" : "N",
                         batch > 1 ? " (batched)" : "", q * s->m + i, j, cp[idx], want);
                *ok = false;
                goto fail;
            }
        }
    }
fail:
    kr_tensor_free(ta);
    kr_tensor_free(tb);
    kr_tensor_free(tc);
    free(a);
    free(b);
    free(c);
    return st;
}

/* The attack's six product shapes at o's size (forward, residual and backward of both
 * hidden layers). */
static int attack_shapes(const kr_tune_opts *o, shape *s)
{
    const size_t m = o->m, h = o->h, d = o->d;
    shape all[6] = {{m, h, d, false, true}, {h, d, m, true, false}, {m, d, h, false, false},
                    {m, h, h, false, true}, {h, h, m, true, false}, {m, h, h, false, false}};
    memcpy(s, all, sizeof all);
    return 6;
}


/* The child's measurement of plan on spec in dt; its report line into line. */
static void child_measure(const char *spec, kr_dtype dt, const kr_gemm_plan *plan,
                          const kr_tune_opts *o, char *line, size_t cap)
{
    kr_device *dev = NULL;
    kr_tensor *t[6][3] = {{NULL}};
    kr_status st = kr_device_open(spec, &dev);
    double t0 = kr_time_now();
    if (st == KR_OK) st = kr_device_set_gemm_plan(dev, dt, plan);
    kr_rng rng;
    kr_rng_seed(&rng, 20261202u);
    char what[300] = "";
    bool ok = true;
    /* Awkward shapes in all four transpose combinations, then a strided batch. */
    static const size_t awk[][3] = {{1, 7, 33}, {33, 3, 7}, {7, 33, 1}, {3, 1, 7}, {33, 65, 17}};
    for (size_t w = 0; st == KR_OK && ok && w < sizeof awk / sizeof awk[0]; w++)
        for (int tr = 0; st == KR_OK && ok && tr < 4; tr++) {
            shape s = {awk[w][0], awk[w][1], awk[w][2], (tr & 1) != 0, (tr & 2) != 0};
            st = check_shape(dev, dt, &s, 1, 0, &rng, &ok, what, sizeof what);
        }
    if (st == KR_OK && ok) {
        shape s = {7, 33, 5, false, true};
        st = check_shape(dev, dt, &s, 3, 0, &rng, &ok, what, sizeof what);
    }
    shape shp[6];
    int ns = attack_shapes(o, shp);
    for (int i = 0; st == KR_OK && ok && i < ns; i++)
        st = check_shape(dev, dt, &shp[i], 1, 64, &rng, &ok, what, sizeof what);
    double compile_s = kr_time_now() - t0;
    /* Timing: the six products back to back, one finish; the best of o->rounds. */
    for (int i = 0; st == KR_OK && ok && i < ns; i++) {
        size_t ar = shp[i].ta ? shp[i].k : shp[i].m, ac = shp[i].ta ? shp[i].m : shp[i].k;
        size_t br = shp[i].tb ? shp[i].n : shp[i].k, bc = shp[i].tb ? shp[i].k : shp[i].n;
        st = kr_tensor_new(dev, dt, ar, ac, "tune_A", &t[i][0]);
        if (st == KR_OK) st = kr_tensor_new(dev, dt, br, bc, "tune_B", &t[i][1]);
        if (st == KR_OK) st = kr_tensor_new(dev, dt, shp[i].m, shp[i].n, "tune_C", &t[i][2]);
        for (int j = 0; st == KR_OK && j < 2; j++) st = kr_tensor_fill(t[i][j], 0.5);
    }
    double best = INFINITY;
    for (int r = -1; st == KR_OK && ok && r < o->rounds; r++) { /* r = -1: warm-up */
        double r0 = kr_time_now();
        for (int i = 0; st == KR_OK && i < ns; i++)
            st = kr_blas_gemm(1.0, t[i][0], shp[i].ta, t[i][1], shp[i].tb, 0.0, t[i][2]);
        if (st == KR_OK) st = kr_device_finish(dev);
        if (r >= 0 && kr_time_now() - r0 < best) best = kr_time_now() - r0;
    }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) kr_tensor_free(t[i][j]);
    if (st != KR_OK)
        snprintf(line, cap, "error %s", kr_error_message());
    else if (!ok)
        snprintf(line, cap, "wrong %s", what);
    else
        snprintf(line, cap, "ok %.9g %.3f", best, compile_s);
    kr_device_close(dev);
}

/* The child's store of plan (and note) for spec in dt, then the self-test with it. */
static void child_store(const char *spec, kr_dtype dt, const kr_gemm_plan *plan,
                        const char *note, char *line, size_t cap)
{
    kr_device *dev = NULL;
    kr_status st = kr_device_open(spec, &dev);
    if (st == KR_OK) st = kr_gemm_plan_store(dev, dt, plan, note);
    if (st == KR_OK) st = kr_device_set_gemm_plan(dev, dt, plan);
    if (st == KR_OK) st = kr_selftest_run(dev, dt);
    char path[1200] = "";
    if (st == KR_OK) kr_gemm_plan_path(dev, dt, path, sizeof path);
    if (st == KR_OK)
        snprintf(line, cap, "ok %s", path);
    else
        snprintf(line, cap, "error %s", kr_error_message());
    kr_device_close(dev);
}

/* The child's list: "INDEX OPENCL FP64 NAME" per device of spec ("all": every device), or
 * "error MESSAGE". */
static void list_devices(const char *spec, char *line, size_t cap)
{
    kr_device_info *infos = NULL, one;
    int n = 0;
    kr_status st;
    if (!strcmp(spec, "all")) {
        st = kr_device_list(&infos, &n);
    } else {
        kr_device *dev = NULL;
        st = kr_device_open(spec, &dev);
        if (st == KR_OK) {
            one = *kr_device_get_info(dev);
            n = 1;
        }
        kr_device_close(dev);
    }
    if (st != KR_OK) {
        snprintf(line, cap, "error %s", kr_error_message());
        return;
    }
    size_t at = 0;
    for (int i = 0; i < n && at < cap - 200; i++) {
        const kr_device_info *d = infos ? &infos[i] : &one;
        at += (size_t)snprintf(line + at, cap - at, "%d %d %d %s\n", d->index,
                               d->backend == KR_BACKEND_OPENCL, d->fp64, d->name);
    }
    free(infos);
}

/* ---------- the parent ---------- */

typedef enum { JOB_LIST, JOB_MEASURE, JOB_STORE } job_kind;

typedef struct job {
    job_kind kind;
    const char *spec;
    kr_dtype dt;
    const kr_gemm_plan *plan;
    const char *note;
    const kr_tune_opts *o;
} job;

/* Runs job in a child, waits at most timeout_s; its report into out (malloc'ed, may hold
 * several lines). Returns false when the child was stopped for time, died, or said nothing
 * (*out then says which). */
static bool run_child(const job *jb, double timeout_s, char **out)
{
    *out = NULL;
    int fd[2];
    if (pipe(fd) != 0) {
        *out = strdup("error pipe() failed");
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        *out = strdup("error fork() failed");
        return false;
    }
    if (pid == 0) {
        close(fd[0]);
        char line[2048] = "";
        if (jb->kind == JOB_MEASURE) {
            child_measure(jb->spec, jb->dt, jb->plan, jb->o, line, sizeof line);
        } else if (jb->kind == JOB_STORE) {
            child_store(jb->spec, jb->dt, jb->plan, jb->note, line, sizeof line);
        } else {
            list_devices(jb->spec, line, sizeof line);
        }
        size_t len = strlen(line), off = 0;
        while (off < len) {
            ssize_t w = write(fd[1], line + off, len - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
        close(fd[1]);
        _exit(0);
    }
    close(fd[1]);
    size_t cap = 4096, len = 0;
    char *buf = calloc(cap, 1);
    double t0 = kr_time_now();
    bool timed_out = false;
    int status = 0;
    /* Read as the child writes (it writes once, at the end), polling the clock. */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (kr_interrupted() || kr_time_now() - t0 > timeout_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = true;
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ssize_t r;
    while (buf && !timed_out && len < cap - 1 && (r = read(fd[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    close(fd[0]);
    if (!buf) {
        *out = strdup("error out of memory");
        return false;
    }
    buf[len] = '\0';
    if (timed_out) {
        snprintf(buf, cap, "error %s after %.0f s", kr_interrupted() ? "interrupted" : "stopped",
                 timeout_s);
        *out = buf;
        return false;
    }
    if (!WIFEXITED(status) || len == 0) {
        if (WIFSIGNALED(status))
            snprintf(buf, cap, "error the child died (signal %d)", WTERMSIG(status));
        else if (len == 0)
            snprintf(buf, cap, "error the child reported nothing");
        *out = buf;
        return false;
    }
    *out = buf;
    return true;
}

/* One measurement: seconds of the six products (INFINITY unless ok), the report printed. */
static double measure(const kr_tune_opts *o, const char *spec, kr_dtype dt,
                      const kr_gemm_plan *plan, double baseline, FILE *out, bool print)
{
    job jb = {JOB_MEASURE, spec, dt, plan, NULL, o};
    char *rep = NULL;
    char text[512];
    kr_gemm_plan_format(plan, text, sizeof text);
    kr_log_info("tune: device %s, %s: checking and timing %s (at most %.0f s)", spec,
                kr_dtype_name(dt), text, o->timeout_s);
    run_child(&jb, o->timeout_s, &rep);
    double sec = INFINITY, compile_s = 0.0;
    bool ok = rep && sscanf(rep, "ok %lf %lf", &sec, &compile_s) == 2;
    if (print) {
        if (ok)
            fprintf(out, "  %8.3f ms  %5.2fx  (checked and compiled in %5.1f s)  %s\n", sec * 1e3,
                     isfinite(baseline) ? baseline / sec : 1.0, compile_s, text);
        else
            fprintf(out, "  %8s     %5s   %s\n      not used: %s\n", "-", "-", text,
                    rep ? rep : "no report");
        fflush(out);
    }
    free(rep);
    return ok ? sec : INFINITY;
}

/* Whether c is in the comma list of candidate numbers (KKTRECON_TUNE_ONLY, tune.h). */
static bool in_list(const char *list, int c)
{
    for (const char *p = list; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return false;
        if (v == c) return true;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return false;
    }
    return false;
}

static kr_status tune_one(const kr_tune_opts *o, const char *spec, const char *name, kr_dtype dt,
                          FILE *out)
{
    shape shp[6];
    int ns = attack_shapes(o, shp);
    double flops = 0.0;
    for (int i = 0; i < ns; i++) flops += 2.0 * (double)shp[i].m * (double)shp[i].n * (double)shp[i].k;
    fprintf(out, "device %s: %s, %s: the attack's six products at %zu-%zu-%zu-1, m = %zu "
            "(%.0f MFLOP), best of %d rounds:\n", spec, name, kr_dtype_name(dt), o->d, o->h, o->h,
            o->m, flops * 1e-6, o->rounds);
    fflush(out);
    const kr_gemm_plan defaults = {KR_GEMM_DEFAULTS, {0}};
    double base = measure(o, spec, dt, &defaults, INFINITY, out, true);
    if (!isfinite(base))
        return KR_FAIL(KR_E_CLBLAST, "device %s (%s): CLBlast's own GEMMs could not be "
                       "measured in %s (see above); nothing to compare with, nothing stored",
                       spec, name, kr_dtype_name(dt));
    int nc;
    const kr_gemm_plan *cand = kr_gemm_plan_candidates(&nc);
    int best = -1;
    double best_s = INFINITY;
    const char *only = getenv("KKTRECON_TUNE_ONLY");
    for (int c = 0; c < nc && !kr_interrupted(); c++) {
        if (only && !in_list(only, c)) continue;
        double s = measure(o, spec, dt, &cand[c], base, out, true);
        if (s < best_s) {
            best_s = s;
            best = c;
        }
    }
    if (kr_interrupted()) return KR_FAIL(KR_E_INTERRUPTED, "tune: interrupted (nothing stored)");
    const kr_gemm_plan *chosen = &defaults;
    char note[256];
    if (best >= 0) {
        /* The winner against the defaults again, alternately: defaults, best, x3. */
        double tb[3], td[3];
        for (int r = 0; r < 3; r++) {
            td[r] = measure(o, spec, dt, &defaults, INFINITY, out, false);
            tb[r] = measure(o, spec, dt, &cand[best], INFINITY, out, false);
        }
        const double md = kr_median(td, 3), mb = kr_median(tb, 3), ratio = md / mb;
        fprintf(out, "  again, alternately: CLBlast's defaults %.3f ms, the best %.3f ms: %.2fx\n",
                md * 1e3, mb * 1e3, ratio);
        if (ratio >= 1.05) chosen = &cand[best];
        snprintf(note, sizeof note, "tuned at %zu-%zu-%zu-1, m = %zu: %.3f ms against %.3f ms "
                 "for CLBlast's defaults (%.2fx)", o->d, o->h, o->h, o->m,
                 (chosen == &defaults ? md : mb) * 1e3, md * 1e3,
                 chosen == &defaults ? 1.0 : ratio);
    } else {
        snprintf(note, sizeof note, "tuned at %zu-%zu-%zu-1, m = %zu: no candidate ran correctly",
                 o->d, o->h, o->h, o->m);
    }
    job jb = {JOB_STORE, spec, dt, chosen, note, o};
    char *rep = NULL;
    bool ok = run_child(&jb, o->timeout_s * 2, &rep) && !strncmp(rep, "ok ", 3);
    char text[512];
    kr_gemm_plan_format(chosen, text, sizeof text);
    if (!ok && chosen != &defaults) {
        fprintf(out, "  the self-test failed with %s: %s\n  storing CLBlast's defaults instead\n",
                text, rep ? rep : "no report");
        free(rep);
        jb.plan = chosen = &defaults;
        snprintf(note, sizeof note, "the tuned plan failed the self-test; defaults stored");
        ok = run_child(&jb, o->timeout_s * 2, &rep) && !strncmp(rep, "ok ", 3);
        kr_gemm_plan_format(chosen, text, sizeof text);
    }
    if (!ok) {
        kr_status st = KR_FAIL(KR_E_IO, "device %s (%s): storing the plan: %s", spec, name,
                               rep ? rep : "no report");
        free(rep);
        return st;
    }
    fprintf(out, "  stored: %s\n  (%s; self-test passed) in %s\n", text, note, rep + 3);
    free(rep);
    return KR_OK;
}

kr_status kr_tune_run(const kr_tune_opts *o, FILE *out)
{
    const char *want = o->device ? o->device : "all";
    bool all = !strcmp(want, "all");
    job jb = {JOB_LIST, want, KR_F32, NULL, NULL, o};
    char *list = NULL;
    if (!run_child(&jb, 120.0, &list) || !strncmp(list, "error ", 6)) {
        kr_status st = KR_FAIL(KR_E_NODEVICE, "tune: device %s: %s", want,
                               list ? list + (strncmp(list, "error ", 6) ? 0 : 6) : "");
        free(list);
        return st;
    }
    kr_status st = KR_OK;
    int tuned = 0;
    char *save = NULL;
    for (char *ln = strtok_r(list, "\n", &save); ln && st == KR_OK; ln = strtok_r(NULL, "\n", &save)) {
        int index, is_cl, fp64, off = 0;
        if (sscanf(ln, "%d %d %d %n", &index, &is_cl, &fp64, &off) != 3) continue;
        const char *name = ln + off;
        char spec[16];
        snprintf(spec, sizeof spec, "%d", index);
        if (!is_cl) {
            if (!all) fprintf(out, "device %s: %s: the host runs OpenBLAS; nothing to tune\n",
                              spec, name);
            tuned += !all;
            continue;
        }
        for (int t = 0; t < o->n_dtypes && st == KR_OK; t++) {
            if (o->dtypes[t] == KR_F64 && !fp64) {
                fprintf(out, "device %s: %s has no float64; skipped\n", spec, name);
                continue;
            }
            st = tune_one(o, spec, name, o->dtypes[t], out);
        }
        tuned++;
    }
    free(list);
    if (st == KR_OK && !tuned)
        st = KR_FAIL(KR_E_NODEVICE, "tune: there is no OpenCL device (`kktrecon devices` lists "
                     "what there is)");
    return st;
}
