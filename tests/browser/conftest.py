"""A real JupyterLab and a headless Chromium for the browser tests.

One ``jupyter lab`` for the browser tests runs from this venv with its configuration, data,
settings and workspaces in a temporary directory; its notebooks use a kernelspec for this venv's
Python. Chromium is Debian's (``/usr/bin/chromium``, or ``SABOT_CHROMIUM``), driven by
Playwright, which never downloads browsers of its own here. JupyterLab loads sabot-lab's
extension from the checkout (``extension/labextension``, built by ``make labextension``) and
its server extension, and lists the local clusters of a registry of its own (its kernels'
``XDG_RUNTIME_DIR``). :class:`Lab` drives a notebook
through JupyterLab's own commands (``window.jupyterapp``, exposed by
``--LabApp.expose_app_in_browser``), as JupyterLab's galata test helpers do.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from sabot_lab.client import stop_process
from tests.support.ports import ExitedAtStart, on_a_free_port

CHROMIUM = os.environ.get("SABOT_CHROMIUM", "/usr/bin/chromium")
KERNEL = "sabot-lab-test"
SCREENSHOTS = Path(__file__).parent / "screenshots"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
EXTENSION = Path(__file__).resolve().parents[2] / "extension"
STARTUP_TIMEOUT = 90.0
TIMEOUT_MS = 30_000

SETTINGS = {
    # every cell stays in the page, wherever the notebook is scrolled
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # no news, no update checks, no notifications over the notebook
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/apputils-extension/themes": {"theme": "JupyterLab Light", "adaptive-theme": False},
}

CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"
"""The notebook's cells as the page shows them, in order."""


@dataclass
class LabServer:
    """A running ``jupyter lab``: its base URL, token and root directory."""

    url: str
    token: str
    root: Path

    def write_notebook(self, name: str, cells: list[str]) -> Path:
        """Write a notebook of code ``cells`` (running on the venv's kernel) into the root."""
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(source) for source in cells],
            metadata={"kernelspec": {"name": KERNEL, "display_name": KERNEL, "language": "python"}},
        )
        path = self.root / name
        nbformat.write(notebook, path)
        return path


def _write_kernelspec(data_dir: Path) -> None:
    spec = data_dir / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": KERNEL, "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))


