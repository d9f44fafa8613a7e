"""The package as users get it (issue 15): sdist contents, wheel metadata, a fresh install that works.

``python -m build`` makes the sdist and the wheel (pip may fetch setuptools for the
isolated build); the wheel goes into a fresh virtual environment without wasmtime,
where ``wasmweld --version`` and a merge must work. The unpacked sdist must carry
what its own test suite needs (tests/conftest.py imports tests/helpers.py).
"""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "-q", "-o", str(out), str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_sdist_carries_tests_docs_examples(dist):
    (sdist,) = dist.glob("wasmweld-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "tests/test_readme.py" in names and "tests/test_packaging.py" in names
    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "Makefile", "tests/conftest.py",
                   "tests/helpers.py", "tests/cli/info_json.wat", "tests/cli/info_json.stdout",
                   "docs/design.md", "examples/bank.wat", "examples/world.toml", "examples/demo.py"):
        assert needed in names, needed
    assert any(n.startswith("tests/fixtures/") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_wheel_metadata(dist):
    (wheel,) = dist.glob("wasmweld-*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(meta_name))
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in z.namelist())
        assert "wasmweld/py.typed" in z.namelist()
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Author"] == "wasmweld developers"
    assert "webassembly" in meta["Keywords"]
    classifiers = meta.get_all("Classifier")
    assert "Programming Language :: Python :: 3.10" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Operating System ::") for c in classifiers)
    assert meta["Requires-Python"] == ">=3.10"
    assert 'wasmtime>=50; extra == "runtime"' in meta.get_all("Requires-Dist")


def test_wheel_in_a_fresh_venv_without_wasmtime(dist, tmp_path, wat):
    (wheel,) = dist.glob("wasmweld-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    # the outer pip installs into the fresh environment (no pip bootstrap: faster)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exe = venv / "bin" / "wasmweld"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "wasmweld 0.1.0 (wasmtime not installed)\n"), proc.stderr
    for name in ("logger", "ledger", "bank"):
        (tmp_path / f"{name}.wasm").write_bytes(wat((REPO / "examples" / f"{name}.wat").read_text()))
    proc = subprocess.run([str(exe), "merge", "logger.wasm=logger", "ledger.wasm=ledger", "bank.wasm=bank",
                           "--rename-export-conflicts", "-o", "world.wasm"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "not validated" not in proc.stderr  # wasmweld's own validator checked it in the fresh install
    from wasmweld.validate import validate

    validate((tmp_path / "world.wasm").read_bytes(), engine="wasmtime")  # and wasmtime agrees, here
    # the installed package is the wheel's, not this checkout
    proc = subprocess.run([str(py), "-c", "import wasmweld; print(wasmweld.__file__, wasmweld.__version__)"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert str(venv) in proc.stdout and proc.stdout.split()[1] == "0.1.0"


def test_unpacked_sdist_runs_its_own_tests(dist, tmp_path):
    """It used to fail with `No module named 'helpers'` (tests/conftest.py and helpers.py were missing)."""
    (sdist,) = dist.glob("wasmweld-*.tar.gz")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, filter="data")
    (root,) = tmp_path.glob("wasmweld-*")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                           "tests/test_cli_main.py::test_usage_errors_exit_2", "tests/test_readme.py::"
                           "test_readme_has_the_install_route_below_the_make_commands"],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout
