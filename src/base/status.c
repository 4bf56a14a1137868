/* status.c — the thread-local error buffer and the names of status and OpenCL error codes. */
#define CL_TARGET_OPENCL_VERSION 120
#include "base/status.h"

#include <CL/cl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KR_ERROR_CAP 8192
static _Thread_local char kr_error_buf[KR_ERROR_CAP];

kr_status kr_error_set(kr_status st, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int k = snprintf(kr_error_buf, sizeof kr_error_buf, "%s:%d: ", base, line);
    if (k < 0 || (size_t)k >= sizeof kr_error_buf) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kr_error_buf + k, sizeof kr_error_buf - (size_t)k, fmt, ap);
    va_end(ap);
    return st;
}

kr_status kr_error_raise(kr_status st, const char *msg)
{
    snprintf(kr_error_buf, sizeof kr_error_buf, "%s", msg);
    return st;
}

kr_status kr_error_context(kr_status st, const char *fmt, ...)
{
    char old[KR_ERROR_CAP];
    memcpy(old, kr_error_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(kr_error_buf, sizeof kr_error_buf, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < sizeof kr_error_buf)
    {
        size_t room = sizeof kr_error_buf - (size_t)k;
        int keep = room > 3 ? (int)(room - 3) : 0;
        snprintf(kr_error_buf + k, room, ": %.*s", keep, old);
    }
    return st;
}

const char *kr_error_message(void) { return kr_error_buf[0] ? kr_error_buf : "no error message"; }

void kr_error_clear(void) { kr_error_buf[0] = '\0'; }

const char *kr_status_name(kr_status st)
{
    switch (st) {
    case KR_OK: return "ok";
    case KR_E_INVALID: return "invalid input";
    case KR_E_IO: return "I/O error";
    case KR_E_NOMEM: return "out of memory";
    case KR_E_OPENCL: return "OpenCL error";
    case KR_E_CLBLAST: return "CLBlast error";
    case KR_E_NODEVICE: return "no device";
    case KR_E_BUILD: return "kernel build failed";
    case KR_E_NUMERIC: return "non-finite numbers";
    case KR_E_UNSUPPORTED: return "unsupported";
    case KR_E_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *kr_cl_error_name(int code)
{
    switch (code) {
#define KR_CL_NAME(c) case c: return #c;
    KR_CL_NAME(CL_SUCCESS)
    KR_CL_NAME(CL_DEVICE_NOT_FOUND)
    KR_CL_NAME(CL_DEVICE_NOT_AVAILABLE)
    KR_CL_NAME(CL_COMPILER_NOT_AVAILABLE)
    KR_CL_NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    KR_CL_NAME(CL_OUT_OF_RESOURCES)
    KR_CL_NAME(CL_OUT_OF_HOST_MEMORY)
    KR_CL_NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    KR_CL_NAME(CL_MEM_COPY_OVERLAP)
    KR_CL_NAME(CL_IMAGE_FORMAT_MISMATCH)
    KR_CL_NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    KR_CL_NAME(CL_BUILD_PROGRAM_FAILURE)
    KR_CL_NAME(CL_MAP_FAILURE)
    KR_CL_NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    KR_CL_NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    KR_CL_NAME(CL_COMPILE_PROGRAM_FAILURE)
    KR_CL_NAME(CL_LINKER_NOT_AVAILABLE)
    KR_CL_NAME(CL_LINK_PROGRAM_FAILURE)
    KR_CL_NAME(CL_DEVICE_PARTITION_FAILED)
    KR_CL_NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    KR_CL_NAME(CL_INVALID_VALUE)
    KR_CL_NAME(CL_INVALID_DEVICE_TYPE)
    KR_CL_NAME(CL_INVALID_PLATFORM)
    KR_CL_NAME(CL_INVALID_DEVICE)
    KR_CL_NAME(CL_INVALID_CONTEXT)
    KR_CL_NAME(CL_INVALID_QUEUE_PROPERTIES)
    KR_CL_NAME(CL_INVALID_COMMAND_QUEUE)
    KR_CL_NAME(CL_INVALID_HOST_PTR)
    KR_CL_NAME(CL_INVALID_MEM_OBJECT)
    KR_CL_NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    KR_CL_NAME(CL_INVALID_IMAGE_SIZE)
    KR_CL_NAME(CL_INVALID_SAMPLER)
    KR_CL_NAME(CL_INVALID_BINARY)
    KR_CL_NAME(CL_INVALID_BUILD_OPTIONS)
    KR_CL_NAME(CL_INVALID_PROGRAM)
    KR_CL_NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    KR_CL_NAME(CL_INVALID_KERNEL_NAME)
    KR_CL_NAME(CL_INVALID_KERNEL_DEFINITION)
    KR_CL_NAME(CL_INVALID_KERNEL)
    KR_CL_NAME(CL_INVALID_ARG_INDEX)
    KR_CL_NAME(CL_INVALID_ARG_VALUE)
    KR_CL_NAME(CL_INVALID_ARG_SIZE)
    KR_CL_NAME(CL_INVALID_KERNEL_ARGS)
    KR_CL_NAME(CL_INVALID_WORK_DIMENSION)
    KR_CL_NAME(CL_INVALID_WORK_GROUP_SIZE)
    KR_CL_NAME(CL_INVALID_WORK_ITEM_SIZE)
    KR_CL_NAME(CL_INVALID_GLOBAL_OFFSET)
    KR_CL_NAME(CL_INVALID_EVENT_WAIT_LIST)
    KR_CL_NAME(CL_INVALID_EVENT)
    KR_CL_NAME(CL_INVALID_OPERATION)
    KR_CL_NAME(CL_INVALID_GL_OBJECT)
    KR_CL_NAME(CL_INVALID_BUFFER_SIZE)
    KR_CL_NAME(CL_INVALID_MIP_LEVEL)
    KR_CL_NAME(CL_INVALID_GLOBAL_WORK_SIZE)
    KR_CL_NAME(CL_INVALID_PROPERTY)
    KR_CL_NAME(CL_INVALID_IMAGE_DESCRIPTOR)
    KR_CL_NAME(CL_INVALID_COMPILER_OPTIONS)
    KR_CL_NAME(CL_INVALID_LINKER_OPTIONS)
    KR_CL_NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef KR_CL_NAME
    default: {
        static _Thread_local char buf[48];
        snprintf(buf, sizeof buf, "CL_UNKNOWN_ERROR(%d)", code);
        return buf;
    }
    }
}
