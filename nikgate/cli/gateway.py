"""`nikgate gateway --config FILE`: run the JSON/HTTPS gateway (docs/json-api.md)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("gateway", help="run the JSON/HTTPS gateway to the gRPC web service")
    p.add_argument("--config", help="TOML config with a [gateway] section "
                                    "(docs/configuration.md); env NIKGATE_* overrides it")
    p.set_defaults(func=_gateway)


def _gateway(args) -> int:
    from nikgate.gateway.server import serve
    from nikgate.server.config import load_config

    return serve(load_config(args.config))
