/* blas.h — matrix products on a device: OpenBLAS (cblas) on host, CLBlast on OpenCL.
 *
 * All matrices row-major. C (M x N) = alpha * op(A) * op(B) + beta * C, where op(A) is
 * M x K (A itself is K x M when trans_a), op(B) is K x N. Shapes are taken from the tensors
 * and checked (KR_E_INVALID on mismatch, naming the tensors). Views with ld != cols work.
 * With beta == 0, C's previous contents are ignored (NaN in C does not propagate).
 */
#ifndef KR_BLAS_H
#define KR_BLAS_H

#include <stdbool.h>

#include "device/tensor.h"

kr_status kr_blas_gemm(double alpha, const kr_tensor *a, bool trans_a, const kr_tensor *b,
                       bool trans_b, double beta, kr_tensor *c);

/* Measures this device's GEMM rate (GFLOP/s, median of reps) on M x N x K in dtype dt. */
kr_status kr_blas_measure_gflops(kr_device *dev, kr_dtype dt, size_t m, size_t n, size_t k,
                                 int reps, double *gflops);

#endif
