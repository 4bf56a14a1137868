/* image_io.c — image files through stb_image / stb_image_write.
 *
 * Loads any format stb_image decodes (PNG, JPEG, BMP, GIF first frame, ...) into 8-bit HWC
 * pixels with alpha dropped; writes PNG only, always through an in-memory encode followed by
 * write-to-"<path>.tmp" + rename(), so a failed or interrupted write never leaves a half file
 * under the final name and every write error (ENOSPC on fwrite/fclose) is seen.
 *
 * Not here: dataset logic (data.c), grids and reports (report.c).
 * Format code: stb_image.h v2.x / stb_image_write.h v1.x (public domain, Sean Barrett). Debian's
 * libstb ships the implementations in libstb.so, so this file includes the headers only and
 * links -lstb; do NOT define STB_IMAGE_IMPLEMENTATION here (it would duplicate the symbols).
 */
#define _POSIX_C_SOURCE 200809L
#include "io/image_io.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

/* Largest image kr_image_load decodes (4096 x 4096): stb accepts up to 2^24 per side, so a
 * 169-byte TGA header could make it allocate and fill ~2 GB (found by tests/fuzz/fuzz_image). */
#define KR_IMAGE_MAX_PIXELS ((size_t)1 << 24)

/* ---------- load ---------- */

kr_status kr_image_load(const char *path, kr_image *out)
{
    kr_status st = KR_OK;
    FILE *f = NULL;
    unsigned char *pix = NULL;
    if (!out) return KR_FAIL(KR_E_INVALID, "kr_image_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_image_load: path is NULL");

    f = fopen(path, "rb");
    if (!f) return KR_FAIL(KR_E_IO, "%s: cannot open image: %s", path, strerror(errno));

    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_file(f, &w, &h, &comp)) {
        const char *why = stbi_failure_reason();
        st = KR_FAIL(KR_E_INVALID, "%s: offset 0: not a readable image (stb_image: %s)", path,
                     why ? why : "unknown reason");
        goto fail;
    }
    int want = comp <= 2 ? 1 : 3; /* gray(+alpha) -> 1, RGB(A) -> 3 */
    if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > KR_IMAGE_MAX_PIXELS) {
        st = KR_FAIL(KR_E_INVALID, "%s: unusable image size %dx%d (expected at most %zu pixels)",
                     path, w, h, KR_IMAGE_MAX_PIXELS);
        goto fail;
    }
    int lw = 0, lh = 0, lc = 0;
    pix = stbi_load_from_file(f, &lw, &lh, &lc, want);
    if (!pix) {
        const char *why = stbi_failure_reason();
        st = KR_FAIL(KR_E_INVALID, "%s: cannot decode %dx%d image (stb_image: %s)", path, w, h,
                     why ? why : "unknown reason");
        goto fail;
    }
    fclose(f);
    out->w = lw;
    out->h = lh;
    out->c = want;
    out->pix = pix;
    return KR_OK;
fail:
    if (pix) stbi_image_free(pix);
    if (f) fclose(f);
    return st;
}

void kr_image_free(kr_image *img)
{
    if (!img) return;
    if (img->pix) stbi_image_free(img->pix);
    memset(img, 0, sizeof *img);
}

/* ---------- conversions ---------- */

static unsigned char to_u8(double v)
{
    if (!(v > 0.0)) return 0; /* also NaN */
    if (v >= 1.0) return 255;
    return (unsigned char)(v * 255.0 + 0.5);
}

void kr_image_chw_to_hwc_u8(const float *chw, int c, int h, int w, unsigned char *hwc)
{
    size_t plane = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++)
        for (size_t p = 0; p < plane; p++)
            hwc[p * (size_t)c + (size_t)ch] = to_u8((double)chw[(size_t)ch * plane + p]);
}

void kr_image_chw_to_hwc_u8_f64(const double *chw, int c, int h, int w, unsigned char *hwc)
{
    size_t plane = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++)
        for (size_t p = 0; p < plane; p++)
            hwc[p * (size_t)c + (size_t)ch] = to_u8(chw[(size_t)ch * plane + p]);
}

static kr_status check_shape(const char *what, int w, int h, int c)
{
    if (w <= 0 || h <= 0 || c < 1 || c > 4)
        return KR_FAIL(KR_E_INVALID, "%s: bad image shape %dx%d with %d channels (need c in 1..4)",
                       what, w, h, c);
    if ((size_t)w * (size_t)c > (size_t)INT_MAX / 2 || (size_t)h > (size_t)INT_MAX / 2)
        return KR_FAIL(KR_E_INVALID, "%s: image %dx%d too large for PNG encoding", what, w, h);
    return KR_OK;
}

/* ---------- encode to memory ---------- */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int oom;
} membuf;

static void membuf_write(void *ctx, void *data, int size)
{
    membuf *m = ctx;
    if (m->oom || size <= 0) return;
    if (m->len + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + (size_t)size) cap *= 2;
        unsigned char *p = realloc(m->data, cap);
        if (!p) {
            m->oom = 1;
            return;
        }
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, (size_t)size);
    m->len += (size_t)size;
}

