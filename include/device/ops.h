/* ops.h — the element-wise and reduction operations of the pipeline, on any device.
 *
 * The ops are one list, src/device/ops.def: each entry there is an op's signature and comment,
 * and the functions kr_op_NAME declared below (device/ops_api.h, generated from the list at
 * build time by src/device/gen_ops.py) validate, then run the op's host loop (OpenMP, float32
 * and float64, src/device/ops_host_impl.inc) or enqueue its OpenCL kernel (cl/ops.cl,
 * `ops_NAME`, compiled once per dtype). Read ops.def for the list; build/src/device/ops_api.h
 * shows the C prototypes.
 *
 * Shared by every op: tensors are contiguous, of equal dtype and device, and an op acts on
 * all rows*cols elements of the tensor its entry names (`over`); other tensors have its shape
 * unless the entry says `row` (1 x cols). Violations return KR_E_INVALID naming the op and
 * the tensor. Output tensors may alias inputs element for element. Reductions write their
 * results into slots of a scalar tensor `scal` (1 x K, same dtype) on the device, so the
 * pipeline reads every scalar of an iteration with one kr_tensor_read.
 * Math: DESIGN.md §2 (training), §3 and §3.1 (KKT attack).
 */
#ifndef KR_OPS_H
#define KR_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/model.h" /* kr_act */
#include "device/tensor.h"

#include "device/ops_api.h"

/* Deferred second stages. Between kr_ops_reduce_defer(dev) and kr_ops_reduce_flush(dev), the
 * reductions on dev enqueue their first stage only, and one kernel finishes all of them at
 * the flush (or earlier, when 16 wait or one targets another scal buffer): an iteration's
 * scalars cost one extra launch instead of one per reduction. Outside such a bracket every
 * reduction finishes at once. scal's slots are valid only after the flush. Pairs nest; no-ops
 * on the host backend (its reductions are synchronous). */
void kr_ops_reduce_defer(kr_device *dev);
kr_status kr_ops_reduce_flush(kr_device *dev);

#endif
