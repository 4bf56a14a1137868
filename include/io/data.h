/* data.h — image datasets (MNIST / Fashion-MNIST IDX, CIFAR-10 binary, folders of PNG/JPEG),
 * binary tasks over their classes, the deterministic first-k-per-class selection and the mean
 * image (DESIGN.md §2, §5).
 *
 * Layout: every image is a row of D = c*h*w values in CHW order (channel planes, each plane
 * h x w row-major), as PyTorch flattens a (C,H,W) tensor. All matrices are row-major.
 *
 * Not here: decoding image files (image_io), training, augmentation, shuffling, downloads.
 * Formats: IDX as described on Yann LeCun's MNIST page (big-endian magic 0x00000803 images /
 * 0x00000801 labels, then big-endian u32 dims); CIFAR-10 "binary version" from Krizhevsky's
 * page (records of 1 label byte + 1024 R + 1024 G + 1024 B bytes, 32x32 row-major).
 */
#ifndef KR_DATA_H
#define KR_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

typedef enum kr_split { KR_SPLIT_TRAIN = 0, KR_SPLIT_TEST = 1 } kr_split;

/* A loaded split of a dataset. Read-only for users; free with kr_dataset_free. */
typedef struct kr_dataset {
    char kind[16];        /* "mnist", "fashion-mnist", "cifar10" or "folder" */
    kr_split split;
    size_t n;             /* images */
    int c, h, w;          /* channels (1 or 3), height, width */
    size_t d;             /* c*h*w */
    unsigned char *pixels; /* n x d, row-major; each row CHW */
    int *labels;           /* n, class ids in 0..num_classes-1 */
    int num_classes;
    char **class_names;   /* num_classes strings, or NULL when unknown */
    char **sources;       /* num_sources files read, in order (folder: the split directory) */
    size_t num_sources;
    char **files;         /* folder datasets: n image paths (record i came from files[i]);
                             NULL for other kinds */
} kr_dataset;

/* Loads one split. kind: "mnist", "fashion-mnist" (also "fashion_mnist", "fmnist"), "cifar10"
 * (also "cifar-10"), "folder". path is a directory:
 *   mnist/fashion-mnist: {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (also the dotted
 *            names train-images.idx3-ubyte etc. some mirrors use)
 *   cifar10: data_batch_1..5.bin (those present, in order) resp. test_batch.bin; if none of
 *            those exist, the *.bin files whose names start with "train" resp. "test", sorted;
 *            class names from batches.meta.txt if present (else the standard CIFAR-10 names)
 *   folder:  path/train/<class>/<image>.png/.jpg/.jpeg and path/test/<class>/...; without a train/
 *            sub-folder path/<class>/ is the train split and there is no test split. Class ids
 *            are the indices of the train class folder names in strcmp order (the test split
 *            uses the train split's classes); records are class by class, files by name.
 * On failure *out is NULL and the message names the file, the byte offset and what was expected. */
kr_status kr_data_load(const char *kind, const char *path, kr_split split, kr_dataset **out);
/* The same, reading at most max_records records (0 = all) from the start of the split. */
kr_status kr_data_load_max(const char *kind, const char *path, kr_split split, size_t max_records,
                           kr_dataset **out);
void kr_dataset_free(kr_dataset *d);

/* The individual loaders behind kr_data_load (max_records 0 = all). */
kr_status kr_data_load_idx(const char *kind, const char *path, kr_split split, size_t max_records,
                           kr_dataset **out);
kr_status kr_data_load_cifar10(const char *path, kr_split split, size_t max_records,
                               kr_dataset **out);
kr_status kr_data_load_folder(const char *path, kr_split split, size_t max_records,
                              kr_dataset **out);
/* Reads a pair of IDX files (images magic 0x00000803, labels 0x00000801; plain or gzip). */
kr_status kr_data_load_idx_files(const char *images_path, const char *labels_path,
                                 size_t max_records, kr_dataset **out);
/* Reads CIFAR-10 binary files, in the given order, as one split. */
kr_status kr_data_load_cifar10_files(const char *const *paths, size_t num_paths,
                                     size_t max_records, kr_dataset **out);

/* Allocates a dataset with zeroed pixels/labels (for loaders and tests). */
kr_status kr_dataset_new(size_t n, int c, int h, int w, int num_classes, kr_dataset **out);

/* ---------- tasks: binary, multiclass, regression ---------- */

#define KR_TASK_MAX_CLASSES 256

