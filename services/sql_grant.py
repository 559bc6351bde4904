"""Give an Entra ID identity (the web app's managed identity) its user in Azure SQL.

Bicep cannot create database users: with Entra-only authentication an Entra administrator runs
`CREATE USER` in the database itself. `cli.py db grant-identity` does it as the deploying user
(Azure CLI sign-in), from azd's postprovision hook or by hand. With the identity's client id the
user is created from its SID (no directory lookup, so the SQL server needs no Graph rights), and
a user that already has that SID and its roles is left alone: the next `azd up` changes nothing.
A user of the same name with another SID (the web app was recreated, so its identity is new) is
dropped and created again. Connecting waits out a paused database and a new firewall rule.
"""

from __future__ import annotations

import re
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.db import AZURE_SQL_SCOPE, SQL_COPT_SS_ACCESS_TOKEN
from services.deploy_access import RULE_NAME, AccessError, check_signed_in_as

# What the app needs: read and write rows, and create/alter tables (migrations run at start).
ROLES = ("db_datareader", "db_datawriter", "db_ddladmin")
# App Service names (letters, digits, hyphens) and Entra display names of identities, groups and
# apps in their usual forms; anything else is refused rather than quoted into SQL.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}")
_FIREWALL = re.compile(r"Client with IP address '([0-9a-fA-F.:]+)' is not allowed")
# Worth waiting for: 40613 the database is unavailable (resuming from pause takes about a
# minute), 40615 the firewall (a new rule takes up to 5 minutes to apply), 40501 and 40197 the
# service busy or failing over.
_TRANSIENT = re.compile(r"\b(40613|40615|40501|40197)\b")
_TIMEOUT = re.compile(r"Login timeout expired|TCP Provider|timed out", re.I)
WAIT_SECONDS = 300.0
# Does the user exist, with which SID, in which roles (one row per role; none when no role).
EXISTING_SQL = ("SELECT u.sid, r.name FROM sys.database_principals u "
                "LEFT JOIN sys.database_role_members m ON m.member_principal_id = u.principal_id "
                "LEFT JOIN sys.database_principals r ON r.principal_id = m.role_principal_id "
                "WHERE u.name = ?")


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


