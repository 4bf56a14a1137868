/* check_plot.c — host tests for the report pictures and page: grid, plot and html.
 *
 * PNGs are read back with cairo_image_surface_create_from_png and checked against the layout
 * documented in grid.h / plot.h: image size, and the colour of pixels that must be image, point
 * or background. Expected values are computed here from the documented formulas (pad 8, gap 4,
 * label 18, title 28, auto scale 3 for 28 and 32 px), not from the code under test. The HTML
 * page is checked for escaping, a balanced tag structure, and a base64 image that decodes (with
 * the small decoder below, RFC 4648 §4) back to the PNG file's exact bytes.
 * Outputs go to a mkdtemp directory under $TMPDIR (default /tmp), removed at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <cairo.h>
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/grid.h"
#include "eval/html.h"
#include "eval/plot.h"

static char test_dir[512];

/* test_dir/name; 8 rotating buffers so a test can hold several paths at once. */
static const char *out_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", test_dir, name);
    return buf[k];
}

static int file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* ---------------------------------------------------------------- PNG read-back */

typedef struct png_img {
    cairo_surface_t *sf;
    int w, h, stride;
    const unsigned char *data;
} png_img;

static png_img png_load(const char *path)
{
    png_img p;
    p.sf = cairo_image_surface_create_from_png(path);
    ck_assert_msg(cairo_surface_status(p.sf) == CAIRO_STATUS_SUCCESS, "reading %s: %s", path,
                  cairo_status_to_string(cairo_surface_status(p.sf)));
    cairo_surface_flush(p.sf);
    p.w = cairo_image_surface_get_width(p.sf);
    p.h = cairo_image_surface_get_height(p.sf);
    p.stride = cairo_image_surface_get_stride(p.sf);
    p.data = cairo_image_surface_get_data(p.sf);
    return p;
}

/* 0xRRGGBB of pixel (x, y); our PNGs are opaque so RGB24 and ARGB32 agree. */
static uint32_t px(const png_img *p, int x, int y)
{
    ck_assert_msg(x >= 0 && y >= 0 && x < p->w && y < p->h, "pixel (%d, %d) outside %d x %d", x,
                  y, p->w, p->h);
    const uint32_t *row = (const uint32_t *)(const void *)(p->data + (size_t)y * (size_t)p->stride);
    return row[x] & 0xFFFFFFu;
}

#define WHITE 0xFFFFFFu
#define BLACK 0x000000u

/* ---------------------------------------------------------------- grid */

