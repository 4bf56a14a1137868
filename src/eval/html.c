/* html.c — a self-contained HTML report page written in order (see html.h).
 *
 * Plain stdio; every piece of caller text goes through html_escape. PNGs are embedded as
 * data: URIs with the base64 alphabet of RFC 4648 §4, encoded here in 3-byte groups (20
 * lines, not worth a dependency). The page goes to PATH.tmp and is renamed on close.
 */
#include "eval/html.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kr_html {
    FILE *f;
    char *path, *tmp;
    kr_status err; /* sticky: first failure */
};

static const char html_css[] =
    "body{font-family:\"DejaVu Sans\",Helvetica,Arial,sans-serif;color:#222;line-height:1.4;"
    "max-width:1200px;margin:1.5em auto;padding:0 1em}\n"
    "h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}\n"
    "h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #eee;padding-bottom:.2em}\n"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.92em}\n"
    "th,td{border:1px solid #d8d8d8;padding:.3em .7em;text-align:left;vertical-align:top}\n"
    "th{background:#f2f3f5;font-weight:600}\n"
    "tr:nth-child(even) td{background:#fafafa}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.8em;overflow:auto;font-size:.85em}\n"
    "figure{margin:1em 0}\n"
    "img{max-width:100%;height:auto;border:1px solid #eee}\n"
    "figcaption{color:#555;font-size:.9em;margin-top:.3em}\n";

/* ---------------------------------------------------------------- low-level writing */

static kr_status html_put(kr_html *h, const char *s)
{
    if (h->err != KR_OK) return h->err;
    if (fputs(s, h->f) == EOF)
        h->err = KR_FAIL(KR_E_IO, "html: writing %s failed", h->tmp);
    return h->err;
}

static kr_status html_escape(kr_html *h, const char *s)
{
    if (h->err != KR_OK) return h->err;
    if (!s) return KR_OK;
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *rep = NULL;
        switch (*p) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        if (!rep && *p) continue;
        size_t len = (size_t)(p - run);
        if (len && fwrite(run, 1, len, h->f) != len) break;
        if (!*p) return KR_OK;
        if (fputs(rep, h->f) == EOF) break;
        run = p + 1;
    }
    return h->err = KR_FAIL(KR_E_IO, "html: writing %s failed", h->tmp);
}

static kr_status html_check(kr_html *h)
{
    if (!h) return KR_FAIL(KR_E_INVALID, "html: NULL page");
    return h->err;
}

size_t kr_html_base64_encode(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < n) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (i + 1 < n) v |= (unsigned long)in[i + 1] << 8;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* A cell is numeric when strtod consumes all of it (an optional trailing '%' allowed). */
static int html_is_number(const char *s)
{
    if (!s || !*s) return 0;
    char *end;
    strtod(s, &end);
    if (end == s) return 0;
    if (*end == '%') end++;
    return *end == '\0';
}

/* ---------------------------------------------------------------- page */

kr_status kr_html_open(const char *path, const char *title, kr_html **out)
{
    if (!out) return KR_FAIL(KR_E_INVALID, "html: NULL output handle");
    *out = NULL;
    if (!path) return KR_FAIL(KR_E_INVALID, "html: NULL path");
    kr_status st = KR_OK;
    size_t len = strlen(path);
    kr_html *h = calloc(1, sizeof *h);
    if (!h) return KR_FAIL(KR_E_NOMEM, "html: page handle");
    h->path = malloc(len + 1);
    h->tmp = malloc(len + 5);
    if (!h->path || !h->tmp) {
        st = KR_FAIL(KR_E_NOMEM, "html: path of %zu bytes", len);
        goto fail;
    }
    memcpy(h->path, path, len + 1);
    memcpy(h->tmp, path, len);
    memcpy(h->tmp + len, ".tmp", 5);
    h->f = fopen(h->tmp, "wb");
    if (!h->f) {
        st = KR_FAIL(KR_E_IO, "html: cannot create %s", h->tmp);
        goto fail;
    }
    html_put(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    html_escape(h, title ? title : "");
    html_put(h, "</title>\n<style>\n");
    html_put(h, html_css);
    html_put(h, "</style>\n</head>\n<body>\n");
    if (title && title[0]) {
        html_put(h, "<h1>");
        html_escape(h, title);
        html_put(h, "</h1>\n");
    }
    if (h->err != KR_OK) {
        st = h->err;
        goto fail;
    }
    *out = h;
    return KR_OK;

fail:
    kr_html_abort(h);
    return st;
}

static kr_status html_element(kr_html *h, const char *tag, const char *text)
{
    KR_TRY(html_check(h));
    html_put(h, "<");
    html_put(h, tag);
    html_put(h, ">");
    html_escape(h, text);
    html_put(h, "</");
    html_put(h, tag);
    return html_put(h, ">\n");
}

kr_status kr_html_h2(kr_html *h, const char *text) { return html_element(h, "h2", text); }

kr_status kr_html_p(kr_html *h, const char *text) { return html_element(h, "p", text); }

kr_status kr_html_pre(kr_html *h, const char *text) { return html_element(h, "pre", text); }

kr_status kr_html_kv_table(kr_html *h, size_t n, const char *const *keys,
                           const char *const *values)
{
    KR_TRY(html_check(h));
    if (n > 0 && (!keys || !values))
        return KR_FAIL(KR_E_INVALID, "html: key/value table of %zu rows with NULL arrays", n);
    html_put(h, "<table class=\"kv\">\n");
    for (size_t i = 0; i < n; i++) {
        html_put(h, "<tr><th scope=\"row\">");
        html_escape(h, keys[i]);
        html_put(h, html_is_number(values[i]) ? "</th><td class=\"num\">" : "</th><td>");
        html_escape(h, values[i]);
        html_put(h, "</td></tr>\n");
    }
    return html_put(h, "</table>\n");
}

kr_status kr_html_table(kr_html *h, size_t ncols, const char *const *header, size_t nrows,
                        const char *const *cells)
{
    KR_TRY(html_check(h));
    if (ncols == 0) return KR_FAIL(KR_E_INVALID, "html: table with 0 columns");
    if (nrows > 0 && !cells)
        return KR_FAIL(KR_E_INVALID, "html: table of %zu rows with NULL cells", nrows);
    html_put(h, "<table>\n");
    if (header) {
        html_put(h, "<thead><tr>");
        for (size_t c = 0; c < ncols; c++) {
            html_put(h, "<th>");
            html_escape(h, header[c]);
            html_put(h, "</th>");
        }
        html_put(h, "</tr></thead>\n");
    }
    html_put(h, "<tbody>\n");
    for (size_t r = 0; r < nrows; r++) {
        html_put(h, "<tr>");
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = cells[r * ncols + c];
            html_put(h, html_is_number(cell) ? "<td class=\"num\">" : "<td>");
            html_escape(h, cell);
            html_put(h, "</td>");
        }
        html_put(h, "</tr>\n");
    }
    return html_put(h, "</tbody>\n</table>\n");
}

