/* mlp.c — training math of DESIGN.md §2 on any device, batched over samples.
 *
 * Forward:  Z_1 = X W_1ᵀ + b_1,  A_l = relu(Z_l),  Z_l = A_{l−1} W_lᵀ,  Φ = A_{L−1} W_Lᵀ.
 * Loss:     ℓ = (1/n) Σ log(1 + exp(−yΦ)),  ∂ℓ/∂Φ = −y σ(−yΦ) / n            (ops logistic)
 * Backward: ∂A_{L−1} = ∂Φ W_L;  for l = L−1..1: ∂Z_l = ∂A_l ⊙ [Z_l > 0],
 *           ∂W_l = ∂Z_lᵀ A_{l−1},  ∂b_1 = Σ_rows ∂Z_1,  ∂A_{l−1} = ∂Z_l W_l;  ∂W_L = ∂Φᵀ A_{L−1}.
 * Z_l is kept (the ReLU mask needs it); A_l is a separate buffer. ∂Z_l overwrites ∂A_l.
 * Also Φ and the margins yΦ of a whole set (kr_mlp_predict, kr_mlp_margins), batched.
 * Does not: schedule learning rates or log (app/train.c).
 */
#include "nn/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/blas.h"
#include "device/ops.h"

struct kr_mlp {
    kr_device *dev;
    kr_dtype dt;
    int layers;                   /* L */
    size_t dims[KR_MAX_LAYERS + 1];
    size_t n;                     /* batch rows */
    kr_tensor *w[KR_MAX_LAYERS];  /* W_l: H_l × H_{l−1} */
    kr_tensor *gw[KR_MAX_LAYERS]; /* ∂W_l */
    kr_tensor *b1, *gb1;          /* 1 × H_1, or NULL */
    kr_tensor *x;                 /* n × D */
    kr_tensor *y;                 /* n × 1 */
    kr_tensor *z[KR_MAX_LAYERS];  /* z[l]: Z_l, n × H_l (l = 1..L−1) */
    kr_tensor *a[KR_MAX_LAYERS];  /* a[l]: A_l, n × H_l (l = 1..L−1) */
    kr_tensor *da[KR_MAX_LAYERS]; /* da[l]: ∂A_l then ∂Z_l, n × H_l (l = 1..L−1) */
    kr_tensor *phi, *dphi;        /* n × 1 */
    kr_tensor *scal;              /* 1 × 2: loss sum, errors */
};

void kr_mlp_free(kr_mlp *net)
{
    if (!net) return;
    for (int l = 0; l <= KR_MAX_LAYERS - 1; l++) {
        kr_tensor_free(net->w[l]);
        kr_tensor_free(net->gw[l]);
        kr_tensor_free(net->z[l]);
        kr_tensor_free(net->a[l]);
        kr_tensor_free(net->da[l]);
    }
    kr_tensor_free(net->b1);
    kr_tensor_free(net->gb1);
    kr_tensor_free(net->x);
    kr_tensor_free(net->y);
    kr_tensor_free(net->phi);
    kr_tensor_free(net->dphi);
    kr_tensor_free(net->scal);
    free(net);
}

kr_status kr_mlp_new(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n, kr_mlp **out)
{
    *out = NULL;
    KR_TRY(kr_device_prepare(dev, dt)); /* builds and warms only the precision in use */
    if (n == 0) return KR_FAIL(KR_E_INVALID, "mlp: batch of 0 samples");
    kr_status st;
    kr_mlp *net = calloc(1, sizeof *net);
    if (!net) return KR_FAIL(KR_E_NOMEM, "allocating mlp");
    net->dev = dev;
    net->dt = dt;
    net->layers = m->layers;
    net->n = n;
    memcpy(net->dims, m->dims, sizeof net->dims);
    const int L = m->layers;
    for (int l = 1; l <= L; l++) {
        char name[32];
        snprintf(name, sizeof name, "W%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &net->w[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(net->w[l - 1], m->w[l - 1]));
        snprintf(name, sizeof name, "dW%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &net->gw[l - 1]));
    }
    if (m->b1) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[1], "b1", &net->b1));
        KR_TRY_GOTO(kr_tensor_write(net->b1, m->b1));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[1], "db1", &net->gb1));
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[0], "X", &net->x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, 1, "y", &net->y));
    for (int l = 1; l < L; l++) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "Z", &net->z[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "A", &net->a[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "dA", &net->da[l]));
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, 1, "phi", &net->phi));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, 1, "dphi", &net->dphi));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, 2, "scalars", &net->scal));
    *out = net;
    return KR_OK;
fail:
    kr_mlp_free(net);
    return st;
}

kr_status kr_mlp_set_batch(kr_mlp *net, const double *x, const double *y)
{
    KR_TRY(kr_tensor_write(net->x, x));
    if (y) KR_TRY(kr_tensor_write(net->y, y));
    return KR_OK;
}

/* A_0 for layer l: the input for l = 1, else the previous activation. */
static const kr_tensor *input_of(const kr_mlp *net, int l) { return l == 1 ? net->x : net->a[l - 1]; }

