"""The client's IP address, through the proxies that are trusted and no others.

Behind a gateway every request comes from the gateway's address; the client's is in
``X-Forwarded-For``, which anyone can also send. So the header is read only when the
connection comes from a trusted proxy (``BALISE_TRUSTED_PROXIES``: addresses or networks,
comma-separated, read by ``values.networks``), and only from the right, hop by hop, while the
hops are trusted proxies: the first untrusted hop is the client. With no trusted proxy, the
peer address is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import falcon

from ..values import Network


class ClientAddress:
    """Call it with a request to get its client's address (a string)."""

    def __init__(self, trusted_proxies: Iterable[Network] = ()) -> None:
        self.trusted = tuple(trusted_proxies)

    def is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, req: falcon.Request) -> str:
        client = req.remote_addr or ""
        if not self.trusted or not self.is_trusted(client):
            return client
        forwarded = req.get_header("X-Forwarded-For") or ""
        for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
            client = hop
            if not self.is_trusted(hop):
                break
        return client
