"""_lib.py — finds and loads libkktrecon and declares its C API (include/kktrecon.h) to ctypes.

Where the library is looked for, in order:
  1. the environment variable KKTRECON_LIBRARY (a path to libkktrecon.so*);
  2. an installed package: _install.py, written by `meson install` next to this file, names the
     installed library;
  3. a source tree: python/kktrecon/ -> ../../build/libkktrecon.so (the build folder of
     ./run.sh and the README), then any other ../../build*/ folder holding one, newest first;
  4. the system's search path (ctypes.util.find_library("kktrecon")).
"""
import ctypes
import ctypes.util
import glob
import os

API_VERSION = 1

_here = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("KKTRECON_LIBRARY")
    if env:
        yield "KKTRECON_LIBRARY", env
        return  # an explicit choice is not second-guessed
    try:
        from . import _install  # written by meson install
        yield "installed", _install.LIBRARY
    except ImportError:
        pass
    root = os.path.dirname(os.path.dirname(_here))
    default = os.path.join(root, "build", "libkktrecon.so")
    yield "source tree", default
    others = [p for p in glob.glob(os.path.join(root, "build*", "libkktrecon.so")) if p != default]
    for p in sorted(others, key=os.path.getmtime, reverse=True):
        yield "source tree", p
    found = ctypes.util.find_library("kktrecon")
    if found:
        yield "system", found


def _load():
    tried = []
    for where, path in _candidates():
        if where != "system" and not os.path.exists(path):
            tried.append(f"{path} ({where}: not there)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({where}: {e})")
    raise ImportError("kktrecon: libkktrecon not found; tried " + "; ".join(tried) +
                      ". Build it (meson setup build && meson compile -C build), install it "
                      "(meson install), or set KKTRECON_LIBRARY to its path.")


lib, path = _load()

c_size_p = ctypes.POINTER(ctypes.c_size_t)
c_double_p = ctypes.POINTER(ctypes.c_double)
c_int_p = ctypes.POINTER(ctypes.c_int)


class DeviceInfo(ctypes.Structure):
    _fields_ = [("index", ctypes.c_int), ("spec", ctypes.c_char * 32), ("type", ctypes.c_char * 16),
                ("name", ctypes.c_char * 256), ("platform", ctypes.c_char * 256),
                ("driver", ctypes.c_char * 128), ("global_mem", ctypes.c_size_t),
                ("fp64", ctypes.c_int)]


MAX_TENSORS = 17


class Loss(ctypes.Structure):
    _fields_ = [("total", ctypes.c_double), ("kkt", ctypes.c_double), ("prior", ctypes.c_double),
                ("lambda_", ctypes.c_double), ("n_tensors", ctypes.c_int),
                ("kkt_per_tensor", ctypes.c_double * MAX_TENSORS)]


class TrainResult(ctypes.Structure):
    _fields_ = [("steps", ctypes.c_long), ("interrupted", ctypes.c_int),
                ("seconds", ctypes.c_double), ("loss", ctypes.c_double),
                ("errors", ctypes.c_size_t), ("min_margin", ctypes.c_double),
                ("median_margin", ctypes.c_double), ("kkt_gap", ctypes.c_double)]


class AttackResult(ctypes.Structure):
    _fields_ = [("m", ctypes.c_size_t), ("d", ctypes.c_size_t), ("iterations", ctypes.c_long),
                ("interrupted", ctypes.c_int), ("seconds", ctypes.c_double), ("loss", Loss),
                ("precision", ctypes.c_int)]


class Pair(ctypes.Structure):
    _fields_ = [("train_index", ctypes.c_size_t), ("candidate", ctypes.c_size_t),
                ("ncc", ctypes.c_double), ("margin", ctypes.c_double),
                ("ssim_official", ctypes.c_double), ("ssim_clip", ctypes.c_double),
                ("ssim_baseline", ctypes.c_double)]


class EvalSummary(ctypes.Structure):
    _fields_ = [("n_train", ctypes.c_size_t), ("n_candidates", ctypes.c_size_t),
                ("n_nonfinite", ctypes.c_size_t), ("above", (ctypes.c_size_t * 3) * 3),
                ("mean", ctypes.c_double * 3), ("median", ctypes.c_double * 3)]


ATTACK_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_long, ctypes.c_long,
                                   ctypes.POINTER(Loss))
TRAIN_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_long, ctypes.c_long,
                                  ctypes.c_double)