static kr_status forward(kr_mlp *net)
{
    const int L = net->layers;
    for (int l = 1; l < L; l++) {
        KR_TRY(kr_blas_gemm(1.0, input_of(net, l), false, net->w[l - 1], true, 0.0, net->z[l]));
        if (l == 1 && net->b1) KR_TRY(kr_op_add_row(1.0, net->b1, net->z[1]));
        KR_TRY(kr_op_act_forward(KR_ACT_RELU, 1.0, net->z[l], net->a[l], NULL));
    }
    return kr_blas_gemm(1.0, net->a[L - 1], false, net->w[L - 1], true, 0.0, net->phi);
}

kr_status kr_mlp_forward(kr_mlp *net, double *phi)
{
    KR_TRY(forward(net));
    return kr_tensor_read(net->phi, phi);
}

kr_status kr_mlp_loss_grad(kr_mlp *net, double *loss, double *errors)
{
    const int L = net->layers;
    KR_TRY(forward(net));
    KR_TRY(kr_op_logistic(1.0 / (double)net->n, net->phi, net->y, net->dphi, net->scal, 0));
    /* ∂W_L = ∂Φᵀ A_{L−1} (1 × H_{L−1});  ∂A_{L−1} = ∂Φ W_L (n × H_{L−1}). */
    KR_TRY(kr_blas_gemm(1.0, net->dphi, true, net->a[L - 1], false, 0.0, net->gw[L - 1]));
    KR_TRY(kr_blas_gemm(1.0, net->dphi, false, net->w[L - 1], false, 0.0, net->da[L - 1]));
    for (int l = L - 1; l >= 1; l--) {
        kr_tensor *dz = net->da[l];
        KR_TRY(kr_op_relu_backward(net->z[l], net->da[l], dz));
        KR_TRY(kr_blas_gemm(1.0, dz, true, input_of(net, l), false, 0.0, net->gw[l - 1]));
        if (l == 1 && net->b1) KR_TRY(kr_op_col_sum(1.0, dz, 0.0, net->gb1));
        if (l > 1) KR_TRY(kr_blas_gemm(1.0, dz, false, net->w[l - 1], false, 0.0, net->da[l - 1]));
    }
    if (!loss && !errors) return KR_OK; /* nothing to wait for: the step can follow at once */
    double s[2];
    KR_TRY(kr_tensor_read(net->scal, s));
    if (loss) *loss = s[0] / (double)net->n;
    if (errors) *errors = s[1];
    return KR_OK;
}

kr_status kr_mlp_step(kr_mlp *net, double lr)
{
    for (int l = 0; l < net->layers; l++) KR_TRY(kr_op_axpby(-lr, net->gw[l], 1.0, net->w[l]));
    if (net->b1) KR_TRY(kr_op_axpby(-lr, net->gb1, 1.0, net->b1));
    return KR_OK;
}

static kr_status read_set(kr_tensor *const *w, const kr_tensor *b1, int layers, kr_model *m)
{
    for (int l = 0; l < layers; l++) KR_TRY(kr_tensor_read(w[l], m->w[l]));
    if (b1 && m->b1) KR_TRY(kr_tensor_read(b1, m->b1));
    return KR_OK;
}

kr_status kr_mlp_read_params(const kr_mlp *net, kr_model *m)
{
    return read_set(net->w, net->b1, net->layers, m);
}

kr_status kr_mlp_read_grads(const kr_mlp *net, kr_model *g)
{
    return read_set(net->gw, net->gb1, net->layers, g);
}

double kr_mlp_step_flops(const kr_model *m, size_t n)
{
    /* Forward: one GEMM per layer. Backward: ∂W_l for every layer, ∂A_{l−1} for l >= 2. */
    double f = 0;
    for (int l = 1; l <= m->layers; l++) {
        double layer = 2.0 * (double)n * (double)m->dims[l] * (double)m->dims[l - 1];
        f += layer * (l >= 2 ? 3.0 : 2.0);
    }
    return f;
}

kr_status kr_mlp_predict(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n,
                         const double *x, double *phi)
{
    if (n == 0) return KR_OK;
    const size_t batch = n < 1024 ? n : 1024;
    kr_mlp *net;
    KR_TRY(kr_mlp_new(dev, dt, m, batch, &net));
    kr_status st = KR_OK;
    double *xb = NULL, *pb = NULL;
    if (!(xb = calloc(batch * m->dims[0], sizeof *xb)) || !(pb = malloc(batch * sizeof *pb))) {
        st = KR_FAIL(KR_E_NOMEM, "mlp predict buffers");
        goto fail;
    }
    for (size_t i0 = 0; i0 < n; i0 += batch) {
        size_t k = n - i0 < batch ? n - i0 : batch;
        memcpy(xb, x + i0 * m->dims[0], k * m->dims[0] * sizeof *xb);
        KR_TRY_GOTO(kr_mlp_set_batch(net, xb, NULL));
        KR_TRY_GOTO(kr_mlp_forward(net, pb));
        memcpy(phi + i0, pb, k * sizeof *pb);
    }
fail:
    free(xb);
    free(pb);
    kr_mlp_free(net);
    return st;
}

kr_status kr_mlp_margins(kr_device *dev, kr_dtype dt, const kr_model *m, size_t n,
                         const double *x, const double *y, double *margins)
{
    KR_TRY(kr_mlp_predict(dev, dt, m, n, x, margins));
    for (size_t i = 0; i < n; i++) margins[i] *= y[i];
    return KR_OK;
}
