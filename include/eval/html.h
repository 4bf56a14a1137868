/* html.h — one self-contained HTML page for the evaluation report (no external files).
 *
 * A page is opened, filled in order with headings, paragraphs, tables, preformatted text and
 * PNG images (embedded as data:image/png;base64 URIs), then closed. All text passed in is
 * HTML-escaped (& < > " '), so captions, file names and logs can hold anything. The page is
 * written to PATH.tmp and renamed to PATH by kr_html_close, so a reader never sees half a page.
 *
 * Write errors are sticky (a rejected argument or a non-PNG input is not): after a failed
 * write every later call returns the same status, and kr_html_close returns it, removes
 * PATH.tmp and frees the handle. kr_html_close always frees the handle; kr_html_abort frees it
 * and removes PATH.tmp without publishing anything.
 *
 * It does not format numbers (callers pass strings) and has no raw-HTML escape hatch.
 */
#ifndef KR_HTML_H
#define KR_HTML_H

#include <stddef.h>

#include "base/status.h"

typedef struct kr_html kr_html;

/* Starts the page: doctype, <title>, inline CSS, <h1>title</h1>. title may be NULL. */
kr_status kr_html_open(const char *path, const char *title, kr_html **out);

kr_status kr_html_h2(kr_html *h, const char *text);
kr_status kr_html_p(kr_html *h, const char *text);

/* Two-column table: keys[i] | values[i], i < n (NULL entries print as empty cells). */
kr_status kr_html_kv_table(kr_html *h, size_t n, const char *const *keys,
                           const char *const *values);

/* Table with a header row of ncols strings (header may be NULL: no header row) and nrows rows;
 * cells is row-major nrows × ncols. Cells that parse entirely as numbers are right-aligned. */
kr_status kr_html_table(kr_html *h, size_t ncols, const char *const *header, size_t nrows,
                        const char *const *cells);

/* <pre> block. */
kr_status kr_html_pre(kr_html *h, const char *text);

/* Embeds the PNG file at png_path as <figure><img src="data:image/png;base64,...">, with an
 * optional caption (may be NULL) that is also the alt text. Fails (KR_E_IO / KR_E_INVALID)
 * when the file cannot be read or does not start with the PNG signature. */
kr_status kr_html_png(kr_html *h, const char *png_path, const char *caption);

/* Same, from PNG bytes in memory. */
kr_status kr_html_png_data(kr_html *h, const unsigned char *png, size_t n, const char *caption);

/* Finishes the page, closes the file and renames PATH.tmp to PATH. Always frees h (NULL ok). */
kr_status kr_html_close(kr_html *h);

/* Discards the page: closes and removes PATH.tmp, frees h (NULL ok). */
void kr_html_abort(kr_html *h);

/* Standard base64 (RFC 4648 §4, '=' padding, no line breaks) of in[0..n) into out, which must
 * hold 4 * ((n + 2) / 3) + 1 bytes; NUL-terminates and returns the length written. */
size_t kr_html_base64_encode(const unsigned char *in, size_t n, char *out);

#endif
