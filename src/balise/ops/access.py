"""Who may reach what: the public API for every client, the rest for operators only.

An *operator* is a direct connection (not through a trusted proxy: ops/clientip.py) from
``BALISE_HEALTH_NETWORKS`` (loopback by default: ``kubectl port-forward``, ``exec``, the
host itself; in Kubernetes also Prometheus, by the name of its pods). A request that came
through the gateway is never one, whatever its ``X-Forwarded-For`` says.

- ``/metrics`` and ``/health/detailed`` answer operators only (403 for others);
- ``BALISE_PUBLIC_PATHS``, when set, lists the routes every client may reach (``/search/*``:
  a route and those below it; ``/health``: that route alone); any other route answers 404 to
  everyone but operators, as if it did not exist. A server exposed without a gateway to filter
  paths (the LoadBalancer variant, docs/deploy.md) serves exactly its public API this way;
- ``/status`` shows operators its sources' file names and dates (``req.context.operator``).

Routes are matched as the router matched them (``req.uri_template``), so no spelling of a
path (``//metrics``, ``/metrics/``, ``/%6detrics``) escapes the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import falcon

from .clientip import AddressSet, ClientAddress

OPERATOR_ROUTES = ("/metrics", "/health/detailed")
DETAILED_ROUTES = ("/status",)  # answers with more for operators (req.context.operator)


def covers(pattern: str, route: str) -> bool:
    """Whether a public path (``/search/*`` or ``/health``) covers a route."""
    if pattern.endswith("/*"):
        base = pattern[:-2]
        return route == base or route.startswith(base + "/")
    return route == pattern


class Access:
    """Falcon middleware: refuses what a request's client may not reach, before any work."""

    def __init__(self, client: ClientAddress, operators: AddressSet, public: Sequence[str] = ()) -> None:
        self.client = client
        self.operators = operators
        self.public = tuple(public)

    def is_operator(self, req: falcon.Request) -> bool:
        known: bool | None = req.context.get("operator")
        if known is None:
            client = self.client.of(req)
            ip = None if client.proxied else client.ip
            known = ip is not None and ip in self.operators
            req.context.operator = known
        return known

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         params: dict[str, Any]) -> None:
        route = req.uri_template or ""
        if route in OPERATOR_ROUTES:
            if not self.is_operator(req):
                raise falcon.HTTPForbidden(title="Forbidden", description=(
                    f"{route} answers only to direct connections from BALISE_HEALTH_NETWORKS."))
        elif self.public and not any(covers(p, route) for p in self.public) and not self.is_operator(req):
            raise falcon.HTTPNotFound()
        elif route in DETAILED_ROUTES:
            self.is_operator(req)
