"""The demo as a newcomer runs it: `python -m example_app`, then the printed curl commands."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # polling for the server to bind, not waiting for time to pass
    raise RuntimeError("the demo did not start")


@pytest.fixture(params=["starlette", "fastapi", "flask", "django"])
def demo(request: pytest.FixtureRequest) -> Iterator[tuple[list[tuple[str, str]], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "example_app", "--port", str(port), "--framework", request.param],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    try:
        commands: list[tuple[str, str]] = []
        comment = ""
        for line in process.stdout:
            if line.startswith("# "):
                comment = line[2:].strip()
            elif line.startswith("curl "):
                commands.append((comment, line.strip()))
            elif line.startswith("The log lines below"):
                break
        wait_until_serving(f"http://127.0.0.1:{port}/health", process)
        yield commands, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def run_curl(command: str) -> httpx.Response:
    """Do what the printed curl command does (curl itself need not be installed)."""
    argv = shlex.split(command)
    assert argv[:2] == ["curl", "-i"]
    url = argv[2]
    headers = dict(argv[i + 1].split(": ", 1) for i in range(3, len(argv), 2) if argv[i] == "-H")
    return httpx.get(url, headers=headers)


def test_the_printed_commands_show_each_outcome(demo: tuple[list[tuple[str, str]], str]) -> None:
    commands, base_url = demo
    outcomes = []
    for comment, command in commands:
        assert base_url in command
        expected = re.match(r"(\d{3})(?: (\w+))?:", comment)
        assert expected is not None, comment
        response = run_curl(command)
        assert response.status_code == int(expected.group(1)), (comment, response.text)
        if expected.group(2):
            assert response.json()["code"] == expected.group(2)
        outcomes.append((response.status_code, expected.group(2)))
    assert outcomes == [
        (200, None),
        (401, "token_expired"),
        (401, "audience_invalid"),
        (403, "insufficient_scope"),
        (401, "token_missing"),
        (200, None),
    ]
