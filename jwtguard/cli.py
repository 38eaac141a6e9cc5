"""The `jwtguard` command: inspect a token, verify it step by step against real settings, show the key set,
check a protected resource's metadata.

Exit codes: 0 valid (or decoded), 1 invalid, 2 usage or configuration error (a misconfigured key source
included), 3 key source (or metadata URL) unreachable.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import difflib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from ._fetch import FetchResponse, HttpxFetcher, check_key_url, fetch_json, redact_url
from ._help import HELP, NOT_A_JWT
from ._jose import SUPPORTED_ALGORITHMS
from ._jwk import VerificationKey
from ._token import fingerprint, parse_claims, parse_token
from .diagnose import Diagnosis, Step, ago, diagnose, diagnose_dpop, finite_number, printable, utc
from .errors import AuthError, ConfigurationError, FetchError
from .explain import add_explain_command, cmd_explain
from .guard import Guard, key_set_for
from .resource_metadata import KNOWN_MEMBERS, WELL_KNOWN_PATH, check_document, check_resource, resource_candidates
from .settings import Settings, parse_env_value

__all__ = ["main"]

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
_HOOKS = frozenset({"error_body_hook", "key_event_hook", "revocation_hook"})  # callables: not from a file
_TIME_CLAIMS = ("exp", "nbf", "iat", "auth_time")
_ENV_PREFIX = "JWTGUARD_"


_COLOURS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
_PAINT = re.compile("(\033\\[(?:0|1|2|31|32|33)m)")


class _Out:
    """Writes for people (colour only on a terminal, never with NO_COLOR) or for scripts (--json)."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.colour = stream.isatty() and "NO_COLOR" not in os.environ and not as_json

    def paint(self, text: str, colour: str) -> str:
        return f"\033[{_COLOURS[colour]}m{text}\033[0m" if self.colour else text

    def line(self, text: str = "") -> None:
        # A second guard behind the escaping of each token value: nothing non-printable reaches the
        # terminal but the colour codes `paint` adds.
        parts = _PAINT.split(text) if self.colour else [text]
        self.stream.write("".join(part if _PAINT.fullmatch(part) else printable(part) for part in parts) + "\n")

    def lines(self, text: str) -> None:
        for line in text.split("\n"):
            self.line(line)

    def json(self, document: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps(document, indent=2, default=str) + "\n")


# -- reading a token -------------------------------------------------------------------------------


_HEADER_NAME = re.compile(r"authorization\s*:\s*", re.IGNORECASE)
_BEARER = re.compile(r"bearer\s+", re.IGNORECASE)