/* n pairs: top image all `top` (gray 1.0 or RGB), bottom all `bot`. */
static float *fill_images(size_t n, int c, int h, int w, const float *rgb)
{
    size_t plane = (size_t)h * (size_t)w;
    float *v = malloc(n * (size_t)c * plane * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (size_t k = 0; k < plane; k++) v[(i * (size_t)c + (size_t)ch) * plane + k] = rgb[ch];
    return v;
}

static const size_t grid_counts[3] = {1, 3, 23};

static void check_grid_layout(size_t n, int c, int hw, uint32_t top_rgb, uint32_t bot_rgb,
                              const float *top_v, const float *bot_v)
{
    float *top = fill_images(n, c, hw, hw, top_v), *bot = fill_images(n, c, hw, hw, bot_v);
    char lab[32][48];
    const char *labels[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(lab[i], sizeof lab[i], "#%zu 0.%02zu", i + 1, 99 - i);
        labels[i] = lab[i];
    }
    kr_grid_spec spec = {n, c, hw, hw, top, bot, labels, "title", 0, 0};
    const char *path = out_path("grid.png");
    ck_assert_int_eq(kr_grid_write_png(path, &spec), KR_OK);

    /* Documented layout: s = 3 for 28 and 32 px, 10 pairs per row. */
    int s = 3, iw = hw * s, pad = 8, gap = 4, lab_h = 18, tit = 28;
    int cols = n < 10 ? (int)n : 10, rows = (int)((n + 9) / 10);
    int cell_h = iw + gap + iw + lab_h;
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, pad + cols * (iw + pad));
    ck_assert_int_eq(p.h, pad + tit + rows * (cell_h + pad));

    kr_grid_geom g;
    ck_assert_int_eq(kr_grid_geometry(&spec, &g), KR_OK);
    ck_assert_int_eq(g.width, p.w);
    ck_assert_int_eq(g.height, p.h);
    for (size_t i = 0; i < n; i++) {
        int x0 = pad + (int)(i % 10) * (iw + pad);
        int y0 = pad + tit + (int)(i / 10) * (cell_h + pad);
        int gx, gy;
        kr_grid_image_origin(&g, i, 0, &gx, &gy);
        ck_assert_int_eq(gx, x0);
        ck_assert_int_eq(gy, y0);
        /* centre, and all four corner pixels, of the upscaled top and bottom image */
        ck_assert_uint_eq(px(&p, x0 + iw / 2, y0 + iw / 2), top_rgb);
        ck_assert_uint_eq(px(&p, x0 + iw / 2, y0 + iw + gap + iw / 2), bot_rgb);
        ck_assert_uint_eq(px(&p, x0, y0), top_rgb);
        ck_assert_uint_eq(px(&p, x0 + iw - 1, y0 + iw - 1), top_rgb);
        ck_assert_uint_eq(px(&p, x0, y0 + iw + gap), bot_rgb);
        ck_assert_uint_eq(px(&p, x0 + iw - 1, y0 + 2 * iw + gap - 1), bot_rgb);
        /* white separators: inside the gap between top and bottom, and between pairs */
        ck_assert_uint_eq(px(&p, x0 + iw / 2, y0 + iw + gap / 2), WHITE);
        ck_assert_uint_eq(px(&p, x0 + iw + pad / 2, y0 + iw / 2), WHITE);
    }
    /* the label strip under pair 0 holds dark text somewhere */
    int dark = 0;
    for (int y = pad + tit + 2 * iw + gap; y < pad + tit + cell_h; y++)
        for (int x = pad; x < pad + iw; x++)
            if ((px(&p, x, y) & 0xFF) < 0x80) dark++;
    ck_assert_int_gt(dark, 10);
    cairo_surface_destroy(p.sf);
    ck_assert(!file_exists(out_path("grid.png.tmp")));
    remove(path);
    free(top);
    free(bot);
}

START_TEST(test_grid_gray)
{
    const float white = 1.0f, black = 0.0f;
    check_grid_layout(grid_counts[_i], 1, 28, WHITE, BLACK, &white, &black);
}
END_TEST

START_TEST(test_grid_colour)
{
    const float red[3] = {1, 0, 0}, blue[3] = {0, 0, 1};
    check_grid_layout(grid_counts[_i], 3, 32, 0xFF0000u, 0x0000FFu, red, blue);
}
END_TEST

/* Nearest-neighbour upscaling is exact: every source pixel is an s×s block. A 5×4 RGB image
 * with distinct colours, scale 5, top row only (bottom == NULL), no title, no labels. */
START_TEST(test_grid_nearest)
{
    enum { C = 3, H = 4, W = 5, S = 5 };
    float img[C * H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            img[(0 * H + y) * W + x] = (float)x / (W - 1);
            img[(1 * H + y) * W + x] = (float)y / (H - 1);
            img[(2 * H + y) * W + x] = (x + y) % 2 ? 1.0f : 0.0f;
        }
    img[(0 * H + 3) * W + 4] = NAN; /* last pixel: NaN -> magenta */
    kr_grid_spec spec = {1, C, H, W, img, NULL, NULL, NULL, 0, S};
    const char *path = out_path("nearest.png");
    ck_assert_int_eq(kr_grid_write_png(path, &spec), KR_OK);
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, 8 + W * S + 8);
    ck_assert_int_eq(p.h, 8 + (H * S + 18) + 8); /* no title, no bottom image */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint32_t want;
            if (y == 3 && x == 4) {
                want = 0xFF00FFu;
            } else {
                uint32_t r = (uint32_t)((float)x / (W - 1) * 255.0f + 0.5f);
                uint32_t g = (uint32_t)((float)y / (H - 1) * 255.0f + 0.5f);
                uint32_t b = (x + y) % 2 ? 255u : 0u;
                want = (r << 16) | (g << 8) | b;
            }
            for (int dy = 0; dy < S; dy++)
                for (int dx = 0; dx < S; dx++)
                    ck_assert_msg(px(&p, 8 + x * S + dx, 8 + y * S + dy) == want,
                                  "block (%d, %d) pixel (%d, %d): %06x, expected %06x", x, y, dx,
                                  dy, px(&p, 8 + x * S + dx, 8 + y * S + dy), want);
        }
    cairo_surface_destroy(p.sf);
    remove(path);
}
END_TEST

