"""Partner webhooks: the URL safety check (no SSRF), the signature, and the one HTTP POST.

A partner's URL is checked when the generation is created and again right before each delivery:
https only, and every address its host resolves to must be public, unless
settings.ARTIO_WEBHOOK_ALLOW_PRIVATE (development and tests). Redirects are never followed, so a
public URL cannot bounce the request to an internal one. (A host that re-resolves to a private
address between our check and the connection is the remaining DNS-rebinding window; it is one
request, without redirects, and its response body is never shown to anyone.)
"""

import hashlib
import hmac
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings

SIGNATURE_HEADER = "Artio-Signature"
CONNECT_TIMEOUT = 3
READ_TIMEOUT = 5
USER_AGENT = "Artio-Webhooks/1"


class WebhookUrlRefused(ValueError):
    """The URL may not receive webhooks; the message says why and is fit for the partner."""


def _address_is_public(address):
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_private or ip.is_loopback)


def webhook_url_check(url, *, allow_private=None):
    """Raise WebhookUrlRefused unless `url` may receive webhooks now."""
    if allow_private is None:
        allow_private = settings.ARTIO_WEBHOOK_ALLOW_PRIVATE
    if not isinstance(url, str) or len(url) > 2000:
        raise WebhookUrlRefused("Must be a URL of at most 2000 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused("Must be a valid URL.") from None
    allowed_schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed_schemes:
        raise WebhookUrlRefused("Must be an https:// URL.")
    if not parts.hostname:
        raise WebhookUrlRefused("Must include a host name.")
    if parts.username or parts.password:
        raise WebhookUrlRefused("Must not contain a user name or password.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlRefused("The host name does not resolve.") from None
    addresses = {info[4][0] for info in infos}
    if not addresses or not all(_address_is_public(address) for address in addresses):
        raise WebhookUrlRefused("Must point to a public internet address (not private or loopback).")


def webhook_signature(*, secret, timestamp, body):
    """Return the Artio-Signature header value: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(*, secret, header, body, tolerance=300, now=None):
    """Return True when `header` signs `body` with `secret` and is at most `tolerance` s old.

    The same check a partner runs on their side (docs/api.md shows it in Python).
    """
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body).split("v1=")[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def ok(self):
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(*, url, body, secret):
    """POST `body` (bytes) signed with `secret` to `url`, once; never raises for network trouble."""
    started = time.monotonic()
    try:
        webhook_url_check(url)
    except WebhookUrlRefused as refused:
        return DeliveryResult(status_code=None, error=f"Refused: {refused}", duration_ms=0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    try:
        response = requests.post(
            url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,
            stream=True,  # the body is never read: a huge answer costs nothing
        )
        response.close()
    except requests.Timeout:
        error, status_code = "Timed out.", None
    except requests.RequestException as exc:
        error, status_code = f"Connection failed: {type(exc).__name__}", None
    else:
        status_code = response.status_code
        error = "" if 200 <= status_code < 300 else f"HTTP {status_code}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return DeliveryResult(status_code=status_code, error=error[:500], duration_ms=duration_ms)