kr_status kr_image_encode_png_hwc(const unsigned char *pix, int w, int h, int c, unsigned char **out,
                                  size_t *len)
{
    if (!out || !len) return KR_FAIL(KR_E_INVALID, "kr_image_encode_png_hwc: NULL out");
    *out = NULL;
    *len = 0;
    if (!pix) return KR_FAIL(KR_E_INVALID, "kr_image_encode_png_hwc: pixels are NULL");
    KR_TRY(check_shape("PNG encode", w, h, c));
    membuf m = {0};
    int ok = stbi_write_png_to_func(membuf_write, &m, w, h, c, pix, w * c);
    if (m.oom) {
        free(m.data);
        return KR_FAIL(KR_E_NOMEM, "PNG encode of %dx%dx%d image: out of memory", w, h, c);
    }
    if (!ok || m.len == 0) {
        free(m.data);
        return KR_FAIL(KR_E_INVALID, "PNG encode of %dx%dx%d image failed (stb_image_write)", w, h,
                       c);
    }
    *out = m.data;
    *len = m.len;
    return KR_OK;
}

kr_status kr_image_encode_png_chw(const float *chw, int c, int h, int w, unsigned char **out,
                                  size_t *len)
{
    if (!out || !len) return KR_FAIL(KR_E_INVALID, "kr_image_encode_png_chw: NULL out");
    *out = NULL;
    *len = 0;
    if (!chw) return KR_FAIL(KR_E_INVALID, "kr_image_encode_png_chw: pixels are NULL");
    KR_TRY(check_shape("PNG encode", w, h, c));
    unsigned char *hwc = malloc((size_t)w * (size_t)h * (size_t)c); /* h x w x c */
    if (!hwc) return KR_FAIL(KR_E_NOMEM, "PNG encode of %dx%dx%d image: out of memory", w, h, c);
    kr_image_chw_to_hwc_u8(chw, c, h, w, hwc);
    kr_status st = kr_image_encode_png_hwc(hwc, w, h, c, out, len);
    free(hwc);
    return st;
}

/* ---------- write files ---------- */

/* Writes buf to "<path>.tmp", flushes and closes it (checking each step), then renames it to
 * path. On any failure the tmp file is removed. */
static kr_status write_atomic(const char *path, const unsigned char *buf, size_t len)
{
    kr_status st = KR_OK;
    FILE *f = NULL;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return KR_FAIL(KR_E_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    f = fopen(tmp, "wb");
    if (!f) {
        st = KR_FAIL(KR_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    if (fwrite(buf, 1, len, f) != len || fflush(f) != 0) {
        st = KR_FAIL(KR_E_IO, "%s: write of %zu bytes failed: %s", tmp, len, strerror(errno));
        goto fail;
    }
    int rc = fclose(f);
    f = NULL;
    if (rc != 0) {
        st = KR_FAIL(KR_E_IO, "%s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        st = KR_FAIL(KR_E_IO, "%s: cannot rename %s to it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    free(tmp);
    return KR_OK;
fail:
    if (f) fclose(f);
    remove(tmp);
    free(tmp);
    return st;
}

kr_status kr_image_write_png_hwc(const char *path, const unsigned char *pix, int w, int h, int c)
{
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_image_write_png_hwc: path is NULL");
    unsigned char *png = NULL;
    size_t len = 0;
    kr_status st = kr_image_encode_png_hwc(pix, w, h, c, &png, &len);
    if (st != KR_OK) return kr_error_context(st, "%s", path);
    st = write_atomic(path, png, len);
    free(png);
    return st;
}

kr_status kr_image_write_png_chw(const char *path, const float *chw, int c, int h, int w)
{
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_image_write_png_chw: path is NULL");
    unsigned char *png = NULL;
    size_t len = 0;
    kr_status st = kr_image_encode_png_chw(chw, c, h, w, &png, &len);
    if (st != KR_OK) return kr_error_context(st, "%s", path);
    st = write_atomic(path, png, len);
    free(png);
    return st;
}

kr_status kr_image_write_png_chw_f64(const char *path, const double *chw, int c, int h, int w)
{
    if (!path) return KR_FAIL(KR_E_INVALID, "kr_image_write_png_chw_f64: path is NULL");
    if (!chw) return KR_FAIL(KR_E_INVALID, "%s: pixels are NULL", path);
    kr_status st = check_shape(path, w, h, c);
    if (st != KR_OK) return st;
    unsigned char *hwc = malloc((size_t)w * (size_t)h * (size_t)c); /* h x w x c */
    if (!hwc) return KR_FAIL(KR_E_NOMEM, "%s: out of memory", path);
    kr_image_chw_to_hwc_u8_f64(chw, c, h, w, hwc);
    st = kr_image_write_png_hwc(path, hwc, w, h, c);
    free(hwc);
    return st;
}
