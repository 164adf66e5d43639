"""`nikgate portal`: serve the web portal; `nikgate portal user add|disable|list|unlock`
manages its accounts in the portal's own store (run on the portal host, as an operator)."""

from __future__ import annotations

import datetime as dt


def register(sub) -> None:
    p = sub.add_parser("portal", help="serve the web portal; manage its users")
    p.add_argument("--config", help="TOML config with a [portal] section "
                                    "(docs/configuration.md); env NIKGATE_* overrides it")
    p.set_defaults(func=_serve)
    area = p.add_subparsers(dest="portal_command", metavar="{user}")
    user = area.add_parser("user", help="portal accounts: add, disable, list, unlock")
    user.add_argument("--config", dest="user_config", help="as `nikgate portal --config`")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user; prints its one-time set-password link")
    add.add_argument("--institution", required=True,
                     help="the institution it works for (role operator: the operator id "
                          "the portal acts as, e.g. ops-demo)")
    add.add_argument("--email", required=True)
    add.add_argument("--role", choices=("viewer", "operator"), default="viewer",
                     help="viewer: institution staff (verify, look up, data balikan); "
                          "operator: Dukcapil administration pages")
    add.set_defaults(func=_add)
    for name, helptext in (("disable", "disable an account and end its sessions"),
                           ("unlock", "unlock an account locked after failed sign-ins"),
                           ("enable", "enable a disabled account"),
                           ("link", "a new one-time set-password link (e.g. a lost phone)")):
        a = actions.add_parser(name, help=helptext)
        a.add_argument("user", help="e-mail or user id")
        a.set_defaults(func=_change, action=name)
    ls = actions.add_parser("list", help="list the accounts")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)


def _config(args):
    from pathlib import Path

    from nikgate.portal.serve import resolve
    from nikgate.server.config import load_config

    path = getattr(args, "user_config", None) or args.config
    base = Path(path).resolve().parent if path else Path.cwd()
    return resolve(load_config(path), base)


def _serve(args) -> int:
    from nikgate.portal.serve import serve

    config = _config(args)

    def ready(host: str, port: int) -> None:
        print(f"nikgate portal: https://{host}:{port}/ (nikgate at "
              f"{config.portal.nikgate_address or config.server.address})", flush=True)

    return serve(config, on_ready=ready)


def _link_base(config) -> str:
    return (config.portal.public_url or f"https://{config.portal.address}").rstrip("/")


def _add(args) -> int:
    from nikgate.portal.serve import open_store

    config = _config(args)
    store = open_store(config)
    try:
        user, token = store.add_user(args.email, args.institution, args.role, "cli",
                                     config.portal.set_password_hours)
        store.log(None, "user.add", f"{user.id} ({user.role}) for {user.institution}",
                  email="cli")
    finally:
        store.close()
    print(f"added {user.email} ({user.id}, {user.role}, {user.institution})")
    print(f"one-time set-password link (valid {config.portal.set_password_hours:g} h; "
          "give it to the user only):")
    print(f"  {_link_base(config)}/sandi/{token}")
    return 0


def _change(args) -> int:
    from nikgate.portal.serve import open_store

    config = _config(args)
    store = open_store(config)
    try:
        user = store.find_user(args.user)
        if args.action == "disable":
            store.disable(user.id)
        elif args.action == "enable":
            store.enable(user.id)
        elif args.action == "unlock":
            store.unlock(user.id)
        else:
            token = store.new_link(user.id, config.portal.set_password_hours)
            print(f"one-time set-password link for {user.email}:")
            print(f"  {_link_base(config)}/sandi/{token}")
        store.log(None, f"user.{args.action}", user.id, email="cli")
    finally:
        store.close()
    if args.action != "link":
        print(f"{args.action}d {user.email}" if args.action != "unlock"
              else f"unlocked {user.email}")
    return 0


def _list(args) -> int:
    from nikgate.portal.serve import open_store

    from .output import emit_json, table

    config = _config(args)
    store = open_store(config)
    try:
        users = store.users()
    finally:
        store.close()
    rows = [(u.id, u.email, u.institution, u.role, u.state, u.failures,
             dt.datetime.fromtimestamp(u.created_at).strftime("%Y-%m-%d")) for u in users]
    header = ("ID", "EMAIL", "INSTITUTION", "ROLE", "STATE", "FAILURES", "CREATED")
    if args.json:
        emit_json([dict(zip([h.lower() for h in header], r, strict=True)) for r in rows])
    else:
        print(table(rows, header) if rows else "no portal users")
    return 0
