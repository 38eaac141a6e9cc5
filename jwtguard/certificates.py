"""Certificate-bound access tokens (RFC 8705 §3): the certificate a token is bound to, and the one a request presents.

A token whose `cnf` claim has `x5t#S256` may be used only over a connection whose client certificate has that
SHA-256 thumbprint (base64url of the DER, no padding): anyone who copies the token alone cannot use it. The request's
certificate comes from, in this order:

- `client_cert_header`, set by a TLS-terminating proxy and read only from a peer in `trusted_proxies` (from any other
  peer it is ignored, so a client cannot name someone else's certificate): a PEM certificate, URL-encoded or not
  (nginx `$ssl_client_escaped_cert`, AWS ALB `X-Amzn-Mtls-Clientcert`), base64 DER without the PEM armour (Traefik
  `X-Forwarded-Tls-Client-Cert`), or Envoy's `X-Forwarded-Client-Cert` with one element whose `Hash=` (hex SHA-256 of
  the DER) or `Cert=` (URL-encoded PEM) names it;
- the server's own TLS connection: the ASGI TLS extension (`scope["extensions"]["tls"]["client_cert_chain"]`, the
  client's certificate first) or, under WSGI, `SSL_CLIENT_CERT` (Apache mod_ssl with `SSLOptions +ExportCertData`).

A bound token with no certificate, or another one, is 401 `certificate_binding_mismatch`. Tokens without `cnf` (or
with only another confirmation method, such as DPoP's `jkt`) are not looked at here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from ._request import RequestInfo, header_values
from .errors import CertificateBindingMismatch, ClaimInvalid, ConfigurationError, TokenContext
from .sources import Network, from_peer_in, proxy_network

__all__ = ["ClientCertificates", "bound_thumbprint", "der_thumbprint", "pem_thumbprint"]

# base64url of 32 bytes, unpadded: 43 characters, the last holding 2 bits (RFC 7515 §2, RFC 8705 §3.1).
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_XFCC = "x-forwarded-client-cert"


def der_thumbprint(der: bytes) -> str:
    """The `x5t#S256` of a DER certificate: base64url of its SHA-256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode("ascii")


def _der_of(text: str) -> bytes | None:
    """The DER of the first certificate in `text`: PEM (any whitespace inside, as proxies fold it), or base64 DER
    without the armour; checked to be an X.509 certificate. None when it is neither."""
    from cryptography import x509  # loaded when a bound token first meets a certificate

    match = _PEM.search(text)
    body = match.group(1) if match else text.split(",", 1)[0]  # Traefik joins a chain with ','
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
        x509.load_der_x509_certificate(der)
    except (ValueError, binascii.Error):
        return None
    return der


def pem_thumbprint(text: str) -> str | None:
    """The `x5t#S256` of the certificate in `text` (PEM, or base64 DER without armour), or None."""
    der = _der_of(text)
    return None if der is None else der_thumbprint(der)


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The `x5t#S256` a verified token's `cnf` claim binds it to, or None; 401 `claim_invalid` for a `cnf` that is
    not an object or an `x5t#S256` that is not a SHA-256 thumbprint (the token cannot be checked, so it is refused)."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    if type(cnf) is not dict:
        raise ClaimInvalid("claim 'cnf' is not an object", claim="cnf")
    value = cnf.get("x5t#S256")
    if value is None:
        return None
    if type(value) is not str or _THUMBPRINT.fullmatch(value) is None:
        raise ClaimInvalid("claim 'cnf.x5t#S256' is not a base64url SHA-256 thumbprint", claim="cnf")
    return value


def _xfcc_elements(value: str) -> list[dict[str, str]]:
    """Envoy's `x-forwarded-client-cert`: elements separated by ',', pairs by ';', values optionally quoted."""
    elements: list[dict[str, str]] = []
    pairs: dict[str, str] = {}
    key, chars, quoted, escaped, in_value = "", [], False, False, False
    for char in value + ",":
        if escaped:
            chars.append(char)
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            else:
                chars.append(char)
        elif char == '"' and in_value:
            quoted = True
        elif char == "=" and not in_value:
            key, chars, in_value = "".join(chars).strip().lower(), [], True
        elif char in ";,":
            if in_value:
                pairs[key] = "".join(chars).strip()
            key, chars, in_value = "", [], False
            if char == ",":
                if pairs:
                    elements.append(pairs)
                pairs = {}
        else:
            chars.append(char)
    return elements


def _xfcc_thumbprint(value: str) -> str | None:
    elements = _xfcc_elements(value)
    # One element: what the terminating proxy verified. Several mean hops that appended (or a client's own header
    # that a proxy forwarded): which is the client's cannot be told, so none is taken.
    if len(elements) != 1:
        return None
    element = elements[0]
    digest = element.get("hash", "")
    if _HEX_SHA256.fullmatch(digest):
        return base64.urlsafe_b64encode(bytes.fromhex(digest)).rstrip(b"=").decode("ascii")
    cert = element.get("cert")
    return pem_thumbprint(unquote(cert)) if cert else None


class ClientCertificates:
    """Where a request's client certificate is read from (see the module docstring), and the binding check."""

    __slots__ = ("header", "trusted_proxies")

    def __init__(self, header: str | None = None, trusted_proxies: Iterable[str] = ()) -> None:
        self.header = None if header is None else header.strip().lower()
        self.trusted_proxies: tuple[Network, ...] = tuple(proxy_network(entry) for entry in trusted_proxies)
        if self.header is not None:
            if not self.header or any(char in self.header for char in " :\t\r\n"):
                raise ConfigurationError(f"client_cert_header: {header!r} is not a header name")
            if not self.trusted_proxies:
                # Certificates are public: from any peer, the header would let a copied token through.
                raise ConfigurationError(
                    "client_cert_header needs trusted_proxies: the addresses of the proxy that sets it"
                )

    def presented(self, request: RequestInfo) -> tuple[str | None, str]:
        """The thumbprint of the certificate `request` presents (None: none, or none that can be read), and where
        it was looked for, for the log."""
        if self.header is not None and from_peer_in(request.client, self.trusted_proxies):
            values = header_values(request, self.header)
            if values:
                if len(values) > 1:
                    return None, f"{self.header} (several)"
                value = values[0].strip()
                found = _xfcc_thumbprint(value) if self.header == _XFCC else pem_thumbprint(unquote(value))
                return found, self.header
        raw = request.raw
        if raw is None:
            return None, "none"
        if not ("headers" in raw and "type" in raw):  # a WSGI environ (or Django's META)
            pem = raw.get("SSL_CLIENT_CERT")
            return (pem_thumbprint(pem) if isinstance(pem, str) and pem else None), "SSL_CLIENT_CERT"
        tls = (raw.get("extensions") or {}).get("tls") or {}
        chain = tls.get("client_cert_chain") if isinstance(tls, Mapping) else None
        if chain and isinstance(chain[0], str):
            return pem_thumbprint(chain[0]), "tls"
        return None, "tls"

    def check(self, bound: str, request: RequestInfo, context: TokenContext) -> None:
        """Return when `request` presents the certificate `bound` names; else raise `CertificateBindingMismatch`."""
        presented, where = self.presented(request)
        if presented == bound:
            return
        raise CertificateBindingMismatch(
            "certificate-bound token without a client certificate"
            if presented is None
            else "certificate-bound token with another client certificate",
            context=context,
            details={"certificate_from": where, "presented": presented, "expected": bound},
        )
