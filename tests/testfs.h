/* testfs.h — file-system helpers shared by the host tests of the loaders and image_io: a fresh
 * mkdtemp directory per test (tmp_setup / tmp_teardown as a Check fixture), paths inside it,
 * writing plain or gzip files, and checking an error status and its message.
 * Static inline so each test executable gets its own copy of the temp-dir state. */
#ifndef KR_TESTFS_H
#define KR_TESTFS_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/status.h"


static char g_tmp[256];

static inline void tmp_setup(void)
{
    snprintf(g_tmp, sizeof g_tmp, "%s/kr_check_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_msg(mkdtemp(g_tmp) != NULL, "mkdtemp: %s", strerror(errno));
}

static inline int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void tmp_teardown(void)
{
    if (g_tmp[0]) nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    g_tmp[0] = '\0';
}

/* A path under the temp dir (static ring of buffers, enough for one assertion's worth). */
static inline const char *tp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline const char *tp(const char *fmt, ...)
{
    static char bufs[8][512];
    static int k = 0;
    char *b = bufs[k++ & 7];
    int n = snprintf(b, 512, "%s/", g_tmp);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, 512 - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static inline void mkdir_p(const char *p) { ck_assert_int_eq(mkdir(p, 0755) == 0 || errno == EEXIST, 1); }

static inline void write_bytes(const char *path, const void *buf, size_t len, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb9");
        ck_assert_ptr_nonnull(g);
        if (len) ck_assert_int_eq(gzwrite(g, buf, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
}

static inline void put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Expects st == want and a message containing each non-NULL needle. */
static inline void expect_err(kr_status st, kr_status want, const char *n1, const char *n2,
                       const char *n3)
{
    const char *msg = kr_error_message();
    ck_assert_msg(st == want, "status %d (%s), expected %d; message: %s", st, kr_status_name(st),
                  want, msg);
    const char *needles[3] = {n1, n2, n3};
    for (int k = 0; k < 3; k++)
        if (needles[k])
            ck_assert_msg(strstr(msg, needles[k]) != NULL, "message lacks \"%s\": %s", needles[k],
                          msg);
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        kr_status ok_st_ = (expr);                                                                 \
        ck_assert_msg(ok_st_ == KR_OK, "%s -> %s: %s", #expr, kr_status_name(ok_st_),              \
                      kr_error_message());                                                         \
    } while (0)

#endif
