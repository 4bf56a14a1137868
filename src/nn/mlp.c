/* mlp.c — training math of DESIGN.md §2 on any device, batched over samples (C outputs, a
 * bias on any layer, the losses and weight decay of Buzaglo et al. 2023).
 *
 * Forward:  Z_l = A_{l−1} W_lᵀ (+ b_l),  A_l = relu(Z_l) (l < L),  Φ = A_{L−1} W_Lᵀ (+ b_L).
 * Loss:     ℓ = (1/n) Σ_i ℓ(Φ_i, y_i) and ∂ℓ/∂Φ (n × C) from one op: logistic (ops logistic),
 *           cross-entropy over one-hot labels (ops xent), MSE or Huber (ops regress).
 * Backward: ∂W_L = ∂Φᵀ A_{L−1}, ∂b_L = Σ_rows ∂Φ, ∂A_{L−1} = ∂Φ W_L;  for l = L−1..1:
 *           ∂Z_l = ∂A_l ⊙ [Z_l > 0],  ∂W_l = ∂Z_lᵀ A_{l−1},  ∂b_l = Σ_rows ∂Z_l,
 *           ∂A_{l−1} = ∂Z_l W_l.
 * Weight decay: ∂θ_p += wd θ_p for every tensor; the loss read back adds (wd/2) Σ ‖θ_p‖².
 * Z_l is kept (the ReLU mask needs it); A_l is a separate buffer. ∂Z_l overwrites ∂A_l.
 * Also Φ and the margins of a whole set (kr_mlp_predict, kr_mlp_margins), batched.
 * Does not: schedule learning rates or log (app/train.c).
 */
#include "nn/mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "device/blas.h"
#include "device/ops.h"

struct kr_mlp {
    kr_device *dev;
    kr_dtype dt;
    int layers;                   /* L */
    size_t dims[KR_MAX_LAYERS + 1];
    size_t n;                     /* batch rows */
    size_t C;                     /* outputs */
    kr_loss loss;
    double wd;                    /* weight decay */
    kr_tensor *w[KR_MAX_LAYERS];  /* W_l: H_l × H_{l−1} */
    kr_tensor *gw[KR_MAX_LAYERS]; /* ∂W_l */
    kr_tensor *b[KR_MAX_LAYERS];  /* b_l: 1 × H_l, or NULL */
    kr_tensor *gb[KR_MAX_LAYERS]; /* ∂b_l */
    kr_tensor *x;                 /* n × D */
    kr_tensor *y;                 /* n × 1, or n × C one-hot (cross-entropy) */
    kr_tensor *z[KR_MAX_LAYERS];  /* z[l]: Z_l, n × H_l (l = 1..L−1) */
    kr_tensor *a[KR_MAX_LAYERS];  /* a[l]: A_l, n × H_l (l = 1..L−1) */
    kr_tensor *da[KR_MAX_LAYERS]; /* da[l]: ∂A_l then ∂Z_l, n × H_l (l = 1..L−1) */
    kr_tensor *phi, *dphi;        /* n × C */
    kr_tensor *scal;              /* 1 × (2 + 2L): loss sum, errors, ‖θ_p‖² per tensor */
};

void kr_mlp_free(kr_mlp *net)
{
    if (!net) return;
    for (int l = 0; l <= KR_MAX_LAYERS - 1; l++) {
        kr_tensor_free(net->w[l]);
        kr_tensor_free(net->gw[l]);
        kr_tensor_free(net->b[l]);
        kr_tensor_free(net->gb[l]);
        kr_tensor_free(net->z[l]);
        kr_tensor_free(net->a[l]);
        kr_tensor_free(net->da[l]);
    }
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
    net->C = m->dims[m->layers];
    net->loss = net->C >= 2 ? KR_LOSS_CE : KR_LOSS_LOGISTIC;
    memcpy(net->dims, m->dims, sizeof net->dims);
    const int L = m->layers;
    for (int l = 1; l <= L; l++) {
        char name[32];
        snprintf(name, sizeof name, "W%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &net->w[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(net->w[l - 1], m->w[l - 1]));
        snprintf(name, sizeof name, "dW%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, m->dims[l], m->dims[l - 1], name, &net->gw[l - 1]));
        if (!m->b[l - 1]) continue;
        snprintf(name, sizeof name, "b%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[l], name, &net->b[l - 1]));
        KR_TRY_GOTO(kr_tensor_write(net->b[l - 1], m->b[l - 1]));
        snprintf(name, sizeof name, "db%d", l);
        KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, m->dims[l], name, &net->gb[l - 1]));
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[0], "X", &net->x));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, net->C, "y", &net->y));
    for (int l = 1; l < L; l++) {
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "Z", &net->z[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "A", &net->a[l]));
        KR_TRY_GOTO(kr_tensor_new(dev, dt, n, m->dims[l], "dA", &net->da[l]));
    }
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, net->C, "phi", &net->phi));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, n, net->C, "dphi", &net->dphi));
    KR_TRY_GOTO(kr_tensor_new(dev, dt, 1, 2 + 2 * (size_t)L, "scalars", &net->scal));
    *out = net;
    return KR_OK;
