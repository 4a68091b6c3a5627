"""The wheel installs one import root, `journeylab`, and works outside the repository.

Builds a wheel of this tree, installs it (without dependencies) into a fresh venv whose
only other packages are this interpreter's site-packages (a .pth file), and checks from
an empty folder that the card's folders (`app`, `journeys`, ...) are not top-level
modules while `journeylab.*`, its data files and the `journeylab` command are there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL = {".git", "mlruns", "build", "data", "reports", "out"}  # at the root only


def _skip(folder: str, names: list[str]) -> set[str]:
    """What the copy leaves out: virtualenvs, caches, and the root's local outputs."""
    top = Path(folder) == ROOT
    return {
        n
        for n in names
        if n.startswith(".venv")
        or n == "__pycache__"
        or n.endswith(".egg-info")
        or (top and n in LOCAL)
    }


CHECK = """
import importlib, sys
for name in ("app", "journeys", "generators", "privacy", "predictors", "evaluation"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        pass
    else:
        sys.exit(f"'{name}' is importable at the top level")
import journeylab
assert journeylab.__file__.startswith(sys.prefix), journeylab.__file__
assert callable(journeylab.fit_run)
from journeylab.journeys.completejourney import completejourney_schema
from journeylab.journeys.simulate import simulate_schema
assert completejourney_schema().name and simulate_schema().name   # package data
import journeylab.app, pathlib
assert (pathlib.Path(journeylab.app.__file__).parent / "views" / "runs.py").is_file()
print("ok")
"""


def _site_dirs() -> list[str]:
    """Where this interpreter's packages are (its venv and any it extends by .pth)."""
    return [p for p in sys.path if p.rstrip("/").endswith(("site-packages", "dist-packages"))]


def test_wheel_installs_one_import_root(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=_skip)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), "."],
        cwd=src,
        check=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("journeylab-*.whl")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "_deps.pth").write_text("\n".join(_site_dirs()) + "\n")

    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [str(python), "-c", CHECK], cwd=cwd, env=clean, capture_output=True, text=True
    )
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr + p.stdout
    p = subprocess.run(
        [str(env_dir / "bin" / "journeylab"), "--help"],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0 and "fit" in p.stdout, p.stderr
