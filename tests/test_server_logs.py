"""Refusals in the output of real servers, set up as docs/deploying.md says: one line per refused request, with the
decisive values, and never the token. Then `jwtguard.logging` itself: `configure()` gives way to the application's
own logging, and `config_dict()` keeps the server's."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]  # no stubs
from gunicorn.glogging import CONFIG_DEFAULTS  # type: ignore[import-untyped]  # no stubs
from uvicorn.config import LOGGING_CONFIG

import jwtguard.logging
from jwtguard import Settings
from jwtguard.logging import FallbackHandler
from jwtguard.settings import PREFETCH_MODES
from jwtguard.testing import DevIssuer

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "deploying.md").read_text(encoding="utf-8")
START_DEADLINE = 20.0  # seconds for a server to answer its first request
STOP_DEADLINE = 10.0


def block(name: str) -> str:
    """The guide's code block `name`, as a reader would paste it."""
    match = re.search(rf"<!-- deploying: {re.escape(name)} -->\n```python\n(.*?)```", GUIDE, re.DOTALL)
    assert match is not None, f"docs/deploying.md has no block {name!r}"
    return match.group(1)


def as_json(code: str) -> str:
    """The guide's JSON form of a block: `format="json"` added to the call, as its "JSON lines" section says."""
    json_code = code.replace("configure()", 'configure(format="json")').replace(
        "config_dict(", 'config_dict(format="json", '
    )
    assert json_code != code
    return json_code


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the servers, each as the guide sets it up ----------------------------------------------------------------

DJANGO_PROJECT = """\
import os

SECRET_KEY = "not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS: list[str] = []
ROOT_URLCONF = "project_urls"
MIDDLEWARE = ["jwtguard.django.JWTGuardMiddleware"]
JWTGUARD = {name.removeprefix("JWTGUARD_"): value for name, value in os.environ.items() if name.startswith("JWTGUARD_")}
# The project's own logging, as Django's documentation first shows it: a root handler for warnings.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
"""


def gunicorn(port: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "wsgi:application", "--bind", f"127.0.0.1:{port}"]
    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):  # no socket in the home directory
        command.append("--no-control-socket")
    return command


DJANGO_URLS = """\
from django.urls import path

from views import ready

urlpatterns = [path("ready", ready)]
"""


@dataclass(frozen=True)
class Setup:
    """Files to write and the command that serves them on a port, for one server and log format."""

    files: Callable[[str, int], dict[str, str]]  # (format, port) -> {file name: text}
    command: Callable[[int], list[str]]


