/* status.h — error codes and the one error buffer.
 *
 * Every fallible function returns a kr_status (0 = ok, negative = category) and leaves
 * the detail (file:line, what was being done, OpenCL error name, device, file offset) in a
 * thread-local error buffer that only main() prints. Library code never prints or exits.
 */
#ifndef KR_STATUS_H
#define KR_STATUS_H

#include <stddef.h>

typedef enum kr_status {
    KR_OK = 0,
    KR_E_INVALID = -1,     /* bad argument, bad config, bad file contents */
    KR_E_IO = -2,          /* open/read/write/rename failed */
    KR_E_NOMEM = -3,       /* host or device allocation failed or too large */
    KR_E_OPENCL = -4,      /* an OpenCL call failed */
    KR_E_CLBLAST = -5,     /* a CLBlast call failed */
    KR_E_NODEVICE = -6,    /* no device matches the spec */
    KR_E_BUILD = -7,       /* an OpenCL program failed to build (log in the message) */
    KR_E_NUMERIC = -8,     /* NaN or Inf where finite numbers were required */
    KR_E_UNSUPPORTED = -9, /* e.g. float64 on a device without fp64 */
    KR_E_INTERRUPTED = -10 /* stopped by a signal */
} kr_status;

/* Sets the error buffer ("file:line: message") and returns st, so callers write
 * `return KR_FAIL(KR_E_INVALID, "bad %s", x);`. */
kr_status kr_error_set(kr_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets the error buffer to msg as it is (no location: a message carried over from another
 * thread, which has its own) and returns st. */
kr_status kr_error_raise(kr_status st, const char *msg);
/* Prefixes context to the current message ("while loading model: <old message>"). Returns st. */
kr_status kr_error_context(kr_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *kr_error_message(void);
void kr_error_clear(void);
const char *kr_status_name(kr_status st);
/* CL_SUCCESS -> "CL_SUCCESS", -5 -> "CL_OUT_OF_RESOURCES", unknown -> "CL_UNKNOWN_ERROR(<n>)". */
const char *kr_cl_error_name(int code);

#define KR_FAIL(st, ...) kr_error_set((st), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failure to the caller. */
#define KR_TRY(expr)                                                                               \
    do {                                                                                           \
        kr_status kr_try_st_ = (expr);                                                             \
        if (kr_try_st_ != KR_OK) return kr_try_st_;                                                \
    } while (0)

/* Inside a function with `kr_status st` and a `fail:` label that releases partial resources. */
#define KR_TRY_GOTO(expr)                                                                          \
    do {                                                                                           \
        st = (expr);                                                                               \
        if (st != KR_OK) goto fail;                                                                \
    } while (0)

#endif
