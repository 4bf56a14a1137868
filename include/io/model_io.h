/* model_io.h — save and load a kr_model as a safetensors file.
 *
 * Tensor names follow the paper's PyTorch state_dict (an nn.ModuleList called `layers`):
 *   layers.0.weight   H1 x D   (row-major, as nn.Linear stores it)
 *   layers.0.bias     H1       (only where layer 1 has a bias; likewise every layer)
 *   layers.1.weight   H2 x H1
 *   ...
 *   layers.{L-1}.weight  C x H_{L-1}   (C outputs: 1 binary/regression, the classes otherwise)
 *   layers.{L-1}.bias    C
 *   data.mean         D        (train mean image; optional on load -> zeros)
 * and __metadata__ {"format": "kktrecon-mlp", "dims": "784,1000,1000,1", "first_bias":
 * "true", "biases": "1,0,0" (one flag per layer), "image_shape": "1,28,28" (only if known),
 * "dtype": "F32"|"F64", caller extras}. Files written before "biases" existed load as before.
 *
 * Loading also accepts a plain PyTorch state_dict saved with safetensors.torch.save_file, in
 * F32 or F64, without metadata or data.mean, and an nn.Sequential state_dict ("0.weight",
 * "0.bias", "2.weight", ... with ReLU modules in between, i.e. any increasing indices without
 * prefix). Any layer may carry a bias; C is the last weight's row count.
 * Without metadata, the image shape is guessed from D (784 -> 1x28x28, 3072 -> 3x32x32),
 * else left unknown (0x0x0).
 * Not here: optimiser state, candidates (use safetensors.h directly), other architectures.
 */
#ifndef KR_MODEL_IO_H
#define KR_MODEL_IO_H

#include <stddef.h>

#include "device/device.h"      /* kr_dtype */
#include "base/model.h"
#include "io/safetensors.h" /* kr_st_meta */
#include "base/status.h"

/* Writes m to path atomically, parameters stored in dtype (KR_F32 rounds, KR_F64 is exact).
 * extra: n_extra caller key/values added to __metadata__; they may not reuse the keys above. */
kr_status kr_model_save(const char *path, const kr_model *m, kr_dtype dtype,
                        const kr_st_meta *extra, size_t n_extra);

/* Reads a model written by kr_model_save or from a PyTorch state_dict (see above).
 * On failure *out is NULL and the message names the file, the tensor and the expected shape. */
kr_status kr_model_load(const char *path, kr_model **out);

#endif
