/* runlock.h — one run at a time per output folder: an exclusive flock(2) on DIR/.kktrecon.lock,
 * held for the whole run, the file holding the holder's pid so that a refused second run can
 * say who holds it. The kernel drops the lock when the holder exits, however it exits (a
 * SIGKILLed run leaves a stale file, which the next run simply locks again).
 * Not here: what the folder holds (rundir.h).
 */
#ifndef KR_RUNLOCK_H
#define KR_RUNLOCK_H

#include "base/status.h"

typedef struct kr_runlock kr_runlock;

#define KR_RUNLOCK_FILE ".kktrecon.lock"

/* Locks dir (which must exist) without waiting: KR_E_INVALID naming the holder's pid if
 * another process holds it. *out is NULL on failure. */
kr_status kr_runlock_acquire(const char *dir, kr_runlock **out);
/* Removes the lock file and drops the lock; NULL is fine. */
void kr_runlock_release(kr_runlock *l);

#endif
