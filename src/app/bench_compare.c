/* bench_compare.c — `kktrecon bench --compare`: devices of several machines side by side, from
 * their kktrecon-bench/1 files (see bench_compare.h for the outputs). Reads JSON only; times
 * nothing and opens no device. The attack iteration is the figure compared (the job that
 * runs for hours); the time of a full attack is KR_BENCH_ATTACK_ITERATIONS × its median.
 */
#include "app/bench_compare.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "app/bench.h"
#include "eval/html.h"
#include "eval/plot.h"
#include "io/report.h"

#define CMP_MAX_DEV 256
#define CMP_MAX_PRICES 32

typedef struct cmp_dev {
    char label[320];    /* "hostname name" */
    char machine[160], name[256], status[16], message[512], size[64];
    /* per dtype (KR_F32, KR_F64): NaN = not measured */
    double ms[2], its[2], frac_gemm[2], frac_peak[2];
    bool unsupported[2], suspect[2];
    double price; /* USD per hour, NaN = none */
} cmp_dev;

typedef struct cmp_price {
    char key[128];
    double usd;
} cmp_price;

static kr_status read_text(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return KR_FAIL(KR_E_IO, "bench --compare: cannot open %s", path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        if (cap > ((size_t)64 << 20)) {
            free(buf);
            fclose(f);
            return KR_FAIL(KR_E_INVALID, "bench --compare: %s is over 64 MiB", path);
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    bool err = ferror(f);
    fclose(f);
    if (!buf) return KR_FAIL(KR_E_NOMEM, "bench --compare: reading %s", path);
    if (err) {
        free(buf);
        return KR_FAIL(KR_E_IO, "bench --compare: reading %s failed", path);
    }
    buf[n] = '\0';
    *out = buf;
    return KR_OK;
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return true;
    }
    return n == 0;
}

static kr_status parse_prices(const char *s, cmp_price *p, size_t *np)
{
    *np = 0;
    if (!s) return KR_OK;
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        const char *eq = memchr(s, '=', len);
        if (!eq || eq == s || *np == CMP_MAX_PRICES || (size_t)(eq - s) >= sizeof p->key)
            return KR_FAIL(KR_E_INVALID, "bench --price-per-hour '%.*s': expected DEVICE=USD "
                           "(a device name substring, a price per hour), comma-separated, at "
                           "most %d", (int)len, s, CMP_MAX_PRICES);
        char num[64], *end;
        size_t nl = len - (size_t)(eq - s) - 1;
        if (nl == 0 || nl >= sizeof num)
            return KR_FAIL(KR_E_INVALID, "bench --price-per-hour '%.*s': no price", (int)len, s);
        memcpy(num, eq + 1, nl);
        num[nl] = '\0';
        double v = strtod(num, &end);
        if (*end || !isfinite(v) || v < 0)
            return KR_FAIL(KR_E_INVALID, "bench --price-per-hour '%.*s': '%s' is not a price "
                           "in USD per hour", (int)len, s, num);
        memcpy(p[*np].key, s, (size_t)(eq - s));
        p[*np].key[eq - s] = '\0';
        p[*np].usd = v;
        (*np)++;
        s += len + (comma ? 1 : 0);
    }
    return KR_OK;
}

/* Appends the devices of one file to d[*nd]. */
static kr_status read_file(const char *path, cmp_dev *d, size_t *nd)
{
    char *text;
    KR_TRY(read_text(path, &text));
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return KR_FAIL(KR_E_INVALID, "bench --compare: %s is not JSON", path);
    kr_status st = KR_OK;
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    if (strcmp(jstr(root, "schema"), KR_BENCH_SCHEMA) || !cJSON_IsArray(devs)) {
        st = KR_FAIL(KR_E_INVALID, "bench --compare: %s: expected \"schema\": \"%s\" and a "
                     "\"devices\" array (a file written by `kktrecon bench --json`)", path,
                     KR_BENCH_SCHEMA);
        goto done;
    }
    const cJSON *mach = cJSON_GetObjectItemCaseSensitive(root, "machine");
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(root, "settings");
    const cJSON *jd;
    cJSON_ArrayForEach(jd, devs) {
        if (*nd == CMP_MAX_DEV) {
            st = KR_FAIL(KR_E_INVALID, "bench --compare: more than %d devices", CMP_MAX_DEV);
            goto done;
        }
        cmp_dev *c = &d[(*nd)++];
        memset(c, 0, sizeof *c);
        const cJSON *facts = cJSON_GetObjectItemCaseSensitive(jd, "facts");
        snprintf(c->machine, sizeof c->machine, "%s", jstr(mach, "hostname"));
        snprintf(c->name, sizeof c->name, "%s", jstr(facts, "name"));
        if (!strcmp(c->name, "host")) { /* the host backend: its BLAS, name and version */
            const char *blas = jstr(facts, "blas"), *sp = strchr(blas, ' ');
            int len = sp && strchr(sp + 1, ' ') ? (int)(strchr(sp + 1, ' ') - blas) : 120;
            snprintf(c->name, sizeof c->name, "host (%.*s)", len, blas);
        }
        snprintf(c->status, sizeof c->status, "%s", jstr(jd, "status"));
        snprintf(c->label, sizeof c->label, "%s %s%s", c->machine, c->name,
                 strcmp(c->status, "ok") ? " (FAILED)" : "");
        snprintf(c->message, sizeof c->message, "%s", jstr(jd, "message"));
        snprintf(c->size, sizeof c->size, "%s %.0f-%.0f-%.0f-1 m=%.0f", jstr(set, "size"),
                 jnum(set, "d"), jnum(set, "h"), jnum(set, "h"), jnum(set, "m"));
        c->price = NAN;
        const cJSON *selft = cJSON_GetObjectItemCaseSensitive(jd, "selftest");
        for (int k = 0; k < 2; k++) {
            c->ms[k] = c->its[k] = c->frac_gemm[k] = c->frac_peak[k] = NAN;
            c->unsupported[k] = !strcmp(jstr(selft, kr_dtype_name((kr_dtype)k)), "unsupported");
        }
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(jd, "results")) {
            if (strcmp(jstr(r, "workload"), "attack")) continue;
            int k = !strcmp(jstr(r, "dtype"), "float64") ? 1 : 0;
            c->ms[k] = jnum(r, "ms_median");
            c->its[k] = jnum(r, "iterations_per_s");
            c->frac_gemm[k] = jnum(r, "fraction_of_gemm");
            c->frac_peak[k] = jnum(r, "fraction_of_peak");
            c->suspect[k] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "suspect"));
        }
    }
