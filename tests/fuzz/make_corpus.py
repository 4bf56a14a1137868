#!/usr/bin/env python3
"""make_corpus.py — (re)writes the seed corpora of tests/fuzz/corpus/<target>/.

usage: tests/fuzz/make_corpus.py BUILD_FUZZ_DIR
  idx          data/mnist-subset truncated to 2 records (count fields fixed), plain and gzip,
               framed as fuzz_idx.c reads them: [max_records byte][u16 LE labels length][labels][images]
  cifar10      2 records of ../shared/data/cifar10/test_first1000.bin (else synthetic), framed as
               fuzz_cifar10.c reads them: [flags byte][batch]
  config       configs/*.ini, some with `--set` overrides after a NUL byte (fuzz_config.c)
  image        JPEGs from cjpeg (libjpeg-turbo-progs, if present); PNGs come from make_seeds
  safetensors, model, candidates, image PNGs: BUILD_FUZZ_DIR/tests/fuzz/make_seeds (the project's
               own writers)
Deterministic: gzip is written with mtime 0, so rerunning changes nothing.
"""
import glob
import gzip
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx_seeds():
    src = os.path.join(ROOT, "data", "mnist-subset")
    with gzip.open(os.path.join(src, "train-images-idx3-ubyte.gz")) as f:
        img = f.read()
    with gzip.open(os.path.join(src, "train-labels-idx1-ubyte.gz")) as f:
        lab = f.read()
    magic, _, rows, cols = struct.unpack(">IIII", img[:16])
    for n in (1, 2):
        images = struct.pack(">IIII", magic, n, rows, cols) + img[16:16 + n * rows * cols]
        labels = lab[:4] + struct.pack(">I", n) + lab[8:8 + n]
        frame = lambda mr, L, I: bytes([mr]) + struct.pack("<H", len(L)) + L + I
        put("idx", "raw_%d" % n, frame(0, labels, images))
        put("idx", "gzip_%d" % n, frame(0, gz(labels), gz(images)))
        if n == 2:
            put("idx", "raw_2_max1", frame(1, labels, images))
    # a 2x3 image size, 3 records, labels only gzip
    images = struct.pack(">IIII", 0x803, 3, 2, 3) + bytes(range(18))
    labels = struct.pack(">II", 0x801, 3) + bytes([1, 2, 9])
    put("idx", "small_2x3", bytes([0]) + struct.pack("<H", len(gz(labels))) + gz(labels) + images)


def cifar_seeds():
    src = os.path.join(ROOT, "..", "shared", "data", "cifar10", "test_first1000.bin")
    if os.path.exists(src):
        with open(src, "rb") as f:
            recs = f.read(2 * 3073)
    else:
        recs = bytes([3]) + bytes(i % 256 for i in range(3072)) + bytes([8]) + bytes(3072)
    put("cifar10", "two_records", bytes([0]) + recs)
    put("cifar10", "one_record_twice", bytes([4 | 1]) + recs[:3073])


def config_seeds():
    for p in sorted(glob.glob(os.path.join(ROOT, "configs", "*.ini"))):
        with open(p, "rb") as f:
            put("config", os.path.basename(p), f.read())
    with open(os.path.join(ROOT, "configs", "mnist_small.ini"), "rb") as f:
        small = f.read()
    put("config", "small_with_sets", small + b"\0data.per_class=3\nattack.optimizer=adam\n"
        b"model.hidden=8,4\ndevice=host\ntrain.precision=single\n")
    put("config", "sets_only", b"\0attack.activation=softplus\nattack.alpha=2.5\n"
        b"train.seed=18446744073709551615\nmodel.first_bias=false\n")


def image_seeds():
    cjpeg = shutil.which("cjpeg")  # Debian libjpeg-turbo-progs
    if not cjpeg:
        print("make_corpus: no cjpeg (apt-get install libjpeg-turbo-progs), no JPEG seeds",
              file=sys.stderr)
        return
    d = os.path.join(CORPUS, "image")
    os.makedirs(d, exist_ok=True)
    gray = b"P5 5 4 255\n" + bytes((17 * i) % 256 for i in range(20))
    rgb = b"P6 9 9 255\n" + bytes((29 * i + 7) % 256 for i in range(243))
    for name, pnm, args in (("gray_5x4.jpg", gray, ["-grayscale"]),
                            ("rgb_9x9.jpg", rgb, []),
                            ("rgb_9x9_progressive.jpg", rgb, ["-progressive"]),
                            ("rgb_9x9_restart.jpg", rgb, ["-restart", "1", "-sample", "1x1"])):
        with open(os.path.join(d, name), "wb") as f:
            subprocess.run([cjpeg, "-quality", "50"] + args, input=pnm, stdout=f, check=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    make_seeds = os.path.join(sys.argv[1], "tests", "fuzz", "make_seeds")
    for t in ("safetensors", "model", "candidates", "image"):
        os.makedirs(os.path.join(CORPUS, t), exist_ok=True)
    subprocess.run([make_seeds, CORPUS], check=True)
    idx_seeds()
    cifar_seeds()
    config_seeds()
    image_seeds()


if __name__ == "__main__":
    main()
