/* log.c — stderr messages and progress lines with rate and ETA. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static kr_log_level kr_level = KR_LOG_INFO;

void kr_log_set_level(kr_log_level level) { kr_level = level; }
kr_log_level kr_log_get_level(void) { return kr_level; }

static void vlog(kr_log_level need, const char *fmt, va_list ap)
{
    if (kr_level < need) return;
    flockfile(stderr); /* one whole line per message when several threads log (sweep workers) */
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    funlockfile(stderr);
}

void kr_log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(KR_LOG_INFO, fmt, ap);
    va_end(ap);
}

void kr_log_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(KR_LOG_DEBUG, fmt, ap);
    va_end(ap);
}

double kr_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void kr_format_duration(double s, char *buf, int cap)
{
    if (!(s >= 0)) snprintf(buf, (size_t)cap, "?");
    else if (s < 60) snprintf(buf, (size_t)cap, "%.1fs", s);
    else if (s < 3600) snprintf(buf, (size_t)cap, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, (size_t)cap, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

void kr_progress_begin(kr_progress *p, const char *what, long start, long total)
{
    p->what = what;
    p->start = start;
    p->total = total;
    p->t0 = kr_time_now();
}

void kr_progress_line(const kr_progress *p, long done, const char *extra)
{
    if (kr_level < KR_LOG_INFO) return;
    double el = kr_time_now() - p->t0;
    long ran = done - p->start;
    double rate = el > 0 ? (double)ran / el : 0;
    char eta[32], elapsed[32];
    kr_format_duration(rate > 0 ? (double)(p->total - done) / rate : -1, eta, sizeof eta);
    kr_format_duration(el, elapsed, sizeof elapsed);
    fprintf(stderr, "%-7s %*ld/%ld  %7.1f/s  elapsed %-7s ETA %-7s %s\n", p->what,
            (int)snprintf(NULL, 0, "%ld", p->total), done, p->total, rate, elapsed, eta,
            extra ? extra : "");
    fflush(stderr);
}

static volatile sig_atomic_t kr_signal_count;

static void on_signal(int sig)
{
    if (++kr_signal_count >= 2) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

void kr_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int kr_interrupted(void) { return kr_signal_count > 0; }
