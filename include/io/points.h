/* points.h — a table of hyperparameter points from a CSV file (`attack.points_file`).
 *
 * Format: a header line of column names, then one line per point of as many numbers (decimal
 * or exponent notation, finite); fields separated by commas, spaces around them ignored; empty
 * lines and lines starting with '#' skipped. Which names are allowed and what the values mean
 * is the caller's business (app/attack_points.c); here: the shape and the numbers. Every
 * refusal names the file, the line, the column and what was expected.
 */
#ifndef KR_POINTS_H
#define KR_POINTS_H

#include <stddef.h>

#include "base/status.h"

#define KR_POINTS_MAX_COLS 16
#define KR_POINTS_MAX_ROWS 100000

typedef struct kr_points_table {
    size_t rows, cols;
    char names[KR_POINTS_MAX_COLS][32];
    double *v; /* rows × cols, row-major */
} kr_points_table;

kr_status kr_points_read(const char *path, kr_points_table *out);
void kr_points_free(kr_points_table *t);

#endif