SETUPS: dict[str, Setup] = {
    # `configure()` in the app module, `uvicorn main:app`.
    "uvicorn": Setup(
        lambda form, port: {"main.py": block("uvicorn-app") if form == "text" else as_json(block("uvicorn-app"))},
        lambda port: [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port", str(port)],
    ),
    # `uvicorn.run(..., log_config=config_dict(base=LOGGING_CONFIG))`, with main.py's `configure()` left in.
    "uvicorn.run": Setup(
        lambda form, port: {
            "main.py": block("uvicorn-app"),
            "serve.py": (block("uvicorn-run") if form == "text" else as_json(block("uvicorn-run"))).replace(
                "port=8000", f"port={port}"
            ),
        },
        lambda port: [sys.executable, "serve.py"],
    ),
    # The same module under hypercorn.
    "hypercorn": Setup(
        lambda form, port: {"main.py": block("uvicorn-app") if form == "text" else as_json(block("uvicorn-app"))},
        lambda port: [sys.executable, "-m", "hypercorn", "main:app", "--bind", f"127.0.0.1:{port}"],
    ),
    # gunicorn.conf.py's `logconfig_dict`, found in the working directory.
    "gunicorn": Setup(
        lambda form, port: {
            "gunicorn.conf.py": block("gunicorn-conf") if form == "text" else as_json(block("gunicorn-conf")),
            "wsgi.py": block("gunicorn-app"),
        },
        lambda port: gunicorn(port),
    ),
    # The same without gunicorn's root handler, which doubles gunicorn's own lines.
    "gunicorn-once": Setup(
        lambda form, port: {
            "gunicorn.conf.py": block("gunicorn-conf-once") if form == "text" else as_json(block("gunicorn-conf-once")),
            "wsgi.py": block("gunicorn-app"),
        },
        lambda port: gunicorn(port),
    ),
    # settings.py's `LOGGING = config_dict(base=LOGGING)`, `manage.py runserver --noreload`, and the guide's
    # readiness view.
    "django": Setup(
        lambda form, port: {
            "project_settings.py": DJANGO_PROJECT
            + (block("django-settings") if form == "text" else as_json(block("django-settings"))),
            "views.py": block("django-ready"),
            "project_urls.py": DJANGO_URLS,
        },
        lambda port: [sys.executable, "-m", "django", "runserver", "--noreload", f"127.0.0.1:{port}"],
    ),
    # `configure()` in the Flask app module, `flask run`.
    "flask": Setup(
        lambda form, port: {"app.py": block("flask") if form == "text" else as_json(block("flask"))},
        lambda port: [sys.executable, "-m", "flask", "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)],
    ),
}


@dataclass(frozen=True)
class Served:
    stdout: str
    stderr: str
    tokens: tuple[str, str]  # the wrong-audience token, the expired one
    ready: httpx.Response  # GET /ready after the refusals

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def serve_and_refuse(server: str, form: str, issuer: DevIssuer, tmp_path: Path) -> Served:
    """Start `server` as the guide sets it up, send it a token for another audience and an expired token, stop it."""
    port = free_port()
    setup = SETUPS[server]
    for name, text in setup.files(form, port).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("JWTGUARD_", "DJANGO_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="project_settings",
        JWTGUARD_ISSUER=issuer.issuer,
        JWTGUARD_AUDIENCE=issuer.audience,
        JWTGUARD_JWKS_URI=issuer.jwks_uri,
        JWTGUARD_EXCLUDE_PATHS="/ready",  # polled until the server answers: no refusal to log
    )
    stdout_path, stderr_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(setup.command(port), cwd=tmp_path, env=env, stdout=stdout, stderr=stderr)
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=5.0, trust_env=False) as client:
                wait_until_answering(client, process, stderr_path)
                tokens = (issuer.token(audience="other"), issuer.token(expires_in=-120))  # expired 120 s ago now
                for token in tokens:
                    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
                ready = client.get("/ready")
            process.send_signal(signal.SIGINT)
            process.wait(timeout=STOP_DEADLINE)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_DEADLINE)
    return Served(
        stdout_path.read_text(encoding="utf-8", errors="replace"),
        stderr_path.read_text(encoding="utf-8", errors="replace"),
        tokens,
        ready,
    )


def wait_until_answering(client: httpx.Client, process: subprocess.Popen[bytes], stderr: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{stderr.read_text(errors='replace')}")
        try:
            client.get("/ready", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)  # the next poll
    pytest.fail(f"the server did not answer within {START_DEADLINE} s:\n{stderr.read_text(errors='replace')}")


def refusal_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "jwtguard: rejected" in line]


def assert_no_token(served: Served) -> None:
    for token in served.tokens:
        payload, signature = token.split(".")[1:]
        assert token not in served.output
        assert payload not in served.output
        assert signature not in served.output


@pytest.mark.parametrize("server", list(SETUPS))
def test_each_refusal_is_one_text_line_with_the_decisive_values(server: str, issuer: DevIssuer, tmp_path: Path) -> None:
    served = serve_and_refuse(server, "text", issuer, tmp_path)
    lines = refusal_lines(served.output)
    assert len(lines) == 2, served.output
    assert refusal_lines(served.stderr) == lines  # standard error, where both functions write
    audience, expired = lines
    assert "jwtguard: rejected GET /me: audience_invalid (401) no aud value is a configured audience" in audience
    assert f"[aud=['other'] expected=[{issuer.audience!r}]; token verified]" in audience
    assert " INFO " in audience
    assert "jwtguard: rejected GET /me: token_expired (401)" in expired
    assert re.search(r"\[exp=\d+ expired_seconds_ago=1[12]\d(\.\d)? leeway=60; token verified\]", expired), expired
    assert_no_token(served)
    if server == "django":  # the guide's readiness view: keys are loaded by now
        assert (served.ready.status_code, served.ready.json()["status"]) == (200, "ok")
    if server == "gunicorn-once":  # gunicorn's own lines once: one access line per request
        assert served.stdout.count('"GET /me HTTP/1.1" 401') == 2


