/* grid.c — reconstruction/training pairs as one PNG image grid, drawn with cairo.
 *
 * Layout and conventions are documented in grid.h. Each source image becomes a small cairo
 * RGB24 surface that is painted with an integer scale and CAIRO_FILTER_NEAREST, so every
 * source pixel is an exact s×s block (no smoothing that would hide reconstruction noise).
 * Text uses cairo's toy font API ("sans-serif", resolved by fontconfig; DejaVu Sans on Debian).
 * The PNG is written to PATH.tmp and renamed so a reader never sees a half-written file.
 */
#include "eval/grid.h"

#include <cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "eval/draw_png.h"

#define KR_GRID_DEFAULT_PER_ROW 10
#define KR_GRID_TARGET_PX 84
#define KR_GRID_MAX_SCALE 64

kr_status kr_grid_geometry(const kr_grid_spec *spec, kr_grid_geom *out)
{
    if (!spec || !out) return KR_FAIL(KR_E_INVALID, "grid: NULL spec or output");
    memset(out, 0, sizeof *out);
    int has_title = spec->title && spec->title[0];
    out->title_h = has_title ? KR_GRID_TITLE_H : 0;
    if (spec->n == 0) {
        out->width = KR_GRID_EMPTY_W;
        out->height = KR_GRID_PAD + out->title_h + KR_GRID_EMPTY_H + KR_GRID_PAD;
        return KR_OK;
    }
    if (spec->channels != 1 && spec->channels != 3)
        return KR_FAIL(KR_E_INVALID, "grid: channels = %d, expected 1 or 3", spec->channels);
    if (spec->height <= 0 || spec->width <= 0 || spec->height > KR_GRID_MAX_SIDE ||
        spec->width > KR_GRID_MAX_SIDE)
        return KR_FAIL(KR_E_INVALID, "grid: image size %d x %d is not positive or too large",
                       spec->height, spec->width);
    if (!spec->top) return KR_FAIL(KR_E_INVALID, "grid: %zu pairs but no top images", spec->n);
    if (spec->per_row < 0 || spec->scale < 0 || spec->scale > KR_GRID_MAX_SCALE)
        return KR_FAIL(KR_E_INVALID, "grid: per_row = %d, scale = %d (expected >= 0, scale <= %d)",
                       spec->per_row, spec->scale, KR_GRID_MAX_SCALE);

    int m = spec->height > spec->width ? spec->height : spec->width;
    int s = spec->scale ? spec->scale : (KR_GRID_TARGET_PX + m - 1) / m;
    if (s < 1) s = 1;
    int per_row = spec->per_row ? spec->per_row : KR_GRID_DEFAULT_PER_ROW;
    size_t cols = spec->n < (size_t)per_row ? spec->n : (size_t)per_row;
    size_t rows = (spec->n + (size_t)per_row - 1) / (size_t)per_row;

    /* Sizes in 64 bits so that absurd inputs fail with a message instead of overflowing. */
    int64_t iw = (int64_t)spec->width * s, ih = (int64_t)spec->height * s;
    int has_bottom = spec->bottom != NULL;
    int64_t gap = has_bottom ? KR_GRID_GAP : 0;
    int64_t cell_h = ih + (has_bottom ? gap + ih : 0) + KR_GRID_LABEL_H;
    int64_t width = KR_GRID_PAD + (int64_t)cols * (iw + KR_GRID_PAD);
    int64_t height = KR_GRID_PAD + out->title_h + (int64_t)rows * (cell_h + KR_GRID_PAD);
    if (width > KR_GRID_MAX_SIDE || height > KR_GRID_MAX_SIDE)
        return KR_FAIL(KR_E_INVALID,
                       "grid: %zu pairs of %dx%d at scale %d, %d per row, need %lld x %lld px, "
                       "more than cairo's %d (draw fewer pairs or a smaller scale)",
                       spec->n, spec->height, spec->width, s, per_row, (long long)width,
                       (long long)height, KR_GRID_MAX_SIDE);
    out->width = (int)width;
    out->height = (int)height;
    out->scale = s;
    out->per_row = per_row;
    out->cols = (int)cols;
    out->rows = (int)rows;
    out->image_w = (int)iw;
    out->image_h = (int)ih;
    out->gap = (int)gap;
    out->cell_h = (int)cell_h;
    out->has_bottom = has_bottom;
    return KR_OK;
}

void kr_grid_image_origin(const kr_grid_geom *g, size_t i, int bottom, int *x, int *y)
{
    size_t col = i % (size_t)g->per_row, row = i / (size_t)g->per_row;
    *x = KR_GRID_PAD + (int)col * (g->image_w + KR_GRID_PAD);
    *y = KR_GRID_PAD + g->title_h + (int)row * (g->cell_h + KR_GRID_PAD);
    if (bottom) *y += g->image_h + g->gap;
}

static uint32_t grid_byte(float v)
{
    if (v <= 0.0f) return 0;
    if (v >= 1.0f) return 255;
    return (uint32_t)(v * 255.0f + 0.5f);
}