fail:
    kr_mlp_free(net);
    return st;
}

kr_status kr_mlp_set_loss(kr_mlp *net, kr_loss loss, double wd)
{
    if ((unsigned)loss > KR_LOSS_HUBER || (loss == KR_LOSS_CE) != (net->C >= 2))
        return KR_FAIL(KR_E_INVALID, "mlp: loss %d does not fit a model with %zu output(s) "
                       "(cross-entropy needs >= 2, the others 1)", (int)loss, net->C);
    if (!(wd >= 0.0) || !isfinite(wd))
        return KR_FAIL(KR_E_INVALID, "mlp: weight decay must be finite and >= 0, got %g", wd);
    net->loss = loss;
    net->wd = wd;
    return KR_OK;
}

kr_status kr_mlp_set_batch(kr_mlp *net, const double *x, const double *y)
{
    KR_TRY(kr_tensor_write(net->x, x));
    if (!y) return KR_OK;
    if (net->loss != KR_LOSS_CE) return kr_tensor_write(net->y, y);
    double *h; /* one-hot n × C */
    KR_TRY(kr_alloc((void **)&h, "mlp: one-hot labels", net->n, net->C, sizeof *h));
    memset(h, 0, net->n * net->C * sizeof *h);
    for (size_t i = 0; i < net->n; i++) {
        if (!(y[i] >= 0.0 && y[i] < (double)net->C && y[i] == floor(y[i]))) {
            free(h);
            return KR_FAIL(KR_E_INVALID, "mlp: label %g of sample %zu is not a class 0..%zu",
                           y[i], i, net->C - 1);
        }
        h[i * net->C + (size_t)y[i]] = 1.0;
    }
    kr_status st = kr_tensor_write(net->y, h);
    free(h);
    return st;
}

/* A_0 for layer l: the input for l = 1, else the previous activation. */
static const kr_tensor *input_of(const kr_mlp *net, int l) { return l == 1 ? net->x : net->a[l - 1]; }

static kr_status forward(kr_mlp *net)
{
    const int L = net->layers;
    for (int l = 1; l < L; l++) {
        KR_TRY(kr_blas_gemm(1.0, input_of(net, l), false, net->w[l - 1], true, 0.0, net->z[l]));
        if (net->b[l - 1]) KR_TRY(kr_op_add_row(1.0, net->b[l - 1], net->z[l]));
        KR_TRY(kr_op_act_forward(KR_ACT_RELU, 1.0, net->z[l], net->a[l], NULL));
    }
    KR_TRY(kr_blas_gemm(1.0, net->a[L - 1], false, net->w[L - 1], true, 0.0, net->phi));
    if (net->b[L - 1]) KR_TRY(kr_op_add_row(1.0, net->b[L - 1], net->phi));
    return KR_OK;
}

kr_status kr_mlp_forward(kr_mlp *net, double *phi)
{
    KR_TRY(forward(net));
    return kr_tensor_read(net->phi, phi);
}

kr_status kr_mlp_loss_grad(kr_mlp *net, double *loss, double *errors)
{
    const int L = net->layers;
    const double s = 1.0 / (double)net->n;
    const bool read = loss || errors;
    KR_TRY(forward(net));
    if (read) kr_ops_reduce_defer(net->dev);
    kr_status st = KR_OK;
    switch (net->loss) {
    case KR_LOSS_LOGISTIC: st = kr_op_logistic(s, net->phi, net->y, net->dphi, net->scal, 0); break;
    case KR_LOSS_CE: st = kr_op_xent(s, net->phi, net->y, net->dphi, net->scal, 0); break;
    default:
        st = kr_op_regress(net->loss == KR_LOSS_HUBER, s, net->phi, net->y, net->dphi, net->scal,
                           0);
    }
    /* ∂W_L = ∂Φᵀ A_{L−1} (C × H_{L−1});  ∂b_L = Σ ∂Φ;  ∂A_{L−1} = ∂Φ W_L (n × H_{L−1}). */
    if (st == KR_OK)
        st = kr_blas_gemm(1.0, net->dphi, true, net->a[L - 1], false, 0.0, net->gw[L - 1]);
    if (st == KR_OK && net->b[L - 1]) st = kr_op_col_sum(1.0, net->dphi, 0.0, net->gb[L - 1]);
    if (st == KR_OK)
        st = kr_blas_gemm(1.0, net->dphi, false, net->w[L - 1], false, 0.0, net->da[L - 1]);
    for (int l = L - 1; l >= 1 && st == KR_OK; l--) {
        kr_tensor *dz = net->da[l];
        st = kr_op_relu_backward(net->z[l], net->da[l], dz);
        if (st == KR_OK)
            st = kr_blas_gemm(1.0, dz, true, input_of(net, l), false, 0.0, net->gw[l - 1]);
        if (st == KR_OK && net->b[l - 1]) st = kr_op_col_sum(1.0, dz, 0.0, net->gb[l - 1]);
        if (st == KR_OK && l > 1)
            st = kr_blas_gemm(1.0, dz, false, net->w[l - 1], false, 0.0, net->da[l - 1]);
    }
    /* Weight decay: ∂θ += wd θ, and ‖θ_p‖² for the loss when it is read. */
    for (int l = 0; l < L && st == KR_OK && net->wd > 0.0; l++) {
        st = kr_op_axpby(net->wd, net->w[l], 1.0, net->gw[l]);
        if (st == KR_OK && net->b[l]) st = kr_op_axpby(net->wd, net->b[l], 1.0, net->gb[l]);
        if (st == KR_OK && read) st = kr_op_sum_sq(net->w[l], net->scal, 2 + 2 * (size_t)l);
        if (st == KR_OK && read && net->b[l])
            st = kr_op_sum_sq(net->b[l], net->scal, 3 + 2 * (size_t)l);
    }
    if (read) {
        kr_status fl = kr_ops_reduce_flush(net->dev);
        if (st == KR_OK) st = fl;
    }
    if (st != KR_OK || !read) return st; /* nothing to wait for: the step can follow at once */
    double sc[2 + 2 * KR_MAX_LAYERS];
    KR_TRY(kr_tensor_read(net->scal, sc));
    double decay = 0.0;
    for (int l = 0; net->wd > 0.0 && l < L; l++)
        decay += sc[2 + 2 * l] + (net->b[l] ? sc[3 + 2 * l] : 0.0);
    if (loss) *loss = sc[0] / (double)net->n + 0.5 * net->wd * decay;
    if (errors) *errors = sc[1];
    return KR_OK;
}

