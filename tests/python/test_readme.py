"""test_readme.py — the README's "From Python" example runs as written.

The python block after the marker line `<!-- tested: tests/python/test_readme.py -->` in
README.md is run in a fresh interpreter from a scratch folder that holds `data` (a link to
the repository's data/, so the example's relative paths work as from the repository root),
and its results are checked: a trained model, an attack, the evaluation's summary with
reconstructions above the mean-image baseline, and grid.png.
"""
import os
import re
import subprocess
import sys

SRC = os.environ.get("KKTRECON_SOURCE_DIR",
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MARKER = "<!-- tested: tests/python/test_readme.py -->"


def example():
    text = open(os.path.join(SRC, "README.md"), encoding="utf-8").read()
    at = text.index(MARKER)
    m = re.search(r"```python\n(.*?)```", text[at:], re.S)
    assert m, "no python block after the marker"
    return m.group(1)


def test_readme_example_runs(tmp_path):
    code = example()
    os.symlink(os.path.join(SRC, "data"), tmp_path / "data")
    check = """
assert summary["n_train"] == 20, summary
assert summary["clip"]["mean"] > summary["mean_baseline"]["mean"], summary
assert x_rec.shape == (80, 784) and lam.shape == (80,)
import os; assert os.path.getsize("grid.png") > 1000
print("readme example: clip SSIM mean %.3f, %d/20 above 0.5" % (summary["clip"]["mean"],
      summary["clip"]["above_0.5"]))
"""
    r = subprocess.run([sys.executable, "-c", code + check], cwd=tmp_path, capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"),
                                           # one thread: 4 s of CPU, and no spinning OpenMP
                                           # threads on cores the other tests share
                                           OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive"))
    assert r.returncode == 0, r.stdout + r.stderr
    print(r.stdout.splitlines()[-1])
