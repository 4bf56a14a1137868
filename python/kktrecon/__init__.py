"""kktrecon — the KKT training-data reconstruction attack (Haim et al., NeurIPS 2022) from Python.

A thin layer over libkktrecon (include/kktrecon.h) with ctypes: numpy arrays in and out, the
same engine and the same numbers as the `kktrecon` command line (same device, precision, seed
and settings give bit-identical candidates). Settings are passed as keywords named like the
configuration keys (`kktrecon help config`): model.attack(lr_x=..., iterations=...) sets
attack.lr_x and attack.iterations, train(..., steps=..., hidden="200,200") sets train.steps
and model.hidden, load_data(dataset=..., path=...) data.*; config= takes an INI file or a
Config for the rest.

    import kktrecon
    model = kktrecon.Model.from_state_dict(torch_model.state_dict(), mean=train_mean)
    x, lam = model.attack(candidates=80, iterations=2000, device="host")
    pairs, summary = kktrecon.evaluate(model, x, train_images, train_labels)

Errors raise kktrecon.Error with the library's message; Ctrl-C during an attack or training
stops it cleanly at the next iteration and raises KeyboardInterrupt.
"""
import contextlib
import ctypes
import math
import signal
import threading

# The library before numpy: both need libopenblas.so.0 and a process holds one of them. Loaded
# first, libkktrecon brings Debian's OpenMP build (the one the command line runs, and numpy
# works with it too); imported after numpy, the host backend runs on numpy's (pthreads, named
# in the device's description).
from . import _lib  # noqa: E402
from ._lib import lib  # noqa: E402

import numpy as np  # noqa: E402

__all__ = ["Error", "Config", "Device", "Model", "Attack", "devices", "load_data", "train",
           "evaluate", "grid_png", "images", "version", "set_verbosity"]

FLOAT32, FLOAT64 = 0, 1


class Error(Exception):
    """A failure of libkktrecon: .status is the status code, .name its category, str() the
    library's message (what, which key / file / element)."""

    def __init__(self, status, message):
        self.status = status
        self.name = lib.kktrecon_status_name(status).decode()
        super().__init__(message)


def _check(status):
    if status != 0:
        raise Error(status, lib.kktrecon_last_error().decode(errors="replace"))


def version():
    """The library's version string."""
    return lib.kktrecon_version().decode()


def set_verbosity(level):
    """0: the library prints nothing to stderr, 1 (default): progress lines, 2: debug."""
    lib.kktrecon_set_verbosity(int(level))


def _f64(a, shape=None, name="array"):
    a = np.ascontiguousarray(_numpy(a), dtype=np.float64)
    if shape is not None and a.shape != shape:
        try:
            a = a.reshape(shape)
        except ValueError:
            raise Error(-1, f"{name} has shape {a.shape}, expected {shape}") from None
    return a


def _float_array(a):
    """A contiguous float32 or float64 array without copying when it already is one."""
    a = _numpy(a)
    if a.dtype == np.float32:
        return np.ascontiguousarray(a), FLOAT32
    return np.ascontiguousarray(a, dtype=np.float64), FLOAT64


def _numpy(v):
    """numpy arrays as they are; torch tensors (anything with .numpy()) through their numpy view."""
    if isinstance(v, np.ndarray):
        return v
    if hasattr(v, "detach"):  # torch.Tensor: off the autograd graph and onto the CPU first
        v = v.detach()
        if hasattr(v, "cpu"):
            v = v.cpu()
    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    return np.asarray(v)


def _ptr(a):
    return a.ctypes.data_as(_lib.c_double_p)


# ---------- settings ----------

