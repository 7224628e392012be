"""The wheel ships the JupyterLab extension prebuilt: built from the checkout (``pip wheel``)
and installed in a fresh virtualenv, ``jupyter labextension list`` and ``jupyter server
extension list`` (run as their modules: the fresh venv has no ``jupyter-*`` scripts of its own) show it
enabled, with no Node and no step after ``pip install``.

The fresh virtualenv reaches the dependencies through a ``.pth`` line to this venv's
site-packages, after its own: the ``sabot_lab`` it imports is the wheel's (checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ``command`` in ``cwd``; its stdout and stderr together (it must succeed)."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # no colours
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{output}"
    return output


def test_the_installed_wheel_enables_the_lab_and_server_extensions(tmp_path: Path) -> None:
    if not (ROOT / "extension" / "labextension" / "package.json").exists():
        pytest.fail("the JupyterLab extension is not built: run `make labextension`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER"))}
    env |= {
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        env,
        ROOT,
    )
    (wheel,) = wheels.glob("sabot_lab-*.whl")

    venv = tmp_path / "fresh"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env, tmp_path)
    python = str(venv / "bin" / "python")
    run([*pip, "--python", python, "install", "--no-deps", "-q", str(wheel)], env, tmp_path)
    own = Path(
        run([python, "-c", "import site; print(site.getsitepackages()[0])"], env, tmp_path).strip()
    )
    (own / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    imported = run(
        [python, "-c", "import sabot_lab.lab; print(sabot_lab.lab.__file__)"], env, tmp_path
    )
    assert Path(imported.strip()).is_relative_to(venv), imported

    labextensions = run([python, "-m", "jupyterlab.labextensions", "list"], env, tmp_path)
    (line,) = [ln for ln in labextensions.splitlines() if "sabot-lab" in ln]
    assert "enabled" in line and "OK" in line, labextensions
    assert str(venv / "share" / "jupyter" / "labextensions") in labextensions

    servers = run([python, "-m", "jupyter_server.extension.serverextension", "list"], env, tmp_path)
    enabled_by_the_wheel = f"Config dir: {venv / 'etc' / 'jupyter'} sabot_lab.lab enabled"
    assert enabled_by_the_wheel in " ".join(servers.split()), servers
    assert "sabot_lab.lab OK" in " ".join(servers.split()), servers
