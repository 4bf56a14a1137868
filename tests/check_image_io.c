/* check_image_io.c — host tests for image_io: PNG/JPEG load through stb_image, PNG write
 * (HWC and CHW, float clipping, NaN), in-memory PNG encoding, atomic writes and errors.
 * Expected bytes are computed by hand in the comments next to them. */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include <stb/stb_image.h>

#include "io/image_io.h"
#include "testfs.h"
#include "testutil.h"

START_TEST(test_image_io_roundtrip)
{
    unsigned char rgb[7 * 2 * 3];
    for (size_t k = 0; k < sizeof rgb; k++) rgb[k] = (unsigned char)(k * 9);
    OK(kr_image_write_png_hwc(tp("rgb.png"), rgb, 7, 2, 3));
    ck_assert_int_ne(access(tp("rgb.png.tmp"), F_OK), 0);
    kr_image im = {0};
    OK(kr_image_load(tp("rgb.png"), &im));
    ck_assert_int_eq(im.w, 7);
    ck_assert_int_eq(im.h, 2);
    ck_assert_int_eq(im.c, 3);
    ck_assert_mem_eq(im.pix, rgb, sizeof rgb);
    kr_image_free(&im);
    ck_assert_ptr_null(im.pix);
    /* overwrite an existing file */
    OK(kr_image_write_png_hwc(tp("rgb.png"), rgb, 1, 1, 1));
    OK(kr_image_load(tp("rgb.png"), &im));
    ck_assert_int_eq(im.w * im.h * im.c, 1);
    kr_image_free(&im);

    /* float CHW, 1 channel, 1x6: clipped to [0,1], NaN -> 0, rounded to nearest */
    const float v[6] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, NAN};
    const unsigned char want[6] = {0, 0, 128, 255, 255, 0};
    OK(kr_image_write_png_chw(tp("f.png"), v, 1, 1, 6));
    OK(kr_image_load(tp("f.png"), &im));
    ck_assert_int_eq(im.c, 1);
    ck_assert_mem_eq(im.pix, want, 6);
    kr_image_free(&im);

    /* CHW -> HWC: a 3-channel 1x2 image, planes R=(10,20) G=(30,40) B=(50,60) /255 */
    const double chw[6] = {10 / 255., 20 / 255., 30 / 255., 40 / 255., 50 / 255., 60 / 255.};
    const unsigned char hwc[6] = {10, 30, 50, 20, 40, 60};
    OK(kr_image_write_png_chw_f64(tp("d.png"), chw, 3, 1, 2));
    OK(kr_image_load(tp("d.png"), &im));
    ck_assert_int_eq(im.c, 3);
    ck_assert_int_eq(im.w, 2);
    ck_assert_mem_eq(im.pix, hwc, 6);
    kr_image_free(&im);

    /* in-memory PNG */
    unsigned char *png = NULL;
    size_t len = 0;
    float fchw[6];
    for (int k = 0; k < 6; k++) fchw[k] = (float)chw[k];
    OK(kr_image_encode_png_chw(fchw, 3, 1, 2, &png, &len));
    ck_assert_uint_gt(len, 8);
    ck_assert_mem_eq(png, "\x89PNG\r\n\x1a\n", 8);
    int w = 0, h = 0, c = 0;
    unsigned char *dec = stbi_load_from_memory(png, (int)len, &w, &h, &c, 0);
    ck_assert_ptr_nonnull(dec);
    ck_assert_int_eq(w * h * c, 6);
    ck_assert_mem_eq(dec, hwc, 6);
    stbi_image_free(dec);
    free(png);
}
END_TEST

START_TEST(test_image_io_errors)
{
    kr_image im = {0};
    expect_err(kr_image_load(tp("missing.png"), &im), KR_E_IO, "missing.png", "cannot open", NULL);
    write_bytes(tp("junk.png"), "\x89PNG\r\n\x1a\n-garbage-", 17, 0);
    expect_err(kr_image_load(tp("junk.png"), &im), KR_E_INVALID, "junk.png", "stb_image", NULL);
    ck_assert_ptr_null(im.pix);
    unsigned char px[4] = {0};
    expect_err(kr_image_write_png_hwc(tp("nodir/x.png"), px, 2, 2, 1), KR_E_IO, "nodir/x.png.tmp",
               NULL, NULL);
    ck_assert_int_ne(access(tp("nodir/x.png"), F_OK), 0);
    expect_err(kr_image_write_png_hwc(tp("x.png"), px, 2, 2, 5), KR_E_INVALID, "x.png",
               "5 channels", NULL);
    ck_assert_int_ne(access(tp("x.png"), F_OK), 0);
    ck_assert_int_ne(access(tp("x.png.tmp"), F_OK), 0);
    /* a write that cannot be renamed (target is a non-empty directory) leaves no tmp file */
    mkdir_p(tp("isdir.png"));
    mkdir_p(tp("isdir.png/sub"));
    expect_err(kr_image_write_png_hwc(tp("isdir.png"), px, 2, 2, 1), KR_E_IO, "isdir.png",
               "rename", NULL);
    ck_assert_int_ne(access(tp("isdir.png.tmp"), F_OK), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("image_io");
    TCase *tc = tcase_create("image_io");
    tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
    tcase_add_test(tc, test_image_io_roundtrip);
    tcase_add_test(tc, test_image_io_errors);
    suite_add_tcase(su, tc);
    return kr_test_run_suite(su, false) ? EXIT_FAILURE : EXIT_SUCCESS;
}
