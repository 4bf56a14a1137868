/* kernels.h — our own OpenCL programs: built once per dtype on its first use (or by
 * kr_device_prepare), looked up by enum afterwards.
 *
 * The program sources (the files in cl/) are embedded into the binary at build time by cl/embed.py.
 * Each is built with "-cl-std=CL1.2 -DREAL=float" and, on devices whose
 * CL_DEVICE_DOUBLE_FP_CONFIG is non-zero, again with "-DREAL=double -DKR_FP64=1". No
 * fast-math: NaN and Inf must survive so that the pipeline can detect them. Built binaries are
 * kept in the on-disk program cache (progcache.h) and loaded from it on the next open.
 * Private to the device layer (device.c builds, ops.c launches).
 */
#ifndef KR_KERNELS_H
#define KR_KERNELS_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "device/device.h"
#include "device/ops_gen.h" /* kr_kernel_id: one kernel per op of ops.def */

/* Builds every program for dt on an opened OpenCL device and creates its kernels.
 * KR_E_BUILD with the full build log in the error message when the compiler refuses;
 * KR_E_UNSUPPORTED for float64 on a device without fp64. Idempotent. */
kr_status kr_kernels_build(kr_device *dev, kr_dtype dt);

/* Releases the kernels and programs of every dtype (safe on partly built devices). */
void kr_kernels_release(kr_device *dev);

/* Whether dt's program came from the on-disk program cache (progcache.h) instead of a compile. */
bool kr_kernels_from_cache(const kr_device *dev, kr_dtype dt);

/* The kernel for (dt, id), or NULL if dt was not built. */
cl_kernel kr_kernels_get(const kr_device *dev, kr_dtype dt, kr_kernel_id id);

/* Its CL_KERNEL_WORK_GROUP_SIZE (0 if not built). */
size_t kr_kernels_max_local(const kr_device *dev, kr_dtype dt, kr_kernel_id id);

#endif
