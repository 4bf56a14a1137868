/* plot.c — scatter plots as PNG with cairo (see plot.h for what is drawn and the edge cases).
 *
 * Ticks: the classic "nice numbers" rule (Heckbert, "Nice numbers for graph labels", Graphics
 * Gems, 1990): step = 1, 2 or 5 × 10^k nearest to range / target. A log10 axis puts ticks on
 * decades (every k-th decade for wide ranges), on 1-2-5 multiples for ranges of a few decades,
 * and on linear nice values inside a single 1-2-5 interval. Margins are measured from the tick
 * labels with cairo_text_extents, so long labels (-1.5e+12) are never clipped.
 * Range arithmetic uses half-spans (hi/2 - lo/2) so that ranges near ±DBL_MAX do not overflow.
 * Text uses cairo's toy font API ("sans-serif" via fontconfig; DejaVu Sans on Debian).
 */
#include "eval/plot.h"

#include <cairo.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/draw_png.h"

#define PLOT_MAX_TICKS 64
#define PLOT_TICK_LEN 5.0
#define PLOT_FONT_TICK 12.0
#define PLOT_FONT_LABEL 14.0
#define PLOT_FONT_TITLE 16.0
#define PLOT_FONT_NOTE 11.0
#define PLOT_POINT_R 3.5
#define PLOT_PI 3.14159265358979323846

typedef struct plot_axis {
    double lo, hi;                  /* axis range (log10 units for a log axis) */
    int log;
    size_t n_ticks, n_minor;
    double ticks[PLOT_MAX_TICKS];   /* positions in axis units */
    double minor[PLOT_MAX_TICKS];
    char labels[PLOT_MAX_TICKS][32];
} plot_axis;

/* ---------------------------------------------------------------- ticks and ranges */

static double plot_nice_step(double rough)
{
    double mag = pow(10.0, floor(log10(rough)));
    double f = rough / mag;
    double nice = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0; /* nearest, Heckbert */
    return nice * mag;
}

size_t kr_plot_nice_ticks(double lo, double hi, int target, double *ticks, size_t cap,
                          double *step)
{
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi) || target < 1) {
        if (step) *step = 0.0;
        return 0;
    }
    double half = hi * 0.5 - lo * 0.5;
    double s = plot_nice_step(half / target * 2.0);
    if (!isfinite(s) || s <= 0.0) s = half; /* only near ±DBL_MAX */
    if (step) *step = s;
    double k0 = ceil(lo / s - 1e-9);
    size_t n = 0;
    for (size_t k = 0; n < cap && k < 4 * PLOT_MAX_TICKS; k++) {
        double v = (k0 + (double)k) * s;
        if (v > hi + fabs(s) * 1e-9) break;
        if (fabs(v) < s * 1e-9) v = 0.0; /* no "-0.00" */
        ticks[n++] = v;
    }
    return n;
}

/* "1e+06" -> "1e6", "2.5e-05" -> "2.5e-5". */
static void plot_tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char *src = e + 1, *dst = e + 1;
    if (*src == '+') src++;
    else if (*src == '-') *dst++ = *src++;
    while (*src == '0' && src[1]) src++;
    memmove(dst, src, strlen(src) + 1);
}

static void plot_format(char *buf, size_t cap, double v, double step, double maxabs)
{
    if (maxabs < 1e6 && step >= 1e-4) {
        int dec = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
        snprintf(buf, cap, "%.*f", dec, v);
    } else {
        int p = (int)floor(log10(maxabs)) - (int)floor(log10(step)) + 1;
        if (p < 1) p = 1;
        if (p > 17) p = 17;
        snprintf(buf, cap, "%.*g", p, v);
        plot_tidy_exponent(buf);
    }
}

static void plot_linear_ticks(plot_axis *a)
{
    double step;
    a->n_ticks = kr_plot_nice_ticks(a->lo, a->hi, 6, a->ticks, PLOT_MAX_TICKS, &step);
    double maxabs = fmax(fabs(a->lo), fabs(a->hi));
    for (size_t i = 0; i < a->n_ticks; i++)
        plot_format(a->labels[i], sizeof a->labels[i], a->ticks[i], step, maxabs);
}

static void plot_log_label(char *buf, size_t cap, double e)
{
    snprintf(buf, cap, "%.6g", pow(10.0, e));
    plot_tidy_exponent(buf);
}