START_TEST(test_grid_empty_and_errors)
{
    /* n == 0: documented placeholder */
    kr_grid_spec spec = {0, 1, 28, 28, NULL, NULL, NULL, "nothing", 0, 0};
    const char *path = out_path("empty.png");
    ck_assert_int_eq(kr_grid_write_png(path, &spec), KR_OK);
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, KR_GRID_EMPTY_W);
    ck_assert_int_eq(p.h, 8 + 28 + KR_GRID_EMPTY_H + 8);
    cairo_surface_destroy(p.sf);
    remove(path);

    float img[2 * 28 * 28] = {0};
    kr_grid_spec bad = {1, 2, 28, 28, img, NULL, NULL, NULL, 0, 0};
    ck_assert_int_eq(kr_grid_write_png(path, &bad), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "channels"));
    bad.channels = 1;
    bad.top = NULL;
    ck_assert_int_eq(kr_grid_write_png(path, &bad), KR_E_INVALID);
    bad.top = img;
    bad.height = 0;
    ck_assert_int_eq(kr_grid_write_png(path, &bad), KR_E_INVALID);
    bad.height = 28;
    bad.n = 100000; /* 10000 rows: far beyond cairo's 32767 px; nothing is read */
    ck_assert_int_eq(kr_grid_write_png(path, &bad), KR_E_INVALID);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "32767"));
    ck_assert(!file_exists(path));
    bad.n = 1;
    ck_assert_int_eq(kr_grid_write_png(out_path("no/such/dir/g.png"), &bad), KR_E_IO);
    ck_assert_int_eq(kr_grid_write_png(NULL, &bad), KR_E_INVALID);
}
END_TEST

/* ---------------------------------------------------------------- plot */

START_TEST(test_plot_nice_ticks)
{
    double t[64], step;
    size_t n = kr_plot_nice_ticks(0.0, 1.0, 6, t, 64, &step);
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    ck_assert_uint_eq(n, 6);
    for (size_t i = 0; i < n; i++) ck_assert_double_eq_tol(t[i], 0.2 * (double)i, 1e-12);
    n = kr_plot_nice_ticks(-0.07, 0.93, 6, t, 64, &step);
    ck_assert_double_eq_tol(step, 0.2, 1e-12);
    ck_assert_double_eq(t[0], 0.0);
    n = kr_plot_nice_ticks(-2.1e6, 1.1e6, 6, t, 64, &step);
    ck_assert_double_eq_tol(step, 5e5, 1e-3);
    ck_assert_uint_eq(n, 7); /* -2e6 ... 1e6 */
    n = kr_plot_nice_ticks(-1e308, 1e308, 6, t, 64, &step);
    ck_assert_uint_ge(n, 2);
    for (size_t i = 0; i < n; i++) ck_assert(isfinite(t[i]));
    ck_assert_uint_eq(kr_plot_nice_ticks(1.0, 1.0, 6, t, 64, &step), 0);
}
END_TEST

static int is_white(uint32_t c) { return c == WHITE; }

/* Some pixel within r of (x, y) is not white/grid: catches anti-aliasing at point centres. */
static int point_drawn(const png_img *p, double x, double y)
{
    uint32_t c = px(p, (int)floor(x), (int)floor(y));
    uint32_t b = c & 0xFF, r = c >> 16;
    return b > r + 40; /* the points are blue; background, grid and frame are gray */
}

