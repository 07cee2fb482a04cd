"""JupyterLab (what `make lab` starts: `jupyter lab notebooks/`) serves the notebooks over HTTP,
headless. Started from the running interpreter (`python -m jupyterlab`), so the test never
triggers `make`'s environment set-up (a pip install of several GB when .venv is missing or older
than pyproject.toml) and works the same in the README's conda environment."""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180  # seconds; the first start on a cold laptop is slow


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


def _wait_until_up(proc, url, token, log):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()}")
        try:
            return _get(url, token)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(proc):
    """Stop jupyter and everything it started: they share one process group."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.mark.slow
def test_lab_serves_the_notebooks(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    lab_args = ["--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # as the Makefile's ROOT_FLAG
        lab_args.append("--allow-root")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))  # runtime files out of $HOME
    log = tmp_path / "lab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "notebooks/", *lab_args], cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        status, body = _wait_until_up(proc, f"{base}/api/contents/", token, log)
        assert status == 200
        names = [item["name"] for item in json.loads(body)["content"]]
        assert "00_tour.ipynb" in names, f"notebook list: {names}"

        # The server's root is notebooks/, and the token is enforced.
        with pytest.raises(urllib.error.HTTPError) as denied:
            _get(f"{base}/api/contents/")
        assert denied.value.code == 403

        # The lab page itself, with the widget front-ends the notebooks need.
        status, page = _get(f"{base}/lab", token)
        assert status == 200
        config = json.loads(
            re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      page, re.S).group(1)
        )
        extensions = {e["name"] for e in config.get("federated_extensions", [])}
        assert {"@jupyter-widgets/jupyterlab-manager", "anywidget"} <= extensions, extensions

        # The server tells the user where to go.
        assert re.search(rf"http://(127\.0\.0\.1|localhost):{port}/lab", log.read_text())
    finally:
        _stop(proc)
    assert proc.poll() is not None, "jupyter lab is still running"
