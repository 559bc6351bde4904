"""`db grant-identity` and `db upgrade`: database administration, without the app's services."""

from __future__ import annotations

import json

from services.config import load_settings
from services.db import make_engine
from services.migrations import upgrade_schema
from services.sql_grant import grant_identity


def cmd_grant_identity(args, services: None) -> int:
    settings = load_settings()
    statements = grant_identity(settings.database_url, args.name, object_id=args.object_id)
    print(json.dumps({"identity": args.name, "statements": len(statements)}))
    return 0


def cmd_upgrade(args, services: None) -> int:
    engine = make_engine(load_settings().database_url)
    try:
        before, after = upgrade_schema(engine)
    finally:
        engine.dispose()
    print(json.dumps({"from": before, "to": after}))
    return 0
