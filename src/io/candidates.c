/* candidates.c — reads x, λ and y of a candidates file (candidates.h) as doubles, checking
 * that x is m×D and lambda, y are m. The writer is checkpoint.c.
 */
#include "io/candidates.h"

#include <stdlib.h>

#include "base/alloc.h"
#include "io/safetensors.h"

kr_status kr_candidates_load(const char *path, size_t *m, size_t *d, double **x,
                             double **lambda, double **y)
{
    if (x) *x = NULL;
    if (lambda) *lambda = NULL;
    if (y) *y = NULL;
    kr_st_file *f;
    KR_TRY(kr_st_open(path, &f));
    kr_status st;
    const kr_st_tensor *tx;
    KR_TRY_GOTO(kr_st_get(f, "x", &tx));
    if (tx->ndim != 2) {
        st = KR_FAIL(KR_E_INVALID, "%s: tensor 'x' must be m×D (2-D), has %d dims", path, tx->ndim);
        goto fail;
    }
    *m = tx->shape[0];
    *d = tx->shape[1];
    if (*m == 0 || *d == 0) { /* else a header alone could claim any m (found by fuzz_candidates) */
        st = KR_FAIL(KR_E_INVALID, "%s: tensor 'x' is %zu x %zu; expected m x D with m, D > 0",
                     path, *m, *d);
        goto fail;
    }
    size_t shp[1] = {*m};
    if (x) {
        KR_TRY_GOTO(kr_alloc((void **)x, path, *m, *d, sizeof **x));
        KR_TRY_GOTO(kr_st_read_f64(f, "x", 2, tx->shape, *x));
    }
    if (lambda) {
        KR_TRY_GOTO(kr_alloc((void **)lambda, path, *m, 1, sizeof **lambda));
        KR_TRY_GOTO(kr_st_read_f64(f, "lambda", 1, shp, *lambda));
    }
    if (y) {
        KR_TRY_GOTO(kr_alloc((void **)y, path, *m, 1, sizeof **y));
        KR_TRY_GOTO(kr_st_read_f64(f, "y", 1, shp, *y));
    }
    kr_st_close(f);
    return KR_OK;
fail:
    kr_st_close(f);
    if (x) free(*x), *x = NULL;
    if (lambda) free(*lambda), *lambda = NULL;
    if (y) free(*y), *y = NULL;
    return st;
}