def _write_settings(settings_dir: Path) -> None:
    for plugin, values in SETTINGS.items():
        path = settings_dir / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _install_extension(home: Path) -> None:
    """The checkout's JupyterLab extension in the data directory, its server extension enabled
    by the file the wheel installs."""
    built = EXTENSION / "labextension"
    if not (built / "package.json").exists():
        raise RuntimeError(
            f"the JupyterLab extension is not built in {built}: run `make labextension`"
        )
    labextensions = home / "data" / "labextensions"
    labextensions.mkdir(parents=True, exist_ok=True)
    (labextensions / "sabot-lab").symlink_to(built)
    config = home / "config" / "jupyter_server_config.d"
    config.mkdir(parents=True)
    shutil.copy(EXTENSION / "jupyter-config" / "server-config" / "sabot_lab.json", config)


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ExitedAtStart(f"jupyter lab exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"jupyter lab did not answer in {STARTUP_TIMEOUT:g} s:\n{log.read_text()}")


@pytest.fixture(scope="package")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``jupyter lab`` for the browser tests, quiet (no browser, news, update checks or restored
    workspace), stopped at the end (it shuts its kernels down)."""
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"
    root.mkdir()
    _write_kernelspec(home / "data")
    _write_settings(home / "settings")
    _install_extension(home)
    (home / "xdg").mkdir(mode=0o700)
    (home / "tmp").mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(home / "tmp"),  # the notebooks' temporary directories: removed with it
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),
        "XDG_RUNTIME_DIR": str(home / "xdg"),
        # the data directory above before the venv's (which may hold another checkout's
        # extension: a venv is preferred by default)
        "JUPYTER_PREFER_ENV_PATH": "0",
    }
    token = secrets.token_hex(16)
    log = home / "lab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--ServerApp.terminals_enabled=False",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(port: int) -> None:
        url = f"http://127.0.0.1:{port}"
        with open(log, "wb") as out:
            command_on_port = [*command, f"--port={port}"]
            process = subprocess.Popen(command_on_port, env=env, stdout=out, stderr=out)
        started.append((url, process))
        _wait_until_serving(f"{url}/api/status?token={token}", process, log)

    try:
        on_a_free_port(start)
        yield LabServer(started[-1][0], token, root)
    finally:
        for _, process in started:
            stop_process(process, timeout=20)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the browser tests. Playwright runs an event loop on
    this thread while it is open, so it closes with them: later tests may use asyncio.run."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"the browser tests need Chromium at {CHROMIUM}: run `make install-test` "
            "(Debian: apt-get install chromium) or set SABOT_CHROMIUM"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


class Lab:
    """One JupyterLab page showing one notebook, driven through JupyterLab's commands."""

    def __init__(self, page: Page, server: LabServer) -> None:
        self.page = page
        self.server = server

    def open(self, name: str) -> None:
        """Open notebook ``name`` (nothing else: the workspace is reset) and wait until its
        kernel is idle."""
        self.page.goto(f"{self.server.url}/lab/tree/{name}?reset&token={self.server.token}")
        self.page.wait_for_function(
            """() => {
                const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                const kernel = panel && panel.sessionContext && panel.sessionContext.session
                    && panel.sessionContext.session.kernel;
                return !!kernel && kernel.status === "idle" && panel.content.widgets.length > 0;
            }""",
            timeout=60_000,
        )

    def run_cell(self, index: int) -> None:
        """Run cell ``index`` and wait until it ran; fails with the cell's output if it raised."""
        ok = self.page.evaluate(
            """async (index) => {
                const app = window.jupyterapp;
                const notebook = app.shell.currentWidget.content;
                notebook.activeCellIndex = index;
                notebook.deselectAll();
                return await app.commands.execute("notebook:run-cell");
            }""",
            index,
        )
        assert ok, f"cell {index} failed:\n{self.cell(index).inner_text()}"

    def start_cell(self, index: int) -> None:
        """Start cell ``index`` and return at once (it may still run)."""
        self.page.evaluate(
            """(index) => {
                const app = window.jupyterapp;
                const notebook = app.shell.currentWidget.content;
                notebook.activeCellIndex = index;
                notebook.deselectAll();
                app.commands.execute("notebook:run-cell");
            }""",
            index,
        )

    def execute(self, command: str, args: dict[str, Any] | None = None) -> None:
        """Run a JupyterLab command (e.g. ``docmanager:save``) and wait for it."""
        self.page.evaluate(
            "async ([id, args]) => { await window.jupyterapp.commands.execute(id, args); }",
            [command, args or {}],
        )

    def cell(self, index: int) -> Locator:
        """Cell ``index`` of the notebook."""
        return self.page.locator(CELLS).nth(index)

    def wait_in_cell(
        self, index: int, selector: str, holds: str, arg: Any = None, timeout: float = 60_000
    ) -> None:
        """Wait until the JavaScript function ``holds(element, arg)`` is true of the element
        ``selector`` finds in cell ``index``, found again at each try: an output shown again
        (a widget's display refreshed when its state changed) is a new element."""
        found = f"""([cells, index, selector, arg]) => {{
            const cell = document.querySelectorAll(cells)[index];
            const element = cell ? cell.querySelector(selector) : null;
            return element !== null && ({holds})(element, arg);
        }}"""
        self.page.wait_for_function(found, arg=[CELLS, index, selector, arg], timeout=timeout)

    def stdout(self, index: int) -> str:
        """What cell ``index`` printed."""
        stream = self.cell(index).locator('[data-mime-type="application/vnd.jupyter.stdout"]')
        return "".join(stream.all_inner_texts())

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab's theme and wait until the page shows it."""
        self.execute("apputils:change-theme", {"theme": theme})
        self.page.wait_for_function(
            "(theme) => document.body.dataset.jpThemeName === theme", arg=theme
        )
        self.page.locator("#jupyterlab-splash").wait_for(state="detached")


@pytest.fixture(scope="module")
def open_notebook(
    browser: Browser, lab_server: LabServer
) -> Iterator[Callable[[str, list[str]], Lab]]:
    """``open_notebook(name, cells)`` writes a notebook and opens it in a browser page of its
    own on the package's JupyterLab (pages closed after the module)."""
    contexts: list[BrowserContext] = []

    def open_(name: str, cells: list[str]) -> Lab:
        lab_server.write_notebook(name, cells)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        lab = Lab(page, lab_server)
        lab.open(name)
        return lab

    yield open_
    for context in contexts:
        context.close()


SCREENSHOT_ATTEMPTS = 5
"""Screenshots of an element tried again when a view drew it anew while it was taken (a job
widget redraws on each change of its model)."""


def save_screenshot(target: Locator, name: str, docs_name: str | None = None) -> Path:
    """Screenshot ``target`` to ``tests/browser/screenshots/<name>``; with
    ``SABOT_UPDATE_SCREENSHOTS=1``, also to ``docs/images/<docs_name>`` (for the README)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / name
    for attempt in range(SCREENSHOT_ATTEMPTS):
        target.wait_for(state="attached")
        try:
            target.screenshot(path=str(path))
            break
        except PlaywrightError as exc:  # (drawn again meanwhile: the locator finds the new one)
            if "not attached" not in str(exc) or attempt == SCREENSHOT_ATTEMPTS - 1:
                raise
    if docs_name and os.environ.get("SABOT_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / docs_name)
    return path
