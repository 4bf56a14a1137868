"""test_kktrecon.py — the Python package (python/kktrecon) against the command line.

Run by meson (test `python`, tests/python/run.sh) with Debian's python3 (numpy, pytest):
KKTRECON_LIBRARY names the built shared library, KKTRECON_BIN the built kktrecon. Checked:
  - on the same files, the Python attack equals `kktrecon attack` bit for bit (x, λ, y), for
    one run and for points; model.kkt equals `kktrecon kkt`, and kktrecon.evaluate equals
    `kktrecon evaluate` (summary.json exactly, pairs.csv to its printed digits); train equals
    `kktrecon train`'s model bit for bit;
  - a model given as a state_dict of numpy arrays with nn.Sequential names (ReLU modules in
    between, float32) is the model the safetensors importer builds from the same names;
  - errors raise kktrecon.Error with the library's message; Ctrl-C (SIGINT) during an attack
    stops it cleanly and raises KeyboardInterrupt, and the next attack runs normally;
  - the library is found through KKTRECON_LIBRARY and a wrong one is an ImportError.
Tiny model (784-16-16-1, 8 images, 60 iterations): a few seconds in all.
"""
import json
import os
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest

import kktrecon

BIN = os.environ.get("KKTRECON_BIN")
SRC = os.environ.get("KKTRECON_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

TINY = """[data]
dataset = mnist
path = {src}/data/mnist-subset
task = odd_even
per_class = 4
test_per_class = 0
[model]
hidden = 16,16
init_scale = 0.01
[train]
steps = 400
lr = 1.0
precision = double
log_every = 100
[attack]
iterations = 60
lr_x = 0.1
init_scale = 0.01
lambda_min = 0.42
alpha = 19.2
momentum = 0.9
precision = double
log_every = 10
"""

kktrecon.set_verbosity(0)


def read_safetensors(path):
    """{name: array} of a safetensors file (little-endian F32/F64/I64), and its metadata."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        dt = {"F64": "<f8", "F32": "<f4", "I64": "<i8"}[v["dtype"]]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v["shape"])
    return out, h.get("__metadata__", {})


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}[a.dtype]
        raw = a.tobytes()
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


def cli(*args):
    assert BIN, "KKTRECON_BIN is not set (run through meson test)"
    r = subprocess.run([BIN, *args, "--device", "host", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, f"kktrecon {' '.join(args)}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The command line's train and attack on the tiny configuration."""
    w = tmp_path_factory.mktemp("kktrecon")
    ini = w / "tiny.ini"
    ini.write_text(TINY.format(src=SRC))
    cli("train", "--config", str(ini), "--out", str(w / "train"))
    model = str(w / "train" / "model.safetensors")
    cli("attack", "--config", str(ini), "--model", model, "--out", str(w / "attack"))
    return w, str(ini), model


def test_attack_equals_cli_bit_for_bit(runs):
    w, ini, model = runs
    m = kktrecon.Model.load(model)
    a = m.attack(config=ini, device="host")
    want, meta = read_safetensors(w / "attack" / "candidates.safetensors")
    assert a.x.shape == want["x"].shape == (16, 784)
    assert np.array_equal(a.x, want["x"]), "x differs from the command line's"
    assert np.array_equal(a.lam, want["lambda"].reshape(-1)), "lambda differs"
    assert np.array_equal(a.y, want["y"].reshape(-1))
    assert a.iterations == 60 and a.precision == "float64"
    x, lam = a  # unpacks as (x, λ)
    assert x is a.x and lam is a.lam
    # Keywords are [attack] keys: the same run spelled as keywords over the file's defaults.
    b = m.attack(config=ini, device="host", iterations=60, lr_x=0.1, seed=1)
    assert np.array_equal(a.x, b.x)


def test_kkt_and_evaluate_equal_cli(runs):
    w, ini, model = runs
    cand = str(w / "attack" / "candidates.safetensors")
    cli("kkt", "--model", model, "--candidates", cand, "--alpha", "19.2", "--lambda-min", "0.42",
        "--out", str(w / "g.safetensors"))
    g, _ = read_safetensors(w / "g.safetensors")
    c, _ = read_safetensors(cand)
    m = kktrecon.Model.load(model)
    k = m.kkt(c["x"], c["lambda"].reshape(-1), c["y"].reshape(-1), device="host", alpha=19.2,
              lambda_min=0.42, precision="double")
    assert k["loss"] == g["loss"] and k["loss_kkt"] == g["loss_kkt"]
    assert np.array_equal(k["grad_x"], g["grad_x"]) and np.array_equal(k["grad_lambda"],
                                                                        g["grad_lambda"])
    assert k["loss_kkt_per_tensor"] == list(g["loss_kkt_per_tensor"])

    cli("evaluate", "--config", ini, "--model", model, "--candidates", cand, "--out",
        str(w / "eval"))
    x, y, shape = kktrecon.load_data(ini)
    assert x.shape == (8, 784) and shape == (1, 28, 28)
    pairs, summary = kktrecon.evaluate(m, c["x"], x, y, device="host")
    want = json.load(open(w / "eval" / "summary.json"))
    for key in ("n_train", "n_candidates", "n_candidates_nonfinite"):
        assert summary[key] == want[key]
    for score in ("official", "clip", "mean_baseline"):
        for key in ("above_0.3", "above_0.4", "above_0.5", "mean", "median"):
            assert summary[score][key] == want[score][key], (score, key)
    rows = open(w / "eval" / "pairs.csv").read().splitlines()[1:]
    assert len(rows) == len(pairs["ssim_clip"]) == 8
    for j, row in enumerate(rows):
        f = row.split(",")
        assert int(f[5]) == pairs["candidate"][j]
        assert abs(float(f[8]) - pairs["ssim_clip"][j]) <= 5e-7
        assert abs(float(f[3]) - pairs["margin"][j]) <= 1e-8 * max(1, abs(pairs["margin"][j]))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_points_equal_cli(runs, optimizer):
    w, ini, model = runs
    csv = w / "points.csv"
    csv.write_text("lr_x, seed, alpha\n0.1, 1, 19.2\n0.05, 7, 40\n")
    out = w / f"pts-{optimizer}"
    cli("attack", "--config", ini, "--model", model, "--out", str(out), "--set",
        f"attack.points_file={csv}", "--set", "attack.iterations=30", "--set",
        f"attack.optimizer={optimizer}")
    m = kktrecon.Model.load(model)
    a = m.attack(config=ini, device="host", iterations=30, optimizer=optimizer,
                 points=[{"lr_x": 0.1, "seed": 1, "alpha": 19.2},
                         {"lr_x": 0.05, "seed": 7, "alpha": 40}])
    assert a.x.shape == (2, 16, 784) and not a.diverged.any()
    for p in range(2):
        want, _ = read_safetensors(out / "points" / f"{p:04d}" / "candidates.safetensors")
        assert ("opt.x.v" in want) == (optimizer == "adam")
        assert np.array_equal(a.x[p], want["x"]), f"point {p}"
        assert np.array_equal(a.lam[p], want["lambda"].reshape(-1)), f"point {p}"


def test_train_equals_cli(runs):
    w, ini, model = runs
    x, y, shape = kktrecon.load_data(ini)
    m, info = kktrecon.train(x, y, shape, config=ini, device="host")
    want, _ = read_safetensors(model)
    assert info["steps"] == 400 and info["train_errors"] == 0
    for l, wt in enumerate(m.weights):
        assert np.array_equal(wt, want[f"layers.{l}.weight"]), f"layer {l}"
    assert np.array_equal(m.mean, want["data.mean"])


def test_state_dict_sequential_numpy(tmp_path):
    """nn.Sequential(Linear(D,H1), ReLU(), Linear(H1,H2), ReLU(), Linear(H2,1)) as numpy."""
    rng = np.random.default_rng(int(os.environ.get("KKTRECON_TEST_SEED", "7")) % 2**32)
    d, h1, h2 = 784, 12, 9
    sd = {"0.weight": rng.normal(size=(h1, d)).astype(np.float32) / 28,
          "0.bias": rng.normal(size=h1).astype(np.float32) * 0.1,
          "2.weight": rng.normal(size=(h2, h1)).astype(np.float32) / 3,
          "4.weight": rng.normal(size=(1, h2)).astype(np.float32) / 3}
    mean = rng.uniform(size=d).astype(np.float32)
    m = kktrecon.Model.from_state_dict(sd, mean=mean)
    assert m.dims == [d, h1, h2, 1] and m.image_shape == (1, 28, 28)
    assert np.array_equal(m.weights[1], sd["2.weight"].astype(np.float64))
    assert np.array_equal(m.biases[0], sd["0.bias"].astype(np.float64)) and m.biases[1] is None
    # The importer of files reads the same names (safetensors.torch.save_file's layout).
    write_safetensors(tmp_path / "seq.safetensors", {**sd, "data.mean": mean})
    f = kktrecon.Model.load(tmp_path / "seq.safetensors")
    for a, b in zip(m.weights + [m.mean], f.weights + [f.mean]):
        assert np.array_equal(a, b)
    # Anything with .numpy() (a torch tensor) is taken through it; the predictions agree
    # with a plain numpy forward pass.
    class T:
        def __init__(self, a):
            self.a = a

        def numpy(self):
            return self.a
    m2 = kktrecon.Model.from_state_dict({k: T(v) for k, v in sd.items()},
                                        mean=T(mean))
    x = rng.uniform(size=(5, d))
    z = np.maximum((x - mean) @ sd["0.weight"].T.astype(np.float64) + sd["0.bias"], 0)
    phi = np.maximum(z @ sd["2.weight"].T.astype(np.float64), 0) @ sd["4.weight"].T[:, 0]
    got = m2.predict(x, device="host", precision="double")
    assert np.allclose(got, phi, rtol=1e-9, atol=1e-12)
    a = m.attack(device="host", candidates=8, iterations=5, precision="double")
    b = f.attack(device="host", candidates=8, iterations=5, precision="double")
    assert np.array_equal(a.x, b.x)


def test_errors():
    with pytest.raises(kktrecon.Error, match="nosuchdevice"):
        kktrecon.Device("nosuchdevice")
    w = [np.ones((3, 4)), np.ones((1, 3))]
    m = kktrecon.Model.from_arrays(w)
    with pytest.raises(kktrecon.Error, match="lr_y"):
        m.attack(device="host", lr_y=0.1)
    with pytest.raises(kktrecon.Error, match="attack.iterations") as e:
        m.attack(device="host", iterations=-1)
    assert e.value.name == "invalid input" and e.value.status == -1
    with pytest.raises(kktrecon.Error, match="layer 1"):
        kktrecon.Model.from_state_dict({"layers.0.weight": np.ones((3, 4)),
                                        "layers.1.weight": np.ones((1, 2))})
    # A bias on a later layer and several outputs are a model (Buzaglo et al. 2023), not an error.
    mc = kktrecon.Model.from_state_dict({"0.weight": np.ones((3, 4)), "2.weight": np.ones((2, 3)),
                                         "2.bias": np.array([0.5, -0.5])})
    assert mc.biases[0] is None and list(mc.biases[1]) == [0.5, -0.5]
    with pytest.raises(kktrecon.Error, match="parameters must be finite"):
        kktrecon.Model.from_arrays([np.full((3, 4), np.nan), np.ones((1, 3))])
    with pytest.raises(kktrecon.Error, match="labels must be -1 or \\+1"):
        m.kkt(np.zeros((2, 4)), np.ones(2), y=np.array([1.0, 2.0]), device="host")
    with pytest.raises(kktrecon.Error, match="No such file"):
        kktrecon.Model.load("/nonexistent/model.safetensors")


def test_ctrl_c_stops_cleanly():
    rng = np.random.default_rng(3)
    m = kktrecon.Model.from_arrays([rng.normal(size=(8, 20)) / 4, rng.normal(size=(4, 8)) / 3,
                                    rng.normal(size=(1, 4))])
    seen, kill = [], [True]

    def progress(it, total, loss):
        seen.append(it)
        if it >= 20 and kill[0]:
            kill[0] = False
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does

    old = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        m.attack(device="host", candidates=6, iterations=100000, log_every=10, progress=progress)
    assert signal.getsignal(signal.SIGINT) is old  # the handler is put back
    assert 20 <= seen[-1] <= 40, seen
    assert not kill[0]
    # The library is in a clean state: the next attack runs to its end.
    a = m.attack(device="host", candidates=6, iterations=30, log_every=10, progress=progress)
    assert a.iterations == 30
    # An exception in the callback stops the attack and comes out as itself.
    def boom(it, total, loss):
        raise ValueError("from the callback")
    with pytest.raises(ValueError, match="from the callback"):
        m.attack(device="host", candidates=6, iterations=100, progress=boom)


def test_library_location():
    env = dict(os.environ, KKTRECON_LIBRARY="/nonexistent/libkktrecon.so")
    r = subprocess.run([sys.executable, "-c", "import kktrecon"], env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "KKTRECON_LIBRARY" in r.stderr and "ImportError" in r.stderr
    assert os.path.samefile(kktrecon._lib.path, os.environ["KKTRECON_LIBRARY"])
