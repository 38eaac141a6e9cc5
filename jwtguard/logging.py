"""Make jwtguard's log records visible, opt-in: a handler for the `jwtguard` logger, as text or JSON lines.

jwtguard logs one record per refused request on the `jwtguard` logger, at INFO (ERROR for a server fault).
Under uvicorn, gunicorn or Django's runserver that logger has no handler and inherits the root logger's
WARNING level, so the refusals are not shown. Either of these fixes it:

    import jwtguard.logging
    jwtguard.logging.configure()                 # in the app module: works under every server

    LOGGING = jwtguard.logging.config_dict()     # Django settings; gunicorn's `logconfig_dict`; uvicorn's
                                                 # `log_config`: pass the server's own config as `base=`

`configure()` never takes over an application's logging: its handler writes only while no other handler
would receive the record (none on `jwtguard`, none on an ancestor it propagates to), and it sets the
logger's level only when the application has not.
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TextIO

__all__ = ["TEXT_FORMAT", "FallbackHandler", "JSONFormatter", "config_dict", "configure"]

Format = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
"""The text form: time, level, and the message, which names the decisive values itself."""

_LOGGER = "jwtguard"
_PREFIX = "jwtguard_"
# The attributes every `LogRecord` has: anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and every `extra` field.

    jwtguard's own fields lose their `jwtguard_` prefix (`code`, `status`, `reason`, `details`, `kid`, ...).
    Values that JSON cannot hold are written as their `repr`.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and value is not None:
                entry[name.removeprefix(_PREFIX)] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=repr, ensure_ascii=False)


class FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """A stream handler that writes a record only while no other handler would receive it.

    So an application that later configures its own logging (a root handler, or one on `jwtguard`) gets
    each record once, through its own handler, and this one falls silent.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not _handled_elsewhere(logging.getLogger(record.name), self, record.levelno):
            super().emit(record)


def _handled_elsewhere(logger: logging.Logger, handler: logging.Handler, level: int) -> bool:
    """True when a handler other than `handler` gets a record of `level` from `logger`: one on the logger or on an
    ancestor it propagates to, whose own level lets the record through (as `Logger.callHandlers` decides)."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(other is not handler and level >= other.level for other in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def _formatter(form: Format) -> logging.Formatter:
    if form == "json":
        return JSONFormatter()
    if form == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"format must be 'text' or 'json', not {form!r}")


def configure(
    *, format: Format = "text", level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Show jwtguard's records on `stream` (default: standard error) while the application shows them nowhere.

    Sets the `jwtguard` logger's level to `level` unless the application set one. Calling it again replaces
    the handler an earlier call added. Returns the handler.
    """
    logger = logging.getLogger(_LOGGER)
    for existing in [handler for handler in logger.handlers if isinstance(handler, FallbackHandler)]:
        logger.removeHandler(existing)
    handler = FallbackHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_formatter(format))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(level)
    return handler


def config_dict(
    *,
    format: Format = "text",
    level: int | str = "INFO",
    base: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A `logging.config.dictConfig` dictionary that shows jwtguard's records on standard error.

    Given `base` (Django's `LOGGING`, gunicorn's `glogging.CONFIG_DEFAULTS`, uvicorn's
    `config.LOGGING_CONFIG`), returns a copy of it with jwtguard's formatter, handler and logger added, so
    the server's own logging stays as it was. The `jwtguard` logger does not propagate: a root handler in
    `base` does not print each record twice.
    """
    _formatter(format)  # the same check as `configure`
    config: dict[str, Any] = copy.deepcopy(dict(base)) if base is not None else {"version": 1}
    config.setdefault("version", 1)
    config.setdefault("disable_existing_loggers", False)
    formatter: dict[str, Any] = {"()": f"{__name__}.JSONFormatter"} if format == "json" else {"format": TEXT_FORMAT}
    config.setdefault("formatters", {})["jwtguard"] = formatter
    config.setdefault("handlers", {})["jwtguard"] = {
        "class": "logging.StreamHandler",
        "formatter": "jwtguard",
        "stream": "ext://sys.stderr",
    }
    config.setdefault("loggers", {})[_LOGGER] = {
        "handlers": ["jwtguard"],
        "level": logging.getLevelName(level) if isinstance(level, int) else level,
        "propagate": False,
    }
    return config