static void plot_log_ticks(plot_axis *a)
{
    double d0 = ceil(a->lo - 1e-9), d1 = floor(a->hi + 1e-9);
    double decades = d1 - d0 + 1.0;
    a->n_ticks = a->n_minor = 0;
    if (decades >= 3.0) {
        double every = ceil(decades / 8.0);
        for (double d = ceil(d0 / every) * every; d <= d1 && a->n_ticks < PLOT_MAX_TICKS;
             d += every) {
            a->ticks[a->n_ticks] = d;
            plot_log_label(a->labels[a->n_ticks], sizeof a->labels[0], d);
            a->n_ticks++;
        }
        if (every == 1.0 && decades <= 8.0)
            for (double d = floor(a->lo); d <= d1; d += 1.0)
                for (int m = 2; m <= 9 && a->n_minor < PLOT_MAX_TICKS; m++) {
                    double t = d + log10((double)m);
                    if (t > a->lo && t < a->hi) a->minor[a->n_minor++] = t;
                }
        return;
    }
    /* A few decades: 1, 2, 5 multiples. */
    static const double mult[3] = {1.0, 2.0, 5.0};
    for (double d = floor(a->lo); d <= d1 + 1.0; d += 1.0)
        for (int m = 0; m < 3 && a->n_ticks < PLOT_MAX_TICKS; m++) {
            double t = d + log10(mult[m]);
            if (t < a->lo - 1e-9 || t > a->hi + 1e-9) continue;
            a->ticks[a->n_ticks] = t;
            plot_log_label(a->labels[a->n_ticks], sizeof a->labels[0], t);
            a->n_ticks++;
        }
    if (a->n_ticks >= 3) return;
    /* Inside one 1-2-5 interval: linear nice values, placed at their logarithms. */
    double v[PLOT_MAX_TICKS], step;
    double vlo = pow(10.0, a->lo), vhi = pow(10.0, a->hi);
    size_t n = kr_plot_nice_ticks(vlo, vhi, 5, v, PLOT_MAX_TICKS, &step);
    a->n_ticks = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] <= 0.0) continue;
        a->ticks[a->n_ticks] = log10(v[i]);
        plot_format(a->labels[a->n_ticks], sizeof a->labels[0], v[i], step, vhi);
        a->n_ticks++;
    }
}

/* Range of the finite values in v (already in axis units); [0, 1] when there are none. */
static void plot_auto_range(plot_axis *a, double vmin, double vmax, int any)
{
    if (!any) {
        vmin = 0.0;
        vmax = 1.0;
    }
    double half = vmax * 0.5 - vmin * 0.5;
    double mid = vmin * 0.5 + vmax * 0.5;
    if (!(half > fabs(mid) * 1e-12)) { /* all equal (or equal up to rounding) */
        double d = a->log ? 0.5 : (mid == 0.0 ? 1.0 : fabs(mid) * 0.1);
        a->lo = mid - d;
        a->hi = mid + d;
        return;
    }
    a->lo = fmax(vmin - 0.1 * half, -DBL_MAX); /* 5% of the span on each side */
    a->hi = fmin(vmax + 0.1 * half, DBL_MAX);
}

/* ---------------------------------------------------------------- drawing */

void kr_plot_frame_map(const kr_plot_frame *f, double x, double y, double *px, double *py)
{
    double ax = f->log_x ? log10(x) : x;
    double tx = (ax * 0.5 - f->x_lo * 0.5) / (f->x_hi * 0.5 - f->x_lo * 0.5);
    double ty = (y * 0.5 - f->y_lo * 0.5) / (f->y_hi * 0.5 - f->y_lo * 0.5);
    *px = f->left + tx * (f->right - f->left);
    *py = f->bottom - ty * (f->bottom - f->top);
}

static double plot_pos(double lo, double hi, double v, double p0, double p1)
{
    return p0 + (v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5) * (p1 - p0);
}