_vp, _cp, _sz, _int = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int
_PROTOS = {
    "kktrecon_last_error": (_cp, []),
    "kktrecon_status_name": (_cp, [_int]),
    "kktrecon_version": (_cp, []),
    "kktrecon_api_version": (_int, []),
    "kktrecon_set_verbosity": (None, [_int]),
    "kktrecon_free": (None, [_vp]),
    "kktrecon_device_list": (_int, [ctypes.POINTER(DeviceInfo), _int, c_int_p]),
    "kktrecon_device_open": (_int, [_cp, ctypes.POINTER(_vp)]),
    "kktrecon_device_close": (None, [_vp]),
    "kktrecon_device_describe": (_cp, [_vp]),
    "kktrecon_device_selftest": (_int, [_vp, _int]),
    "kktrecon_config_new": (_int, [ctypes.POINTER(_vp)]),
    "kktrecon_config_free": (None, [_vp]),
    "kktrecon_config_copy": (_int, [_vp, ctypes.POINTER(_vp)]),
    "kktrecon_config_load": (_int, [_vp, _cp]),
    "kktrecon_config_set": (_int, [_vp, _cp, _cp]),
    "kktrecon_config_get": (_int, [_vp, _cp, ctypes.c_char_p, _sz]),
    "kktrecon_model_new": (_int, [_int, c_size_p, _int, ctypes.POINTER(_vp), ctypes.POINTER(_vp),
                                  _vp, ctypes.POINTER(_vp)]),
    "kktrecon_model_load": (_int, [_cp, ctypes.POINTER(_vp)]),
    "kktrecon_model_save": (_int, [_vp, _cp, _int]),
    "kktrecon_model_free": (None, [_vp]),
    "kktrecon_model_layers": (_int, [_vp]),
    "kktrecon_model_dims": (_int, [_vp, c_size_p, _sz]),
    "kktrecon_model_weight": (_int, [_vp, _int, c_double_p]),
    "kktrecon_model_has_bias": (_int, [_vp, _int]),
    "kktrecon_model_bias": (_int, [_vp, _int, c_double_p]),
    "kktrecon_model_mean": (_int, [_vp, c_double_p]),
    "kktrecon_model_set_image_shape": (_int, [_vp, _sz, _sz, _sz]),
    "kktrecon_model_image_shape": (None, [_vp, c_size_p, c_size_p, c_size_p]),
    "kktrecon_model_n_train": (_sz, [_vp]),
    "kktrecon_model_predict": (_int, [_vp, _vp, _vp, _sz, _int, _vp, c_double_p]),
    "kktrecon_data_load": (_int, [_vp, _int, c_size_p, c_size_p, c_size_p, c_size_p, c_size_p,
                                  ctypes.POINTER(c_double_p), ctypes.POINTER(c_double_p)]),
    "kktrecon_train": (_int, [_vp, _vp, _sz, _sz, _int, _vp, c_double_p, _sz, _sz, _sz,
                              TRAIN_PROGRESS, _vp, ctypes.POINTER(_vp),
                              ctypes.POINTER(TrainResult)]),
    "kktrecon_attack_size": (_int, [_vp, _vp, c_size_p, c_size_p]),
    "kktrecon_attack": (_int, [_vp, _vp, _vp, ATTACK_PROGRESS, _vp, c_double_p, c_double_p,
                               c_double_p, ctypes.POINTER(AttackResult)]),
    "kktrecon_attack_points": (_int, [_vp, _vp, _vp, _sz, _sz, ctypes.POINTER(_cp), c_double_p,
                                      ATTACK_PROGRESS, _vp, c_double_p, c_double_p, c_double_p,
                                      ctypes.POINTER(Loss), c_int_p,
                                      ctypes.POINTER(AttackResult)]),
    "kktrecon_kkt": (_int, [_vp, _vp, _vp, _sz, c_double_p, c_double_p, c_double_p,
                            ctypes.POINTER(Loss), c_double_p, c_double_p]),
    "kktrecon_evaluate": (_int, [_vp, _vp, _sz, _int, _vp, c_double_p, _sz, _sz, _sz, _sz,
                                 c_double_p, _int, ctypes.POINTER(Pair),
                                 ctypes.POINTER(EvalSummary)]),
    "kktrecon_grid_png": (_int, [_cp, _sz, _sz, _sz, _sz, c_double_p, c_double_p,
                                 ctypes.POINTER(_cp), _cp]),
}
for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

if lib.kktrecon_api_version() != API_VERSION:
    raise ImportError(f"kktrecon: {path} has API version {lib.kktrecon_api_version()}, this "
                      f"package speaks version {API_VERSION}")
