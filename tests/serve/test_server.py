"""``hhfan serve`` for real: uvicorn on 127.0.0.1 (a free port), 50 concurrent POST /videos, none lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from hhfan.cli import app as cli
from hhfan.runner import Run
from tests.serve.conftest import video_body


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hhfan serve exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}"
                                 if proc.stderr else "hhfan serve exited")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"hhfan serve did not answer /health within {timeout} s")


def test_fifty_concurrent_posts_against_uvicorn_none_lost(hhfan_run: Run, hhfan_run_dir: Path,
                                                          tmp_path: Path) -> None:
    port, state = free_port(), tmp_path / "state"
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "hhfan", "serve", "--run", str(hhfan_run_dir), "--host",
                             "127.0.0.1", "--port", str(port), "--state", str(state)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
    try:
        wait_healthy(proc, url)
        bodies = [video_body(hhfan_run, i % hhfan_run.dataset.num_videos, f"c-{i}", shift=0.001 * i)
                  for i in range(50)]
        twice = video_body(hhfan_run, 7, "same-id")
        with httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=60)) as client, \
                ThreadPoolExecutor(max_workers=55) as pool:
            codes = list(pool.map(lambda b: client.post("/videos", json=b).status_code, [*bodies, *[twice] * 5]))
            assert codes[:50] == [201] * 50
            assert sorted(codes[50:]) == [201, 409, 409, 409, 409]  # one id posted 5 times at once: one wins
            health = client.get("/health").json()
            assert health["posted_videos"] == 51 and health["videos"] == hhfan_run.dataset.num_videos + 51
            ranked = client.get(f"/users/{hhfan_run.dataset.user_ids[0]}/recommendations",
                                params={"k": 1000}).json()["recommendations"]
            assert {f"c-{i}" for i in range(50)} <= {r["video_id"] for r in ranked}
    finally:
        proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop (the app closes its journal)
        try:  # 9 s to exit on 2 cores shared with 3 training runs; over 60 s once with 4 (after a clean shutdown)
            proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
    # and a restarted service still has every one of them
    from fastapi.testclient import TestClient

    from hhfan.serve.app import create_app
    from hhfan.serve.state import ServeConfig

    with TestClient(create_app(run=hhfan_run, config=ServeConfig(state_dir=state, warmup=False))) as c:
        assert c.get("/health").json()["posted_videos"] == 51
        assert all(c.get(f"/videos/c-{i}").status_code == 200 for i in range(50))


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--port", "70000"], 2, "--port must be in 0..65535"),
    (["--faiss-min-videos", "-1"], 2, "--faiss-min-videos must be >= 0"),
])
def test_serve_usage_errors(hhfan_run_dir: Path, args: list[str], code: int, message: str) -> None:
    r = CliRunner().invoke(cli, ["serve", "--run", str(hhfan_run_dir), *args])
    assert r.exit_code == code and message in r.output, r.output


def test_serve_a_missing_run_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["serve", "--run", str(tmp_path / "nothing")])
    assert r.exit_code == 1 and "no config.yaml" in r.output and "Traceback" not in r.output, r.output