START_TEST(test_plot_known_points)
{
    const double x[4] = {0.0, 1.0, 2.0, 3.0}, y[4] = {0.1, 0.5, 0.9, 0.3};
    kr_plot_hline hl = {0.4, "SSIM = 0.4"};
    kr_plot_options o = {0};
    o.fixed_y = 1;
    o.y_min = 0.0;
    o.y_max = 1.0;
    o.hlines = &hl;
    o.n_hlines = 1;
    kr_plot_frame f;
    const char *path = out_path("scatter.png");
    ck_assert_int_eq(kr_plot_scatter_png(path, 4, x, y, "t <&>", "margin", "SSIM", &o, &f), KR_OK);
    ck_assert(!file_exists(out_path("scatter.png.tmp")));
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, KR_PLOT_DEFAULT_W);
    ck_assert_int_eq(p.h, KR_PLOT_DEFAULT_H);
    ck_assert_uint_eq(f.drawn, 4);
    ck_assert_double_eq(f.y_lo, 0.0);
    ck_assert_double_eq(f.y_hi, 1.0);
    ck_assert(f.x_lo < 0.0 && f.x_hi > 3.0);
    ck_assert(f.left > 30 && f.right < p.w - 10 && f.top > 20 && f.bottom < p.h - 40);
    for (int i = 0; i < 4; i++) {
        double qx, qy;
        kr_plot_frame_map(&f, x[i], y[i], &qx, &qy);
        ck_assert_msg(point_drawn(&p, qx, qy), "point %d at (%.1f, %.1f) not drawn: %06x", i, qx,
                      qy, px(&p, (int)qx, (int)qy));
    }
    /* an empty spot (off every grid line) is white */
    double ex, ey;
    kr_plot_frame_map(&f, 0.75, 0.7, &ex, &ey);
    ck_assert(is_white(px(&p, (int)ex, (int)ey)));
    /* the dashed reference line at y = 0.4 is red somewhere along its row */
    double lx, ly;
    kr_plot_frame_map(&f, 0.0, 0.4, &lx, &ly);
    int red = 0;
    for (int xx = (int)f.left + 2; xx < (int)f.left + 40; xx++) {
        uint32_t c = px(&p, xx, (int)floor(ly));
        if ((c >> 16) > 150 && (c & 0xFF) < 100) red++;
    }
    ck_assert_int_gt(red, 10);
    /* the corners of the image are background: nothing is drawn to the edge */
    ck_assert(is_white(px(&p, 0, 0)) && is_white(px(&p, p.w - 1, p.h - 1)));
    cairo_surface_destroy(p.sf);
    remove(path);

    /* custom size */
    o.width = 640;
    o.height = 480;
    ck_assert_int_eq(kr_plot_scatter_png(path, 4, x, y, NULL, NULL, NULL, &o, NULL), KR_OK);
    p = png_load(path);
    ck_assert_int_eq(p.w, 640);
    ck_assert_int_eq(p.h, 480);
    cairo_surface_destroy(p.sf);
    remove(path);
}
END_TEST

