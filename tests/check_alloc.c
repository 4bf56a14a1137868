/* check_alloc.c — host suite: size products that would wrap are refused before any
 * allocation (base/alloc.h), and the message names what was asked for. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "testutil.h"

START_TEST(test_size_mul)
{
    size_t r;
    ck_assert(kr_size_mul(3, 5, 7, &r) && r == 105);
    ck_assert(kr_size_mul(0, SIZE_MAX, SIZE_MAX, &r) && r == 0);
    ck_assert(kr_size_mul(SIZE_MAX, 1, 1, &r) && r == SIZE_MAX);
    ck_assert(!kr_size_mul(SIZE_MAX / 2 + 1, 2, 1, &r));
    ck_assert(!kr_size_mul(1, SIZE_MAX / 8 + 1, 8, &r));
    ck_assert(!kr_size_mul((size_t)1 << 32, (size_t)1 << 32, 1, &r)); /* wraps to 0 unchecked */
}
END_TEST

START_TEST(test_alloc)
{
    double *p = NULL;
    ck_assert_int_eq(kr_alloc((void **)&p, "ten doubles", 2, 5, sizeof *p), KR_OK);
    ck_assert_ptr_nonnull(p);
    p[9] = 1.0;
    free(p);
    ck_assert_int_eq(kr_alloc_zero((void **)&p, "nothing", 0, 7, sizeof *p), KR_OK);
    ck_assert_ptr_nonnull(p); /* a zero count is a valid empty buffer, not NULL */
    free(p);
    ck_assert_int_eq(kr_alloc_zero((void **)&p, "zeros", 4, 4, sizeof *p), KR_OK);
    for (int i = 0; i < 16; i++) ck_assert(p[i] == 0.0);
    free(p);

    p = (double *)&p; /* must be reset on failure */
    ck_assert_int_eq(kr_alloc((void **)&p, "candidates", (size_t)1 << 40, (size_t)1 << 30, 8),
                     KR_E_NOMEM);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "candidates"));
    ck_assert_ptr_nonnull(strstr(kr_error_message(), "does not fit"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("alloc");
    tcase_add_test(tc, test_size_mul);
    tcase_add_test(tc, test_alloc);
    suite_add_tcase(s, tc);
    return kr_test_run_suite(s, false) ? EXIT_FAILURE : EXIT_SUCCESS;
}