def _unquote(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    return text


def _read_token(argument: str, *, strip_scheme: bool = True) -> str:
    """The token as pasted: a whole `Authorization: Bearer ...` line, quoted or not, is taken apart.

    With `strip_scheme` false (verify), a scheme is kept unless what follows it is a single word: "Basic ..."
    and "Bearer a b" are header values to diagnose as a server would read them.
    """
    text = _unquote(sys.stdin.read() if argument == "-" else argument)
    header = _HEADER_NAME.match(text)
    if header:
        text = _unquote(text[header.end() :])
    scheme = _BEARER.match(text)
    if scheme and (strip_scheme or len(text[scheme.end() :].split()) == 1):
        text = _unquote(text[scheme.end() :])
    return text


def _lenient_segment(segment: str) -> tuple[Any, str | None]:
    """Decode a segment as leniently as possible, for showing; returns (value, problem)."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (ValueError, TypeError):
        return None, "not base64url"
    try:
        return json.loads(raw, parse_constant=lambda name: name), None  # NaN/Infinity shown as text
    except (ValueError, RecursionError):
        return raw[:200].decode("utf-8", "replace"), "not JSON"


# -- inspect ---------------------------------------------------------------------------------------


def _face_warnings(header: Any, claims: Any, now: float) -> list[str]:
    warnings: list[str] = []
    if isinstance(header, dict):
        alg = header.get("alg")
        if not isinstance(alg, str):
            warnings.append(f"alg {alg!r} is not a string")
        elif alg.lower() == "none":
            warnings.append("alg 'none': an unsigned token, always refused")
        elif alg.startswith("HS"):
            warnings.append(f"alg {alg!r}: a shared-secret algorithm jwtguard never accepts")
        elif alg not in SUPPORTED_ALGORITHMS:
            warnings.append(f"alg {alg!r} is not one jwtguard supports")
        if "kid" not in header:
            warnings.append("no kid: matched only if the key set has a single key")
        for name in ("jku", "x5u", "jwk", "x5c"):
            if name in header:
                warnings.append(f"header {name!r} is ignored: keys come only from the configured source")
        if "crit" in header:
            warnings.append("header 'crit' names extensions jwtguard does not implement: refused")
    if isinstance(claims, dict):
        exp = finite_number(claims.get("exp"))
        if "exp" not in claims:
            warnings.append("no exp: refused (claim_missing)")
        elif exp is None:
            warnings.append("exp is not a finite NumericDate: refused (claim_invalid)")
        elif exp <= now:
            warnings.append(f"expired {ago(now - exp)} ago")
        for name in ("nbf", "iat"):
            value = finite_number(claims.get(name))
            if value is not None and value > now:
                warnings.append(f"{name} is {ago(value - now)} in the future")
        if "iss" not in claims:
            warnings.append("no iss: refused unless any issuer is allowed")
        if "aud" not in claims:
            warnings.append("no aud: refused unless audience_claim names another claim, or any audience is allowed")
    return warnings


def _time_notes(claims: Any, now: float) -> dict[str, str]:
    notes: dict[str, str] = {}
    if not isinstance(claims, dict):
        return notes
    for name in _TIME_CLAIMS:
        value = finite_number(claims.get(name))
        if value is not None:
            when = "ago" if value <= now else "from now"
            notes[name] = f"{utc(value)} ({ago(value - now)} {when})"
    return notes


def cmd_inspect(args: argparse.Namespace, out: _Out) -> int:
    token = _read_token(args.token)
    now = time.time()
    parts = token.split(".")
    header, header_problem = _lenient_segment(parts[0]) if parts and parts[0] else (None, "empty")
    claims, claims_problem = _lenient_segment(parts[1]) if len(parts) > 1 and parts[1] else (None, "missing")
    problems = []
    try:
        parse_claims(parse_token(token))
    except AuthError as exc:
        problems.append(exc.reason)
    warnings = problems + _face_warnings(header, claims, now)
    decoded = isinstance(header, dict) or isinstance(claims, dict)
    if not decoded and token:
        return _opaque(token, parts, out)
    times = _time_notes(claims, now)
    report: dict[str, Any] = {
        "verified": False,
        "size": len(token.encode("utf-8", "replace")),
        "segments": len(parts),
        "fingerprint": fingerprint(token),
        "header": header,
        "claims": claims,
        "times": times,
        "warnings": warnings,
    }
    if out.as_json:
        out.json(report)
        return EXIT_VALID if decoded else EXIT_INVALID
    out.line(
        out.paint("NOT VERIFIED: decoded only. Nothing here is trusted until 'jwtguard verify' says so.", "yellow")
    )
    out.line(f"size {report['size']} bytes, {len(parts)} segments, fingerprint {report['fingerprint']}")
    out.line()
    out.line(out.paint("header", "bold") + ("" if header_problem is None else f"  ({header_problem})"))
    out.lines(json.dumps(header, indent=2, default=str) if header is not None else "  (none)")
    out.line(out.paint("claims", "bold") + ("" if claims_problem is None else f"  ({claims_problem})"))
    out.lines(json.dumps(claims, indent=2, default=str) if claims is not None else "  (none)")
    if times:
        out.line(out.paint("times", "bold"))
        for name, note in times.items():
            out.line(f"  {name:<9} {note}")
    if warnings:
        out.line(out.paint("jwtguard would refuse or ignore", "bold"))
        for warning in warnings:
            out.line("  " + out.paint("!", "red") + " " + warning)
    return EXIT_VALID if decoded else EXIT_INVALID


def _opaque(token: str, parts: list[str], out: _Out) -> int:
    """Nothing in `token` decodes to a JWT header or claims: say so, rather than show what its bytes decode to."""
    report: dict[str, Any] = {
        "verified": False,
        "jwt": False,
        "size": len(token.encode("utf-8", "replace")),
        "segments": len(parts),
        "fingerprint": fingerprint(token),
        "header": None,
        "claims": None,
        "times": {},
        "warnings": [NOT_A_JWT],
    }
    if out.as_json:
        out.json(report)
        return EXIT_INVALID
    out.line(
        out.paint("NOT VERIFIED: decoded only. Nothing here is trusted until 'jwtguard verify' says so.", "yellow")
    )
    out.line(f"size {report['size']} bytes, {len(parts)} segments, fingerprint {report['fingerprint']}")
    out.line()
    out.line("  " + out.paint("!", "red") + " " + NOT_A_JWT)
    return EXIT_INVALID


# -- settings for verify and keys ------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_settings_warnings() -> Iterator[None]:
    """The insecure_allow_any_* warnings are for a server; `keys` sets them itself and checks no claim."""
    settings_logger = logging.getLogger("jwtguard")
    level = settings_logger.level
    settings_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        settings_logger.setLevel(level)


def _settings(args: argparse.Namespace, *, keys_only: bool = False) -> Settings:
    values: dict[str, Any] = {}
    if args.settings:
        try:
            loaded = json.loads(Path(args.settings).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigurationError(f"--settings {args.settings}: {type(exc).__name__}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigurationError("--settings must hold a JSON object of jwtguard settings")
        # The environment overrides the file, as flags do: drop what a JWTGUARD_* variable sets.
        from_env = {key[len(_ENV_PREFIX) :].lower() for key in os.environ if key.upper().startswith(_ENV_PREFIX)}
        values.update({name: value for name, value in _file_settings(loaded).items() if name not in from_env})
    flags = {
        "issuer": args.issuer,
        "audience": args.audience,
        "algorithms": args.algorithm,
        "jwks_uri": args.jwks_uri,
        "jwks": args.jwks,
        "leeway": args.leeway,
        "required_scopes": args.required_scope,
        "required_claims": args.required_claim,
        "jwks_timeout": args.timeout,
    }
    values.update({name: value for name, value in flags.items() if value is not None})
    if args.discovery:
        values["discovery"] = True
    if keys_only and (values.get("jwks_uri") or values.get("jwks")):
        # Listing keys reads no claims: with a key source named, issuer and audience are optional.
        set_in_env = [key for key, value in os.environ.items() if key.upper().startswith(_ENV_PREFIX) and value]
        from_env = {key[len(_ENV_PREFIX) :].lower() for key in set_in_env}
        given = {name for name, value in values.items() if value} | from_env
        if not given & {"issuer", "issuers"}:
            values["insecure_allow_any_issuer"] = True
        if not given & {"audience", "issuers"}:
            values["insecure_allow_any_audience"] = True
        with _quiet_settings_warnings():
            return Settings.from_env(os.environ, prefix=_ENV_PREFIX, **values)
    return Settings.from_env(os.environ, prefix=_ENV_PREFIX, **values)


def _file_settings(loaded: Mapping[Any, Any]) -> dict[str, Any]:
    """The settings of a --settings file, each named `field` or `JWTGUARD_FIELD` (in any case), as
    `Settings.from_mapping` reads them; a string under a `JWTGUARD_*` name is parsed as the variable would be."""
    names = {field.name for field in dataclasses.fields(Settings)} - _HOOKS
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in loaded.items():
        prefixed = isinstance(key, str) and key.upper().startswith(_ENV_PREFIX)
        name = str(key)[len(_ENV_PREFIX) :].lower() if prefixed else str(key).lower()
        if not isinstance(key, str) or name not in names:
            hint = difflib.get_close_matches(name, names, n=1)
            shown = (_ENV_PREFIX + hint[0].upper() if prefixed else hint[0]) if hint else ""
            raise ConfigurationError(
                f"--settings: {key!r} is not a jwtguard setting" + (f"; did you mean {shown!r}?" if hint else "")
            )
        if name in spelled:
            raise ConfigurationError(f"--settings: {spelled[name]!r} and {key!r} name the same setting")
        spelled[name] = key
        values[name] = parse_env_value(name, key, value) if prefixed and isinstance(value, str) else value
    return values


def _print_steps(diagnosis: Diagnosis, out: _Out) -> None:
    marks = {"pass": out.paint("pass", "green"), "fail": out.paint("FAIL", "red"), "skip": out.paint("skip", "dim")}
    out.line(
        f"jwtguard verify: token {diagnosis.fingerprint or '-'} ({diagnosis.size} bytes)"
        + ("" if diagnosis.claims_verified else out.paint("  claims below are NOT verified", "yellow"))
    )
    for step in diagnosis.steps:
        code = f" [{step.code}]" if step.code else ""
        out.line(f"  {marks[step.status]}  {step.name:<22}{step.detail}{code}")
    out.line()
    if diagnosis.valid:
        out.line(out.paint("VALID", "green") + ": the token passes every check with these settings.")
    else:
        out.line(out.paint(f"INVALID: {diagnosis.status} {diagnosis.code}", "red") + f": {diagnosis.description}")
        out.line(f"failing step: {diagnosis.failing_step}")
        help_ = HELP.get(diagnosis.code or "")
        if help_ is not None:
            out.line("likely causes: " + "; ".join(help_.causes))
            out.line("fix: " + help_.fix)
            out.line(f"more: {help_.link(diagnosis.code or '')}")
    for hint in diagnosis.hints:
        out.line(out.paint("hint: ", "yellow") + hint)


def _print_dpop(steps: list[Step], out: _Out) -> None:
    if not steps:
        return
    marks = {"pass": out.paint("pass", "green"), "fail": out.paint("FAIL", "red")}
    out.line("DPoP (RFC 9449):")
    for step in steps:
        code = f" [{step.code}]" if step.code else ""
        out.line(f"  {marks[step.status]}  {step.name:<22}{step.detail}{code}")
    failed = next((step for step in steps if step.status == "fail"), None)
    if failed is not None and failed.code in HELP:
        out.line("fix: " + HELP[failed.code].fix)


def cmd_verify(args: argparse.Namespace, out: _Out) -> int:
    settings = _settings(args)
    if args.dpop_proof is not None and not args.url:
        raise SystemExit("jwtguard verify: --dpop-proof needs --url (the URL the proof was made for)")
    method = args.method.strip().upper()
    guard = Guard(settings)
    dpop: list[Step] = []
    try:
        token = _read_token(args.token, strip_scheme=False)
        diagnosis = diagnose(guard, token, method=method, path=args.path)
        if args.dpop_proof is not None and diagnosis.valid:
            # The URL is the one the client called: no public_base_url to put in front of it here; and the
            # server's nonce is not known here.
            dpop_guard = Guard(
                dataclasses.replace(
                    settings,
                    dpop="allowed" if settings.dpop == "off" else settings.dpop,
                    public_base_url=None,
                    dpop_nonce=False,
                ),
                key_set=guard.key_set if len(settings.trusted_issuers) == 1 else None,
            )
            dpop = diagnose_dpop(dpop_guard, token, _read_token(args.dpop_proof), method=method, url=args.url)
    finally:
        guard.close()
    if out.as_json:
        out.json({**diagnosis.as_dict(), **({"dpop": [step.__dict__ for step in dpop]} if dpop else {})})
    else:
        _print_steps(diagnosis, out)
        _print_dpop(dpop, out)
    if any(step.status == "fail" for step in dpop):
        return EXIT_INVALID
    if diagnosis.valid:
        return EXIT_VALID
    if diagnosis.configuration_error:
        return EXIT_USAGE
    return EXIT_UNREACHABLE if diagnosis.code == "jwks_unavailable" else EXIT_INVALID


def cmd_keys(args: argparse.Namespace, out: _Out) -> int:
    settings = _settings(args, keys_only=True)
    fetcher = HttpxFetcher()
    report: dict[str, Any] = {"issuers": []}
    unreachable = misconfigured = False
    try:
        for entry in settings.trusted_issuers:
            item: dict[str, Any] = {"issuer": [redact_url(name) for name in entry.names]}
            key_set = key_set_for(settings, entry, fetcher=fetcher)
            try:
                fetched = key_set.fetch()
            except FetchError as exc:
                item.update({"source": key_set.source, "error": str(exc), "configuration_error": exc.configuration})
                misconfigured = misconfigured or exc.configuration
                unreachable = True
                report["issuers"].append(item)
                continue
            item.update(
                {
                    "source": fetched.source,
                    "keys": [
                        {"kid": key.kid, "kty": key.kty, "crv": key.crv, "alg": key.alg or _algs_for(key)}
                        for key in fetched.keys
                    ],
                    "skipped": [{"kid": kid, "reason": reason} for kid, reason in fetched.skipped],
                    "cache_control": fetched.headers.get("cache-control"),
                    "ttl_seconds": fetched.ttl,
                    "date": fetched.headers.get("date"),
                }
            )
            report["issuers"].append(item)
    finally:
        fetcher.close()
    if out.as_json:
        out.json(report)
    else:
        for item in report["issuers"]:
            out.line(out.paint(f"issuer {', '.join(item['issuer']) or '(any)'}", "bold"))
            if "error" in item:
                label = "misconfigured: " if item["configuration_error"] else "unreachable: "
                out.line("  " + out.paint(label, "red") + f"{item['error']} ({item['source']})")
                continue
            ttl = item["ttl_seconds"]
            out.line(f"  source {item['source']}  (cache-control {item['cache_control']!r} -> ttl {ttl:.0f} s)")
            for key in item["keys"]:
                out.line(f"  key  kid {key['kid']!r}  {key['kty']} {key['crv'] or ''}  alg {key['alg']}")
            for key in item["skipped"]:
                out.line("  " + out.paint("skipped", "yellow") + f" kid {key['kid']!r}: {key['reason']}")
    return EXIT_USAGE if misconfigured else EXIT_UNREACHABLE if unreachable else EXIT_VALID


def cmd_resource_metadata(args: argparse.Namespace, out: _Out) -> int:
    """Fetch a protected resource's metadata (RFC 9728) as jwtguard fetches keys, and check it."""
    url = args.url.strip()
    if WELL_KNOWN_PATH in url:
        check_key_url(url, "the metadata URL")
    else:
        check_resource(url, "the resource identifier")
    fetch_url, resources = resource_candidates(url)
    report: dict[str, Any] = {"url": redact_url(fetch_url), "resource": list(resources)}
    fetcher = HttpxFetcher()
    answered: list[FetchResponse] = []  # a response came: what follows is about the document, not the network

    def fetch(url: str, *, timeout: float, max_bytes: int) -> FetchResponse:
        response = fetcher(url, timeout=timeout, max_bytes=max_bytes)
        answered.append(response)
        return response

    try:
        document, _ = fetch_json(
            fetch, fetch_url, deadline=time.monotonic() + args.timeout, max_bytes=512 * 1024, what="metadata URL"
        )
    except FetchError as exc:
        report.update({"valid": False, "reachable": bool(answered), "error": str(exc)})
        if out.as_json:
            out.json(report)
        else:
            label = "INVALID: " if answered else "UNREACHABLE: "
            out.line(out.paint(label, "red") + f"{redact_url(fetch_url)}: {exc}")
        return EXIT_INVALID if answered else EXIT_UNREACHABLE
    finally:
        fetcher.close()
    problems = check_document(document, resources)
    report.update({"valid": not problems, "reachable": True, "problems": problems, "document": document})
    if out.as_json:
        out.json(report)
        return EXIT_INVALID if problems else EXIT_VALID
    out.line(out.paint(f"metadata {redact_url(fetch_url)}", "bold"))
    if isinstance(document, Mapping):
        for name, value in document.items():
            shown = ", ".join(map(str, value)) if isinstance(value, list) else json.dumps(value)
            known = "" if name.partition("#")[0] in KNOWN_MEMBERS else out.paint("  (not in RFC 9728)", "dim")
            out.line(f"  {name:<40} {shown}{known}")
    for problem in problems:
        out.line("  " + out.paint("problem", "red") + f" {problem}")
    if problems:
        out.line(out.paint("INVALID", "red") + f": {len(problems)} problem(s); clients will not use this document")
        return EXIT_INVALID
    out.line(out.paint("VALID", "green") + ": protected resource metadata per RFC 9728")
    return EXIT_VALID


def _algs_for(key: VerificationKey) -> str:
    return "/".join(alg for alg in SUPPORTED_ALGORITHMS if key.fits(alg))


# -- the parser ------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jwtguard", description="Why is my token invalid? Inspect and verify bearer JWTs the way jwtguard does."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inspect_ = sub.add_parser("inspect", help="decode a token without verifying it")
    inspect_.add_argument("token", help="the token (or '-' to read it from standard input)")
    inspect_.add_argument("--json", action="store_true", help="machine-readable output")

    def settings_flags(command: argparse.ArgumentParser) -> None:
        command.add_argument("--issuer", action="append", help="exact iss (repeatable); or JWTGUARD_ISSUER")
        command.add_argument("--audience", action="append", help="accepted aud (repeatable)")
        command.add_argument("--algorithm", action="append", help="allowed alg (repeatable; default RS256)")
        command.add_argument("--jwks-uri", help="the JWKS URL")
        command.add_argument("--discovery", action="store_true", help="find jwks_uri from the issuer")
        command.add_argument("--jwks", help="a static JWKS file")
        command.add_argument("--leeway", type=float)
        command.add_argument("--required-scope", action="append")
        command.add_argument("--required-claim", action="append")
        command.add_argument("--timeout", type=float, help="key fetch timeout in seconds")
        command.add_argument("--settings", help="a JSON file of settings (flags and JWTGUARD_* override it)")
        command.add_argument("--json", action="store_true", help="machine-readable output")

    verify = sub.add_parser("verify", help="run the real checks, step by step, and explain the verdict")
    verify.add_argument(
        "token", help="the token, or a whole Authorization header value such as 'Basic ...', or '-' for standard input"
    )
    settings_flags(verify)
    verify.add_argument("--method", default="GET", help="the request's method, for the per-route rules (default GET)")
    verify.add_argument(
        "--path", help="the request's route path (below the app's mount point): which rule applies, and is it met"
    )
    verify.add_argument("--dpop-proof", help="a DPoP proof (RFC 9449) sent with the token: check it too")
    verify.add_argument("--url", help="with --dpop-proof: the URL the request went to, as the client called it")
    keys = sub.add_parser("keys", help="fetch and show the key set as jwtguard sees it")
    settings_flags(keys)
    metadata = sub.add_parser("resource-metadata", help="fetch and check a protected resource's metadata (RFC 9728)")
    metadata.add_argument(
        "url", help="the resource identifier (https://api.example.com/mcp) or its metadata URL (/.well-known/...)"
    )
    metadata.add_argument("--timeout", type=float, default=3.0, help="fetch timeout in seconds (default 3)")
    metadata.add_argument("--json", action="store_true", help="machine-readable output")
    add_explain_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    out = _Out(sys.stdout, getattr(args, "json", False))
    commands = {
        "inspect": cmd_inspect,
        "verify": cmd_verify,
        "keys": cmd_keys,
        "explain": cmd_explain,
        "resource-metadata": cmd_resource_metadata,
    }
    try:
        return commands[args.command](args, out)
    except ConfigurationError as exc:
        if out.as_json:
            out.json({"error": "configuration", "message": str(exc)})
        else:
            sys.stderr.write(f"jwtguard: configuration error: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