static double plot_text_w(cairo_t *cr, const char *s)
{
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* Text anchored at (x, y): ax, ay in {0, 0.5, 1} = left/centre/right, top/middle/bottom of the
 * line box (ascent + descent of the font, so labels of one row share a baseline). */
static void plot_text(cairo_t *cr, const char *s, double x, double y, double ax, double ay)
{
    if (!s || !s[0]) return;
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    double w = plot_text_w(cr, s), h = fe.ascent + fe.descent;
    cairo_move_to(cr, x - ax * w, y - ay * h + fe.ascent);
    cairo_show_text(cr, s);
}

static void plot_font(cairo_t *cr, double size, int bold)
{
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double plot_line_h(cairo_t *cr)
{
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

/* Fits text into maxw pixels with the current font: shrinks the font (down to 8 px), then cuts
 * whole UTF-8 characters and appends an ellipsis. Returns text itself or buf. */
static const char *plot_fit(cairo_t *cr, const char *text, double maxw, char *buf, size_t cap)
{
    double w = plot_text_w(cr, text);
    if (w <= maxw) return text;
    cairo_matrix_t m;
    cairo_get_font_matrix(cr, &m);
    double size = fmax(8.0, m.yy * maxw / w);
    cairo_set_font_size(cr, size);
    if (plot_text_w(cr, text) <= maxw) return text;
    size_t len = strlen(text);
    if (len + 4 > cap) len = cap - 4;
    memcpy(buf, text, len);
    while (len > 0) {
        do len--; while (len > 0 && ((unsigned char)buf[len] & 0xC0) == 0x80);
        memcpy(buf + len, "\xe2\x80\xa6", 4); /* U+2026 and the NUL */
        if (plot_text_w(cr, buf) <= maxw) break;
    }
    return buf;
}

/* Vertical lines at values v[0..n) of axis a (placed between px0 and px1), from y0 to y1;
 * stroked by the caller. */
static void plot_vlines(cairo_t *cr, const plot_axis *a, const double *v, size_t n, double px0,
                        double px1, double y0, double y1)
{
    for (size_t i = 0; i < n; i++) {
        double px = floor(plot_pos(a->lo, a->hi, v[i], px0, px1)) + 0.5;
        cairo_move_to(cr, px, y0);
        cairo_line_to(cr, px, y1);
    }
}

/* The x axis' tick labels under the frame's bottom edge. */
static void plot_xlabels(cairo_t *cr, const plot_axis *a, double left, double right,
                         double bottom)
{
    for (size_t i = 0; i < a->n_ticks; i++)
        plot_text(cr, a->labels[i], plot_pos(a->lo, a->hi, a->ticks[i], left, right),
                  bottom + PLOT_TICK_LEN + 4.0, 0.5, 0.0);
}

/* The title, bold, centred over the plot area but kept inside the image when long. */
static void plot_title(cairo_t *cr, const char *title, int W, double outer, double left,
                       double right)
{
    if (!title || !title[0]) return;
    char fit[512];
    plot_font(cr, PLOT_FONT_TITLE, 1);
    const char *s = plot_fit(cr, title, W - 2.0 * outer, fit, sizeof fit);
    double cx = (left + right) / 2.0, half = plot_text_w(cr, s) / 2.0;
    cx = fmin(fmax(cx, outer + half), W - outer - half);
    plot_text(cr, s, cx, outer, 0.5, 0.0);
}

/* Draws one scatter plot into the W × H rectangle at cr's origin (the caller owns the surface). */
static kr_status plot_scatter_draw(cairo_t *cr, int W, int H, size_t n, const double *x,
                                   const double *y, const char *title, const char *xlabel,
                                   const char *ylabel, const kr_plot_options *opt,
                                   kr_plot_frame *frame)
{
    static const kr_plot_options defaults = {0};
    if (!opt) opt = &defaults;
    if (n > 0 && (!x || !y)) return KR_FAIL(KR_E_INVALID, "plot: %zu points but NULL x or y", n);
    if (opt->n_hlines > 0 && !opt->hlines)
        return KR_FAIL(KR_E_INVALID, "plot: %zu reference lines but NULL hlines", opt->n_hlines);
    if (opt->fixed_x && !(isfinite(opt->x_min) && isfinite(opt->x_max) && opt->x_min < opt->x_max))
        return KR_FAIL(KR_E_INVALID, "plot: fixed x range [%g, %g] is empty or not finite",
                       opt->x_min, opt->x_max);
    if (opt->fixed_y && !(isfinite(opt->y_min) && isfinite(opt->y_max) && opt->y_min < opt->y_max))
        return KR_FAIL(KR_E_INVALID, "plot: fixed y range [%g, %g] is empty or not finite",
                       opt->y_min, opt->y_max);

    /* Which points count, and can x be logarithmic? */
    size_t nonfinite = 0;
    int log_fallback = 0;
    plot_axis ax, ay;
    memset(&ax, 0, sizeof ax);
    memset(&ay, 0, sizeof ay);
    ax.log = opt->log_x;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) nonfinite++;
        else if (x[i] <= 0.0) ax.log = 0;
    }
    if (opt->fixed_x && opt->x_min <= 0.0) ax.log = 0;
    log_fallback = opt->log_x && !ax.log;

    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double vx = ax.log ? log10(x[i]) : x[i];
        xmin = fmin(xmin, vx);
        xmax = fmax(xmax, vx);
        ymin = fmin(ymin, y[i]);
        ymax = fmax(ymax, y[i]);
        any = 1;
    }
    if (opt->fixed_x) {
        ax.lo = ax.log ? log10(opt->x_min) : opt->x_min;
        ax.hi = ax.log ? log10(opt->x_max) : opt->x_max;
    } else {
        plot_auto_range(&ax, xmin, xmax, any);
    }
    if (opt->fixed_y) {
        ay.lo = opt->y_min;
        ay.hi = opt->y_max;
    } else {
        int anyy = any;
        for (size_t k = 0; k < opt->n_hlines; k++)
            if (isfinite(opt->hlines[k].y)) {
                ymin = fmin(ymin, opt->hlines[k].y);
                ymax = fmax(ymax, opt->hlines[k].y);
                anyy = 1;
            }
        plot_auto_range(&ay, ymin, ymax, anyy);
    }
    if (ax.log) plot_log_ticks(&ax);
    else plot_linear_ticks(&ax);
    plot_linear_ticks(&ay);

    kr_status st = KR_OK;

    /* Margins from the text that has to fit around the plot area. */
    plot_font(cr, PLOT_FONT_TICK, 0);
    double tick_h = plot_line_h(cr), ytick_w = 0.0, xtick_last = 0.0;
    for (size_t i = 0; i < ay.n_ticks; i++) ytick_w = fmax(ytick_w, plot_text_w(cr, ay.labels[i]));
    if (ax.n_ticks) xtick_last = plot_text_w(cr, ax.labels[ax.n_ticks - 1]);
    plot_font(cr, PLOT_FONT_LABEL, 0);
    double label_h = plot_line_h(cr);
    plot_font(cr, PLOT_FONT_TITLE, 1);
    double title_h = plot_line_h(cr);
    plot_font(cr, PLOT_FONT_NOTE, 0);
    double note_h = plot_line_h(cr);

    double outer = 12.0;
    double left = outer + (ylabel && ylabel[0] ? label_h + 8.0 : 0.0) + ytick_w + 6.0 + PLOT_TICK_LEN;
    double top = outer + (title && title[0] ? title_h + 12.0 : 8.0);
    double right = W - fmax(outer + 12.0, outer + xtick_last / 2.0);
    double bottom = H - (outer + note_h + 6.0 + (xlabel && xlabel[0] ? label_h + 6.0 : 0.0) +
                         tick_h + 4.0 + PLOT_TICK_LEN);
    left = floor(left) + 0.5; /* crisp 1-px lines */
    top = floor(top) + 0.5;
    right = floor(right) + 0.5;
    bottom = floor(bottom) + 0.5;
    if (right - left < 50.0 || bottom - top < 50.0) {
        st = KR_FAIL(KR_E_INVALID, "plot: %d x %d leaves no room for the plot area", W, H);
        goto fail;
    }

    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    /* Grid, then frame, then ticks and their labels. */
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.955, 0.955, 0.955);
    plot_vlines(cr, &ax, ax.minor, ax.n_minor, left, right, top, bottom);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    plot_vlines(cr, &ax, ax.ticks, ax.n_ticks, left, right, top, bottom);
    for (size_t i = 0; i < ay.n_ticks; i++) {
        double py = floor(plot_pos(ay.lo, ay.hi, ay.ticks[i], bottom, top)) + 0.5;
        cairo_move_to(cr, left, py);
        cairo_line_to(cr, right, py);
    }
    cairo_stroke(cr);

    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    plot_vlines(cr, &ax, ax.ticks, ax.n_ticks, left, right, bottom, bottom + PLOT_TICK_LEN);
    plot_vlines(cr, &ax, ax.minor, ax.n_minor, left, right, bottom,
                bottom + PLOT_TICK_LEN * 0.6);
    for (size_t i = 0; i < ay.n_ticks; i++) {
        double py = floor(plot_pos(ay.lo, ay.hi, ay.ticks[i], bottom, top)) + 0.5;
        cairo_move_to(cr, left, py);
        cairo_line_to(cr, left - PLOT_TICK_LEN, py);
    }
    cairo_stroke(cr);

    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    plot_font(cr, PLOT_FONT_TICK, 0);
    plot_xlabels(cr, &ax, left, right, bottom);
    for (size_t i = 0; i < ay.n_ticks; i++)
        plot_text(cr, ay.labels[i], left - PLOT_TICK_LEN - 6.0,
                  plot_pos(ay.lo, ay.hi, ay.ticks[i], bottom, top), 1.0, 0.5);

    /* Axis labels and title. */
    char fit[512];
    double xlab_y = bottom + PLOT_TICK_LEN + 4.0 + tick_h + 6.0;
    if (xlabel && xlabel[0]) {
        plot_font(cr, PLOT_FONT_LABEL, 0);
        const char *s = plot_fit(cr, xlabel, W - 2.0 * outer, fit, sizeof fit);
        double cx = (left + right) / 2.0, half = plot_text_w(cr, s) / 2.0;
        cx = fmin(fmax(cx, outer + half), W - outer - half);
        plot_text(cr, s, cx, xlab_y, 0.5, 0.0);
    }
    if (ylabel && ylabel[0]) {
        plot_font(cr, PLOT_FONT_LABEL, 0);
        const char *s = plot_fit(cr, ylabel, bottom - top, fit, sizeof fit);
        double cy = (top + bottom) / 2.0;
        cairo_save(cr);
        cairo_translate(cr, outer, cy);
        cairo_rotate(cr, -PLOT_PI / 2.0);
        plot_text(cr, s, 0.0, 0.0, 0.5, 0.0);
        cairo_restore(cr);
    }
    plot_title(cr, title, W, outer, left, right);

    /* Everything inside the plot area is drawn clipped to it, points excepted (see below). */
    cairo_save(cr);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    cairo_clip(cr);
    plot_font(cr, PLOT_FONT_NOTE, 0);
    for (size_t k = 0; k < opt->n_hlines; k++) {
        double hy = opt->hlines[k].y;
        if (!isfinite(hy) || hy < ay.lo || hy > ay.hi) continue;
        double py = floor(plot_pos(ay.lo, ay.hi, hy, bottom, top)) + 0.5;
        static const double dash[2] = {6.0, 4.0};
        cairo_set_source_rgb(cr, 0.80, 0.20, 0.15);
        cairo_set_dash(cr, dash, 2, 0.0);
        cairo_move_to(cr, left, py);
        cairo_line_to(cr, right, py);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0.0);
    }
    if (n == 0 || !any) {
        plot_font(cr, PLOT_FONT_LABEL, 0);
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        plot_text(cr, "no data", (left + right) / 2.0, (top + bottom) / 2.0, 0.5, 0.5);
    }
    cairo_restore(cr);

    /* Reference line labels on a translucent white box, drawn before the points so that a
     * point under a label stays visible; below the line when it runs along the top of the
     * plot area. */
    plot_font(cr, PLOT_FONT_NOTE, 0);
    for (size_t k = 0; k < opt->n_hlines; k++) {
        double hy = opt->hlines[k].y;
        const char *lab = opt->hlines[k].label;
        if (!lab || !lab[0] || !isfinite(hy) || hy < ay.lo || hy > ay.hi) continue;
        char fit[256];
        lab = plot_fit(cr, lab, (right - left) / 2.0, fit, sizeof fit);
        double py = floor(plot_pos(ay.lo, ay.hi, hy, bottom, top)) + 0.5;
        int below = py - top < note_h + 6.0;
        double w = plot_text_w(cr, lab), h = plot_line_h(cr);
        double tx = right - 6.0 - w, ty = below ? py + 3.0 : py - 3.0 - h;
        cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
        cairo_rectangle(cr, tx - 2.0, ty, w + 4.0, h);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.75, 0.15, 0.10);
        plot_text(cr, lab, tx, ty, 0.0, 0.0);
    }

    /* Points: only those whose centre is inside the axis range; not clipped, so a point on
     * the edge (SSIM = 1 with y fixed to [0, 1]) stays a full circle. */
    kr_plot_frame f = {left, top, right, bottom, ax.lo, ax.hi, ay.lo, ay.hi, ax.log, 0, nonfinite, 0};
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double vx = ax.log ? log10(x[i]) : x[i];
        double ex = fabs(ax.hi - ax.lo) * 1e-9, ey = fabs(ay.hi - ay.lo) * 1e-9;
        if (vx < ax.lo - ex || vx > ax.hi + ex || y[i] < ay.lo - ey || y[i] > ay.hi + ey) {
            f.outside++;
            continue;
        }
        double px, py;
        kr_plot_frame_map(&f, x[i], y[i], &px, &py);
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, PLOT_POINT_R, 0.0, 2.0 * PLOT_PI);
        f.drawn++;
    }
    cairo_set_source_rgba(cr, 0.12, 0.40, 0.70, 0.45);
    cairo_fill_preserve(cr);
    cairo_set_source_rgba(cr, 0.08, 0.30, 0.58, 0.85);
    cairo_set_line_width(cr, 0.8);
    cairo_stroke(cr);

    /* The note: how many points, and what was not drawn. */
    char note[256];
    int k = snprintf(note, sizeof note, "%zu point%s", f.drawn, f.drawn == 1 ? "" : "s");
    if (nonfinite && k > 0 && (size_t)k < sizeof note)
        k += snprintf(note + k, sizeof note - (size_t)k, "; %zu skipped (NaN/Inf)", nonfinite);
    if (f.outside && k > 0 && (size_t)k < sizeof note)
        k += snprintf(note + k, sizeof note - (size_t)k, "; %zu outside the axis range", f.outside);
    if (log_fallback && k > 0 && (size_t)k < sizeof note)
        snprintf(note + k, sizeof note - (size_t)k, "; linear x axis: some x <= 0, no log scale");
    plot_font(cr, PLOT_FONT_NOTE, 0);
    cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);
    char note_fit[256];
    plot_text(cr, plot_fit(cr, note, W - 2.0 * outer, note_fit, sizeof note_fit), outer, H - outer,
              0.0, 1.0);

    if (frame) *frame = f;
