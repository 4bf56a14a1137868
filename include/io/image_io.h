/* image_io.h — read PNG/JPEG (and the other formats stb_image knows) into 8-bit pixels, write
 * PNG files and in-memory PNGs for embedding in HTML.
 *
 * Pixel layouts: kr_image and the *_hwc functions use stb's interleaved layout, h x w x c
 * row-major (HWC); the *_chw functions take channel planes, c x h x w row-major, as PyTorch
 * flattens (C,H,W) and as kr_dataset stores images. Channel counts: 1 (gray) or 3 (RGB);
 * 2 and 4 (with alpha) are accepted by the writers.
 *
 * Not here: resizing, colour conversion beyond dropping alpha, 16-bit or HDR images.
 * Format code: Sean Barrett's stb_image / stb_image_write (Debian libstb: the implementations
 * are in libstb.so, link -lstb; its failure reason is thread-local, so loads may run in
 * parallel threads).
 */
#ifndef KR_IMAGE_IO_H
#define KR_IMAGE_IO_H

#include <stddef.h>

#include "base/status.h"

typedef struct kr_image {
    int w, h, c;        /* c = 1 (gray) or 3 (RGB); alpha is dropped on load */
    unsigned char *pix; /* h x w x c, row-major, interleaved (HWC) */
} kr_image;

/* Loads an image file. Gray and gray+alpha files give c = 1; RGB and RGBA files give c = 3.
 * On failure *out is zeroed and the message names the file and stb's reason. */
kr_status kr_image_load(const char *path, kr_image *out);
/* Frees img->pix and zeroes *img; NULL and zeroed images are fine. */
void kr_image_free(kr_image *img);

/* Writes pix (h x w x c, HWC, c in 1..4) as a PNG. Writes to "<path>.tmp" and renames it over
 * path, so a failure never leaves a partial file at path. */
kr_status kr_image_write_png_hwc(const char *path, const unsigned char *pix, int w, int h, int c);
/* Writes a float image (c x h x w, CHW, values in [0,1]; outside is clipped, NaN -> 0) as a PNG,
 * each value rounded to the nearest of 0..255. c in 1..4. Same tmp+rename as above. */
kr_status kr_image_write_png_chw(const char *path, const float *chw, int c, int h, int w);
/* The same for a double image (c x h x w, CHW). */
kr_status kr_image_write_png_chw_f64(const char *path, const double *chw, int c, int h, int w);

/* Encodes pix (h x w x c, HWC) as a PNG in memory: *out (malloc'd, caller frees) of *len bytes.
 * On failure *out is NULL and *len 0. */
kr_status kr_image_encode_png_hwc(const unsigned char *pix, int w, int h, int c, unsigned char **out,
                                  size_t *len);
/* The same for a float image (c x h x w, CHW, [0,1], clipped). */
kr_status kr_image_encode_png_chw(const float *chw, int c, int h, int w, unsigned char **out,
                                  size_t *len);

/* Converts a float CHW image in [0,1] (clipped, NaN -> 0) to 8-bit HWC: hwc has h x w x c bytes. */
void kr_image_chw_to_hwc_u8(const float *chw, int c, int h, int w, unsigned char *hwc);
/* The same for doubles. */
void kr_image_chw_to_hwc_u8_f64(const double *chw, int c, int h, int w, unsigned char *hwc);

#endif