done:
    cJSON_Delete(root);
    return st;
}

/* "1 h 23 min", "4.2 min", "12 s" */
static void fmt_duration(char *buf, size_t cap, double s)
{
    if (!isfinite(s)) buf[0] = '\0';
    else if (s >= 3600) snprintf(buf, cap, "%.0f h %02.0f min", floor(s / 3600), fmod(s, 3600) / 60);
    else if (s >= 60) snprintf(buf, cap, "%.1f min", s / 60);
    else snprintf(buf, cap, "%.1f s", s);
}

#define CMP_COLS 10

kr_status kr_bench_compare(const char *const *files, size_t n_files, const char *out_dir,
                           const char *prices, FILE *out)
{
    cmp_price pr[CMP_MAX_PRICES];
    size_t npr = 0, nd = 0, nrows = 0;
    kr_status st;
    cmp_dev *d = calloc(CMP_MAX_DEV, sizeof *d);
    char (*cells)[128] = calloc((size_t)CMP_MAX_DEV * 2 * CMP_COLS, sizeof *cells);
    const char **cellp = calloc((size_t)CMP_MAX_DEV * 2 * CMP_COLS, sizeof *cellp);
    const char **cats = calloc(CMP_MAX_DEV, sizeof *cats);
    double *its = calloc((size_t)CMP_MAX_DEV * 2, sizeof *its);
    double *peak = calloc((size_t)CMP_MAX_DEV * 2, sizeof *peak);
    FILE *md = NULL;
    kr_html *h = NULL;
    char path[4096], md_path[4096], its_png[4096], peak_png[4096];
    if (!d || !cells || !cellp || !cats || !its || !peak) {
        st = KR_FAIL(KR_E_NOMEM, "bench --compare");
        goto fail;
    }
    KR_TRY_GOTO(parse_prices(prices, pr, &npr));
    for (size_t i = 0; i < n_files; i++) KR_TRY_GOTO(read_file(files[i], d, &nd));
    for (size_t i = 0; i < nd; i++)
        for (size_t k = 0; k < npr; k++)
            if (contains_ci(d[i].label, pr[k].key)) {
                d[i].price = pr[k].usd;
                break;
            }

    /* The table: one row per device and precision. */
    static const char *const header[CMP_COLS] = {
        "machine", "device", "status", "dtype", "attack ms", "iterations/s", "of GEMM",
        "of peak", "50,000 iterations", "cost (USD)"};
    for (size_t i = 0; i < nd; i++) {
        cmp_dev *c = &d[i];
        cats[i] = c->label;
        bool ok = !strcmp(c->status, "ok");
        for (int k = 0; k < 2; k++) {
            its[i * 2 + (size_t)k] = ok ? c->its[k] : NAN;
            peak[i * 2 + (size_t)k] = ok ? c->frac_peak[k] : NAN;
            if (!ok && k == 1) break; /* a failed device: one row */
            char (*row)[128] = cells + nrows * CMP_COLS;
            snprintf(row[0], 128, "%s", c->machine);
            snprintf(row[1], 128, "%s", c->name);
            if (!ok) {
                snprintf(row[2], 128, "FAILED: %.118s", c->message[0] ? c->message : c->status);
            } else if (c->unsupported[k]) {
                snprintf(row[2], 128, "n/a (no %s)", k ? "fp64" : "fp32");
            } else if (isnan(c->ms[k])) {
                snprintf(row[2], 128, "not measured");
            } else {
                snprintf(row[2], 128, "%s", c->suspect[k] ? "ok (ratio suspect)" : "ok");
            }
            snprintf(row[3], 128, "%s", ok ? kr_dtype_name((kr_dtype)k) : "");
            if (ok && isfinite(c->ms[k])) {
                double full = KR_BENCH_ATTACK_ITERATIONS * c->ms[k] * 1e-3;
                snprintf(row[4], 128, "%.2f", c->ms[k]);
                snprintf(row[5], 128, "%.1f", c->its[k]);
                snprintf(row[6], 128, "%.2f", c->frac_gemm[k]);
                snprintf(row[7], 128, "%.3f", c->frac_peak[k]);
                fmt_duration(row[8], 128, full);
                if (isfinite(c->price)) snprintf(row[9], 128, "%.2f", full / 3600 * c->price);
            }
            for (int col = 0; col < CMP_COLS; col++)
                cellp[nrows * CMP_COLS + (size_t)col] = row[col];
            nrows++;
        }
    }

    KR_TRY_GOTO(kr_report_mkdir(out_dir));
    KR_TRY_GOTO(kr_report_path(md_path, sizeof md_path, out_dir, "compare.md"));
    KR_TRY_GOTO(kr_report_path(its_png, sizeof its_png, out_dir, "iterations_per_s.png"));
    KR_TRY_GOTO(kr_report_path(peak_png, sizeof peak_png, out_dir, "fraction_of_peak.png"));
    KR_TRY_GOTO(kr_report_path(path, sizeof path, out_dir, "compare.html"));

    /* Markdown, to the file and to out. */
    KR_TRY_GOTO(kr_report_open(md_path, &md));
    FILE *sinks[2] = {md, out};
    for (int s = 0; s < 2; s++) {
        FILE *o = sinks[s];
        if (!o) continue;
        fprintf(o, "One attack iteration per device and precision; \"%s\" is the time of a "
                "full attack at the size benchmarked (sizes: ", header[8]);
        for (size_t i = 0; i < nd; i++)
            fprintf(o, "%s%s: %s", i ? "; " : "", d[i].label, d[i].size);
        fprintf(o, ")\n\n|");
        for (int col = 0; col < CMP_COLS; col++) fprintf(o, " %s |", header[col]);
        fprintf(o, "\n|");
        for (int col = 0; col < CMP_COLS; col++) fprintf(o, "%s", col >= 4 ? "---:|" : "---|");
        fprintf(o, "\n");
        for (size_t r = 0; r < nrows; r++) {
            fprintf(o, "|");
            for (int col = 0; col < CMP_COLS; col++) {
                fprintf(o, " ");
                for (const char *p = cells[r * CMP_COLS + (size_t)col]; *p; p++) {
                    if (*p == '|') fputc('\\', o); /* a | in a message keeps the columns */
                    fputc(*p, o);
                }
                fprintf(o, " |");
            }
            fprintf(o, "\n");
        }
    }
    st = kr_report_close(md, md_path, KR_OK);
    md = NULL;
    if (st != KR_OK) goto fail;

    static const char *const series[2] = {"float32", "float64"};
    KR_TRY_GOTO(kr_plot_bars_png(its_png, nd, cats, 2, series, its,
                                 "Attack iterations per second (higher is better)",
                                 "iterations per second", "%.1f", NULL));
    KR_TRY_GOTO(kr_plot_bars_png(peak_png, nd, cats, 2, series, peak,
                                 "Attack GFLOP/s as a fraction of the device's FMA peak",
                                 "fraction of peak", "%.3f", NULL));

    KR_TRY_GOTO(kr_html_open(path, "kktrecon bench: devices compared", &h));
    char para[1024];
    snprintf(para, sizeof para, "%zu file(s), %zu device(s). One attack iteration (KKT loss, "
             "gradient and SGD step) timed interleaved with each device's own GEMM; a full "
             "attack is %d iterations at the size benchmarked. n/a: the device has no such "
             "precision; FAILED: the known-answer self-test failed and nothing was timed.",
             n_files, nd, KR_BENCH_ATTACK_ITERATIONS);
    KR_TRY_GOTO(kr_html_p(h, para));
    KR_TRY_GOTO(kr_html_table(h, CMP_COLS, header, nrows, cellp));
    KR_TRY_GOTO(kr_html_png(h, its_png, "Attack iterations per second"));
    KR_TRY_GOTO(kr_html_png(h, peak_png, "Fraction of each device's FMA peak"));
    st = kr_html_close(h);
    h = NULL;
    if (st == KR_OK && out) fprintf(out, "\nwrote %s, %s, %s and %s\n", path, md_path, its_png, peak_png);
fail:
    if (md) kr_report_close(md, md_path, st);
    if (h) kr_html_abort(h);
    free(d);
    free(cells);
    free(cellp);
    free(cats);
    free(its);
    free(peak);
    return st;
}
