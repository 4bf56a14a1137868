"""safetensors_raw.py — the shell tests' reader of safetensors files (plain Python 3, no
packages): tensors(path) gives each tensor's raw bytes by name (for bit-for-bit comparisons),
f64(raw) the doubles of a float64 tensor."""
import json
import struct


def tensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: b[8 + n + t['data_offsets'][0]:8 + n + t['data_offsets'][1]]
            for k, t in h.items() if k != '__metadata__'}


def f64(raw):
    return struct.unpack('<%dd' % (len(raw) // 8), raw)