class Config:
    """A set of configuration keys (defaults of `kktrecon help config`), optionally read from
    an INI file, then overridden by keys: Config("configs/mnist_small.ini", **{"attack.lr_x": 0.1})."""

    def __init__(self, path=None, **keys):
        h = ctypes.c_void_p()
        _check(lib.kktrecon_config_new(ctypes.byref(h)))
        self._h = h
        if path is not None:
            _check(lib.kktrecon_config_load(self._h, str(path).encode()))
        for k, v in keys.items():
            self[k] = v

    def copy(self):
        c = Config.__new__(Config)
        h = ctypes.c_void_p()
        _check(lib.kktrecon_config_copy(self._h, ctypes.byref(h)))
        c._h = h
        return c

    def __setitem__(self, key, value):
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, float):
            value = repr(value)  # shortest text that reads back as the same double
        _check(lib.kktrecon_config_set(self._h, key.encode(), str(value).encode()))

    def __getitem__(self, key):
        buf = ctypes.create_string_buffer(4096)
        _check(lib.kktrecon_config_get(self._h, key.encode(), buf, len(buf)))
        return buf.value.decode()

    def __del__(self):
        if getattr(self, "_h", None) and lib is not None:
            lib.kktrecon_config_free(self._h)
            self._h = None


def _config(config, sections, keys):
    """config (None, a path or a Config) copied, then keys set: a dotted key as it is, a plain
    one in the first of `sections` that has it."""
    if isinstance(config, Config):
        c = config.copy()
    else:
        c = Config(config)
    for k, v in keys.items():
        if v is None:
            continue
        if "." in k or k == "device":
            c[k] = v
            continue
        err = None
        for s in sections:
            try:
                c[f"{s}.{k}"] = v
                err = None
                break
            except Error as e:
                err = err or e
                if "unknown key" not in str(e):
                    raise
        if err is not None:
            raise Error(err.status, f"unknown setting '{k}' (not a key of "
                        f"{', '.join('[' + s + ']' for s in sections)}; see `kktrecon help config`)")
    return c


# ---------- devices ----------

def devices():
    """The devices, as `kktrecon devices` lists them: dicts with index, spec (opens exactly that
    device), type, name, platform, driver, global_mem (bytes) and fp64."""
    n, cap = ctypes.c_int(), 16
    while True:  # one enumeration unless there are more than cap devices
        arr = (_lib.DeviceInfo * cap)()
        _check(lib.kktrecon_device_list(arr, cap, ctypes.byref(n)))
        if n.value <= cap:
            break
        cap = n.value
    return [{"index": d.index, "spec": d.spec.decode(), "type": d.type.decode(),
             "name": d.name.decode(errors="replace"), "platform": d.platform.decode(errors="replace"),
             "driver": d.driver.decode(errors="replace"), "global_mem": d.global_mem,
             "fp64": bool(d.fp64)} for d in arr[:n.value]]


class Device:
    """An open device: Device("host"), Device("1"), Device("gpu"), Device("pocl"), ... (the
    --device SPEC of the command line; None: KKTRECON_DEVICE, else the first GPU, else host).
    Functions also take the SPEC string itself (device="host")."""

    def __init__(self, spec=None):
        h = ctypes.c_void_p()
        _check(lib.kktrecon_device_open(spec.encode() if spec else None, ctypes.byref(h)))
        self._h = h

    def __str__(self):
        return lib.kktrecon_device_describe(self._h).decode(errors="replace")

    def __repr__(self):
        return f"kktrecon.Device({str(self)!r})"

    def selftest(self, precision="double"):
        """The known-answer self-test the command line runs before a job on an OpenCL device;
        raises Error naming the op that computed wrong numbers."""
        _check(lib.kktrecon_device_selftest(self._h, FLOAT64 if precision in ("double", "float64")
                                            else FLOAT32))

    def close(self):
        if getattr(self, "_h", None) and lib is not None:
            lib.kktrecon_device_close(self._h)
            self._h = None

    __del__ = close


_open_devices = {}


def _device(device):
    if isinstance(device, Device):
        return device
    key = device or ""
    if key not in _open_devices:  # one open device per spec, kept for the session
        _open_devices[key] = Device(device)
    return _open_devices[key]


# ---------- interruption and progress ----------

