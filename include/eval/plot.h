/* plot.h — scatter plots as PNG, drawn with cairo (the SSIM-vs-margin plot, DESIGN.md §4.5-6).
 *
 * A plain, readable scatter plot: frame, ticks at "nice" values (1-2-5 × 10^k steps) with
 * numeric labels, light grid, title, axis labels (y label rotated), points as small translucent
 * circles, optional dashed horizontal reference lines with a label (e.g. y = 0.4, "SSIM 0.4"),
 * optional log10 x axis. Margins are computed from the tick label sizes, so nothing is clipped.
 * Written to PATH.tmp, then renamed to PATH. Image: RGB PNG, width × height (default 800 × 560).
 *
 * Edge cases, none of them errors: n == 0 draws the empty axes reading "no data"; NaN/Inf
 * points are skipped and counted in a grey note under the plot; an all-equal axis gets a range
 * around its value; points outside a fixed range are not drawn and are counted in the note;
 * log_x with any finite x <= 0 falls back to a linear axis and says so in the note. Text too
 * long for its place (title, axis labels, reference labels) shrinks to 8 px, then ends in "…".
 *
 * It does not compute what is plotted (metrics does) or fit curves.
 *
 * Bar charts (kr_plot_bars_png, for `kktrecon bench --compare`): horizontal grouped bars, one
 * group per category (a device) with one bar per series (a precision), category labels left
 * of the groups, the value axis along the bottom from 0 with nice ticks, each bar's value
 * written at its end, a legend of the series under the title. A NaN value draws no bar and
 * writes "n/a" (a device without float64, a failed device); negative values are clamped to 0.
 */
#ifndef KR_PLOT_H
#define KR_PLOT_H

#include <stddef.h>

#include "base/status.h"

#define KR_PLOT_DEFAULT_W 800
#define KR_PLOT_DEFAULT_H 560

typedef struct kr_plot_hline {
    double y;            /* where; lines outside a fixed y range are not drawn */
    const char *label;   /* drawn above the line's right end; NULL: none */
} kr_plot_hline;

/* Zero-initialised ({0}) means defaults everywhere. */
typedef struct kr_plot_options {
    int width, height;            /* pixels; 0 -> 800 × 560; each in [200, 8192] */
    int fixed_x;                  /* 1: x axis spans exactly [x_min, x_max] */
    double x_min, x_max;
    int fixed_y;                  /* 1: y axis spans exactly [y_min, y_max] (e.g. SSIM: 0, 1) */
    double y_min, y_max;
    int log_x;                    /* 1: log10 x axis (falls back to linear if any x <= 0) */
    const kr_plot_hline *hlines;  /* n_hlines reference lines; auto y ranges include them */
    size_t n_hlines;
} kr_plot_options;

/* Where the data landed, so callers and tests can find a point's pixel. */
typedef struct kr_plot_frame {
    double left, top, right, bottom; /* plot area in pixels (x grows right, y grows down) */
    double x_lo, x_hi, y_lo, y_hi;   /* axis ranges (x in log10 units when log_x) */
    int log_x;                       /* 1 when the x axis really is logarithmic */
    size_t drawn, skipped_nonfinite, outside;
} kr_plot_frame;

/* Scatter plot of (x[i], y[i]), i < n, to a PNG at path. x and y may be NULL when n == 0.
 * title, xlabel, ylabel may be NULL. opt NULL = defaults. frame (may be NULL) receives the
 * mapping that was used. */
kr_status kr_plot_scatter_png(const char *path, size_t n, const double *x, const double *y,
                              const char *title, const char *xlabel, const char *ylabel,
                              const kr_plot_options *opt, kr_plot_frame *frame);

/* One panel of a figure of several scatter plots (kr_plot_panels_png). */
typedef struct kr_plot_panel {
    size_t n;
    const double *x, *y;
    const char *title, *xlabel, *ylabel;
    kr_plot_options opt; /* per panel; width/height: the panel's size (all cells take the largest) */
} kr_plot_panel;

/* Several scatter plots, each drawn as kr_plot_scatter_png draws one, in a grid of `cols`
 * columns (row by row) on one PNG (the sweep's quality against each hyperparameter). */
kr_status kr_plot_panels_png(const char *path, size_t n_panels, int cols,
                             const kr_plot_panel *panels);

/* Horizontal grouped bars: values is n_cat × n_series, row-major (values[c·n_series + s]).
 * cats[c] labels group c, series[s] labels series s (n_series <= 8; series may be NULL when
 * n_series == 1: no legend). value_fmt is the printf format of the value written at each bar's
 * end (NULL: "%.3g"). opt: only width and height count; height 0 -> sized to the bars
 * (clamped to [200, 8192]). Errors: KR_E_INVALID for a NULL path/array or n_series outside
 * [1, 8]; KR_E_IO when the file cannot be written. n_cat == 0 draws "no data". */
kr_status kr_plot_bars_png(const char *path, size_t n_cat, const char *const *cats,
                           size_t n_series, const char *const *series, const double *values,
                           const char *title, const char *xlabel, const char *value_fmt,
                           const kr_plot_options *opt);

/* Data coordinates -> pixel centre (px, py) under frame f. */
void kr_plot_frame_map(const kr_plot_frame *f, double x, double y, double *px, double *py);

/* The "nice" ticks of [lo, hi] (lo < hi): about `target` values at a 1-2-5 × 10^k step, all
 * inside [lo, hi]. Writes at most cap values to ticks and returns how many; *step gets the
 * step. Exposed for tests. */
size_t kr_plot_nice_ticks(double lo, double hi, int target, double *ticks, size_t cap,
                          double *step);

#endif