fail:
    return st;
}

/* A W × H surface, painted by draw, saved to path. */
static kr_status plot_surface(int W, int H, const char *path, cairo_surface_t **sf, cairo_t **cr)
{
    if (!path) return KR_FAIL(KR_E_INVALID, "plot: NULL path");
    *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    *cr = cairo_create(*sf);
    if (cairo_status(*cr) != CAIRO_STATUS_SUCCESS) {
        kr_status st = KR_FAIL(KR_E_NOMEM, "plot: cairo surface %d x %d: %s", W, H,
                               cairo_status_to_string(cairo_status(*cr)));
        cairo_destroy(*cr);
        cairo_surface_destroy(*sf);
        return st;
    }
    return KR_OK;
}

static kr_status plot_finish(cairo_surface_t *sf, cairo_t *cr, const char *path, kr_status st)
{
    cairo_surface_flush(sf);
    if (st == KR_OK && cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = KR_FAIL(KR_E_NOMEM, "plot: drawing %s: %s", path,
                     cairo_status_to_string(cairo_status(cr)));
    if (st == KR_OK) st = kr_draw_save_png(sf, path, "plot");
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return st;
}

kr_status kr_plot_scatter_png(const char *path, size_t n, const double *x, const double *y,
                              const char *title, const char *xlabel, const char *ylabel,
                              const kr_plot_options *opt, kr_plot_frame *frame)
{
    int W = opt && opt->width ? opt->width : KR_PLOT_DEFAULT_W;
    int H = opt && opt->height ? opt->height : KR_PLOT_DEFAULT_H;
    if (W < 200 || H < 200 || W > 8192 || H > 8192)
        return KR_FAIL(KR_E_INVALID, "plot: size %d x %d outside [200, 8192]", W, H);
    if (!path) return KR_FAIL(KR_E_INVALID, "plot: NULL path");
    if (n > 0 && (!x || !y)) return KR_FAIL(KR_E_INVALID, "plot: %zu points but NULL x or y", n);
    cairo_surface_t *sf;
    cairo_t *cr;
    KR_TRY(plot_surface(W, H, path, &sf, &cr));
    kr_plot_frame f;
    kr_status st = plot_scatter_draw(cr, W, H, n, x, y, title, xlabel, ylabel, opt, &f);
    st = plot_finish(sf, cr, path, st);
    if (st == KR_OK && frame) *frame = f;
    return st;
}

kr_status kr_plot_panels_png(const char *path, size_t n_panels, int cols,
                             const kr_plot_panel *panels)
{
    if (!panels || n_panels == 0 || n_panels > 64 || cols < 1)
        return KR_FAIL(KR_E_INVALID, "plot: %zu panels in %d columns", n_panels, cols);
    int W = 0, H = 0;
    for (size_t i = 0; i < n_panels; i++) {
        const kr_plot_options *o = &panels[i].opt;
        int w = o->width ? o->width : KR_PLOT_DEFAULT_W, h = o->height ? o->height : KR_PLOT_DEFAULT_H;
        if (w < 200 || h < 200 || w > 8192 || h > 8192)
            return KR_FAIL(KR_E_INVALID, "plot: panel %zu size %d x %d outside [200, 8192]", i, w, h);
        if (panels[i].n > 0 && (!panels[i].x || !panels[i].y))
            return KR_FAIL(KR_E_INVALID, "plot: panel %zu has %zu points but NULL x or y", i,
                           panels[i].n);
        W = w > W ? w : W;
        H = h > H ? h : H;
    }
    int rows = (int)((n_panels + (size_t)cols - 1) / (size_t)cols);
    if (cols > (int)n_panels) cols = (int)n_panels;
    if ((long)W * cols > 16384 || (long)H * rows > 16384)
        return KR_FAIL(KR_E_INVALID, "plot: %d x %d panels of %d x %d is too large", cols, rows, W, H);
    cairo_surface_t *sf;
    cairo_t *cr;
    KR_TRY(plot_surface(W * cols, H * rows, path, &sf, &cr));
    kr_status st = KR_OK;
    for (size_t i = 0; i < n_panels && st == KR_OK; i++) {
        const kr_plot_panel *p = &panels[i];
        cairo_save(cr);
        cairo_translate(cr, (double)(W * (int)(i % (size_t)cols)), (double)(H * (int)(i / (size_t)cols)));
        cairo_rectangle(cr, 0, 0, W, H);
        cairo_clip(cr);
        st = plot_scatter_draw(cr, W, H, p->n, p->x, p->y, p->title, p->xlabel, p->ylabel, &p->opt,
                               NULL);
        cairo_restore(cr);
    }
    if (st == KR_OK && n_panels < (size_t)(rows * cols)) { /* an empty cell stays white */
        cairo_save(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);
        for (size_t i = n_panels; i < (size_t)(rows * cols); i++)
            cairo_rectangle(cr, W * (int)(i % (size_t)cols), H * (int)(i / (size_t)cols), W, H);
        cairo_fill(cr);
        cairo_restore(cr);
    }
    return plot_finish(sf, cr, path, st);
}

/* ---------------------------------------------------------------- bar charts */

/* Series colours: a colour-blind-safe qualitative set (Okabe & Ito, 2008). */
static const double BAR_RGB[8][3] = {
    {0.00, 0.45, 0.70}, {0.90, 0.62, 0.00}, {0.00, 0.62, 0.45}, {0.80, 0.47, 0.65},
    {0.34, 0.71, 0.91}, {0.84, 0.37, 0.00}, {0.94, 0.89, 0.26}, {0.40, 0.40, 0.40},
};

kr_status kr_plot_bars_png(const char *path, size_t n_cat, const char *const *cats,
                           size_t n_series, const char *const *series, const double *values,
                           const char *title, const char *xlabel, const char *value_fmt,
                           const kr_plot_options *opt)
{
    static const kr_plot_options defaults = {0};
    if (!opt) opt = &defaults;
    if (!path) return KR_FAIL(KR_E_INVALID, "bar chart: NULL path");
    if (n_series < 1 || n_series > 8)
        return KR_FAIL(KR_E_INVALID, "bar chart: %zu series, expected 1 to 8", n_series);
    if (n_cat > 0 && (!cats || !values))
        return KR_FAIL(KR_E_INVALID, "bar chart: %zu categories but NULL labels or values", n_cat);
    if (n_cat > 1000) return KR_FAIL(KR_E_INVALID, "bar chart: %zu categories (at most 1000)", n_cat);
    if (!value_fmt) value_fmt = "%.3g";
    const double bar_h = 18.0, group_gap = 14.0;
    int legend = n_series > 1 && series;
    int W = opt->width ? opt->width : KR_PLOT_DEFAULT_W;
    double want_h = 60.0 + (legend ? 26.0 : 0.0) + (double)(n_cat ? n_cat : 1) *
                    ((double)n_series * bar_h + group_gap) + 70.0;
    int H = opt->height ? opt->height : (int)fmin(8192.0, fmax(200.0, ceil(want_h)));
    if (W < 200 || H < 200 || W > 8192 || H > 8192)
        return KR_FAIL(KR_E_INVALID, "bar chart: size %d x %d outside [200, 8192]", W, H);

    plot_axis ax;
    memset(&ax, 0, sizeof ax);
    double vmax = 0.0;
    for (size_t i = 0; i < n_cat * n_series; i++)
        if (isfinite(values[i])) vmax = fmax(vmax, values[i]);
    ax.lo = 0.0;
    ax.hi = vmax > 0.0 ? vmax * 1.15 : 1.0; /* room for the value labels */
    plot_linear_ticks(&ax);

    kr_status st = KR_OK;
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = KR_FAIL(KR_E_NOMEM, "bar chart: cairo surface %d x %d: %s", W, H,
                     cairo_status_to_string(cairo_status(cr)));
        goto fail;
    }
    double outer = 12.0;
    plot_font(cr, PLOT_FONT_TICK, 0);
    double tick_h = plot_line_h(cr), cat_w = 0.0;
    for (size_t c = 0; c < n_cat; c++) cat_w = fmax(cat_w, plot_text_w(cr, cats[c] ? cats[c] : ""));
    cat_w = fmin(cat_w, W * 0.4); /* longer labels shrink or end in "…" */
    plot_font(cr, PLOT_FONT_LABEL, 0);
    double label_h = plot_line_h(cr);
    plot_font(cr, PLOT_FONT_TITLE, 1);
    double title_h = plot_line_h(cr);

    double left = floor(outer + cat_w + 8.0) + 0.5;
    double top = floor(outer + (title && title[0] ? title_h + 10.0 : 4.0) +
                       (legend ? 26.0 : 0.0)) + 0.5;
    double right = floor(W - outer - 16.0) + 0.5;
    double bottom = floor(H - (outer + (xlabel && xlabel[0] ? label_h + 6.0 : 0.0) + tick_h +
                               4.0 + PLOT_TICK_LEN)) + 0.5;
    if (right - left < 50.0 || bottom - top < 20.0) {
        st = KR_FAIL(KR_E_INVALID, "bar chart: %d x %d leaves no room for the bars", W, H);
        goto fail;
    }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    /* Vertical grid at the value ticks, the frame, tick marks and labels. */
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    plot_vlines(cr, &ax, ax.ticks, ax.n_ticks, left, right, top, bottom);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    plot_vlines(cr, &ax, ax.ticks, ax.n_ticks, left, right, bottom, bottom + PLOT_TICK_LEN);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    plot_font(cr, PLOT_FONT_TICK, 0);
    plot_xlabels(cr, &ax, left, right, bottom);

    char fit[512];
    if (xlabel && xlabel[0]) {
        plot_font(cr, PLOT_FONT_LABEL, 0);
        const char *s = plot_fit(cr, xlabel, W - 2.0 * outer, fit, sizeof fit);
        plot_text(cr, s, (left + right) / 2.0, bottom + PLOT_TICK_LEN + 4.0 + tick_h + 6.0, 0.5,
                  0.0);
    }
    plot_title(cr, title, W, outer, left, right);
    if (legend) { /* swatch + name per series, in one row left to right */
        plot_font(cr, PLOT_FONT_TICK, 0);
        double lx = left, ly = top - 22.0;
        for (size_t s = 0; s < n_series; s++) {
            const char *name = series[s] ? series[s] : "";
            cairo_set_source_rgb(cr, BAR_RGB[s][0], BAR_RGB[s][1], BAR_RGB[s][2]);
            cairo_rectangle(cr, lx, ly + 2.0, 12.0, 12.0);
            cairo_fill(cr);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            plot_text(cr, name, lx + 16.0, ly + 8.0, 0.0, 0.5);
            lx += 16.0 + plot_text_w(cr, name) + 18.0;
        }
    }

    /* Groups: evenly spread over the plot area, bars of at most bar_h. */
    double slot = n_cat ? (bottom - top) / (double)n_cat : 0.0;
    double bh = n_cat ? fmin(bar_h, (slot - 6.0) / (double)n_series) : 0.0;
    if (bh < 1.0) bh = 1.0;
    for (size_t c = 0; c < n_cat; c++) {
        double g0 = top + slot * (double)c + (slot - bh * (double)n_series) / 2.0;
        plot_font(cr, PLOT_FONT_TICK, 0);
        cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
        const char *lab = plot_fit(cr, cats[c] ? cats[c] : "", cat_w, fit, sizeof fit);
        plot_text(cr, lab, left - 6.0, g0 + bh * (double)n_series / 2.0, 1.0, 0.5);
        for (size_t s = 0; s < n_series; s++) {
            double v = values[c * n_series + s], y0 = g0 + bh * (double)s;
            char txt[64];
            plot_font(cr, PLOT_FONT_NOTE, 0);
            if (!isfinite(v)) {
                cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
                plot_text(cr, "n/a", left + 4.0, y0 + bh / 2.0, 0.0, 0.5);
                continue;
            }
            double px = plot_pos(ax.lo, ax.hi, fmin(fmax(v, 0.0), ax.hi), left, right);
            cairo_set_source_rgb(cr, BAR_RGB[s][0], BAR_RGB[s][1], BAR_RGB[s][2]);
            cairo_rectangle(cr, left, y0 + 1.0, px - left, bh - 2.0);
            cairo_fill(cr);
            snprintf(txt, sizeof txt, value_fmt, v);
            cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
            plot_text(cr, txt, px + 4.0, y0 + bh / 2.0, 0.0, 0.5);
        }
    }
    if (n_cat == 0) {
        plot_font(cr, PLOT_FONT_LABEL, 0);
        cairo_set_source_rgb(cr, 0.5, 0.5, 0.5);
        plot_text(cr, "no data", (left + right) / 2.0, (top + bottom) / 2.0, 0.5, 0.5);
    }

    cairo_surface_flush(sf);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        st = KR_FAIL(KR_E_NOMEM, "bar chart: drawing %s: %s", path,
                     cairo_status_to_string(cairo_status(cr)));
        goto fail;
    }
    st = kr_draw_save_png(sf, path, "bar chart");
fail:
    cairo_destroy(cr);
    cairo_surface_destroy(sf);
    return st;
}