kr_status kr_mlp_step(kr_mlp *net, double lr)
{
    for (int l = 0; l < net->layers; l++) {
        KR_TRY(kr_op_axpby(-lr, net->gw[l], 1.0, net->w[l]));
        if (net->b[l]) KR_TRY(kr_op_axpby(-lr, net->gb[l], 1.0, net->b[l]));
    }
    return KR_OK;
}

static kr_status read_set(kr_tensor *const *w, kr_tensor *const *b, int layers, kr_model *m)
{
    for (int l = 0; l < layers; l++) {
        KR_TRY(kr_tensor_read(w[l], m->w[l]));
        if (b[l] && m->b[l]) KR_TRY(kr_tensor_read(b[l], m->b[l]));
    }
    return KR_OK;
}

kr_status kr_mlp_read_params(const kr_mlp *net, kr_model *m)
{
    return read_set(net->w, net->b, net->layers, m);
}

kr_status kr_mlp_read_grads(const kr_mlp *net, kr_model *g)
{
    return read_set(net->gw, net->gb, net->layers, g);
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
    const size_t batch = n < 1024 ? n : 1024, C = m->dims[m->layers];
    kr_mlp *net;
    KR_TRY(kr_mlp_new(dev, dt, m, batch, &net));
    kr_status st = KR_OK;
    double *xb = NULL, *pb = NULL;
    if (!(xb = calloc(batch * m->dims[0], sizeof *xb)) || !(pb = malloc(batch * C * sizeof *pb))) {
        st = KR_FAIL(KR_E_NOMEM, "mlp predict buffers");
        goto fail;
    }
    for (size_t i0 = 0; i0 < n; i0 += batch) {
        size_t k = n - i0 < batch ? n - i0 : batch;
        memcpy(xb, x + i0 * m->dims[0], k * m->dims[0] * sizeof *xb);
        KR_TRY_GOTO(kr_mlp_set_batch(net, xb, NULL));
        KR_TRY_GOTO(kr_mlp_forward(net, pb));
        memcpy(phi + i0 * C, pb, k * C * sizeof *pb);
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
    const size_t C = m->dims[m->layers];
    if (C == 1) {
        KR_TRY(kr_mlp_predict(dev, dt, m, n, x, margins));
        for (size_t i = 0; i < n; i++) margins[i] *= y[i];
        return KR_OK;
    }
    double *phi;
    KR_TRY(kr_alloc((void **)&phi, "mlp margins: outputs", n ? n : 1, C, sizeof *phi));
    kr_status st = kr_mlp_predict(dev, dt, m, n, x, phi);
    for (size_t i = 0; st == KR_OK && i < n; i++) {
        const double *p = phi + i * C;
        if (!(y[i] >= 0.0 && y[i] < (double)C && y[i] == floor(y[i]))) {
            st = KR_FAIL(KR_E_INVALID, "mlp margins: label %g of sample %zu is not a class "
                         "0..%zu", y[i], i, C - 1);
            break;
        }
        const size_t c = (size_t)y[i];
        double other = -INFINITY;
        for (size_t j = 0; j < C; j++)
            if (j != c && p[j] > other) other = p[j];
        margins[i] = p[c] - other;
    }
    free(phi);
    return st;
}
