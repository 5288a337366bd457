"""The client's IP address, counted in hops through the proxies that are trusted.

Behind a gateway every request comes from the gateway's address; the client's is in
``X-Forwarded-For``, which anyone can also write. So the header is read only when the
connection comes from a trusted proxy (``BALISE_TRUSTED_PROXIES``: addresses, networks or
host names), and then by hops, never by ranges: each of the ``BALISE_TRUSTED_HOPS`` proxies
in front of balise (1: the gateway alone) appends the address it saw, so the client is the
``HOPS``-th address from the right, the one the farthest trusted proxy saw. What a client
writes on the left is never read: ``X-Forwarded-For: 127.0.0.1, 10.0.3.7`` from the gateway
is client 10.0.3.7 (a private load balancer in front of it, say), never 127.0.0.1, whatever
the ranges of the addresses. With no trusted proxy, the peer address is the client.

A request that came through a trusted proxy is public whatever its client address: only a
direct connection from ``BALISE_HEALTH_NETWORKS`` is an operator (``ops/access.py``). A
request from a trusted proxy's address without ``X-Forwarded-For`` is taken as direct (the
proxy's host itself: nginx and an operator's ``curl`` share 127.0.0.1): the proxies must
always append it (nginx: ``proxy_add_x_forwarded_for``; Envoy and ingress-nginx do).

Host names (a Kubernetes headless Service names the gateway's pods, or Prometheus's) are
resolved when the app is built, then again every 30 seconds in the background of each
worker; a name that does not resolve stands for no address (and says so in the log).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import falcon

from ..values import Hosts, Network

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], set[IPAddress]]


def resolve(name: str) -> set[IPAddress]:
    """Every address ``name`` resolves to (none when it does not)."""
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos}


def parse_address(text: str) -> IPAddress | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``), IPv4
    addresses mapped in IPv6 read as IPv4; None when it is none."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


class AddressSet:
    """Addresses and networks, and host names standing for what they resolve to."""

    def __init__(self, hosts: Hosts | Iterable[Network] = (), resolver: Resolver | None = None,
                 refresh: float = 30.0) -> None:
        """``refresh``: seconds between two resolutions of the names (a pod's address changes)."""
        hosts = hosts if isinstance(hosts, Hosts) else Hosts(tuple(hosts))
        self.refresh = refresh
        self.networks = hosts.networks
        self.names = hosts.names
        self.resolver = resolver or resolve
        self.resolved: frozenset[IPAddress] = frozenset()
        self.unresolved: set[str] = set()  # names that stand for no address now (said once)
        self._next = 0.0
        self._refreshing: tuple[int, threading.Thread] | None = None
        if self.names:
            self._resolve()

    def __bool__(self) -> bool:
        return bool(self.networks or self.names)

    def __contains__(self, ip: IPAddress) -> bool:
        if self.names:
            if time.monotonic() >= self._next:
                self._refresh()
            if ip in self.resolved:
                return True
        return any(ip in network for network in self.networks)

    def _resolve(self) -> None:
        found: set[IPAddress] = set()
        for name in self.names:
            addresses = self.resolver(name)
            if not addresses and name not in self.unresolved:
                log.warning("%s resolves to no address: it stands for none until it does", name)
                self.unresolved.add(name)
            elif addresses and name in self.unresolved:
                log.info("%s resolves again", name)
                self.unresolved.discard(name)
            found |= addresses
        self.resolved = frozenset(found)
        self._next = time.monotonic() + self.refresh

    def _refresh(self) -> None:
        """Resolve again in the background (a request never waits for DNS); one at a time
        per process (a thread does not outlive a fork)."""
        running = self._refreshing
        if running is not None and running[0] == os.getpid() and running[1].is_alive():
            return
        self._next = time.monotonic() + self.refresh
        thread = threading.Thread(target=self._resolve, name="balise-resolve", daemon=True)
        self._refreshing = (os.getpid(), thread)
        thread.start()


@dataclass(frozen=True, slots=True)
class Client:
    """Who sent a request: its address (or the text a proxy wrote, when it is none), and
    whether it came through a trusted proxy."""

    address: str
    proxied: bool

    @property
    def ip(self) -> IPAddress | None:
        """The address parsed (PERF: only when asked: most requests never need it)."""
        return parse_address(self.address)


def rate_key(client: Client) -> str:
    """What a client counts as for its limits: its address, or the /64 of an IPv6 address (a
    subscriber gets a whole /64 and could spread over it)."""
    if ":" in client.address:
        ip = client.ip
        if isinstance(ip, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return client.address


class ClientAddress:
    """Call it with a request to get its client's address (a string); :meth:`of` tells more.

    ``trusted``: the proxies whose ``X-Forwarded-For`` is read; ``hops``: how many proxies
    in front of balise append to it (the nearest counts as one).
    """

    def __init__(self, trusted: AddressSet | Hosts | Iterable[Network] = (), hops: int = 1) -> None:
        self.trusted = trusted if isinstance(trusted, AddressSet) else AddressSet(trusted)
        self.hops = max(1, hops)

    def is_trusted(self, address: str) -> bool:
        ip = parse_address(address)
        return ip is not None and ip in self.trusted

    def of(self, req: falcon.Request) -> Client:
        """The request's client, worked out once per request (``req.context.client``)."""
        known: Client | None = req.context.get("client")
        if known is not None:
            return known
        client = self._find(req)
        req.context.client = client
        return client

    def _find(self, req: falcon.Request) -> Client:
        peer = req.remote_addr or ""
        if not self.trusted:
            return Client(peer, False)
        peer_ip = parse_address(peer)
        if peer_ip is None or peer_ip not in self.trusted:
            return Client(peer, False)
        hops = [h.strip() for h in (req.get_header("X-Forwarded-For") or "").split(",") if h.strip()]
        if not hops:  # a trusted proxy names its client always: this request is the host's own
            return Client(peer, False)
        seen = hops[-min(self.hops, len(hops))]
        ip = parse_address(seen)
        return Client(str(ip) if ip is not None else seen[:100], True)

    def __call__(self, req: falcon.Request) -> str:
        return self.of(req).address
