"""Give an Entra ID identity (the web app's managed identity) its user in Azure SQL.

Bicep cannot create database users: with Entra-only authentication an Entra administrator runs
`CREATE USER [...] FROM EXTERNAL PROVIDER` in the database itself. `cli.py db grant-identity`
runs these statements as the deploying user (Azure CLI sign-in), from azd's postprovision hook or
by hand. Every statement is idempotent, so running it again changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.db import SQL_COPT_SS_ACCESS_TOKEN, AzureSqlToken

# What the app needs: read and write rows, and create/alter tables (migrations run at start).
ROLES = ("db_datareader", "db_datawriter", "db_ddladmin")
# App Service names (letters, digits, hyphens) and Entra display names of identities, groups and
# apps in their usual forms; anything else is refused rather than quoted into SQL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}")
_FIREWALL = re.compile(r"Client with IP address '([0-9a-fA-F.:]+)' is not allowed")


class GrantError(ValueError):
    """The grant cannot be made; the message is one line saying why."""


def validate_name(name: str) -> str:
    """The identity's name as given, or GrantError naming what is wrong with it."""
    if not name or not name.strip():
        raise GrantError("the identity name is empty")
    if name != name.strip():
        raise GrantError("the identity name has leading or trailing spaces")
    if len(name) > 128:
        raise GrantError("the identity name is longer than 128 characters (SQL Server's limit)")
    if not _NAME.fullmatch(name):
        raise GrantError("the identity name may hold only letters, digits, spaces and . _ @ - "
                         f"and must start with a letter or digit: {name[:60]!r}")
    return name


def quote_name(name: str) -> str:
    """SQL Server's QUOTENAME: [name] with every ] doubled (validation already refuses ])."""
    return "[" + name.replace("]", "]]") + "]"


def quote_string(text: str) -> str:
    """An N'...' literal with every ' doubled."""
    return "N'" + text.replace("'", "''") + "'"


def grant_statements(name: str, object_id: str | None = None) -> list[str]:
    """The T-SQL batch, statement by statement, that creates the user and adds its roles.

    With object_id (the identity's principal id) the user is created from it directly, so the
    server never looks the name up in Entra ID, and a second identity of the same name cannot
    be picked by mistake.
    """
    user = quote_name(validate_name(name))
    source = "FROM EXTERNAL PROVIDER"
    if object_id is not None:
        try:
            parsed = uuid.UUID(object_id)
        except ValueError:
            raise GrantError(f"--object-id must be a GUID, got {object_id[:60]!r}") from None
        source += f" WITH OBJECT_ID = '{parsed}'"
    statements = [
        f"IF DATABASE_PRINCIPAL_ID({quote_string(name)}) IS NULL CREATE USER {user} {source}"
    ]
    statements += [
        # ALTER ROLE ... ADD MEMBER of a member already in the role is a no-op.
        f"ALTER ROLE {role} ADD MEMBER {user}" for role in ROLES
    ]
    return statements


@dataclass(frozen=True)
class Target:
    server: str
    database: str

    def odbc(self, driver: str) -> str:
        # No UID, PWD or Authentication: the access token (attrs_before) is the login.
        return (f"Driver={{{driver}}};Server=tcp:{self.server},1433;Database={self.database};"
                "Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30")


def target_from_url(url: str) -> tuple[Target, str]:
    """Server, database and ODBC driver from an Azure SQL DATABASE_URL."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise GrantError("setting DATABASE_URL is not a valid database URL") from None
    if parsed.get_backend_name() != "mssql":
        raise GrantError("setting DATABASE_URL must be an Azure SQL URL (mssql+pyodbc://@"
                         "<server>.database.windows.net/<db>?driver=ODBC+Driver+18+for+SQL+Server)")
    if not parsed.host or not parsed.database:
        raise GrantError("setting DATABASE_URL must name the server and the database")
    driver = str(parsed.query.get("driver") or "ODBC Driver 18 for SQL Server")
    if any(c in driver for c in "{};"):
        raise GrantError("setting DATABASE_URL has an unusable driver name")
    return Target(parsed.host, parsed.database), driver


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    found = _FIREWALL.search(text)
    if found:
        return (f"the SQL server's firewall refuses this machine ({found.group(1)}): set "
                "CLIENT_IP_ADDRESS and run `azd provision`, or add a firewall rule for it")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


def grant_identity(
    url: str,
    name: str,
    *,
    object_id: str | None = None,
    credential=None,
    connect: Callable[..., Any] | None = None,
) -> list[str]:
    """Run the grant against the database of DATABASE_URL; returns the statements it ran.

    credential defaults to the Azure CLI sign-in (the deploying user, the SQL administrator);
    connect defaults to pyodbc.connect.
    """
    statements = grant_statements(name, object_id)
    target, driver = target_from_url(url)
    if credential is None:
        from azure.identity import AzureCliCredential

        credential = AzureCliCredential()
    if connect is None:
        import pyodbc

        connect = pyodbc.connect
    try:
        token = AzureSqlToken(credential).struct()
    except Exception as exc:  # noqa: BLE001 - no Azure CLI sign-in: say so in one line
        raise GrantError(f"no Azure SQL token from the Azure CLI (run `az login`): "
                         f"{_one_line(exc)}") from None
    try:
        conn = connect(target.odbc(driver), attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token},
                       autocommit=True)
    except Exception as exc:  # noqa: BLE001 - pyodbc.Error, or the driver is not installed
        raise GrantError(f"cannot connect to {target.server}/{target.database}: "
                         f"{_one_line(exc)}") from None
    try:
        cursor = conn.cursor()
        steps = ["CREATE USER", *(f"ALTER ROLE {role} ADD MEMBER" for role in ROLES)]
        for step, statement in zip(steps, statements, strict=True):
            try:
                cursor.execute(statement)
            except Exception as exc:  # noqa: BLE001 - pyodbc.Error from the server
                raise GrantError(f"{step} failed: {_one_line(exc)}") from None
    finally:
        conn.close()
    return statements
