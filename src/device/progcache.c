/* progcache.c — the on-disk cache of compiled program binaries (progcache.h has the format).
 *
 * What it does: names, reads, validates and atomically writes cache entries; plain files and
 * bytes, no OpenCL (kernels.c asks the driver for the binary and hands it over).
 * What it does not: decide what goes into a key (kernels.c), evict old entries (an entry per
 * source × options × device × driver; a new driver or source simply makes new ones).
 */
#include "device/progcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/log.h"

static const char MAGIC[8] = {'K', 'R', 'P', 'C', 'B', 'I', 'N', '1'};
#define KEY_MAX (64u * 1024u)               /* longer keys are refused (they are ~1 KB) */
#define BIN_MAX ((uint64_t)1 << 30)         /* a program binary above 1 GiB is not ours */

uint64_t kr_progcache_fnv64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

bool kr_progcache_dir(char *buf, size_t cap)
{
    const char *env = getenv("KKTRECON_CACHE_DIR");
    int n;
    if (env) {
        if (!*env || !strcmp(env, "off")) goto off;
        n = snprintf(buf, cap, "%s", env);
    } else if ((env = getenv("XDG_CACHE_HOME")) && *env) {
        n = snprintf(buf, cap, "%s/kktrecon", env);
    } else if ((env = getenv("HOME")) && *env) {
        n = snprintf(buf, cap, "%s/.cache/kktrecon", env);
    } else {
        goto off;
    }
    if (n > 0 && (size_t)n < cap) return true;
off:
    if (cap) buf[0] = '\0';
    return false;
}

bool kr_progcache_path(const char *name, const char *key, char *buf, size_t cap)
{
    char dir[4096];
    if (!kr_progcache_dir(dir, sizeof dir)) return false;
    uint64_t h = kr_progcache_fnv64(KR_FNV64_OFFSET, key, strlen(key));
    int n = snprintf(buf, cap, "%s/%s-%016llx.clbin", dir, name, (unsigned long long)h);
    return n > 0 && (size_t)n < cap;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Reads exactly n bytes; false on a short read. */
static bool read_all(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n;
}

bool kr_progcache_load(const char *name, const char *key, unsigned char **bin, size_t *len)
{
    *bin = NULL;
    *len = 0;
    char path[4400];
    if (!kr_progcache_path(name, key, path, sizeof path)) return false;
    FILE *f = fopen(path, "rb");
    if (!f) return false; /* no entry: the usual miss */
    const size_t klen = strlen(key);
    unsigned char head[12], mid[12], *b = NULL, *k = NULL;
    const char *why = NULL;
    if (!read_all(f, head, sizeof head) || memcmp(head, MAGIC, sizeof MAGIC)) {
        why = "not a cache entry (bad magic or shorter than its header)";
        goto miss;
    }
    if (get_le(head + 8, 4) != klen) {
        why = "key of another length (a hash collision or a foreign entry)";
        goto miss;
    }
    if (!(k = malloc(klen + 1)) || !read_all(f, k, klen) || memcmp(k, key, klen)) {
        why = "different key (a hash collision or a foreign entry)";
        goto miss;
    }
    if (!read_all(f, mid, sizeof mid)) {
        why = "truncated before the binary's length";
        goto miss;
    }
    const uint64_t blen = get_le(mid, 8);
    const uint32_t crc = (uint32_t)get_le(mid + 8, 4);
    if (blen == 0 || blen > BIN_MAX) {
        why = "binary length 0 or above 1 GiB";
        goto miss;
    }
    if (!(b = malloc((size_t)blen)) || !read_all(f, b, (size_t)blen)) {
        why = "truncated binary";
        goto miss;
    }
    if (fgetc(f) != EOF) {
        why = "bytes after the binary";
        goto miss;
    }
    if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), b, (uInt)blen) != crc) {
        why = "CRC-32 mismatch (damaged binary)";
        goto miss;
    }
    fclose(f);
    free(k);
    *bin = b;
    *len = (size_t)blen;
    return true;
miss:
    if (why) kr_log_debug("program cache: ignoring %s: %s", path, why);
    fclose(f);
    free(k);
    free(b);
    return false;
}

/* mkdir -p with mode 0700 for the folders it creates. */
static bool make_dirs(const char *dir)
{
    char p[4096];
    int n = snprintf(p, sizeof p, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof p) return false;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) return false;
        *s = '/';
    }
    return mkdir(p, 0700) == 0 || errno == EEXIST;
}

bool kr_progcache_store(const char *name, const char *key, const unsigned char *bin, size_t len)
{
    char dir[4096], path[4400], tmp[4400];
    const size_t klen = strlen(key);
    if (len == 0 || len > BIN_MAX || klen > KEY_MAX) return false;
    if (!kr_progcache_dir(dir, sizeof dir) || !kr_progcache_path(name, key, path, sizeof path))
        return false;
    if (!make_dirs(dir)) {
        kr_log_debug("program cache: cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    int n = snprintf(tmp, sizeof tmp, "%s/.%s-XXXXXX", dir, name);
    if (n <= 0 || (size_t)n >= sizeof tmp) return false;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        kr_log_debug("program cache: cannot write in %s: %s", dir, strerror(errno));
        return false;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
        return false;
    }
    unsigned char head[12], mid[12];
    memcpy(head, MAGIC, sizeof MAGIC);
    put_le(head + 8, klen, 4);
    put_le(mid, len, 8);
    put_le(mid + 8, (uint32_t)crc32(crc32(0L, Z_NULL, 0), bin, (uInt)len), 4);
    bool ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(key, 1, klen, f) == klen &&
              fwrite(mid, 1, sizeof mid, f) == sizeof mid && fwrite(bin, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (ok && rename(tmp, path) == 0) return true;
    kr_log_debug("program cache: cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return false;
}