START_TEST(test_plot_edge_cases)
{
    const char *path = out_path("edge.png");
    kr_plot_frame f;
    /* n == 0 */
    ck_assert_int_eq(kr_plot_scatter_png(path, 0, NULL, NULL, "empty", "x", "y", NULL, &f), KR_OK);
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, KR_PLOT_DEFAULT_W);
    ck_assert_int_eq(p.h, KR_PLOT_DEFAULT_H);
    ck_assert_uint_eq(f.drawn, 0);
    cairo_surface_destroy(p.sf);

    /* NaN and Inf are skipped and counted */
    const double x[5] = {1.0, NAN, 2.0, INFINITY, 3.0}, y[5] = {1.0, 2.0, -INFINITY, 4.0, 5.0};
    ck_assert_int_eq(kr_plot_scatter_png(path, 5, x, y, NULL, NULL, NULL, NULL, &f), KR_OK);
    ck_assert_uint_eq(f.drawn, 2);
    ck_assert_uint_eq(f.skipped_nonfinite, 3);
    ck_assert(isfinite(f.x_lo) && isfinite(f.x_hi) && isfinite(f.y_lo) && isfinite(f.y_hi));
    p = png_load(path);
    double qx, qy;
    kr_plot_frame_map(&f, 3.0, 5.0, &qx, &qy);
    ck_assert(point_drawn(&p, qx, qy));
    cairo_surface_destroy(p.sf);

    /* all equal */
    const double e[3] = {0.5, 0.5, 0.5};
    ck_assert_int_eq(kr_plot_scatter_png(path, 3, e, e, "equal", "x", "y", NULL, &f), KR_OK);
    ck_assert_uint_eq(f.drawn, 3);
    ck_assert(f.x_lo < 0.5 && f.x_hi > 0.5 && f.y_lo < 0.5 && f.y_hi > 0.5);
    p = png_load(path);
    kr_plot_frame_map(&f, 0.5, 0.5, &qx, &qy);
    ck_assert(point_drawn(&p, qx, qy));
    cairo_surface_destroy(p.sf);

    /* large ranges */
    const double bx[3] = {-1e300, 0.0, 1e300}, by[3] = {1e-300, -5e299, 7e299};
    ck_assert_int_eq(kr_plot_scatter_png(path, 3, bx, by, NULL, NULL, NULL, NULL, &f), KR_OK);
    ck_assert_uint_eq(f.drawn, 3);

    /* points outside a fixed range are counted, not drawn */
    kr_plot_options o = {0};
    o.fixed_y = 1;
    o.y_min = 0.0;
    o.y_max = 1.0;
    const double ox[3] = {1.0, 2.0, 3.0}, oy[3] = {0.5, 1.5, 1.0};
    ck_assert_int_eq(kr_plot_scatter_png(path, 3, ox, oy, NULL, NULL, NULL, &o, &f), KR_OK);
    ck_assert_uint_eq(f.outside, 1);
    ck_assert_uint_eq(f.drawn, 2); /* y = 1.0 sits on the edge of [0, 1]: drawn */
    remove(path);
}
END_TEST

START_TEST(test_plot_log_x)
{
    const char *path = out_path("log.png");
    const double x[4] = {0.001, 0.02, 0.5, 3.0}, y[4] = {0.9, 0.7, 0.3, 0.1};
    kr_plot_options o = {0};
    o.log_x = 1;
    kr_plot_frame f;
    ck_assert_int_eq(kr_plot_scatter_png(path, 4, x, y, "log", "margin", "SSIM", &o, &f), KR_OK);
    ck_assert_int_eq(f.log_x, 1);
    ck_assert(f.x_lo < -3.0 && f.x_hi > log10(3.0));
    png_img p = png_load(path);
    for (int i = 0; i < 4; i++) {
        double qx, qy;
        kr_plot_frame_map(&f, x[i], y[i], &qx, &qy);
        ck_assert_msg(point_drawn(&p, qx, qy), "log point %d not drawn", i);
    }
    /* equal spacing in log: 0.001 -> 0.02 -> ... positions follow log10 */
    double a, b, c, d;
    kr_plot_frame_map(&f, 0.01, 0.5, &a, &d);
    kr_plot_frame_map(&f, 0.1, 0.5, &b, &d);
    kr_plot_frame_map(&f, 1.0, 0.5, &c, &d);
    ck_assert_double_eq_tol(b - a, c - b, 1e-6);
    cairo_surface_destroy(p.sf);

    /* any x <= 0: linear fallback */
    const double z[4] = {0.0, 0.02, 0.5, 3.0};
    ck_assert_int_eq(kr_plot_scatter_png(path, 4, z, y, "log?", NULL, NULL, &o, &f), KR_OK);
    ck_assert_int_eq(f.log_x, 0);
    ck_assert_uint_eq(f.drawn, 4);
    remove(path);
}
END_TEST

/* Panels: each cell is pixel for pixel the plot kr_plot_scatter_png draws alone at that size,
 * an unused cell is white, and bad arguments are refused. */
