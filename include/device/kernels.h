/* kernels.h — our own OpenCL programs: built once per dtype when a device opens, looked up
 * by enum afterwards.
 *
 * The program sources (the files in cl/) are embedded into the binary at build time by cl/embed.py.
 * Each is built with "-cl-std=CL1.2 -DREAL=float" and, on devices whose
 * CL_DEVICE_DOUBLE_FP_CONFIG is non-zero, again with "-DREAL=double -DKR_FP64=1". No
 * fast-math: NaN and Inf must survive so that the pipeline can detect them.
 * Used by the device layer only (device.c builds, ops.c launches).
 */
#ifndef KR_KERNELS_H
#define KR_KERNELS_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "device/device.h"

/* One entry per kernel of cl/ops.cl; the kernel's name is "ops_" + the lower-case suffix. */
typedef enum kr_kernel_id {
    KR_K_AXPBY = 0,
    KR_K_MUL,
    KR_K_ACT_FORWARD,
    KR_K_RELU_BACKWARD,
    KR_K_SIGMOID_BACKWARD,
    KR_K_ADD_ROW,
    KR_K_COL_SUM,
    KR_K_SUM_SQ,        /* reduction, first stage */
    KR_K_HINGE_SQ,      /* reduction, first stage */
    KR_K_LOGISTIC,      /* reduction, first stage (two values) */
    KR_K_REDUCE_FINISH, /* reduction, second stage: partials -> scal[slot..] */
    KR_K_SGD,
    KR_K_ADAM,
    KR_K_COUNT
} kr_kernel_id;

/* "ops_axpby", ... */
const char *kr_kernels_name(kr_kernel_id id);

/* Builds every program for dt on an opened OpenCL device and creates its kernels.
 * KR_E_BUILD with the full build log in the error message when the compiler refuses;
 * KR_E_UNSUPPORTED for float64 on a device without fp64. Idempotent. */
kr_status kr_kernels_build(kr_device *dev, kr_dtype dt);

/* Releases the kernels and programs of every dtype (safe on partly built devices). */
void kr_kernels_release(kr_device *dev);

/* The kernel for (dt, id), or NULL if dt was not built. */
cl_kernel kr_kernels_get(const kr_device *dev, kr_dtype dt, kr_kernel_id id);

/* Its CL_KERNEL_WORK_GROUP_SIZE (0 if not built). */
size_t kr_kernels_max_local(const kr_device *dev, kr_dtype dt, kr_kernel_id id);

#endif
