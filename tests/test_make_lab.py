"""`make lab`, the README's first command, run the way a learner runs it.

The server test starts ``make lab`` in a subprocess from the repository root, with
JupyterLab options passed through ``LAB_ARGS`` (no browser, a free port on
127.0.0.1, a known token), waits for the server, checks that the lab page answers
and that the contents API lists every numbered notebook, then shuts the server down
through its API and checks that make, JupyterLab and their process group are gone.

It never installs anything: when ``make -q setup`` says the venv is missing or older
than pyproject.toml/setup.py, it is skipped (run ``make setup`` first; ``make test``
does). The dry-run tests check, without a server, that the lab target adds
``--allow-root`` exactly when ``id -u`` prints 0, using a fake ``id`` on PATH.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MAKE = shutil.which("make")
START_S = 90  # JupyterLab answers in ~3 s here; a loaded CI machine gets room
STOP_S = 30
ROOT_NOTICE = "running as root"

if MAKE is None:
    pytest.skip("make is not installed: the README's commands need it", allow_module_level=True)


def _user_env(**extra: str) -> dict[str, str]:
    """The environment of a shell a user types `make` into: no make variables inherited
    from an outer make (``make test`` runs this file)."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dry_run_lab(tmp_path: Path, uid: int | None, lab_args: str = "") -> list[str]:
    """The lines ``make -n lab`` prints, with ``id -u`` answering ``uid`` (None: the real id)."""
    env = _user_env()
    if uid is not None:
        real_id = shutil.which("id")
        fake = tmp_path / "bin" / "id"
        fake.parent.mkdir()
        fake.write_text(f'#!/bin/sh\n[ "$1" = -u ] && echo {uid} && exit 0\nexec {real_id} "$@"\n')
        fake.chmod(0o755)
        env["PATH"] = f"{fake.parent}{os.pathsep}{env['PATH']}"
    cmd = [MAKE, "-n", "lab", f"LAB_ARGS={lab_args}"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _jupyter_line(lines: list[str]) -> list[str]:
    """The words of the one command that starts JupyterLab on the notebooks folder."""
    found = [line.split() for line in lines if "jupyter lab" in line]
    assert len(found) == 1, f"expected one `jupyter lab` command in:\n{lines}"
    words = found[0]
    served = words[words.index("lab") + 1 :][:1]
    assert served == ["notebooks/"], f"the lab should serve notebooks/: {words}"
    return words


@pytest.mark.parametrize("uid", [0, 1000])
def test_lab_adds_allow_root_exactly_for_root(tmp_path, uid):
    lines = _dry_run_lab(tmp_path, uid, lab_args="--no-browser --port 8890")
    words = _jupyter_line(lines)
    assert ("--allow-root" in words) == (uid == 0), words
    assert any(ROOT_NOTICE in line for line in lines) == (uid == 0), lines
    assert words[-3:] == ["--no-browser", "--port", "8890"], words  # LAB_ARGS passed on as typed


def test_lab_dry_run_for_the_real_user(tmp_path):
    words = _jupyter_line(_dry_run_lab(tmp_path, uid=None))
    assert ("--allow-root" in words) == (os.geteuid() == 0), words


def _require_fresh_setup() -> None:
    """Skip, rather than install for minutes, when `make lab` would (re)install first."""
    q = subprocess.run(
        [MAKE, "-q", "setup"], cwd=ROOT, env=_user_env(), capture_output=True, timeout=30
    )
    if q.returncode != 0:
        pytest.skip(
            "`make lab` would install first: .venv is missing or older than "
            "pyproject.toml/setup.py (`make -q setup` exited "
            f"{q.returncode}); run `make setup` and rerun"
        )


def _get(url: str, token: str, method: str = "GET"):
    request = urllib.request.Request(
        url, method=method, headers={"Authorization": f"token {token}"}
    )
    return urllib.request.urlopen(request, timeout=10)


def _wait_for_server(proc: subprocess.Popen, base: str, token: str, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"`make lab` exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _get(f"{base}/api/status", token)
            return
        except OSError:  # URLError and connection errors: not listening yet
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer in {START_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)


def _kill_group(proc: subprocess.Popen) -> None:
    """Last resort after a failure: nothing the test started may outlive it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_make_lab_serves_every_notebook_and_stops_cleanly(tmp_path):
    _require_fresh_setup()
    expected = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert expected, f"no numbered notebooks in {NOTEBOOKS}"
    port, token = _free_port(), secrets.token_hex(16)
    lab_args = (
        f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token}"
    )
    runtime = tmp_path / "runtime"  # the server's pid file lands here, not in ~/.local
    env = _user_env(
        JUPYTER_RUNTIME_DIR=str(runtime), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws")
    )
    log = tmp_path / "make-lab.log"
    base = f"http://127.0.0.1:{port}"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [MAKE, "lab", f"LAB_ARGS={lab_args}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and JupyterLab in a process group of their own
        )
    try:
        _wait_for_server(proc, base, token, log)
        (server_file,) = runtime.glob("jpserver-*.json")
        server = json.loads(server_file.read_text())
        assert server["port"] == port and server["root_dir"] == str(NOTEBOOKS), server

        with _get(f"{base}/lab", token) as page:  # without the token: a redirect to /login
            assert page.status == 200 and page.geturl() == f"{base}/lab", page.geturl()
            assert b"jupyter-config-data" in page.read()

        with _get(f"{base}/api/contents/", token) as listing:
            contents = json.load(listing)["content"]
        listed = {item["name"] for item in contents if item["type"] == "notebook"}
        missing = [name for name in expected if name not in listed]
        assert not missing, f"the lab lists {sorted(listed)} but not {missing}"

        with _get(f"{base}/api/shutdown", token, method="POST") as answer:
            assert answer.status == 200
        assert proc.wait(timeout=STOP_S) == 0, log.read_text()[-3000:]
        deadline = time.monotonic() + STOP_S
        while not (_gone(server["pid"]) and _group_gone(proc.pid)):
            alive = "JupyterLab" if not _gone(server["pid"]) else "a process of its group"
            assert time.monotonic() < deadline, f"{alive} outlived `make lab` by {STOP_S} s"
            time.sleep(0.2)
        assert not server_file.exists(), "the server did not remove its runtime file"
        assert (ROOT_NOTICE in log.read_text()) == (os.geteuid() == 0)
    finally:
        _kill_group(proc)
