/* alloc.h — host allocations whose size is a product of counts, checked before they are made.
 *
 * Sizes in this program are products of counts that come from files and settings (candidates
 * × pixels, samples × classes, …). A product that wraps around size_t would allocate a small
 * buffer and the code would write past it; these helpers refuse the product instead, and a
 * failed allocation names what it was for and how much was asked.
 */
#ifndef KR_ALLOC_H
#define KR_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include "base/status.h"

/* *out = a · b · c, or false if that does not fit in size_t. */
bool kr_size_mul(size_t a, size_t b, size_t c, size_t *out);

/* *out = malloc(n1 · n2 · elem) (at least 1 byte, so that a zero count is not NULL).
 * KR_E_NOMEM naming `what`, the counts and the bytes asked for when the product overflows or
 * the allocation fails; *out is NULL then. */
kr_status kr_alloc(void **out, const char *what, size_t n1, size_t n2, size_t elem);

/* As kr_alloc, zero-filled. */
kr_status kr_alloc_zero(void **out, const char *what, size_t n1, size_t n2, size_t elem);

#endif
