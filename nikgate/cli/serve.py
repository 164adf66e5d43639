"""`nikgate serve --config FILE`: run the web service (supervisor + workers)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the gRPC web service")
    p.add_argument("--config", help="TOML config (docs/configuration.md); env NIKGATE_* "
                                    "overrides it")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    from nikgate.server.config import load_config
    from nikgate.server.supervisor import serve

    return serve(load_config(args.config))
