"""`cli.py db grant-identity`: the T-SQL it builds, the names it refuses, how it connects.

No SQL Server runs here: the statements are checked as text and the connection through a fake
pyodbc connection at the edge (FakeServer: a few principals and roles, refusals by error text as
the ODBC driver words them). The firewall rule goes through a stand-in `az` executable on PATH.
Nothing here was run against Azure SQL.
"""

from __future__ import annotations

import struct

import pytest

from services.db import SQL_COPT_SS_ACCESS_TOKEN
from services.sql_grant import (
    ROLES,
    GrantError,
    grant_identity,
    grant_statements,
    quote_name,
    target_from_url,
    validate_name,
)
from tests.fixtures.sql_server import OBJECT_ID, URL, FakeConnection, FakeCredential, FakeToken


def test_statements_create_the_user_once_and_add_three_roles():
    """Test that the batch creates the user only when missing and adds reader, writer, ddladmin."""
    statements = grant_statements("app-framewise-abc123")
    assert statements[0] == ("IF DATABASE_PRINCIPAL_ID(N'app-framewise-abc123') IS NULL "
                             "CREATE USER [app-framewise-abc123] FROM EXTERNAL PROVIDER")
    assert statements[1:] == [f"ALTER ROLE {role} ADD MEMBER [app-framewise-abc123]"
                              for role in ("db_datareader", "db_datawriter", "db_ddladmin")]
    assert ROLES == ("db_datareader", "db_datawriter", "db_ddladmin")


def test_statements_with_object_id_skip_the_directory_lookup():
    """Test that --object-id creates the user WITH OBJECT_ID, normalised, and refuses non-GUIDs."""
    statements = grant_statements("app-x", OBJECT_ID.upper())
    assert statements[0].endswith(f"FROM EXTERNAL PROVIDER WITH OBJECT_ID = '{OBJECT_ID}'")
    with pytest.raises(GrantError, match="must be a GUID"):
        grant_statements("app-x", "1' OR '1'='1")


@pytest.mark.parametrize("name", ["app-framewise-abc123", "Framewise Workers", "mi_worker.2",
                                  "ana@contoso.com", "a" * 128])
def test_usual_identity_names_are_accepted(name):
    """Test that App Service, managed identity, group and user names pass validation."""
    assert validate_name(name) == name
    assert quote_name(name) == f"[{name}]"


@pytest.mark.parametrize(("name", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    (" app", "spaces"),
    ("app ", "spaces"),
    ("a" * 129, "128"),
    ("app]; DROP TABLE video; --", "may hold only"),
    ("app'x", "may hold only"),
    ("app[x", "may hold only"),
    ("-app", "must start"),
    ("app\nname", "may hold only"),
    ("app\x00", "may hold only"),
    ("appé", "may hold only"),
])
def test_weird_names_are_refused_with_a_reason(name, reason):
    """Test that names outside the usual forms are refused, never quoted into SQL."""
    with pytest.raises(GrantError, match=reason) as info:
        grant_statements(name)
    assert "\n" not in str(info.value)


def test_quote_name_doubles_closing_brackets():
    """Test that quoting follows QUOTENAME, so even a ] cannot end the identifier early."""
    assert quote_name("a]b") == "[a]]b]"
    assert quote_name("]]") == "[]]]]]"


@pytest.mark.parametrize(("url", "reason"), [
    ("sqlite:///x.db", "must be an Azure SQL URL"),
    ("postgresql://u@h/db", "must be an Azure SQL URL"),
    ("mssql+pyodbc://@/framewise", "must name the server"),
    ("mssql+pyodbc://@sql-abc.database.windows.net", "must name the server"),
    ("not a url", "not a valid database URL"),
    ("mssql+pyodbc://@h/db?driver=x};UID=sa;{", "unusable driver"),
])
def test_bad_database_urls_are_refused(url, reason):
    """Test that only an Azure SQL URL with server and database is used."""
    with pytest.raises(GrantError, match=reason):
        target_from_url(url)


def test_grant_connects_with_a_token_and_runs_every_statement():
    """Test that the connection carries the token in attribute 1256 and no login of its own."""
    credential, conn, calls = FakeCredential(), FakeConnection(), []

    def connect(connection_string, **kwargs):
        calls.append((connection_string, kwargs))
        return conn

    ran = grant_identity(URL, "app-framewise-abc123", object_id=OBJECT_ID,
                         credential=credential, connect=connect)
    assert credential.scopes == ["https://database.windows.net/.default"]
    (connection_string, kwargs), = calls
    assert connection_string == (
        "Driver={ODBC Driver 18 for SQL Server};Server=tcp:sql-abc.database.windows.net,1433;"
        "Database=framewise;Encrypt=yes;TrustServerCertificate=no;Connection Timeout=30")
    for login in ("UID", "PWD", "Authentication", "Trusted_Connection"):
        assert login.lower() not in connection_string.lower()
    assert kwargs["autocommit"] is True
    raw = FakeToken.token.encode("utf-16-le")
    assert kwargs["attrs_before"] == {
        SQL_COPT_SS_ACCESS_TOKEN: struct.pack(f"<I{len(raw)}s", len(raw), raw)}
    assert conn.executed == ran.statements == grant_statements("app-framewise-abc123", OBJECT_ID)
    assert not ran.unchanged and not ran.replaced and ran.firewall_ip is None
    assert conn.closed


def test_a_failing_statement_is_one_line_naming_the_step():
    """Test that a server error stops the grant with one line naming the step, and closes."""
    conn = FakeConnection(fail_at=2, error="[42000] [Microsoft][ODBC Driver 18]Cannot alter "
                                           "the role 'db_datawriter'.\n(15151) (SQLExecDirectW)")
    with pytest.raises(GrantError) as info:
        grant_identity(URL, "app-x", credential=FakeCredential(), connect=lambda *a, **k: conn)
    assert str(info.value).startswith("ALTER ROLE db_datawriter ADD MEMBER failed: [42000]")
    assert "\n" not in str(info.value)
    assert len(conn.executed) == 2 and conn.closed


def test_firewall_refusal_says_what_to_do():
    """Test that the server's firewall error becomes a hint to allow this machine's address."""
    def connect(*_args, **_kwargs):
        raise RuntimeError("('42000', \"[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL "
                           "Server]Cannot open server 'sql-abc' requested by the login. Client "
                           "with IP address '203.0.113.7' is not allowed to access the server.\")")

    with pytest.raises(GrantError, match=r"firewall refuses this machine \(203\.0\.113\.7\).*"
                                         "--open-firewall"):
        grant_identity(URL, "app-x", credential=FakeCredential(), connect=connect)


def test_no_azure_cli_sign_in_is_one_line():
    """Test that a credential without a sign-in says to run az login."""
    class NoLogin:
        def get_token(self, scope):
            raise RuntimeError("Please run 'az login' to set up an account.\nmore detail")

    with pytest.raises(GrantError, match=r"^no Azure SQL token from the Azure CLI \(run `az "
                                         r"login`\): Please run 'az login'"):
        grant_identity(URL, "app-x", credential=NoLogin(), connect=lambda *a, **k: None)
