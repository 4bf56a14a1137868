/* draw_png.h — private to grid.c and plot.c: write a cairo surface to PATH atomically
 * (PATH.tmp, then rename), so a failed write never leaves a half picture behind. */
#ifndef KR_DRAW_PNG_H
#define KR_DRAW_PNG_H

#include <cairo.h>
#include <stdio.h>
#include <string.h>

#include "base/status.h"

static inline kr_status kr_draw_save_png(cairo_surface_t *sf, const char *path, const char *what)
{
    size_t len = strlen(path);
    char tmp[4096];
    if (len + 5 > sizeof tmp) return KR_FAIL(KR_E_INVALID, "%s: path too long: %.64s...", what, path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    cairo_status_t cs = cairo_surface_write_to_png(sf, tmp);
    if (cs != CAIRO_STATUS_SUCCESS) {
        remove(tmp);
        return KR_FAIL(KR_E_IO, "%s: writing %s: %s", what, tmp, cairo_status_to_string(cs));
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        return KR_FAIL(KR_E_IO, "%s: renaming %s to %s failed", what, tmp, path);
    }
    return KR_OK;
}

#endif
