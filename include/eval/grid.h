/* grid.h — the evaluation's picture of reconstruction pairs (DESIGN.md §4.6), drawn with cairo.
 *
 * Each pair is a column: the reconstruction (top) above its training image (bottom), a short
 * caller-supplied label under it ("#1 0.82" = rank and SSIM); pairs fill rows of `per_row`
 * pairs, left to right, top to bottom, under an optional title line. Images are upscaled by an
 * integer factor with nearest-neighbour sampling, so every source pixel is an exact s×s block.
 * White background, dark text, a thin light-grey frame just outside every image so white
 * images stay visible. Written to PATH.tmp, then renamed to PATH.
 *
 * It does not sort, match or score pairs (metrics does) and does not scale values: the caller
 * passes images already in [0,1] (DESIGN.md §4.3); values outside are clamped, NaN/Inf pixels
 * are drawn magenta (255, 0, 255) so a broken candidate is visible rather than silently black.
 *
 * Images are CHW float32, row-major: value (c, y, x) of image i is
 *   data[((i * C + c) * H + y) * W + x],  C = channels (1: gray, 3: RGB).
 *
 * Layout, in pixels (all integers; kr_grid_geometry computes it, tests rely on it):
 *   s      = scale, or when 0: max(1, ceil(84 / max(H, W)))  (28 -> 3 = 84 px, 32 -> 3 = 96 px)
 *   iw, ih = W*s, H*s                   upscaled image
 *   pad    = KR_GRID_PAD                white margin around everything and between pairs
 *   gap    = KR_GRID_GAP                white gap between top and bottom image of a pair
 *            (0 and no bottom image when bottom == NULL: one image per column)
 *   lab    = KR_GRID_LABEL_H            label strip under each pair
 *   tit    = KR_GRID_TITLE_H if title is non-empty, else 0
 *   cols   = min(n, per_row), rows = ceil(n / per_row), per_row = 10 when 0
 *   cell_h = ih + gap + ih + lab        (ih + lab without bottom images)
 *   width  = pad + cols * (iw + pad)
 *   height = pad + tit + rows * (cell_h + pad)
 *   pair i: col = i % per_row, row = i / per_row,
 *           top image at x = pad + col*(iw + pad), y = pad + tit + row*(cell_h + pad),
 *           bottom image at the same x, y + ih + gap; label centred in the lab strip below.
 * n == 0 is not an error: it draws a KR_GRID_EMPTY_W-wide placeholder reading "no pairs",
 *   height = pad + tit + KR_GRID_EMPTY_H + pad, so a report always has its picture.
 * The title and labels shrink (down to 7 px) to fit their width, then are clipped.
 * Both sides must be at most 32767 px (cairo's limit), else KR_E_INVALID.
 */
#ifndef KR_GRID_H
#define KR_GRID_H

#include <stddef.h>

#include "base/status.h"

#define KR_GRID_PAD 8
#define KR_GRID_GAP 4
#define KR_GRID_LABEL_H 18
#define KR_GRID_TITLE_H 28
#define KR_GRID_EMPTY_W 320
#define KR_GRID_EMPTY_H 60
#define KR_GRID_MAX_SIDE 32767

typedef struct kr_grid_spec {
    size_t n;                  /* number of pairs (may be 0) */
    int channels;              /* C: 1 (gray) or 3 (RGB) */
    int height, width;         /* H, W of one source image */
    const float *top;          /* n × C × H × W, reconstructions, [0,1]; required when n > 0 */
    const float *bottom;       /* n × C × H × W, training images, [0,1]; NULL: top row only */
    const char *const *labels; /* n strings (an entry may be NULL), or NULL: no labels drawn */
    const char *title;         /* NULL or "": no title line */
    int per_row;               /* pairs per row; 0 -> 10 */
    int scale;                 /* integer upscale factor; 0 -> automatic (see above) */
} kr_grid_spec;

typedef struct kr_grid_geom {
    int width, height;         /* PNG size */
    int scale, per_row, cols, rows;
    int image_w, image_h;      /* iw, ih */
    int gap, title_h, cell_h;
    int has_bottom;
} kr_grid_geom;

/* Validates spec and computes the layout above. */
kr_status kr_grid_geometry(const kr_grid_spec *spec, kr_grid_geom *out);

/* Top-left pixel of pair i's top (bottom = 0) or bottom (bottom = 1) upscaled image. */
void kr_grid_image_origin(const kr_grid_geom *g, size_t i, int bottom, int *x, int *y);

/* Draws the grid and writes it as a PNG (RGB, 8 bit) to path, atomically via path.tmp. */
kr_status kr_grid_write_png(const char *path, const kr_grid_spec *spec);

#endif