START_TEST(test_plot_panels)
{
    const double x[3] = {1e-4, 1e-2, 1.0}, y[3] = {0.2, 0.8, 0.5}, x2[3] = {10, 250, 490};
    kr_plot_panel pn[3] = {
        {.n = 3, .x = x, .y = y, .title = "log", .xlabel = "lr_x", .ylabel = "q",
         .opt = {.width = 400, .height = 300, .log_x = 1}},
        {.n = 3, .x = x2, .y = y, .title = "linear", .xlabel = "alpha",
         .opt = {.width = 400, .height = 300, .fixed_y = 1, .y_min = 0, .y_max = 1}},
        {.n = 0, .title = "empty", .opt = {.width = 400, .height = 300}},
    };
    const char *path = out_path("panels.png"), *one = out_path("panel_one.png");
    ck_assert_int_eq(kr_plot_panels_png(path, 3, 2, pn), KR_OK);
    png_img p = png_load(path);
    ck_assert_int_eq(p.w, 800);
    ck_assert_int_eq(p.h, 600);
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(kr_plot_scatter_png(one, pn[k].n, pn[k].x, pn[k].y, pn[k].title,
                                             pn[k].xlabel, pn[k].ylabel, &pn[k].opt, NULL), KR_OK);
        png_img q = png_load(one);
        int ox = 400 * (k % 2), oy = 300 * (k / 2), diff = 0;
        for (int yy = 0; yy < 300; yy++)
            for (int xx = 0; xx < 400; xx++) diff += px(&p, ox + xx, oy + yy) != px(&q, xx, yy);
        ck_assert_msg(diff == 0, "panel %d differs from its plot alone in %d pixels", k, diff);
        cairo_surface_destroy(q.sf);
    }
    for (int yy = 300; yy < 600; yy += 7)
        for (int xx = 400; xx < 800; xx += 7) ck_assert(px(&p, xx, yy) == WHITE);
    cairo_surface_destroy(p.sf);
    remove(path);
    remove(one);
    ck_assert_int_ne(kr_plot_panels_png(path, 0, 2, pn), KR_OK);
    ck_assert_int_ne(kr_plot_panels_png(path, 3, 0, pn), KR_OK);
    pn[0].x = NULL;
    ck_assert_int_ne(kr_plot_panels_png(path, 3, 2, pn), KR_OK);
    ck_assert(!file_exists(path));
}
END_TEST

START_TEST(test_plot_errors)
{
    const char *path = out_path("err.png");
    const double x[2] = {0, 1};
    kr_plot_options o = {0};
    ck_assert_int_eq(kr_plot_scatter_png(path, 2, NULL, x, NULL, NULL, NULL, NULL, NULL),
                     KR_E_INVALID);
    o.fixed_y = 1;
    o.y_min = 1.0;
    o.y_max = 1.0;
    ck_assert_int_eq(kr_plot_scatter_png(path, 2, x, x, NULL, NULL, NULL, &o, NULL), KR_E_INVALID);
    o.fixed_y = 0;
    o.width = 50;
    ck_assert_int_eq(kr_plot_scatter_png(path, 2, x, x, NULL, NULL, NULL, &o, NULL), KR_E_INVALID);
    ck_assert(!file_exists(path));
    ck_assert_int_eq(kr_plot_scatter_png(out_path("no/dir/p.png"), 2, x, x, NULL, NULL, NULL,
                                         NULL, NULL),
                     KR_E_IO);
}
END_TEST

/* ---------------------------------------------------------------- html */

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    b[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* RFC 4648 §4 decoder for the test: returns decoded length, or (size_t)-1 on bad input. */
static size_t b64_decode(const char *s, size_t len, unsigned char *out)
{
    if (len % 4) return (size_t)-1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = s[i + k];
            int d;
            if (ch >= 'A' && ch <= 'Z') d = ch - 'A';
            else if (ch >= 'a' && ch <= 'z') d = ch - 'a' + 26;
            else if (ch >= '0' && ch <= '9') d = ch - '0' + 52;
            else if (ch == '+') d = 62;
            else if (ch == '/') d = 63;
            else if (ch == '=' && i + 4 == len && k >= 2) { d = 0; pad++; }
            else return (size_t)-1;
            if (pad && ch != '=') return (size_t)-1;
            v = (v << 6) | (uint32_t)d;
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2) out[o++] = (unsigned char)(v >> 8);
        if (pad < 1) out[o++] = (unsigned char)v;
    }
    return o;
}