def _guid(text: str, option: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise GrantError(f"{option} must be a GUID, got {text[:60]!r}") from None


def expected_sid(client_id: str) -> bytes:
    """The SID Azure SQL gives an application's or managed identity's user: its client id in
    the byte order of SQL Server's uniqueidentifier (the first three groups little-endian)."""
    return _guid(client_id, "--client-id").bytes_le


def grant_statements(name: str, object_id: str | None = None,
                     client_id: str | None = None) -> list[str]:
    """The T-SQL batch, statement by statement, that creates the user and adds its roles.

    With client_id (an application's or managed identity's client id) the user is created from
    its SID, `TYPE = E`: the server asks Entra ID nothing. With only object_id (the principal
    id) the server looks that object up instead of the name, so a second identity of the same
    name cannot be picked by mistake.
    """
    user = quote_name(validate_name(name))
    source = "FROM EXTERNAL PROVIDER"
    if client_id is not None:
        source = f"WITH SID = 0x{expected_sid(client_id).hex().upper()}, TYPE = E"
    elif object_id is not None:
        source += f" WITH OBJECT_ID = '{_guid(object_id, '--object-id')}'"
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
        return (f"the SQL server's firewall refuses this machine ({found.group(1)}): give "
                "--open-firewall <resource group> (the hook does), or add a firewall rule for it")
    if _TIMEOUT.search(text):
        return ("no answer from the server on port 1433 (is outbound 1433 blocked on this "
                "network?): " + text.strip().splitlines()[0][:200])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


class Firewall(Protocol):
    """What grant_identity needs of a firewall: let one address in, then remove the rule."""

    def allow(self, ip: str) -> None: ...

    def remove(self) -> None: ...


@dataclass
class GrantResult:
    statements: list[str] = field(default_factory=list)  # what ran; empty when unchanged
    unchanged: bool = False  # the user had the expected SID and every role
    replaced: bool = False  # a user of that name with another SID was dropped first
    firewall_ip: str | None = None  # the address a temporary rule let in, then removed


def _connect(target: Target, driver: str, token: bytes, connect: Callable[..., Any],
             firewall: Firewall | None, wait_seconds: float,
             sleep: Callable[[float], None], clock: Callable[[], float],
             result: GrantResult) -> Any:
    """A connection, waiting out transient refusals until wait_seconds have passed; a firewall
    refusal opens the rule for the address the server saw (once)."""
    deadline, delay = clock() + wait_seconds, 2.0
    while True:
        try:
            return connect(target.odbc(driver), attrs_before={SQL_COPT_SS_ACCESS_TOKEN: token},
                           autocommit=True)
        except Exception as exc:  # noqa: BLE001 - pyodbc.Error, or the driver is not installed
            text = str(exc)
            refused = _FIREWALL.search(text)
            if refused and firewall is not None and result.firewall_ip is None:
                try:
                    firewall.allow(refused.group(1))
                except AccessError as error:
                    raise GrantError(str(error)) from None
                result.firewall_ip = refused.group(1)
                continue
            waitable = _TRANSIENT.search(text) and (not refused or result.firewall_ip)
            if not waitable or clock() >= deadline:
                waited = f" (after waiting {wait_seconds:.0f} s)" if waitable else ""
                detail = (f"the firewall still refuses {refused.group(1)} although a rule for "
                          f"{result.firewall_ip} was added" if refused and result.firewall_ip
                          else _one_line(exc))
                raise GrantError(f"cannot connect to {target.server}/{target.database}"
                                 f"{waited}: {detail}") from None
            sleep(min(delay, max(0.0, deadline - clock())))
            delay = min(delay * 2, 15.0)


def _existing(cursor, name: str) -> tuple[bytes | None, set[str]]:
    """The user's SID (None when there is no such user) and the roles it is a member of."""
    cursor.execute(EXISTING_SQL, name)
    rows = cursor.fetchall()
    if not rows:
        return None, set()
    return bytes(rows[0][0]), {row[1] for row in rows if row[1] is not None}


def grant_identity(
    url: str,
    name: str,
    *,
    object_id: str | None = None,
    client_id: str | None = None,
    admin_id: str | None = None,
    firewall: Firewall | None = None,
    wait_seconds: float = WAIT_SECONDS,
    credential=None,
    connect: Callable[..., Any] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> GrantResult:
    """Run the grant against the database of DATABASE_URL; returns what it did.

    credential defaults to the Azure CLI sign-in (the deploying user, the SQL administrator);
    connect defaults to pyodbc.connect. admin_id: the object id azd deployed as; the Azure CLI
    must be signed in as it. firewall: lets this machine in when the server refuses it, and
    removes the rule when the grant ends, whatever happened.
    """
    statements = grant_statements(name, object_id, client_id)
    target, driver = target_from_url(url)
    if credential is None:
        from azure.identity import AzureCliCredential

        credential = AzureCliCredential()
    if connect is None:
        import pyodbc

        connect = pyodbc.connect
    try:
        token = credential.get_token(AZURE_SQL_SCOPE).token
    except Exception as exc:  # noqa: BLE001 - no Azure CLI sign-in: say so in one line
        raise GrantError(f"no Azure SQL token from the Azure CLI (run `az login`): "
                         f"{_one_line(exc)}") from None
    if admin_id is not None:
        try:
            check_signed_in_as(token, admin_id)
        except AccessError as exc:
            raise GrantError(str(exc)) from None
    raw = token.encode("utf-16-le")  # the driver's token struct, as services.db builds it
    token_struct = struct.pack(f"<I{len(raw)}s", len(raw), raw)
    result, left_open = GrantResult(), None
    try:
        conn = _connect(target, driver, token_struct, connect, firewall, wait_seconds, sleep,
                        clock, result)
        try:
            _run(conn.cursor(), name, client_id, statements, result)
        finally:
            conn.close()
    finally:
        if firewall is not None and result.firewall_ip is not None:
            try:
                firewall.remove()
            except AccessError as exc:  # reported unless another error is on its way out
                left_open = GrantError(f"{exc}; delete the rule {RULE_NAME} by hand")
    if left_open is not None:
        raise left_open
    return result


def _run(cursor, name: str, client_id: str | None, statements: list[str],
         result: GrantResult) -> None:
    def execute(step: str, statement: str) -> None:
        try:
            cursor.execute(statement)
        except Exception as exc:  # noqa: BLE001 - pyodbc.Error from the server
            raise GrantError(f"{step} failed: {_one_line(exc)}") from None
        result.statements.append(statement)

    if client_id is not None:
        try:
            sid, roles = _existing(cursor, name)
        except Exception as exc:  # noqa: BLE001 - pyodbc.Error from the server
            raise GrantError(f"reading the existing user failed: {_one_line(exc)}") from None
        if sid == expected_sid(client_id) and set(ROLES) <= roles:
            result.unchanged = True
            return
        if sid is not None and sid != expected_sid(client_id):
            # A recreated identity: the old user's SID no longer signs in; replace the user.
            execute("DROP USER", f"DROP USER {quote_name(name)}")
            result.replaced = True
    steps = ["CREATE USER", *(f"ALTER ROLE {role} ADD MEMBER" for role in ROLES)]
    for step, statement in zip(steps, statements, strict=True):
        execute(step, statement)
