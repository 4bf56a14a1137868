/* alloc.c — checked products of counts and the allocations made from them (alloc.h). */
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool kr_size_mul(size_t a, size_t b, size_t c, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b) return false;
    size_t ab = a * b;
    if (c != 0 && ab > SIZE_MAX / c) return false;
    *out = ab * c;
    return true;
}

static kr_status kr_alloc_impl(void **out, const char *what, size_t n1, size_t n2, size_t elem,
                               bool zero)
{
    *out = NULL;
    size_t bytes;
    if (!kr_size_mul(n1, n2, elem, &bytes))
        return KR_FAIL(KR_E_NOMEM, "%s: %zu x %zu x %zu bytes does not fit in the address space",
                       what, n1, n2, elem);
    void *p = zero ? calloc(bytes ? bytes : 1, 1) : malloc(bytes ? bytes : 1);
    if (!p)
        return KR_FAIL(KR_E_NOMEM, "%s: out of host memory allocating %zu x %zu x %zu bytes "
                       "(%.1f MiB)", what, n1, n2, elem, (double)bytes / 1048576.0);
    *out = p;
    return KR_OK;
}

kr_status kr_alloc(void **out, const char *what, size_t n1, size_t n2, size_t elem)
{
    return kr_alloc_impl(out, what, n1, n2, elem, false);
}

kr_status kr_alloc_zero(void **out, const char *what, size_t n1, size_t n2, size_t elem)
{
    return kr_alloc_impl(out, what, n1, n2, elem, true);
}
