"""`db grant-identity` and `db upgrade`: database administration, without the app's services."""

from __future__ import annotations

import json

from services.config import load_settings
from services.db import make_engine
from services.deploy_access import AzFirewall
from services.migrations import upgrade_schema
from services.sql_grant import grant_identity, target_from_url


def cmd_grant_identity(args, services: None) -> int:
    settings = load_settings()
    target, _ = target_from_url(settings.database_url)
    firewall = (AzFirewall(args.open_firewall, target.server.split(".")[0])
                if args.open_firewall else None)
    result = grant_identity(settings.database_url, args.name, object_id=args.object_id,
                            client_id=args.client_id, admin_id=args.admin_id, firewall=firewall,
                            wait_seconds=args.wait)
    print(json.dumps({"identity": args.name, "statements": len(result.statements),
                      "unchanged": result.unchanged, "replaced_stale_user": result.replaced,
                      "firewall_rule_for": result.firewall_ip}))
    return 0


def cmd_upgrade(args, services: None) -> int:
    engine = make_engine(load_settings().database_url)
    try:
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    print(json.dumps({"from": before, "to": after}))
    return 0
