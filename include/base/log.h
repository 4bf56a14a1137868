/* log.h — messages and progress lines on stderr (never stdout, which carries results).
 *
 * Verbosity: KR_LOG_QUIET prints errors only, KR_LOG_INFO (default) also progress.
 * Progress lines carry the rate and an ETA; the timer is monotonic.
 */
#ifndef KR_LOG_H
#define KR_LOG_H

#include <stdbool.h>

typedef enum kr_log_level { KR_LOG_QUIET = 0, KR_LOG_INFO = 1, KR_LOG_DEBUG = 2 } kr_log_level;

void kr_log_set_level(kr_log_level level);
kr_log_level kr_log_get_level(void);
void kr_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kr_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double kr_time_now(void);

/* A progress meter for `total` units of work started at `t0`. */
typedef struct kr_progress {
    const char *what; /* "train", "attack" */
    long total;
    long start;       /* first unit of this run (resume) */
    double t0;
} kr_progress;

void kr_progress_begin(kr_progress *p, const char *what, long start, long total);
/* Prints "what  done/total  rate/s  ETA  <extra>" for `done` units completed. */
void kr_progress_line(const kr_progress *p, long done, const char *extra);
/* Formats seconds as "1h02m", "3m05s", "12.3s". */
void kr_format_duration(double seconds, char *buf, int cap);

/* Ctrl-C / SIGTERM handling: the first signal sets a flag that long loops poll so they can
 * save their state and stop cleanly (KR_E_INTERRUPTED); a second one kills the process. */
void kr_interrupt_install(void);
int kr_interrupted(void);

#endif