/* Every non-void element is closed in order; returns 1 when the page's tags balance. */
static int tags_balance(const char *s)
{
    static const char *const voids[] = {"meta", "img", "br", "hr", "link", "input"};
    char stack[64][16];
    int depth = 0;
    for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<')) {
        if (p[1] == '!') continue; /* doctype */
        int closing = p[1] == '/';
        const char *q = p + 1 + closing;
        char name[16];
        size_t k = 0;
        while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9')) {
            if (k + 1 >= sizeof name) return 0;
            name[k++] = *q++;
        }
        name[k] = 0;
        if (k == 0) return 0; /* a bare '<' in text: escaping failed */
        int is_void = 0;
        for (size_t v = 0; v < sizeof voids / sizeof voids[0]; v++)
            if (!strcmp(name, voids[v])) is_void = 1;
        if (is_void) continue;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name)) return 0;
            depth--;
        } else {
            if (depth == 64) return 0;
            strcpy(stack[depth++], name);
        }
    }
    return depth == 0;
}

START_TEST(test_html_base64_vectors)
{
    /* RFC 4648 §10 test vectors */
    static const char *const in[7] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[7] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char buf[16];
    for (int i = 0; i < 7; i++) {
        size_t n = kr_html_base64_encode((const unsigned char *)in[i], strlen(in[i]), buf);
        ck_assert_str_eq(buf, want[i]);
        ck_assert_uint_eq(n, strlen(want[i]));
    }
    unsigned char all[256], back[256];
    char enc[4 * 86 + 1];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    size_t n = kr_html_base64_encode(all, 256, enc);
    ck_assert_uint_eq(b64_decode(enc, n, back), 256);
    ck_assert(memcmp(all, back, 256) == 0);
}
END_TEST

START_TEST(test_html_page)
{
    /* a tiny PNG made with cairo */
    const char *png = out_path("tiny.png");
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 3, 2);
    ck_assert_int_eq(cairo_surface_write_to_png(sf, png), CAIRO_STATUS_SUCCESS);
    cairo_surface_destroy(sf);
    size_t png_n;
    unsigned char *png_bytes = read_all(png, &png_n);

    const char *path = out_path("page.html");
    kr_html *h = NULL;
    ck_assert_int_eq(kr_html_open(path, "Report <1> & \"q\"", &h), KR_OK);
    ck_assert_ptr_nonnull(h);
    ck_assert(file_exists(out_path("page.html.tmp")));
    ck_assert(!file_exists(path));
    ck_assert_int_eq(kr_html_h2(h, "Section <b>'x'</b>"), KR_OK);
    ck_assert_int_eq(kr_html_p(h, "a < b && c > d"), KR_OK);
    const char *keys[3] = {"dataset", "SSIM > 0.4", "null"}, *vals[3] = {"mnist", "12", NULL};
    ck_assert_int_eq(kr_html_kv_table(h, 3, keys, vals), KR_OK);
    const char *hdr[2] = {"rank", "name"};
    const char *cells[4] = {"1", "<script>alert(1)</script>", "2", "50%"};
    ck_assert_int_eq(kr_html_table(h, 2, hdr, 2, cells), KR_OK);
    ck_assert_int_eq(kr_html_pre(h, "line 1\n<tag> & 'quote'\n"), KR_OK);
    ck_assert_int_eq(kr_html_png(h, png, "tiny \"png\""), KR_OK);
    /* not a PNG: an error, and the page stays usable */
    ck_assert_int_eq(kr_html_png(h, out_path("page.html.tmp"), NULL), KR_E_INVALID);
    ck_assert_int_eq(kr_html_png(h, out_path("missing.png"), NULL), KR_E_IO);
    ck_assert_int_eq(kr_html_h2(h, "after"), KR_OK);
    ck_assert_int_eq(kr_html_close(h), KR_OK);
    ck_assert(file_exists(path));
    ck_assert(!file_exists(out_path("page.html.tmp")));

    size_t n;
    char *page = (char *)read_all(path, &n);
    ck_assert_ptr_nonnull(strstr(page, "<title>Report &lt;1&gt; &amp; &quot;q&quot;</title>"));
    ck_assert_ptr_nonnull(strstr(page, "<h2>Section &lt;b&gt;&#39;x&#39;&lt;/b&gt;</h2>"));
    ck_assert_ptr_nonnull(strstr(page, "<p>a &lt; b &amp;&amp; c &gt; d</p>"));
    ck_assert_ptr_nonnull(strstr(page, "SSIM &gt; 0.4</th><td class=\"num\">12</td>"));
    ck_assert_ptr_nonnull(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_null(strstr(page, "<script"));
    ck_assert_ptr_nonnull(strstr(page, "<td class=\"num\">50%</td>"));
    ck_assert_ptr_nonnull(strstr(page, "<pre>line 1\n&lt;tag&gt; &amp; &#39;quote&#39;\n</pre>"));
    ck_assert_ptr_nonnull(strstr(page, "alt=\"tiny &quot;png&quot;\""));
    ck_assert_msg(tags_balance(page), "unbalanced tags in:\n%s", page);

    const char *mark = "data:image/png;base64,";
    char *b = strstr(page, mark);
    ck_assert_ptr_nonnull(b);
    b += strlen(mark);
    char *e = strchr(b, '"');
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(strstr(e, mark)); /* exactly one image embedded */
    unsigned char *dec = malloc((size_t)(e - b));
    ck_assert_uint_eq(b64_decode(b, (size_t)(e - b), dec), png_n);
    ck_assert(memcmp(dec, png_bytes, png_n) == 0);

    free(dec);
    free(page);
    free(png_bytes);
    remove(path);
    remove(png);
}
END_TEST

