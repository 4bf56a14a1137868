/* check_progcache.c — device suite: the on-disk program cache (src/device/progcache.h).
 *
 * What it checks, on files only (every machine): a stored entry loads back byte for byte
 * (random lengths, random bytes); another key with the same file name (a planted entry, as a
 * hash collision would leave) is a miss; every truncation of an entry, a flipped bit in the
 * binary, a trailing byte and a bad magic are misses, and the next store repairs the entry;
 * "off" and "" turn the cache off; a folder that cannot be created makes store return false;
 * two processes storing different binaries under one key 200 times each while a third reads
 * never let the reader see anything but one writer's whole binary.
 * On the OpenCL device (when there is one): the first open compiles and stores, the second
 * loads the binary (kr_kernels_from_cache) and passes the known-answer self-test; a damaged
 * entry (flipped bit, truncation) and a well-formed entry holding a binary the driver refuses
 * each fall back to compiling (self-test passes) and leave a valid entry behind.
 * Randomness: KKTRECON_TEST_SEED (printed). Without an OpenCL device the file half runs and the
 * suite reports SKIP (77) unless KKTRECON_REQUIRE_DEVICE=1.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/selftest.h"
#include "base/rng.h"
#include "device/device.h"
#include "device/kernels.h"
#include "device/progcache.h"
#include "testutil.h"

static char g_dir[64];

/* A fresh empty cache folder for one test, set as KKTRECON_CACHE_DIR. */
static void fresh_dir(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/kr-progcache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    ck_assert_int_eq(setenv("KKTRECON_CACHE_DIR", g_dir, 1), 0);
}

static void remove_dir(void)
{
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(g_dir);
    unsetenv("KKTRECON_CACHE_DIR");
}

static unsigned char *random_bytes(kr_rng *r, size_t n)
{
    unsigned char *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(kr_rng_u64(r) >> 56);
    return b;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    long sz = file_size(path);
    ck_assert(sz > 0);
    unsigned char *b = malloc((size_t)sz);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static bool loads_as(const char *key, const unsigned char *want, size_t n)
{
    unsigned char *got = NULL;
    size_t len = 0;
    bool hit = kr_progcache_load("t", key, &got, &len);
    bool same = hit && len == n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

static bool misses(const char *key)
{
    unsigned char *got = NULL;
    size_t len = 7;
    bool hit = kr_progcache_load("t", key, &got, &len);
    bool clean = got == NULL && len == 0;
    free(got);
    return !hit && clean;
}

/* ---- files ------------------------------------------------------------------------------ */

START_TEST(test_round_trip)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0x51);
    fresh_dir();
    ck_assert(misses("key A"));
    for (int t = 0; t < 20; t++) {
        size_t n = 1 + (size_t)(kr_rng_u64(&r) % (t < 10 ? 64 : 300000));
        unsigned char *b = random_bytes(&r, n);
        char key[64];
        snprintf(key, sizeof key, "key %d\nwith a newline", t % 3);
        ck_assert(kr_progcache_store("t", key, b, n));
        ck_assert(loads_as(key, b, n));
        free(b);
    }
    ck_assert(!kr_progcache_store("t", "empty binary", (const unsigned char *)"", 0));
    remove_dir();
}
END_TEST

START_TEST(test_foreign_key)
{
    fresh_dir();
    const unsigned char a[] = "binary of A", b[] = "binary of B";
    ck_assert(kr_progcache_store("t", "key A", a, sizeof a));
    ck_assert(kr_progcache_store("t", "key B!", b, sizeof b));
    char pa[4400], pb[4400];
    ck_assert(kr_progcache_path("t", "key A", pa, sizeof pa));
    ck_assert(kr_progcache_path("t", "key B!", pb, sizeof pb));
    ck_assert_str_ne(pa, pb);
    /* B's entry under A's name: what a hash collision would leave (different key length). */
    ck_assert_int_eq(rename(pb, pa), 0);
    ck_assert(misses("key A"));
    ck_assert(kr_progcache_store("t", "key C", b, sizeof b));
    char pc[4400];
    ck_assert(kr_progcache_path("t", "key C", pc, sizeof pc));
    ck_assert_int_eq(rename(pc, pa), 0); /* same key length, other key */
    ck_assert(misses("key A"));
    ck_assert(kr_progcache_store("t", "key A", a, sizeof a));
    ck_assert(loads_as("key A", a, sizeof a));
    remove_dir();
}
END_TEST

