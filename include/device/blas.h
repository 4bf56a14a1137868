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

/* `batch` independent products over equal row blocks: A, B and C are each split into batch
 * blocks of rows (rows % batch == 0), block p of A being rows [p·ra, (p+1)·ra) with
 * ra = a->rows / batch, and C_p = alpha op(A_p) op(B_p) + beta C_p for every p. One
 * CLBlastXgemmStridedBatched on OpenCL (stride = block rows · ld), a loop of cblas calls on
 * host. Used for the per-point products of stacked attack points (nn/kkt.c). batch == 1 is
 * kr_blas_gemm. Shapes are checked per block; edge cases as kr_blas_gemm. */
kr_status kr_blas_gemm_batched(size_t batch, double alpha, const kr_tensor *a, bool trans_a,
                               const kr_tensor *b, bool trans_b, double beta, kr_tensor *c);

/* Measures this device's GEMM rate (GFLOP/s, median of reps) on M x N x K in dtype dt. */
kr_status kr_blas_measure_gflops(kr_device *dev, kr_dtype dt, size_t m, size_t n, size_t k,
                                 int reps, double *gflops);

#endif