kr_status kr_html_png_data(kr_html *h, const unsigned char *png, size_t n, const char *caption)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    KR_TRY(html_check(h));
    if (!png || n < sizeof sig || memcmp(png, sig, sizeof sig) != 0)
        return KR_FAIL(KR_E_INVALID, "html: %zu bytes are not a PNG (no PNG signature)", n);
    html_put(h, "<figure><img alt=\"");
    html_escape(h, caption ? caption : "");
    html_put(h, "\" src=\"data:image/png;base64,");
    char buf[4 * 1024 + 1];
    for (size_t i = 0; i < n && h->err == KR_OK; i += 3 * 1024) {
        size_t len = n - i < 3 * 1024 ? n - i : 3 * 1024;
        kr_html_base64_encode(png + i, len, buf);
        html_put(h, buf);
    }
    html_put(h, "\">");
    if (caption && caption[0]) {
        html_put(h, "<figcaption>");
        html_escape(h, caption);
        html_put(h, "</figcaption>");
    }
    return html_put(h, "</figure>\n");
}

kr_status kr_html_png(kr_html *h, const char *png_path, const char *caption)
{
    KR_TRY(html_check(h));
    if (!png_path) return KR_FAIL(KR_E_INVALID, "html: NULL PNG path");
    kr_status st = KR_OK;
    unsigned char *data = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(png_path, "rb");
    if (!f) return KR_FAIL(KR_E_IO, "html: cannot open %s", png_path);
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 64 * 1024;
            unsigned char *p = realloc(data, ncap);
            if (!p) {
                st = KR_FAIL(KR_E_NOMEM, "html: %zu bytes for %s", ncap, png_path);
                goto fail;
            }
            data = p;
            cap = ncap;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        st = KR_FAIL(KR_E_IO, "html: reading %s failed at byte %zu", png_path, n);
        goto fail;
    }
    st = kr_html_png_data(h, data, n, caption);
    if (st != KR_OK && h->err == KR_OK) /* not a PNG: name the file */
        st = kr_error_context(st, "embedding %s", png_path);

fail:
    fclose(f);
    free(data);
    return st;
}

static void html_free(kr_html *h)
{
    free(h->path);
    free(h->tmp);
    free(h);
}

void kr_html_abort(kr_html *h)
{
    if (!h) return;
    if (h->f) {
        fclose(h->f);
        remove(h->tmp);
    }
    html_free(h);
}

kr_status kr_html_close(kr_html *h)
{
    if (!h) return KR_OK;
    html_put(h, "</body>\n</html>\n");
    kr_status st = h->err;
    if (fflush(h->f) != 0 || ferror(h->f)) {
        if (st == KR_OK) st = KR_FAIL(KR_E_IO, "html: writing %s failed", h->tmp);
    }
    if (fclose(h->f) != 0 && st == KR_OK) st = KR_FAIL(KR_E_IO, "html: closing %s failed", h->tmp);
    h->f = NULL;
    if (st == KR_OK && rename(h->tmp, h->path) != 0)
        st = KR_FAIL(KR_E_IO, "html: renaming %s to %s failed", h->tmp, h->path);
    if (st != KR_OK) remove(h->tmp);
    html_free(h);
    return st;
}
