/* candidates.c — reads x, λ and y of a candidates file (candidates.h) as doubles, checking
 * that x is m×D and lambda, y are m. The writer is checkpoint.c.
 */
#include "io/candidates.h"

#include <stdlib.h>

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
    size_t shp[1] = {*m};
    if (x) {
        if (!(*x = malloc(*m * *d * sizeof **x + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "x", 2, tx->shape, *x));
    }
    if (lambda) {
        if (!(*lambda = malloc(*m * sizeof **lambda + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "lambda", 1, shp, *lambda));
    }
    if (y) {
        if (!(*y = malloc(*m * sizeof **y + 1))) goto nomem;
        KR_TRY_GOTO(kr_st_read_f64(f, "y", 1, shp, *y));
    }
    kr_st_close(f);
    return KR_OK;
nomem:
    st = KR_FAIL(KR_E_NOMEM, "reading %s", path);
fail:
    kr_st_close(f);
    if (x) free(*x), *x = NULL;
    if (lambda) free(*lambda), *lambda = NULL;
    if (y) free(*y), *y = NULL;
    return st;
}