START_TEST(test_damaged)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0xda);
    fresh_dir();
    const char *key = "the key";
    const size_t n = 333;
    unsigned char *b = random_bytes(&r, n);
    ck_assert(kr_progcache_store("t", key, b, n));
    char path[4400];
    ck_assert(kr_progcache_path("t", key, path, sizeof path));
    size_t flen;
    unsigned char *whole = read_file(path, &flen);
    ck_assert_uint_eq(flen, 24 + strlen(key) + n);
    /* Every truncation, including the empty file. */
    for (size_t cut = 0; cut < flen; cut++) {
        write_file(path, whole, cut);
        if (!misses(key)) ck_abort_msg("an entry cut to %zu of %zu bytes loaded", cut, flen);
    }
    /* A flipped bit anywhere: in the header, the key, the lengths, the CRC or the binary. */
    for (int t = 0; t < 64; t++) {
        unsigned char *bad = malloc(flen);
        ck_assert_ptr_nonnull(bad);
        memcpy(bad, whole, flen);
        size_t at = (size_t)(kr_rng_u64(&r) % flen);
        bad[at] ^= (unsigned char)(1u << (kr_rng_u64(&r) % 8));
        write_file(path, bad, flen);
        if (!misses(key)) ck_abort_msg("an entry with a flipped bit at byte %zu loaded", at);
        free(bad);
    }
    unsigned char *longer = malloc(flen + 1);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, whole, flen);
    longer[flen] = 0;
    write_file(path, longer, flen + 1);
    ck_assert(misses(key));
    free(longer);
    /* The next store repairs it. */
    ck_assert(kr_progcache_store("t", key, b, n));
    ck_assert(loads_as(key, b, n));
    free(whole);
    free(b);
    remove_dir();
}
END_TEST

START_TEST(test_off_and_unwritable)
{
    const unsigned char b[] = "x";
    char path[4400];
    const char *off[] = {"off", ""};
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(setenv("KKTRECON_CACHE_DIR", off[i], 1), 0);
        ck_assert(!kr_progcache_path("t", "k", path, sizeof path));
        ck_assert(!kr_progcache_store("t", "k", b, sizeof b));
        ck_assert(misses("k"));
    }
    /* A folder under a regular file cannot be created: store says no, nothing else happens. */
    fresh_dir();
    char file[128], sub[160];
    snprintf(file, sizeof file, "%s/plain", g_dir);
    write_file(file, b, sizeof b);
    snprintf(sub, sizeof sub, "%s/cache", file);
    ck_assert_int_eq(setenv("KKTRECON_CACHE_DIR", sub, 1), 0);
    ck_assert(!kr_progcache_store("t", "k", b, sizeof b));
    ck_assert(misses("k"));
    ck_assert_int_eq(setenv("KKTRECON_CACHE_DIR", g_dir, 1), 0);
    unlink(file);
    /* Nested folders that do not exist yet are created. */
    snprintf(sub, sizeof sub, "%s/a/b", g_dir);
    ck_assert_int_eq(setenv("KKTRECON_CACHE_DIR", sub, 1), 0);
    ck_assert(kr_progcache_store("t", "k", b, sizeof b));
    ck_assert(loads_as("k", b, sizeof b));
    ck_assert(kr_progcache_path("t", "k", path, sizeof path));
    unlink(path);
    rmdir(sub);
    snprintf(sub, sizeof sub, "%s/a", g_dir);
    rmdir(sub);
    remove_dir();
}
END_TEST

START_TEST(test_concurrent_writers)
{
    kr_rng r;
    kr_rng_seed(&r, kr_test_seed() ^ 0xc0);
    fresh_dir();
    const char *key = "shared key";
    const size_t na = 70000, nb = 1234;
    unsigned char *a = random_bytes(&r, na), *b = random_bytes(&r, nb);
    fflush(NULL);
    pid_t pid[2];
    for (int w = 0; w < 2; w++) {
        pid[w] = fork();
        ck_assert(pid[w] >= 0);
        if (pid[w] == 0) {
            int fails = 0;
            for (int i = 0; i < 200; i++)
                fails += !kr_progcache_store("t", key, w ? b : a, w ? nb : na);
            _exit(fails ? 1 : 0);
        }
    }
    long reads = 0, hits = 0;
    for (;;) {
        unsigned char *got = NULL;
        size_t len = 0;
        reads++;
        if (kr_progcache_load("t", key, &got, &len)) {
            hits++;
            bool is_a = len == na && !memcmp(got, a, na), is_b = len == nb && !memcmp(got, b, nb);
            if (!is_a && !is_b) ck_abort_msg("read %zu bytes that are neither writer's", len);
        }
        free(got);
        int st, done = 0;
        for (int w = 0; w < 2; w++)
            if (pid[w] && waitpid(pid[w], &st, WNOHANG) == pid[w]) {
                ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                pid[w] = 0;
            }
        for (int w = 0; w < 2; w++) done += pid[w] == 0;
        if (done == 2) break;
    }
    ck_assert(loads_as(key, a, na) || loads_as(key, b, nb));
    /* No temporary file is left behind. */
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    closedir(d);
    ck_assert_int_eq(entries, 1);
    printf("  concurrent writers: %ld reads, %ld hits, all whole\n", reads, hits);
    free(a);
    free(b);
    remove_dir();
}
END_TEST