class _Job:
    """Runs one long library call: a SIGINT handler that only sets a flag (so Ctrl-C never
    raises inside the C call's callback), and the callback that asks the library to stop."""

    def __init__(self, progress):
        self.progress = progress
        self.interrupted = False
        self.error = None

    @contextlib.contextmanager
    def sigint(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.interrupted:  # a second Ctrl-C: the default behaviour
                raise KeyboardInterrupt
            self.interrupted = True

        old = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    def call(self, *args):
        try:
            if self.interrupted or self.error:
                return 1
            if self.progress is not None and args[-1] is not None:
                if self.progress(*args) is False:
                    return 1
            return 0
        except BaseException as e:  # KeyboardInterrupt included: stop, raise after the call
            if isinstance(e, KeyboardInterrupt):
                self.interrupted = True
            else:
                self.error = e
            return 1

    def finish(self, status):
        if self.error is not None:
            raise self.error
        if self.interrupted:
            raise KeyboardInterrupt
        _check(status)


def _loss_dict(l):
    return {"loss": l.total, "loss_kkt": l.kkt, "loss_prior": l.prior, "loss_lambda": l.lambda_,
            "loss_kkt_per_tensor": list(l.kkt_per_tensor[:l.n_tensors])}


# ---------- models ----------

def _layer_index(name):
    """'layers.3.weight' / '3.weight' / 'net.layers.3.bias' -> (3, 'weight'), else None."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[-1] in ("weight", "bias") and parts[-2].isdigit():
        return int(parts[-2]), parts[-1]
    return None


class Model:
    """A trained binary classifier: a ReLU MLP with one output, its first layer optionally
    with a bias, and the train mean image its inputs are centred with."""

    def __init__(self, handle):
        self._h = handle

    def __del__(self):
        if getattr(self, "_h", None) and lib is not None:
            lib.kktrecon_model_free(self._h)
            self._h = None

    @classmethod
    def load(cls, path):
        """A safetensors model: kktrecon's own files or a PyTorch state_dict saved with
        safetensors (layers.N.* or nn.Sequential's N.* names, optional data.mean)."""
        h = ctypes.c_void_p()
        _check(lib.kktrecon_model_load(str(path).encode(), ctypes.byref(h)))
        return cls(h)

    @classmethod
    def from_arrays(cls, weights, biases=None, mean=None, image_shape=None):
        """weights[l]: the (dims[l+1], dims[l]) matrix of layer l as nn.Linear stores it;
        biases: None or a list with None or a vector per layer (any layer); mean: the train
        mean image (D values) or None."""
        ws = [_numpy(w) for w in weights]
        if len(ws) < 2:
            raise Error(-1, f"a model has at least 2 layers, got {len(ws)}")
        f32 = all(w.dtype == np.float32 for w in ws)
        dt, npdt = (FLOAT32, np.float32) if f32 else (FLOAT64, np.float64)
        ws = [np.ascontiguousarray(w, dtype=npdt) for w in ws]
        for l, w in enumerate(ws):
            if w.ndim != 2:
                raise Error(-1, f"weight of layer {l} has shape {w.shape}, expected a matrix")
        dims = [ws[0].shape[1]] + [w.shape[0] for w in ws]
        for l in range(1, len(ws)):
            if ws[l].shape[1] != dims[l]:
                raise Error(-1, f"weight of layer {l} has shape {ws[l].shape}: {dims[l]} "
                            f"inputs expected (layer {l - 1} has {dims[l]} outputs)")
        bs = [None] * len(ws)
        if biases is not None:
            if len(biases) > len(ws):
                raise Error(-1, f"{len(biases)} biases for {len(ws)} layers")
            for l, b in enumerate(biases):
                if b is not None:
                    bs[l] = np.ascontiguousarray(_numpy(b), dtype=npdt).reshape(-1)
                    if bs[l].shape[0] != dims[l + 1]:
                        raise Error(-1, f"bias of layer {l} has {bs[l].shape[0]} values, "
                                    f"expected {dims[l + 1]}")
        mu = None
        if mean is not None:
            mu = np.ascontiguousarray(_numpy(mean), dtype=npdt).reshape(-1)
            if mu.shape[0] != dims[0]:
                raise Error(-1, f"mean has {mu.shape[0]} values, the model takes {dims[0]}")
        L = len(ws)
        cdims = (ctypes.c_size_t * (L + 1))(*dims)
        cw = (ctypes.c_void_p * L)(*[w.ctypes.data for w in ws])
        cb = (ctypes.c_void_p * L)(*[b.ctypes.data if b is not None else None for b in bs])
        h = ctypes.c_void_p()
        _check(lib.kktrecon_model_new(L, cdims, dt, cw, cb if any(b is not None for b in bs)
                                      else None, mu.ctypes.data if mu is not None else None,
                                      ctypes.byref(h)))
        m = cls(h)
        if image_shape is not None:
            m.image_shape = image_shape
        return m

    @classmethod
    def from_state_dict(cls, state_dict, mean=None, image_shape=None):
        """A model from a PyTorch state_dict (or any mapping of names to arrays / tensors):
        `layers.N.weight` / `layers.N.bias` (the paper's nn.ModuleList) or nn.Sequential's
        `N.weight` / `N.bias` (ReLU modules in between), in layer order by N; `data.mean` in
        the mapping is the mean image unless mean= is given."""
        layers = {}
        for name, v in state_dict.items():
            if name == "data.mean":
                if mean is None:
                    mean = v
                continue
            key = _layer_index(name)
            if key is None:
                raise Error(-1, f"state_dict entry '{name}' is not a layer's weight or bias "
                            f"(expected layers.N.weight / N.weight, .bias, or data.mean)")
            layers.setdefault(key[0], {})[key[1]] = v
        order = sorted(layers)
        for n in order:
            if "weight" not in layers[n]:
                raise Error(-1, f"state_dict has a bias for layer index {n} but no weight")
        return cls.from_arrays([layers[n]["weight"] for n in order],
                               [layers[n].get("bias") for n in order], mean, image_shape)

    def save(self, path, dtype="float32"):
        """Writes the model as `kktrecon train` does (float32 or float64 parameters)."""
        _check(lib.kktrecon_model_save(self._h, str(path).encode(),
                                       FLOAT64 if dtype in ("float64", np.float64) else FLOAT32))

    @property
    def dims(self):
        L = lib.kktrecon_model_layers(self._h)
        d = (ctypes.c_size_t * (L + 1))()
        _check(lib.kktrecon_model_dims(self._h, d, L + 1))
        return list(d)

    @property
    def weights(self):
        dims = self.dims
        out = []
        for l in range(len(dims) - 1):
            w = np.empty((dims[l + 1], dims[l]))
            _check(lib.kktrecon_model_weight(self._h, l, _ptr(w)))
            out.append(w)
        return out

    @property
    def biases(self):
        dims = self.dims
        out = []
        for l in range(len(dims) - 1):
            if lib.kktrecon_model_has_bias(self._h, l):
                b = np.empty(dims[l + 1])
                _check(lib.kktrecon_model_bias(self._h, l, _ptr(b)))
                out.append(b)
            else:
                out.append(None)
        return out

    @property
    def mean(self):
        m = np.empty(self.dims[0])
        _check(lib.kktrecon_model_mean(self._h, _ptr(m)))
        return m

    @property
    def image_shape(self):
        c, h, w = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
        lib.kktrecon_model_image_shape(self._h, ctypes.byref(c), ctypes.byref(h), ctypes.byref(w))
        return (c.value, h.value, w.value) if c.value else None

    @image_shape.setter
    def image_shape(self, shape):
        c, h, w = shape if shape else (0, 0, 0)
        _check(lib.kktrecon_model_set_image_shape(self._h, c, h, w))

    @property
    def n_train(self):
        """The training-set size the model's file reports (0 if unknown)."""
        return lib.kktrecon_model_n_train(self._h)

    def __repr__(self):
        return f"kktrecon.Model({'-'.join(map(str, self.dims))})"

    def predict(self, x, device=None, config=None, **train_keys):
        """Φ(x − mean) of inputs x (n×D or n×C×H×W), in train.precision."""
        x, dt = _float_array(x)
        x = x.reshape(x.shape[0], -1)
        c = _config(config, ["train"], train_keys)
        phi = np.empty(x.shape[0])
        _check(lib.kktrecon_model_predict(self._h, _device(device)._h, c._h, x.shape[0], dt,
                                          x.ctypes.data, _ptr(phi)))
        return phi

    def attack_size(self, config=None, **attack_keys):
        """(m, D): the candidates an attack with these settings makes, and their size."""
        c = _config(config, ["attack", "data"], attack_keys)
        m, d = ctypes.c_size_t(), ctypes.c_size_t()
        _check(lib.kktrecon_attack_size(self._h, c._h, ctypes.byref(m), ctypes.byref(d)))
        return m.value, d.value

    def attack(self, device=None, config=None, progress=None, points=None, **attack_keys):
        """The attack of `kktrecon attack` on this model; keywords are [attack] keys
        (candidates, iterations, lr_x, lr_lambda, momentum, init_scale, lambda_min, alpha,
        activation, optimizer, seed, log_every, precision). progress(iteration, total, loss)
        is called on every loss-reading iteration (loss: dict of the loss terms); returning
        False stops the attack. points: a list of dicts (or a dict of equal-length lists) of
        the point columns init_scale, lr_x, lr_lambda, momentum, lambda_min, alpha, seed — all
        run in one device job as attack.points_file runs them.
        Returns an Attack: .x (m×D candidates in the model's mean-subtracted space; points:
        P×m×D), .lam, .y, .loss, ...; `x, lam = model.attack(...)` unpacks."""
        c = _config(config, ["attack", "data"], attack_keys)
        dev = _device(device)
        m, d = self.attack_size(c)
        job = _Job(None if progress is None else
                   (lambda it, total, loss: progress(it, total, _loss_dict(loss.contents))))
        cb = _lib.ATTACK_PROGRESS(lambda user, it, total, loss: job.call(
            it, total, loss if loss else None))
        res = _lib.AttackResult()
        y = np.empty(m)
        if points is None:
            x, lam = np.empty((m, d)), np.empty(m)
            with job.sigint():
                st = lib.kktrecon_attack(self._h, dev._h, c._h, cb, None, _ptr(x), _ptr(lam),
                                         _ptr(y), ctypes.byref(res))
            job.finish(st)
            return Attack(x, lam, y, _loss_dict(res.loss), res, str(dev))
        if isinstance(points, dict):
            cols = list(points)
            rows = list(zip(*[points[k] for k in cols]))
        else:
            cols = sorted({k for p in points for k in p})
            missing = [i for i, p in enumerate(points) if set(p) != set(cols)]
            if missing:
                raise Error(-1, f"point {missing[0]} does not set the same columns as the "
                            f"others ({', '.join(cols)})")
            rows = [[p[k] for k in cols] for p in points]
        P = len(rows)
        vals = np.ascontiguousarray(np.array(rows, dtype=np.float64).reshape(P, len(cols)))
        names = (ctypes.c_char_p * max(len(cols), 1))(*[k.encode() for k in cols])
        x, lam = np.empty((P, m, d)), np.empty((P, m))
        losses = (_lib.Loss * P)()
        div = np.zeros(P, dtype=np.intc)
        with job.sigint():
            st = lib.kktrecon_attack_points(self._h, dev._h, c._h, P, len(cols), names,
                                            _ptr(vals), cb, None, _ptr(x), _ptr(lam), _ptr(y),
                                            losses, div.ctypes.data_as(_lib.c_int_p),
                                            ctypes.byref(res))
        job.finish(st)
        a = Attack(x, lam, y, _loss_dict(res.loss), res, str(dev))
        a.points = [dict(zip(cols, r)) for r in rows]
        a.losses = [_loss_dict(l) for l in losses]
        a.diverged = div.astype(bool)
        return a

    def kkt(self, x, lam, y=None, device=None, config=None, **attack_keys):
        """The attack's objective at (x, λ), as `kktrecon kkt`: a dict of the loss terms and
        grad_x (m×D), grad_lambda (m), with attack.alpha, attack.lambda_min,
        attack.activation, attack.precision. y: the labels (default: the attack's, the first
        half −1)."""
        d = self.dims[0]
        x = _f64(x, name="x")
        x = x.reshape(-1, d) if x.size % d == 0 else x
        if x.ndim != 2 or x.shape[1] != d:
            raise Error(-1, f"x has shape {x.shape}; the model takes {d} values per candidate")
        m = x.shape[0]
        lam = _f64(lam, (m,), "lam")
        if y is None:
            y = np.where(np.arange(m) < m // 2, -1.0, 1.0)
        y = _f64(y, (m,), "y")
        c = _config(config, ["attack"], attack_keys)
        loss = _lib.Loss()
        gx, gl = np.empty((m, d)), np.empty(m)
        _check(lib.kktrecon_kkt(self._h, _device(device)._h, c._h, m, _ptr(x), _ptr(lam), _ptr(y),
                                ctypes.byref(loss), _ptr(gx), _ptr(gl)))
        out = _loss_dict(loss)
        out["grad_x"], out["grad_lambda"] = gx, gl
        return out


class Attack:
    """An attack's result: x (candidates, mean-subtracted space), lam (λ), y (labels ±1), loss
    (the final loss terms; points: the best point's), iterations, seconds, precision, device;
    for points also .points, .losses and .diverged. Unpacks as (x, lam)."""

    def __init__(self, x, lam, y, loss, res, device):
        self.x, self.lam, self.y, self.loss = x, lam, y, loss
        self.iterations = res.iterations
        self.seconds = res.seconds
        self.precision = "float64" if res.precision == FLOAT64 else "float32"
        self.device = device

    def __iter__(self):
        return iter((self.x, self.lam))

    def __repr__(self):
        return (f"kktrecon.Attack(x {self.x.shape}, {self.iterations} iterations, "
                f"loss {self.loss['loss']:.4e}, {self.precision})")


# ---------- data, training, evaluation ----------

def load_data(config=None, split="train", **data_keys):
    """The binary task's images as `kktrecon train` selects them from the data.* keys
    (dataset, path, task, per_class, test_per_class): (x, y, image_shape) with x n×D in [0,1]
    (not centred), y ±1, image_shape (C, H, W)."""
    c = _config(config, ["data"], data_keys)
    n, d, ch, h, w = (ctypes.c_size_t() for _ in range(5))
    px, py = _lib.c_double_p(), _lib.c_double_p()
    _check(lib.kktrecon_data_load(c._h, 1 if split == "test" else 0, ctypes.byref(n),
                                  ctypes.byref(d), ctypes.byref(ch), ctypes.byref(h),
                                  ctypes.byref(w), ctypes.byref(px), ctypes.byref(py)))
    try:
        x = np.ctypeslib.as_array(px, (n.value, d.value)).copy()
        y = np.ctypeslib.as_array(py, (n.value,)).copy()
    finally:
        lib.kktrecon_free(px)
        lib.kktrecon_free(py)
    return x, y, (ch.value, h.value, w.value)


def train(x, y, image_shape=None, device=None, config=None, progress=None, **keys):
    """Trains a model as `kktrecon train` does on images x (n×D or n×C×H×W, e.g. pixel/255;
    their mean image becomes the model's) with labels y (±1). Keywords are [train] and [model]
    keys (steps, lr, lr_max, stop_loss, seed, precision, log_every, hidden, first_bias,
    init_scale). progress(step, total, loss) after each log step; False stops.
    Returns (model, info) with info a dict of the final statistics."""
    xa = _numpy(x)
    if image_shape is None and xa.ndim == 4:
        image_shape = xa.shape[1:]
    x, dt = _float_array(xa)
    n = x.shape[0]
    x = x.reshape(n, -1)
    y = _f64(y, (n,), "y")
    c, h, w = image_shape if image_shape else (0, 0, 0)
    cfg = _config(config, ["train", "model"], keys)
    dev = _device(device)
    job = _Job(None if progress is None else
               (lambda step, total, loss: progress(step, total, loss)))
    cb = _lib.TRAIN_PROGRESS(lambda user, step, total, loss: job.call(
        step, total, None if math.isnan(loss) else loss))
    res = _lib.TrainResult()
    hm = ctypes.c_void_p()
    with job.sigint():
        st = lib.kktrecon_train(dev._h, cfg._h, n, x.shape[1], dt, x.ctypes.data, _ptr(y), c, h, w,
                                cb, None, ctypes.byref(hm), ctypes.byref(res))
    model = Model(hm) if hm.value else None  # a stopped run still hands its model back
    job.finish(st)
    info = {"steps": res.steps, "seconds": res.seconds, "train_loss": res.loss,
            "train_errors": res.errors, "min_margin": res.min_margin,
            "median_margin": res.median_margin, "kkt_gap": res.kkt_gap, "device": str(dev)}
    return model, info


_SCORES = ("official", "clip", "mean_baseline")


def evaluate(model, candidates, x, y, image_shape=None, downsample=False, device=None):
    """The evaluation of `kktrecon evaluate`: every training image (x: n×D in [0,1], not
    centred, as load_data returns it; y: ±1) matched to its nearest candidate (candidates: m×D
    in the model's mean-subtracted space, or an Attack; points: all points pooled) by NCC
    distance and scored by SSIM three ways. downsample: match after 2× bicubic downsampling
    (the paper's CIFAR-10 protocol).
    Returns (pairs, summary): pairs a dict of arrays in training-set order (train_index,
    candidate, ncc, margin, ssim_official, ssim_clip, ssim_baseline), summary a dict shaped
    like summary.json (n_train, n_candidates, n_candidates_nonfinite, and per score
    official / clip / mean_baseline: above_0.3, above_0.4, above_0.5, mean, median)."""
    if isinstance(candidates, Attack):
        candidates = candidates.x
    d = model.dims[0]
    cand = _f64(candidates, name="candidates")
    cand = cand.reshape(-1, d)
    xa = _numpy(x)
    if image_shape is None and xa.ndim == 4:
        image_shape = xa.shape[1:]
    xa, dt = _float_array(xa)
    n = xa.shape[0]
    xa = xa.reshape(n, -1)
    y = _f64(y, (n,), "y")
    c, h, w = image_shape if image_shape else (0, 0, 0)
    pairs = (_lib.Pair * n)()
    s = _lib.EvalSummary()
    _check(lib.kktrecon_evaluate(model._h, _device(device)._h, n, dt, xa.ctypes.data, _ptr(y),
                                 c, h, w, cand.shape[0], _ptr(cand), int(bool(downsample)),
                                 pairs, ctypes.byref(s)))
    fields = [f for f, _ in _lib.Pair._fields_]
    raw = np.ctypeslib.as_array(pairs)
    out = {f: np.array(raw[f]) for f in fields}
    for f in ("train_index", "candidate"):
        out[f] = out[f].astype(np.int64)
    summary = {"n_train": s.n_train, "n_candidates": s.n_candidates,
               "n_candidates_nonfinite": s.n_nonfinite}
    for k, name in enumerate(_SCORES):
        summary[name] = {"above_0.3": s.above[k][0], "above_0.4": s.above[k][1],
                         "above_0.5": s.above[k][2], "mean": s.mean[k], "median": s.median[k]}
    return out, summary


def images(model, candidates, mode="clip"):
    """Candidates as images in [0,1]: candidate + the model's mean, clipped (mode "clip") or
    min-max scaled per image ("official", the paper's protocol)."""
    x = _f64(candidates.x if isinstance(candidates, Attack) else candidates).reshape(
        -1, model.dims[0]) + model.mean
    if mode == "clip":
        return np.clip(x, 0.0, 1.0)
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    return np.where(hi > lo, (x - lo) / np.where(hi > lo, hi - lo, 1), 0.0)


def grid_png(path, top, bottom=None, image_shape=(1, 28, 28), labels=None, title=None):
    """Writes the evaluation's grid picture: images top[i] (n×D in [0,1]) above bottom[i],
    optional labels under each pair and a title (the grid.png of `kktrecon evaluate`)."""
    top = _f64(top)
    n = top.shape[0]
    top = top.reshape(n, -1)
    b = None if bottom is None else _f64(bottom, top.shape, "bottom")
    lab = None
    if labels is not None:
        lab = (ctypes.c_char_p * max(n, 1))(*[str(s).encode() for s in labels])
    c, h, w = image_shape
    _check(lib.kktrecon_grid_png(str(path).encode(), n, c, h, w, _ptr(top),
                                 _ptr(b) if b is not None else None, lab,
                                 title.encode() if title else None))