typedef enum kr_task_kind {
    KR_TASK_BINARY = 0,     /* labels ±1 by class group (the paper's) */
    KR_TASK_MULTICLASS = 1, /* label = the class's output index 0..K−1 (Buzaglo et al. 2023) */
    KR_TASK_REGRESSION = 2  /* targets ±1 by class group, trained with MSE/Huber (decoreco) */
} kr_task_kind;

/* Binary and regression: sign[k] = -1, +1, or 0 (class k is not used). Multiclass: out[k] =
 * 1 + the output index of class k, or 0 (not used); all_classes: every class of the dataset,
 * class k is output k. */
typedef struct kr_task {
    char name[128];                         /* "odd_even", ... or the canonical "A/B" spec */
    int max_class;                          /* largest class id the task names */
    signed char sign[KR_TASK_MAX_CLASSES];  /* indexed by class id */
    kr_task_kind kind;
    short out[KR_TASK_MAX_CLASSES];         /* multiclass, indexed by class id */
    int n_listed;                           /* multiclass: classes listed (0 with all_classes) */
    int all_classes;                        /* multiclass over every class of the dataset */
} kr_task;

/* spec: "odd_even" (even -1, odd +1), "vehicles_animals" ({0,1,8,9} -1, others +1),
 * "clothing_footwear" ({0,1,2,3,4,6} -1, {5,7,8,9} +1), or "A/B" with A and B comma-separated
 * class ids (A -> -1, B -> +1; classes in neither are ignored), e.g. "3/8" or "0,1/2,3";
 * "multiclass" (every class of the dataset, class k is output k) or "multiclass:3,5,8" (those
 * classes, outputs in the listed order); "regression:SPEC" with SPEC a binary task (targets ±1,
 * for MSE/Huber training), and "vehicles_animals_regression" = decoreco's regression task
 * "regression:vehicles_animals". */
kr_status kr_task_parse(const char *spec, kr_task *out);
/* The number of outputs a model for task t over a dataset of num_classes classes has:
 * multiclass the class count, binary and regression 1. */
int kr_task_outputs(const kr_task *t, int num_classes);
/* The task DESIGN.md uses for kind: mnist odd_even, fashion-mnist clothing_footwear, cifar10
 * vehicles_animals; folder: "0/1" when num_classes == 2, an error otherwise. */
kr_status kr_task_default(const char *kind, int num_classes, kr_task *out);
/* Fails unless every class id the task names is < num_classes and both groups are non-empty
 * (multiclass: at least two classes). */
kr_status kr_task_validate(const kr_task *t, int num_classes);

/* ---------- selection ---------- */

/* A selected set (the name is historical: it holds multiclass and regression sets too). */
typedef struct kr_binary_set {
    size_t n, d;      /* samples, c*h*w */
    int c, h, w;
    double *x;        /* n x d, row-major, CHW rows; pixel/255 in [0,1] until a mean is
                         subtracted */
    double *y;        /* n: -1 or +1 (binary, regression), the output index (multiclass) */
    kr_task_kind kind;
    int n_outputs;    /* 1, or the number of classes (multiclass) */
    int *class_ids;   /* n, the original class ids */
    size_t *index;    /* n, the record index in the dataset split (file order) */
    int mean_subtracted; /* 1 after kr_binary_set_subtract_mean */
    char task[128];      /* the task's name (kr_task.name) */
} kr_binary_set;

/* Scans d in file order and keeps the first per_class samples of the -1 group and of the +1
 * group (multiclass: of every class; per_class 0 = every sample of the task's classes). The
 * result keeps file order. Fails (KR_E_INVALID) if a group has fewer than per_class samples,
 * saying how many it has. */
kr_status kr_data_select(const kr_dataset *d, const kr_task *t, size_t per_class,
                         kr_binary_set **out);
void kr_binary_set_free(kr_binary_set *s);

/* Reorders the samples by a permutation drawn from seed (Fisher–Yates over base/rng's
 * xoshiro256**): decoreco shuffles its balanced selection (torch.randperm); the same set in
 * another order, which full-batch training sees only through summation order. */
void kr_binary_set_shuffle(kr_binary_set *s, uint64_t seed);

/* mean (d doubles) = per-pixel mean of s->x over the n samples. Fails if s->n == 0. */
kr_status kr_binary_set_mean(const kr_binary_set *s, double *mean);
/* s->x[i][j] -= mean[j] for every sample; d must equal s->d (the test split uses the train
 * split's mean). */
kr_status kr_binary_set_subtract_mean(kr_binary_set *s, const double *mean, size_t d);

#endif