/* ---- the OpenCL device ------------------------------------------------------------------ */

static kr_device *g_cl;
static char g_spec[32];

/* The one "ops-*.clbin" entry of the cache folder into path. */
static void entry_path(char *path, size_t cap)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "ops-", 4) && strstr(e->d_name, ".clbin")) {
            snprintf(path, cap, "%s/%s", g_dir, e->d_name);
            found++;
        }
    closedir(d);
    ck_assert_msg(found == 1, "%d ops entries in %s, want 1", found, g_dir);
}

/* Opens the device afresh, builds float32, runs the self-test; returns whether it loaded. */
static bool open_build_check(void)
{
    kr_device *dev = NULL;
    ck_assert_msg(kr_device_open(g_spec, &dev) == KR_OK, "%s", kr_error_message());
    ck_assert_msg(kr_device_prepare(dev, KR_F32) == KR_OK, "%s", kr_error_message());
    bool cached = kr_kernels_from_cache(dev, KR_F32);
    ck_assert_msg(kr_selftest_run(dev, KR_F32) == KR_OK, "%s", kr_error_message());
    kr_device_close(dev);
    return cached;
}

START_TEST(test_device_cache)
{
    fresh_dir();
    ck_assert(!open_build_check()); /* empty cache: compiled */
    char path[4400];
    entry_path(path, sizeof path);
    ck_assert(open_build_check()); /* loaded */

    size_t n;
    unsigned char *whole = read_file(path, &n);
    /* A flipped bit in the binary, then a truncation: compiled again, entry repaired. */
    whole[n - n / 3] ^= 0x10;
    write_file(path, whole, n);
    whole[n - n / 3] ^= 0x10;
    ck_assert(!open_build_check());
    ck_assert(open_build_check());
    write_file(path, whole, n / 2);
    ck_assert(!open_build_check());
    ck_assert(open_build_check());

    /* A well-formed entry whose binary the driver refuses (the key read from the entry). */
    size_t klen = (size_t)whole[8] | (size_t)whole[9] << 8 | (size_t)whole[10] << 16 |
                  (size_t)whole[11] << 24;
    ck_assert(12 + klen < n);
    char *key = malloc(klen + 1);
    ck_assert_ptr_nonnull(key);
    memcpy(key, whole + 12, klen);
    key[klen] = '\0';
    const unsigned char junk[] = "not a program binary for any driver";
    ck_assert(kr_progcache_store("ops", key, junk, sizeof junk));
    ck_assert(!open_build_check());
    ck_assert(open_build_check());
    free(key);
    free(whole);
    remove_dir();
}
END_TEST

int main(void)
{
    printf("check_progcache: seed %llu\n", (unsigned long long)kr_test_seed());
    kr_device *devs[2];
    int nd = kr_test_devices(devs, 2);
    g_cl = nd > 1 ? devs[1] : NULL;
    if (g_cl) {
        const kr_device_info *i = kr_device_get_info(g_cl);
        snprintf(g_spec, sizeof g_spec, "%d:%d", i->platform, i->device);
    }
    Suite *s = suite_create("progcache");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_foreign_key);
    tcase_add_test(tc, test_damaged);
    tcase_add_test(tc, test_off_and_unwritable);
    tcase_add_test(tc, test_concurrent_writers);
    if (g_cl) tcase_add_test(tc, test_device_cache);
    suite_add_tcase(s, tc);
    int failed = kr_test_run_suite(s, true);
    kr_test_close_devices();
    return failed == 0 ? 0 : 1;
}
