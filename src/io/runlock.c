/* runlock.c — the per-folder run lock (runlock.h). The file is removed on release; a run that
 * opened the old file just before the removal would then lock an unlinked inode, so after
 * locking, the file descriptor is checked to still be the file at the path (else retried).
 */
#include "io/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/report.h"

struct kr_runlock {
    int fd;
    char path[4200];
};

kr_status kr_runlock_acquire(const char *dir, kr_runlock **out)
{
    *out = NULL;
    kr_runlock *l = calloc(1, sizeof *l);
    if (!l) return KR_FAIL(KR_E_NOMEM, "run lock of %s", dir);
    kr_status st = kr_report_path(l->path, sizeof l->path, dir, KR_RUNLOCK_FILE);
    if (st != KR_OK) {
        free(l);
        return st;
    }
    for (int attempt = 0; attempt < 16; attempt++) {
        int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            st = KR_FAIL(KR_E_IO, "cannot create the run lock %s: %s", l->path, strerror(errno));
            free(l);
            return st;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            char pid[32] = "";
            ssize_t n = err == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
            close(fd);
            if (n > 0) {
                pid[n] = '\0';
                pid[strcspn(pid, "\n")] = '\0';
            }
            if (err == EWOULDBLOCK)
                st = KR_FAIL(KR_E_INVALID, "%s is in use by another kktrecon run (pid %s holds "
                             "%s); wait for it to finish or choose another --out", dir,
                             n > 0 && pid[0] ? pid : "unknown", l->path);
            else
                st = KR_FAIL(KR_E_IO, "cannot lock %s: %s", l->path, strerror(err));
            free(l);
            return st;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char pid[32];
            int k = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)k, 0) != k) {
                /* the lock holds without the pid; only the message of a refused run is poorer */
            }
            l->fd = fd;
            *out = l;
            return KR_OK;
        }
        close(fd); /* the holder removed the file between our open and our lock: again */
    }
    free(l);
    return KR_FAIL(KR_E_IO, "cannot lock %s: the lock file keeps being replaced", dir);
}

void kr_runlock_release(kr_runlock *l)
{
    if (!l) return;
    unlink(l->path); /* while still locked, so no one can lock the old file after us */
    close(l->fd);
    free(l);
}