@pytest.mark.parametrize("server", ["uvicorn.run", "gunicorn", "django", "flask"])
def test_each_refusal_is_one_json_line(server: str, issuer: DevIssuer, tmp_path: Path) -> None:
    served = serve_and_refuse(server, "json", issuer, tmp_path)
    assert len(refusal_lines(served.output)) == 2, served.output  # no text line besides the JSON ones
    lines = refusal_lines(served.stderr)
    assert len(lines) == 2, served.output
    audience, expired = (json.loads(line) for line in lines)
    common = {"level": "INFO", "logger": "jwtguard", "status": 401, "method": "GET", "path": "/me"}
    assert audience.items() >= {**common, "code": "audience_invalid", "claims_verified": True}.items()
    assert expired.items() >= {**common, "code": "token_expired", "claims_verified": True}.items()
    assert audience["details"] == {"aud": "['other']", "expected": repr([issuer.audience])}
    assert 110 <= float(expired["details"]["expired_seconds_ago"]) < 130
    assert audience["client"] == expired["client"] == "127.0.0.1"
    assert audience["iss"] == issuer.issuer
    for record, token in zip((audience, expired), served.tokens, strict=True):
        assert record["token_fingerprint"] == hashlib.sha256(token.encode()).hexdigest()[:12]
        assert record["message"].startswith(f"jwtguard: rejected GET /me: {record['code']} (401) ")
    assert_no_token(served)


# -- jwtguard.logging in this process ------------------------------------------------------------------------


@contextmanager
def bare_logging() -> Iterator[logging.Logger]:
    """The `jwtguard` logger as a server leaves it: no handler, no level; and a root logger without handlers.
    Entered in the test itself: pytest adds its capture handlers to the root logger after the fixtures ran."""
    root, logger = logging.getLogger(), logging.getLogger("jwtguard")
    saved = (root.handlers[:], root.level, logger.handlers[:], logger.level, logger.propagate)
    root.handlers.clear()
    root.setLevel(logging.WARNING)
    logger.handlers.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    try:
        yield logger
    finally:
        root.handlers[:], logger.handlers[:] = saved[0], saved[2]
        root.setLevel(saved[1])
        logger.setLevel(saved[3])
        logger.propagate = saved[4]


def stream_handler() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    return logging.StreamHandler(stream), stream


def test_configure_falls_silent_while_the_app_has_its_own_handler() -> None:
    fallback = io.StringIO()
    with bare_logging() as logger:
        jwtguard.logging.configure(stream=fallback)
        logger.info("jwtguard: rejected GET /a")
        assert fallback.getvalue().count("jwtguard: rejected") == 1

        # The application configures logging: a root handler. Each record now shows once, through it.
        app_handler, app_stream = stream_handler()
        logging.getLogger().addHandler(app_handler)
        logger.info("jwtguard: rejected GET /b")
        assert "GET /b" not in fallback.getvalue()
        assert app_stream.getvalue() == "jwtguard: rejected GET /b\n"

        # A root handler that `jwtguard` does not propagate to does not count; one on `jwtguard` itself does.
        logger.propagate = False
        logger.info("jwtguard: rejected GET /c")
        assert "GET /c" in fallback.getvalue()
        own_handler, own_stream = stream_handler()
        logger.addHandler(own_handler)
        logger.info("jwtguard: rejected GET /d")
        assert "GET /d" not in fallback.getvalue()
        assert own_stream.getvalue() == "jwtguard: rejected GET /d\n"

        # Without the application's handlers, the fallback writes again.
        logger.removeHandler(own_handler)
        logger.propagate = True
        logging.getLogger().removeHandler(app_handler)
        logger.info("jwtguard: rejected GET /e")
        assert fallback.getvalue().count("jwtguard: rejected") == 3
        assert app_stream.getvalue().count("jwtguard: rejected") == 1


def test_configure_once_more_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    with bare_logging() as logger:
        jwtguard.logging.configure(stream=first)
        handler = jwtguard.logging.configure(format="json", stream=second)
        assert [h for h in logger.handlers if isinstance(h, FallbackHandler)] == [handler]
        logger.info("jwtguard: rejected GET /a", extra={"jwtguard_code": "token_expired"})
    assert first.getvalue() == ""
    record = json.loads(second.getvalue())
    assert (record["message"], record["code"], record["level"]) == (
        "jwtguard: rejected GET /a",
        "token_expired",
        "INFO",
    )


