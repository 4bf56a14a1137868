/* points.c — the CSV table of hyperparameter points (points.h). */
#include "io/points.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

/* The next comma-separated field of *s (spaces trimmed) into buf; false at the end. */
static int next_field(char **s, char *buf, size_t cap)
{
    char *p = *s;
    if (!p) return 0;
    char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        n--;
    if (n >= cap) n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    *s = comma ? comma + 1 : NULL;
    return 1;
}

static int blank_or_comment(const char *line)
{
    while (*line == ' ' || *line == '\t') line++;
    return *line == '\0' || *line == '\n' || *line == '\r' || *line == '#';
}

kr_status kr_points_read(const char *path, kr_points_table *out)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return KR_FAIL(KR_E_IO, "%s: cannot open points file: %s", path, strerror(errno));
    kr_status st = KR_OK;
    char line[4096], field[256];
    size_t cap = 0;
    long no = 0;
    int have_header = 0;
    while (fgets(line, sizeof line, f)) {
        no++;
        if (!strchr(line, '\n') && !feof(f)) {
            st = KR_FAIL(KR_E_INVALID, "%s:%ld: line longer than %zu characters", path, no,
                         sizeof line - 1);
            goto fail;
        }
        if (blank_or_comment(line)) continue;
        char *s = line;
        if (!have_header) {
            while (next_field(&s, field, sizeof field)) {
                if (out->cols == KR_POINTS_MAX_COLS) {
                    st = KR_FAIL(KR_E_INVALID, "%s:%ld: more than %d columns", path, no,
                                 KR_POINTS_MAX_COLS);
                    goto fail;
                }
                if (!field[0] || strlen(field) >= sizeof out->names[0]) {
                    st = KR_FAIL(KR_E_INVALID, "%s:%ld: column %zu: expected a column name "
                                 "(1 to %zu characters)", path, no, out->cols + 1,
                                 sizeof out->names[0] - 1);
                    goto fail;
                }
                for (size_t c = 0; c < out->cols; c++)
                    if (!strcmp(out->names[c], field)) {
                        st = KR_FAIL(KR_E_INVALID, "%s:%ld: column '%s' named twice", path, no,
                                     field);
                        goto fail;
                    }
                snprintf(out->names[out->cols++], sizeof out->names[0], "%s", field);
            }
            have_header = 1;
            continue;
        }
        if (out->rows == KR_POINTS_MAX_ROWS) {
            st = KR_FAIL(KR_E_INVALID, "%s:%ld: more than %d points", path, no,
                         KR_POINTS_MAX_ROWS);
            goto fail;
        }
        if (out->rows == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            void *nv = NULL;
            KR_TRY_GOTO(kr_alloc(&nv, "points table", ncap, out->cols, sizeof *out->v));
            if (out->v) memcpy(nv, out->v, out->rows * out->cols * sizeof *out->v);
            free(out->v);
            out->v = nv;
            cap = ncap;
        }
        size_t c = 0;
        while (next_field(&s, field, sizeof field)) {
            if (c == out->cols) {
                st = KR_FAIL(KR_E_INVALID, "%s:%ld: more than the header's %zu fields", path,
                             no, out->cols);
                goto fail;
            }
            char *end;
            errno = 0;
            double x = strtod(field, &end);
            if (!field[0] || *end || errno == ERANGE || !isfinite(x)) {
                st = KR_FAIL(KR_E_INVALID, "%s:%ld: column %zu (%s): '%s' is not a finite number",
                             path, no, c + 1, out->names[c], field);
                goto fail;
            }
            out->v[out->rows * out->cols + c++] = x;
        }
        if (c != out->cols) {
            st = KR_FAIL(KR_E_INVALID, "%s:%ld: %zu fields, the header has %zu", path, no, c,
                         out->cols);
            goto fail;
        }
        out->rows++;
    }
    if (ferror(f)) {
        st = KR_FAIL(KR_E_IO, "%s: read error", path);
        goto fail;
    }
    if (!have_header || out->rows == 0) {
        st = KR_FAIL(KR_E_INVALID, "%s: %s", path,
                     have_header ? "no points after the header" : "empty (expected a header line)");
        goto fail;
    }
    fclose(f);
    return KR_OK;
fail:
    fclose(f);
    kr_points_free(out);
    return st;
}

void kr_points_free(kr_points_table *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}
