/* report.h — the run folder: creating it, and writing result files (JSON, text) atomically
 * (PATH.tmp, then rename), so an interrupted run never leaves a half-written result.
 * Pictures are grid.h and plot.h; the HTML page is html.h. JSON is built with cJSON.
 */
#ifndef KR_REPORT_H
#define KR_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "base/status.h"

struct cJSON;

/* mkdir -p. */
kr_status kr_report_mkdir(const char *dir);
/* buf = dir/name; KR_E_INVALID if it does not fit. */
kr_status kr_report_path(char *buf, size_t cap, const char *dir, const char *name);
/* Serialises json (formatted) to path atomically. */
kr_status kr_report_write_json(const char *path, const struct cJSON *json);
/* Opens path.tmp for writing; kr_report_close renames it to path (or removes it when
 * st != KR_OK). */
kr_status kr_report_open(const char *path, FILE **f);
kr_status kr_report_close(FILE *f, const char *path, kr_status st);
/* The whole of a text file of at most max bytes, NUL-terminated, into *text (malloc'd):
 * KR_E_IO naming the file when it cannot be read, KR_E_INVALID when it is larger, KR_E_NOMEM. */
kr_status kr_report_read_text(const char *path, size_t max, char **text);
/* Adds a number that may be NaN/Inf (JSON has none): non-finite values become null. */
void kr_report_json_number(struct cJSON *obj, const char *key, double v);

#endif
