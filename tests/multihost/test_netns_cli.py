"""``cluster/netns/netns.py up --postgres``: the hosts stay up with PostgreSQL on ``db``
serving SSL at the printed ``sslmode=verify-full`` URL (reached from a JobManager host), and
``down`` removes the namespaces, the server and the run's files."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cluster.netns.virtual_hosts import PROJECT, namespace_name, namespaces, require_root

PREFIX = "slabpg"
"""Not the default prefix: other runs' clusters are none of this test's business."""


def netns(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``cluster/netns/netns.py`` with ``args``."""
    script = PROJECT / "cluster" / "netns" / "netns.py"
    return subprocess.run([sys.executable, str(script), "--prefix", PREFIX, *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def run_files() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"{PREFIX}-cli-*"))


def test_up_with_postgres_serves_verify_full_and_down_removes_everything() -> None:
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    netns("down")
    try:
        up = netns("up", "--agents", "1", "--jobmanagers", "1", "--postgres")
        assert up.returncode == 0, up.stderr
        said = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line)
        url = said["SABOT_DATABASE_URL"]
        assert "@10.77.0.1:5432/sabot?sslmode=verify-full&sslrootcert=" in url
        probe = (
            "import sys, psycopg\n"
            "with psycopg.connect(sys.argv[1], connect_timeout=20) as c:\n"
            "    print(c.pgconn.ssl_in_use, c.execute('SELECT current_user').fetchone()[0])\n"
        )
        done = subprocess.run(
            ["ip", "netns", "exec", namespace_name(PREFIX, "cli", "jm1"),
             sys.executable, "-c", probe, url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.stdout.strip() == "True sabot", done.stderr
        assert run_files()
    finally:
        down = netns("down")
    assert down.returncode == 0, down.stderr
    assert namespaces(PREFIX) == [] and run_files() == []
