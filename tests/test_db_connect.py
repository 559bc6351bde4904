"""Connecting: Azure SQL with an Entra ID token (pyodbc.connect replaced by a recorder at the DBAPI
edge), a cached and renewed token, URLs with their own login, and bad or unreachable URLs refused
with a message naming DATABASE_URL and never the password."""

from __future__ import annotations

import socket
import struct
import time

import pyodbc
import pytest
from azure.core.credentials import AccessToken

from services import db
from services.db import AZURE_SQL_SCOPE, DatabaseUnavailable, make_engine
from services.migrations import upgrade_schema

AZURE_URL = "mssql+pyodbc://@srv.database.windows.net/db?driver=ODBC+Driver+18+for+SQL+Server"


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out numbered tokens with a chosen lifetime."""

    def __init__(self, lifetime_s: float):
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **_kw) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"tok-{len(self.scopes)}", int(time.time() + self.lifetime_s))


class Refused(Exception):
    """Raised by the fake pyodbc.connect so no real network connection is tried."""


@pytest.fixture
def odbc_calls(monkeypatch) -> list[tuple[tuple, dict]]:
    """Replace pyodbc.connect (the DBAPI edge) with a recorder that refuses the connection."""
    calls: list[tuple[tuple, dict]] = []

    def fake_connect(*cargs, **cparams):
        calls.append((cargs, cparams))
        raise Refused("no SQL Server here")

    monkeypatch.setattr(pyodbc, "connect", fake_connect)
    return calls


def _connect_once(engine) -> None:
    with pytest.raises(Refused):
        engine.connect()


def _token_of(cparams: dict) -> str:
    raw = cparams["attrs_before"][db.SQL_COPT_SS_ACCESS_TOKEN]
    (length,) = struct.unpack_from("<I", raw)
    assert length == len(raw) - 4
    return raw[4:].decode("utf-16-le")


def test_azure_sql_gets_an_entra_token_and_no_other_login(odbc_calls):
    """Test that a password-less mssql URL connects with attrs_before[1256] = the token struct."""
    credential = FakeCredential(lifetime_s=3600)
    engine = make_engine(AZURE_URL, credential_factory=lambda: credential)
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    token = "tok-1".encode("utf-16-le")
    assert cparams["attrs_before"][1256] == struct.pack("<I", len(token)) + token
    conn_str = cargs[0]
    assert "Server=srv.database.windows.net" in conn_str and "Database=db" in conn_str
    for forbidden in ("trusted_connection", "uid=", "pwd=", "authentication"):
        assert forbidden not in conn_str.lower()
    assert credential.scopes == [(AZURE_SQL_SCOPE,)]
    assert AZURE_SQL_SCOPE == "https://database.windows.net/.default"


def test_azure_sql_token_with_a_username_drops_the_uid(odbc_calls):
    """Test that a user name but no password still yields a token-only connection string."""
    engine = make_engine(
        AZURE_URL.replace("://@", "://app@"), credential_factory=lambda: FakeCredential(3600)
    )
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    assert _token_of(cparams) == "tok-1"
    assert "uid=" not in cargs[0].lower()


def _tokens_of_two_connections(odbc_calls, lifetime_s: int) -> tuple[list[str], FakeCredential]:
    """The tokens two new connections sent, with a credential whose tokens live lifetime_s."""
    odbc_calls.clear()
    credential = FakeCredential(lifetime_s=lifetime_s)
    engine = make_engine(AZURE_URL, credential_factory=lambda: credential)
    _connect_once(engine)
    _connect_once(engine)
    return [_token_of(p) for _, p in odbc_calls], credential


def test_azure_sql_token_is_cached_until_five_minutes_before_expiry(odbc_calls):
    """Test that the token is reused while valid for over 5 minutes and renewed when within 5."""
    tokens, long_lived = _tokens_of_two_connections(odbc_calls, 3600)
    assert tokens == ["tok-1", "tok-1"]
    assert len(long_lived.scopes) == 1
    # 6.5 minutes left: still outside the renewal margin, so cached.
    assert _tokens_of_two_connections(odbc_calls, 390)[0] == ["tok-1", "tok-1"]
    # 4 minutes left: every new connection asks for a fresh token.
    tokens, short_lived = _tokens_of_two_connections(odbc_calls, 240)
    assert tokens == ["tok-1", "tok-2"]
    assert short_lived.scopes == [(AZURE_SQL_SCOPE,)] * 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (AZURE_URL.replace("://@", "://app:s3cret@"), "PWD=s3cret"),
        (AZURE_URL + "&Authentication=ActiveDirectoryMsi", "Authentication=ActiveDirectoryMsi"),
    ],
    ids=["password", "driver-authentication"],
)
def test_azure_sql_with_its_own_login_gets_no_token_hook(odbc_calls, url, expected):
    """Test that an mssql URL with a password or Authentication= never gets an Entra token."""
    asked = []
    engine = make_engine(url, credential_factory=lambda: asked.append(1))
    assert len(engine.dialect.dispatch.do_connect) == 0
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    assert "attrs_before" not in cparams
    assert expected in cargs[0]
    assert asked == []


def test_make_engine_rejects_a_garbage_url():
    """Test that an unparsable URL raises DatabaseUnavailable naming DATABASE_URL."""
    for url in ("garbage", "postgresql://u:hunter2@h:notaport/db", "nosuchdb://x/y"):
        with pytest.raises(DatabaseUnavailable, match="DATABASE_URL") as caught:
            make_engine(url)
        assert "hunter2" not in str(caught.value)


def test_upgrade_schema_on_an_unreachable_server_names_database_url():
    """Test that a closed port gives a one-line DatabaseUnavailable without the password."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        engine = make_engine(f"postgresql+psycopg2://fw:hunter2secret@127.0.0.1:{port}/fw")
        with pytest.raises(DatabaseUnavailable) as caught:
            upgrade_schema(engine)
    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "\n" not in message
    assert "hunter2secret" not in message
    engine.dispose()