def test_configure_keeps_the_level_the_app_set() -> None:
    stream = io.StringIO()
    with bare_logging() as logger:
        jwtguard.logging.configure(stream=stream)
        assert logger.level == logging.INFO  # unset before: INFO, or refusals would stay below root's WARNING

        logger.setLevel(logging.WARNING)  # the application's choice
        jwtguard.logging.configure(stream=stream, level="DEBUG")
        assert logger.level == logging.WARNING
        logger.info("jwtguard: rejected GET /a")
        logger.error("jwtguard: rejected GET /b: jwks_unavailable (503)")
    assert "GET /a" not in stream.getvalue()
    assert "GET /b" in stream.getvalue()


def test_configure_writes_what_the_apps_handler_filters_out() -> None:
    # A root handler for warnings and errors does not get an INFO refusal: the fallback still shows it, and
    # leaves the ERROR record to the application's handler.
    fallback = io.StringIO()
    with bare_logging() as logger:
        jwtguard.logging.configure(stream=fallback)
        app_handler, app_stream = stream_handler()
        app_handler.setLevel(logging.WARNING)
        logging.getLogger().addHandler(app_handler)
        logger.info("jwtguard: rejected GET /a: token_expired (401)")
        logger.error("jwtguard: rejected GET /b: jwks_unavailable (503)")
    assert fallback.getvalue().endswith(" INFO jwtguard: rejected GET /a: token_expired (401)\n")
    assert "GET /b" not in fallback.getvalue()
    assert app_stream.getvalue() == "jwtguard: rejected GET /b: jwks_unavailable (503)\n"


BASES: dict[str, dict[str, Any]] = {
    "gunicorn": CONFIG_DEFAULTS,
    "uvicorn": LOGGING_CONFIG,
    "django": {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"verbose": {"format": "{levelname} {name} {message}", "style": "{"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "verbose"}},
        "root": {"handlers": ["console"], "level": "WARNING"},
        "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    },
}


@pytest.mark.parametrize("server", list(BASES))
@pytest.mark.parametrize("form", ["text", "json"])
def test_config_dict_keeps_the_servers_logging(server: str, form: Any) -> None:
    base = BASES[server]
    before = copy.deepcopy(base)
    config = jwtguard.logging.config_dict(format=form, base=base)
    assert base == before  # the server's own dictionary is left as it was

    for section in ("formatters", "handlers", "loggers"):
        assert config[section].items() >= before.get(section, {}).items()
        assert set(config[section]) == set(before.get(section, {})) | {"jwtguard"}
    assert {key: value for key, value in config.items() if key not in ("formatters", "handlers", "loggers")} == {
        key: value for key, value in before.items() if key not in ("formatters", "handlers", "loggers")
    }
    assert config["loggers"]["jwtguard"] == {"handlers": ["jwtguard"], "level": "INFO", "propagate": False}
    assert config["handlers"]["jwtguard"]["stream"] == "ext://sys.stderr"


def test_config_dict_without_a_base() -> None:
    config = jwtguard.logging.config_dict(level=logging.DEBUG)
    assert (config["version"], config["disable_existing_loggers"]) == (1, False)
    assert config["loggers"]["jwtguard"]["level"] == "DEBUG"
    with pytest.raises(ValueError, match="format must be 'text' or 'json'"):
        jwtguard.logging.config_dict(format="xml")  # type: ignore[arg-type]


#: Names the guide writes in backticks that belong to the servers and proxies, not to jwtguard.
THIRD_PARTY_NAMES = frozenset(
    {"auth_request", "expose_headers", "forwarded_allow_ips", "log_config", "logconfig_dict", "minimum_size"}
    | {"proxy_pass", "root_path"}
)


def test_the_guide_names_only_what_exists() -> None:
    # A setting the guide names is a field of Settings; any other name of jwtguard's (an error code, a decisive
    # value, a log or health field) occurs in its source; the rest belong to the servers.
    fields = {field.name for field in dataclasses.fields(Settings)}
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "jwtguard").glob("*.py"))
    names = set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?:=[^`]*)?`", GUIDE))
    assert {"jwks_prefetch", "exclude_paths", "cors_preflight", "jwks_min_refresh_interval"} <= names & fields
    unknown = {
        name
        for name in names - fields - THIRD_PARTY_NAMES
        if not re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", source)
    }
    assert not unknown
    for value in re.findall(r"`jwks_prefetch=\"(\w+)\"`", GUIDE):
        assert value in PREFETCH_MODES
    assert tuple(re.findall(r"^\| `(\w+)`(?: \(default\))? \|", GUIDE, re.MULTILINE)) == PREFETCH_MODES
