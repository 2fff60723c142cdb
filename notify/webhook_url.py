"""Which webhook URLs phananh may POST to: the guard against server-side request forgery.

A citizen chooses a webhook's URL, and the worker POSTs from inside the deployment's network;
without this guard a citizen could make it reach the database host, a cloud metadata service
(169.254.169.254) or an admin page on localhost. So a URL is refused when its scheme is not
http(s), when it carries credentials, or when its host resolves to any address that is not
globally routable (loopback, private, link-local, multicast, reserved, unspecified, shared …);
*every* resolved address is checked, since a client may connect to any of them.

The check runs when the contact is added and again at each delivery, because DNS may change in
between (rebinding). At delivery the connection goes to the very addresses that were checked
(:class:`VettedHTTPConnection`), so a second lookup cannot swap in another one; redirects are
not followed. ``PHANANH_WEBHOOK_ALLOW_PRIVATE`` lifts the address check (tests, on-premise
receivers); scheme and credentials are refused regardless.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """A webhook URL phananh refuses to call; the message says why (safe to show its owner)."""


def check_form(url: str) -> tuple[str, str, int]:
    """The URL's ``(scheme, host, port)`` once its form is acceptable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeURL(f"not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("a URL with credentials (user:password@) is not allowed")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refusal(address: str) -> str | None:
    """What makes ``address`` off limits ("a loopback address"), or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind.replace('_', '-')} address"
    return None if ip.is_global else "not a public address"


def vetted_addresses(host: str, port: int, allow_private: bool) -> list[Any]:
    """``getaddrinfo`` results for ``host``, refused as a whole if any address is not public."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise OSError(f"cannot resolve {host!r}: {error}") from None
    if not allow_private:
        for *_, sockaddr in found:
            reason = refusal(sockaddr[0])
            if reason:
                where = host if host == sockaddr[0] else f"{host} resolves to {sockaddr[0]}, which"
                raise UnsafeURL(f"{where} is {reason}; webhooks may only reach public "
                                "addresses")
    return found


def check(url: str, allow_private: bool) -> None:
    """Refuse ``url`` (:class:`UnsafeURL`) when a contact is added; resolves its host, so it
    blocks: call it from a worker thread. A host that does not resolve (yet, or without DNS) is
    accepted: delivery checks again and fails, retrying, until it resolves to public addresses."""
    _, host, port = check_form(url)
    with contextlib.suppress(OSError):
        vetted_addresses(host, port, allow_private)


class VettedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection that connects only to addresses :func:`vetted_addresses` accepted."""

    allow_private = False

    def connect(self) -> None:
        self.sock = connect_vetted(self.host, self.port, self.timeout, self.allow_private)


class VettedHTTPSConnection(http.client.HTTPSConnection):
    """The same for HTTPS; the certificate is still checked against the URL's host name."""

    allow_private = False

    def connect(self) -> None:
        sock = connect_vetted(self.host, self.port, self.timeout, self.allow_private)
        self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)


def connect_vetted(host: str, port: int, timeout: float | None,
                   allow_private: bool) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in vetted_addresses(host, port, allow_private):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            sock.close()
            last = error
    raise last or OSError(f"no address for {host!r}")


def connection(url: str, timeout: float, allow_private: bool) -> tuple[Any, str]:
    """An unopened connection to ``url``'s host (form checked) and the path to request."""
    scheme, host, port = check_form(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    cls = VettedHTTPSConnection if scheme == "https" else VettedHTTPConnection
    conn = cls(host, port, timeout=timeout)
    conn.allow_private = allow_private
    return conn, path