START_TEST(test_html_errors)
{
    kr_html *h = (kr_html *)&h; /* must be reset to NULL on failure */
    ck_assert_int_eq(kr_html_open(out_path("no/dir/p.html"), "x", &h), KR_E_IO);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(kr_html_open(NULL, "x", &h), KR_E_INVALID);
    ck_assert_int_eq(kr_html_h2(NULL, "x"), KR_E_INVALID);

    const char *path = out_path("aborted.html");
    ck_assert_int_eq(kr_html_open(path, NULL, &h), KR_OK);
    ck_assert_int_eq(kr_html_table(h, 0, NULL, 0, NULL), KR_E_INVALID);
    kr_html_abort(h);
    ck_assert(!file_exists(path));
    ck_assert(!file_exists(out_path("aborted.html.tmp")));
    ck_assert_int_eq(kr_html_close(NULL), KR_OK);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tg = tcase_create("grid");
    tcase_add_loop_test(tg, test_grid_gray, 0, 3);
    tcase_add_loop_test(tg, test_grid_colour, 0, 3);
    tcase_add_test(tg, test_grid_nearest);
    tcase_add_test(tg, test_grid_empty_and_errors);
    suite_add_tcase(s, tg);
    TCase *tp = tcase_create("scatter");
    tcase_add_test(tp, test_plot_nice_ticks);
    tcase_add_test(tp, test_plot_known_points);
    tcase_add_test(tp, test_plot_edge_cases);
    tcase_add_test(tp, test_plot_log_x);
    tcase_add_test(tp, test_plot_errors);
    tcase_add_test(tp, test_plot_panels);
    suite_add_tcase(s, tp);
    TCase *th = tcase_create("html");
    tcase_add_test(th, test_html_base64_vectors);
    tcase_add_test(th, test_html_page);
    tcase_add_test(th, test_html_errors);
    suite_add_tcase(s, th);
    return s;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(test_dir, sizeof test_dir, "%s/kr_check_plot_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(test_dir)) {
        fprintf(stderr, "check_plot: cannot create %s\n", test_dir);
        return 1;
    }
    SRunner *sr = srunner_create(plot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    cairo_debug_reset_static_data(); /* drop cairo's font caches so leak checkers see only ours */
    rmdir(test_dir); /* empty unless a test failed: its outputs stay for inspection */
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
