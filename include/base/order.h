/* order.h — sorting and medians of double arrays (timings, margins, scores). */
#ifndef KR_ORDER_H
#define KR_ORDER_H

#include <stddef.h>

/* Sorts v[0..n) ascending in place (NaN compares equal to everything: keep them out). */
void kr_sort_doubles(double *v, size_t n);

/* The median of v[0..n) (n > 0; the mean of the two middle values for even n), sorting v in
 * place. */
double kr_median(double *v, size_t n);

#endif
