"""The client's address, believed from ``X-Forwarded-For`` only when a trusted proxy says it.

certnotify runs behind a reverse proxy (deploy/Caddyfile), so the peer gunicorn sees is
the proxy. The proxy appends the address it saw to ``X-Forwarded-For``; anyone else can
write anything there. So the header is read only when the peer is in
``server.forwarded_allow_ips``, from the right, skipping the trusted proxies, and the
first address that is not one of them becomes ``REMOTE_ADDR`` (what the logs show).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ForwardedFor"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip("[]")
    if text.count(":") == 1 and "." in text:  # "203.0.113.7:51234"
        text = text.rsplit(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ForwardedFor:
    def __init__(self, app: Callable[..., Any], trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted: list[Network] = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _is_trusted(self, address: Any) -> bool:
        return address is not None and any(address in network for network in self.trusted)

    def client(self, peer: str, forwarded: str) -> str:
        if not forwarded or not self._is_trusted(_address(peer)):
            return peer
        for hop in reversed(forwarded.split(",")):
            address = _address(hop)
            if address is None:
                return peer  # a hop we cannot read: believe nothing beyond it
            if not self._is_trusted(address):
                return str(address)
        return peer

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        peer = environ.get("REMOTE_ADDR", "")
        environ["certnotify.peer"] = peer
        environ["REMOTE_ADDR"] = self.client(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
        return self.app(environ, start_response)