/* One CHW image into a new H×W RGB24 surface (x: 0xXXRRGGBB per pixel, native endian). */
static cairo_surface_t *grid_image_surface(const float *img, int c, int h, int w)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS) return sf;
    cairo_surface_flush(sf);
    unsigned char *data = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf);
    size_t plane = (size_t)h * (size_t)w;
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(void *)(data + (size_t)y * (size_t)stride);
        for (int x = 0; x < w; x++) {
            size_t k = (size_t)y * (size_t)w + (size_t)x;
            float r = img[k], g = c == 3 ? img[plane + k] : r, b = c == 3 ? img[2 * plane + k] : r;
            if (!isfinite(r) || !isfinite(g) || !isfinite(b))
                row[x] = 0xFF00FFu; /* magenta marks NaN/Inf */
            else
                row[x] = (grid_byte(r) << 16) | (grid_byte(g) << 8) | grid_byte(b);
        }
    }
    cairo_surface_mark_dirty(sf);
    return sf;
}

/* Draws text centred (align 0.5) or left-aligned (align 0) in the box (x, y, w, h), shrinking
 * the font from `size` down to 7 px to fit the width, then clipping to the box. */
static void grid_text(cairo_t *cr, const char *text, double x, double y, double w, double h,
                      double size, double align)
{
    if (!text || !text[0]) return;
    cairo_text_extents_t te;
    cairo_set_font_size(cr, size);
    cairo_text_extents(cr, text, &te);
    if (te.x_advance > w && te.x_advance > 0) {
        size = size * w / te.x_advance;
        if (size < 7.0) size = 7.0;
        cairo_set_font_size(cr, size);
        cairo_text_extents(cr, text, &te);
    }
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double tx = x + (w - te.x_advance) * align;
    if (tx < x) tx = x;
    double ty = y + (h + fe.ascent - fe.descent) / 2.0; /* baseline that centres the line */
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_clip(cr);
    cairo_move_to(cr, tx, ty);
    cairo_show_text(cr, text);
    cairo_restore(cr);
}

static void grid_image(cairo_t *cr, cairo_surface_t *img, int x, int y, int s, int iw, int ih)
{
    /* Light frame on the pixel ring just outside the image. */
    cairo_set_source_rgb(cr, 0.82, 0.82, 0.82);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x - 0.5, y - 0.5, iw + 1.0, ih + 1.0);
    cairo_stroke(cr);

    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_scale(cr, s, s);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, iw / (double)s, ih / (double)s);
    cairo_fill(cr);
    cairo_restore(cr);
}

kr_status kr_grid_write_png(const char *path, const kr_grid_spec *spec)
{
    if (!path) return KR_FAIL(KR_E_INVALID, "grid: NULL path");
    kr_grid_geom g;
    KR_TRY(kr_grid_geometry(spec, &g));

    kr_status st = KR_OK;
    cairo_surface_t *img = NULL;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g.width, g.height);
    cairo_t *cr = cairo_create(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = KR_FAIL(KR_E_NOMEM, "grid: cairo surface %d x %d: %s", g.width, g.height,
                     cairo_status_to_string(cairo_status(cr)));
        goto fail;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    if (g.title_h)
        grid_text(cr, spec->title, KR_GRID_PAD, KR_GRID_PAD, g.width - 2.0 * KR_GRID_PAD,
                  g.title_h - 6.0, 15.0, 0.0);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    if (spec->n == 0) {
        cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
        grid_text(cr, "no pairs", KR_GRID_PAD, KR_GRID_PAD + g.title_h,
                  g.width - 2.0 * KR_GRID_PAD, KR_GRID_EMPTY_H, 16.0, 0.5);
    }

    size_t plane = (size_t)spec->channels * (size_t)spec->height * (size_t)spec->width;
    for (size_t i = 0; i < spec->n; i++) {
        for (int b = 0; b <= g.has_bottom; b++) {
            const float *src = (b ? spec->bottom : spec->top) + i * plane;
            img = grid_image_surface(src, spec->channels, spec->height, spec->width);
            if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
                st = KR_FAIL(KR_E_NOMEM, "grid: image surface for pair %zu: %s", i,
                             cairo_status_to_string(cairo_surface_status(img)));
                goto fail;
            }
            int x, y;
            kr_grid_image_origin(&g, i, b, &x, &y);
            grid_image(cr, img, x, y, g.scale, g.image_w, g.image_h);
            cairo_surface_destroy(img);
            img = NULL;
        }
        if (spec->labels && spec->labels[i]) {
            int x, y;
            kr_grid_image_origin(&g, i, g.has_bottom, &x, &y);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            grid_text(cr, spec->labels[i], x - KR_GRID_PAD / 2.0, y + g.image_h + 1.0,
                      g.image_w + KR_GRID_PAD, KR_GRID_LABEL_H - 1.0, 12.0, 0.5);
        }
    }
    cairo_surface_flush(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = KR_FAIL(KR_E_NOMEM, "grid: drawing %s: %s", path,
                     cairo_status_to_string(cairo_status(cr)));
        goto fail;
    }
    st = kr_draw_save_png(sf, path, "grid");

fail:
    if (img) cairo_surface_destroy(img);
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return st;
}
