/* safetensors.h — generic reader and writer of the safetensors file format.
 *
 * Format (huggingface/safetensors, docs "Format"): 8-byte little-endian u64 N, then N bytes of
 * UTF-8 JSON {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, ...,
 * "__metadata__": {"key": "string value", ...}}, then the data buffer. Offsets are relative to
 * the start of the buffer (file byte 8 + N); tensors are row-major, little-endian. The
 * reference writer pads the JSON with spaces to a multiple of 8 bytes; so does ours.
 *
 * The reader loads the whole file into memory, validates the header (length vs file size,
 * JSON, dtype names, shapes, offsets in range, non-overlapping, size == numel * dtype size,
 * unique names, string-only metadata) and exposes tensors as raw bytes plus typed fetches.
 * Gaps between tensors are tolerated (the Rust reference rejects them). Only F32 and F64
 * convert to float; I64 (and integral F32/F64) read as integer scalars; every other dtype is
 * listed and its raw bytes are available, and a float fetch names its dtype in the error.
 *
 * The writer stores a list of tensors (in the order given) plus string metadata in PATH.tmp,
 * fsyncs it and renames it over PATH, so a crash never leaves a half-written PATH.
 * Not here: memory mapping, lazy loading, big-endian files (the format has none).
 */
#ifndef KR_SAFETENSORS_H
#define KR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define KR_ST_MAX_DIMS 8

/* Dtype names as the format spells them. KR_ST_INVALID (0) means "none/unknown". */
typedef enum kr_st_dtype {
    KR_ST_INVALID = 0,
    KR_ST_BOOL, KR_ST_U8, KR_ST_I8, KR_ST_F8_E5M2, KR_ST_F8_E4M3,
    KR_ST_I16, KR_ST_U16, KR_ST_F16, KR_ST_BF16,
    KR_ST_I32, KR_ST_U32, KR_ST_F32,
    KR_ST_F64, KR_ST_I64, KR_ST_U64
} kr_st_dtype;

/* "F32" etc.; "INVALID" for KR_ST_INVALID or out-of-range values. */
const char *kr_st_dtype_name(kr_st_dtype dt);
/* Bytes per element, 0 for KR_ST_INVALID. */
size_t kr_st_dtype_size(kr_st_dtype dt);
/* Parses a dtype name; KR_ST_INVALID if unknown. */
kr_st_dtype kr_st_dtype_parse(const char *name);

/* One tensor of an open file. Pointers stay valid until kr_st_close. */
typedef struct kr_st_tensor {
    const char *name;
    kr_st_dtype dtype;
    int ndim;                       /* 0 for a scalar (shape []) */
    size_t shape[KR_ST_MAX_DIMS];
    size_t numel;                   /* product of shape (1 for a scalar) */
    size_t nbytes;                  /* numel * dtype size */
    size_t file_offset;             /* absolute byte offset of the data in the file */
    const void *data;               /* nbytes raw little-endian bytes, not aligned */
} kr_st_tensor;

typedef struct kr_st_file kr_st_file; /* opaque */

/* Reads and validates PATH. On failure *out is NULL and the message names the file, the byte
 * offset and what was expected. */
kr_status kr_st_open(const char *path, kr_st_file **out);
void kr_st_close(kr_st_file *f);

const char *kr_st_path(const kr_st_file *f);
/* Tensors in order of their data offsets. */
size_t kr_st_count(const kr_st_file *f);
const kr_st_tensor *kr_st_tensor_at(const kr_st_file *f, size_t i);
/* NULL if absent (not an error: callers probe for optional tensors). */
const kr_st_tensor *kr_st_find(const kr_st_file *f, const char *name);
/* Like kr_st_find but a missing tensor is an error naming the file and the tensor. */
kr_status kr_st_get(const kr_st_file *f, const char *name, const kr_st_tensor **out);

/* Fetches tensor NAME converted to double (F32 exactly, F64 as is) into out (numel values).
 * The tensor must have exactly ndim dims equal to shape[0..ndim-1]; ndim = 0 means a scalar.
 * Errors name the file, the tensor, expected vs found shape, or the found dtype. */
kr_status kr_st_read_f64(const kr_st_file *f, const char *name, int ndim, const size_t *shape,
                         double *out);
/* Same into float: F32 bit-exact, F64 rounded to nearest. */
kr_status kr_st_read_f32(const kr_st_file *f, const char *name, int ndim, const size_t *shape,
                         float *out);
/* A one-element tensor (shape [] or [1]) as an integer: I64/I32/U8/... exactly, F32/F64 only
 * if the value is integral and within ±2^53. */
kr_status kr_st_read_i64_scalar(const kr_st_file *f, const char *name, int64_t *out);

/* __metadata__ lookup: the value, or NULL if the key is absent. */
const char *kr_st_metadata(const kr_st_file *f, const char *key);
size_t kr_st_metadata_count(const kr_st_file *f);
/* i-th key/value in file order; both NULL if i is out of range. */
void kr_st_metadata_at(const kr_st_file *f, size_t i, const char **key, const char **value);

/* One tensor to write. data holds numel elements of src_dtype (host order); src_dtype
 * KR_ST_INVALID (the zero value) means "same as dtype". The only conversions are
 * F64 -> F32 (round to nearest) and F32 -> F64 (exact); otherwise bytes are copied as is,
 * so F32/F64/I64 (and any other sized dtype) round-trip bit-exactly. ndim = 0 is a scalar. */
typedef struct kr_st_entry {
    const char *name;
    kr_st_dtype dtype;              /* as stored in the file */
    int ndim;
    size_t shape[KR_ST_MAX_DIMS];
    const void *data;               /* may be NULL only when numel == 0 */
    kr_st_dtype src_dtype;
} kr_st_entry;

typedef struct kr_st_meta {
    const char *key;
    const char *value;
} kr_st_meta;

/* Writes PATH atomically (PATH.tmp, fsync, rename). Names must be unique, non-empty and not
 * "__metadata__"; metadata keys unique. Data is laid out contiguously in entry order (the
 * reference reader rejects gaps); readers must not assume aligned data. */
kr_status kr_st_write(const char *path, const kr_st_entry *entries, size_t n_entries,
                      const kr_st_meta *meta, size_t n_meta);

#endif
