/* checkpoint.c — the attack's state, its atomic bit-exact checkpoint (the candidates file,
 * candidates.h) and the log trimming of a resume (checkpoint.h). Tensors travel as raw bytes
 * in their own dtype (kr_tensor_read_raw / write_raw), never through doubles, so a resumed
 * float32 run continues on exactly the bits it stopped at.
 */
#include "io/checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/report.h"
#include "io/safetensors.h"

kr_status kr_checkpoint_state_new(kr_device *dev, kr_dtype dt, size_t m, size_t d, bool adam,
                                  kr_attack_state *s)
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
    kr_checkpoint_state_free(s);
    return st;
}

void kr_checkpoint_state_free(kr_attack_state *s)
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

/* Tensors of a checkpoint, in file order; entries with t == NULL are skipped. */
typedef struct ck_entry {
    const char *name;
    kr_tensor *t;
} ck_entry;

static size_t ck_entries(kr_attack_state *s, ck_entry *e)
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

/* Index of the first NaN or Inf of n raw values of dtype dt, or n if there is none. */
static size_t first_nonfinite(const void *raw, size_t n, kr_dtype dt)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dt == KR_F64 ? ((const double *)raw)[i] : ((const float *)raw)[i])) return i;
    return n;
}

kr_status kr_checkpoint_write(const char *path, kr_attack_state *s, const double *y,
                              long iteration, const kr_checkpoint_info *info)
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
        if (first_nonfinite(raw[i], kr_tensor_numel(t), t->dtype) < kr_tensor_numel(t)) {
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
    snprintf(alpha, sizeof alpha, "%.17g", info->kkt.alpha);
    snprintf(lmin, sizeof lmin, "%.17g", info->kkt.lambda_min);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)info->seed);
    kr_st_meta meta[] = {
        {"format", "kktrecon-candidates"},
        {"model", info->model_path},
        {"alpha", alpha},
        {"lambda_min", lmin},
        {"seed", seed},
        {"optimizer", info->optimizer},
        {"precision", kr_dtype_name(s->x->dtype)},
        {"activation", info->kkt.act == KR_ACT_SOFTPLUS ? "softplus" : "relu"},
        {"device", info->device},
    };
    st = kr_st_write(path, ent, n, meta, sizeof meta / sizeof meta[0]);
done:
    for (size_t i = 0; i < 8; i++) free(raw[i]);
    return st;
}

static kr_status read_iteration(kr_st_file *f, const char *path, long *iteration)
{
    int64_t it;
    KR_TRY(kr_st_read_i64_scalar(f, "iteration", &it));
    if (it < 0 || it > LONG_MAX)
        return KR_FAIL(KR_E_INVALID, "%s: checkpoint iteration %lld is out of range (damaged "
                       "file?)", path, (long long)it);
    *iteration = (long)it;
    return KR_OK;
}

kr_status kr_checkpoint_read(const char *path, kr_attack_state *s, long *iteration)
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
        size_t q = first_nonfinite(raw, kr_tensor_numel(t), t->dtype);
        if (q < kr_tensor_numel(t)) {
            double v = t->dtype == KR_F64 ? ((const double *)raw)[q] : ((const float *)raw)[q];
            st = KR_FAIL(KR_E_INVALID, "%s: tensor '%s' element %zu is %g: a checkpoint holds "
                         "finite values only (damaged file?)", path, ce[i].name, q, v);
            goto done;
        }
        if ((st = kr_tensor_write_raw(t, raw)) != KR_OK) goto done;
    }
    st = read_iteration(f, path, iteration);
done:
    free(raw);
    kr_st_close(f);
    return st;
}

kr_status kr_checkpoint_read_iteration(const char *path, long *iteration)
{
    kr_st_file *f;
    KR_TRY(kr_st_open(path, &f));
    kr_status st = read_iteration(f, path, iteration);
    kr_st_close(f);
    return st;
}

kr_status kr_checkpoint_trim_log(const char *path, long start)
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
