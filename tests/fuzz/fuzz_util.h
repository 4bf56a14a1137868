/* fuzz_util.h — what the libFuzzer targets share: files that hold the current input.
 *
 * The loaders take paths, so each target keeps one or more memfds (memory-backed files, never
 * on disk) and hands the loader "/proc/self/fd/N"; opening that path opens the memfd afresh at
 * offset 0, so zlib's gzopen, fopen and stat all see an ordinary regular file.
 * Not here: the loaders' own checks (the targets call the public entry points unchanged).
 * Header-only: every target is one .c file plus this.
 */
#ifndef KR_FUZZ_UTIL_H
#define KR_FUZZ_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "base/status.h"

/* One memory-backed file; path stays valid for the life of the process. */
typedef struct kr_fuzz_file {
    int fd;
    char path[64];
} kr_fuzz_file;

/* Creates the memfd once (first call); aborts if the system has none (a harness bug). */
static inline void kr_fuzz_file_init(kr_fuzz_file *f, const char *name)
{
    if (f->path[0]) return;
    f->fd = memfd_create(name, 0);
    if (f->fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Replaces the file's contents with size bytes of data and returns its path. */
static inline const char *kr_fuzz_file_set(kr_fuzz_file *f, const uint8_t *data, size_t size)
{
    if (ftruncate(f->fd, 0) != 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t w = pwrite(f->fd, data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return f->path;
}

/* Called from LLVMFuzzerInitialize: errors only, the loaders' progress would drown the log. */
static inline void kr_fuzz_quiet(void) { kr_log_set_level(KR_LOG_QUIET); }

/* Reads a little-endian u16 at p (the targets' small framing headers). */
static inline size_t kr_fuzz_u16(const uint8_t *p) { return (size_t)p[0] | (size_t)p[1] << 8; }

#endif
