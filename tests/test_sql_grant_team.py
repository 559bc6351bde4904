"""`cli.py db grant-identity` for a team: a user made from its SID and left alone when it has it,
a paused database waited out, the deployer's firewall rule opened and removed, one identity for
az and azd, and the command line's one-line refusals.

No SQL Server runs here: the connection is a fake pyodbc connection at the edge
(tests/fixtures/sql_server.py); the firewall rule goes through a stand-in `az` on PATH. Nothing
here was run against Azure SQL.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from services.deploy_access import RULE_NAME, AzFirewall, token_object_id
from services.sql_grant import EXISTING_SQL, ROLES, GrantError, grant_identity, grant_statements
from tests.fixtures.sql_server import (
    OBJECT_ID,
    ROOT,
    URL,
    FakeConnection,
    FakeCredential,
    FakeToken,
)

CLIENT_ID = "4466e2f8-0fea-4c61-a470-0123456789ab"
# SQL Server's uniqueidentifier bytes of CLIENT_ID: the first three groups reversed.
SID = bytes.fromhex("F8E26644" "EA0F" "614C" "A470" "0123456789AB")
PAUSED = ("('HY000', '[HY000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Database "
          "'framewise' on server 'sql-abc' is not currently available. Please retry the "
          "connection later. (40613) (SQLDriverConnect)')")
REFUSED = ("('42000', \"[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot "
           "open server 'sql-abc' requested by the login. Client with IP address '198.51.100.4' "
           "is not allowed to access the server. (40615) (SQLDriverConnect)\")")


def _jwt(oid: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part({'oid': oid, 'upn': 'ana@contoso.com'})}.sig"


class Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self):
        self.now, self.slept = 0.0, []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


class Firewall:
    def __init__(self):
        self.calls: list[tuple] = []

    def allow(self, ip):
        self.calls.append(("allow", ip))

    def remove(self):
        self.calls.append(("remove",))


def _grant(conn, **kwargs):
    return grant_identity(URL, "app-x", credential=FakeCredential(),
                          connect=kwargs.pop("connect", lambda *a, **k: conn), **kwargs)


def test_client_id_creates_the_user_from_its_sid_without_a_directory_lookup():
    """Test that --client-id creates the user WITH SID (uniqueidentifier byte order), TYPE = E."""
    first = grant_statements("app-x", OBJECT_ID, CLIENT_ID)[0]
    assert first == ("IF DATABASE_PRINCIPAL_ID(N'app-x') IS NULL CREATE USER [app-x] "
                     f"WITH SID = 0x{SID.hex().upper()}, TYPE = E")
    assert "EXTERNAL PROVIDER" not in first
    with pytest.raises(GrantError, match="--client-id must be a GUID"):
        grant_statements("app-x", client_id="0x00; DROP USER dbo")


def test_a_user_with_the_expected_sid_and_roles_is_left_alone():
    """Test that a second `azd up` runs no statement when the user and its roles are there."""
    conn = FakeConnection(users={"app-x": (SID, set(ROLES))})
    result = _grant(conn, client_id=CLIENT_ID)
    assert result.unchanged and not result.replaced
    assert conn.executed == [] and result.statements == []
    assert conn.queries == [(EXISTING_SQL, ("app-x",))] and conn.closed


def test_a_missing_role_is_added_to_a_user_with_the_right_sid():
    """Test that the grant goes on when the SID matches but a role is missing."""
    conn = FakeConnection(users={"app-x": (SID, {"db_datareader"})})
    result = _grant(conn, client_id=CLIENT_ID)
    assert not result.unchanged and not result.replaced
    assert conn.users["app-x"] == (SID, set(ROLES))
    assert not any(s.startswith("DROP") for s in conn.executed)


def test_a_stale_user_of_a_recreated_identity_is_dropped_and_created_again():
    """Test that a user of the same name with another SID (old identity) is replaced."""
    stale = uuid.UUID("0b3c5e2a-1111-4222-8333-944445555666").bytes_le
    conn = FakeConnection(users={"app-x": (stale, set(ROLES))})
    result = _grant(conn, client_id=CLIENT_ID)
    assert result.replaced and not result.unchanged
    assert conn.executed[0] == "DROP USER [app-x]"
    assert conn.users["app-x"] == (SID, set(ROLES))
    again = _grant(conn, client_id=CLIENT_ID)  # and the next run leaves it alone
    assert again.unchanged


def test_a_paused_database_is_waited_out():
    """Test that 40613 (resuming from pause) is retried with backoff until it connects."""
    conn, clock, attempts = FakeConnection(), Clock(), []

    def connect(*_a, **_k):
        attempts.append(clock())
        if len(attempts) <= 4:
            raise RuntimeError(PAUSED)
        return conn

    result = _grant(conn, connect=connect, sleep=clock.sleep, clock=clock)
    assert len(attempts) == 5 and clock.slept == [2.0, 4.0, 8.0, 15.0]
    assert result.statements == grant_statements("app-x")


def test_a_database_still_paused_after_the_wait_is_one_line():
    """Test that the wait is bounded: after wait_seconds the error says so, in one line."""
    clock = Clock()

    def connect(*_a, **_k):
        raise RuntimeError(PAUSED)

    with pytest.raises(GrantError) as info:
        _grant(None, connect=connect, wait_seconds=120, sleep=clock.sleep, clock=clock)
    assert str(info.value).startswith("cannot connect to sql-abc.database.windows.net/framewise "
                                      "(after waiting 120 s): ('HY000'")
    assert "\n" not in str(info.value)
    assert clock.now == 120  # waited exactly the bound, not more


def test_an_error_that_waiting_cannot_fix_is_not_retried():
    """Test that a login failure (18456) stops at once, without sleeping."""
    clock = Clock()

    def connect(*_a, **_k):
        raise RuntimeError("[28000] Login failed for user '<token-identified principal>'. "
                           "(18456)")

    with pytest.raises(GrantError, match="Login failed"):
        _grant(None, connect=connect, sleep=clock.sleep, clock=clock)
    assert clock.slept == []


def test_a_firewall_refusal_opens_a_rule_for_the_address_then_removes_it():
    """Test that the address the server saw gets a rule, the rule's delay is waited out, and
    the rule is removed once the grant is done."""
    conn, clock, firewall, attempts = FakeConnection(), Clock(), Firewall(), []

    def connect(*_a, **_k):
        attempts.append(1)
        if len(attempts) <= 3:  # before the rule, then twice while it propagates
            raise RuntimeError(REFUSED)
        return conn

    result = _grant(conn, connect=connect, firewall=firewall, client_id=CLIENT_ID,
                    sleep=clock.sleep, clock=clock)
    assert firewall.calls == [("allow", "198.51.100.4"), ("remove",)]
    assert result.firewall_ip == "198.51.100.4" and conn.users["app-x"][0] == SID
    assert clock.slept == [2.0, 4.0]


def test_the_rule_is_removed_when_the_grant_fails():
    """Test that a failing statement still removes the temporary firewall rule."""
    firewall, refused = Firewall(), []
    conn = FakeConnection(fail_at=1, error="[42000] Cannot add the member (15151)")

    def connect(*_a, **_k):
        if not refused:
            refused.append(1)
            raise RuntimeError(REFUSED)
        return conn

    with pytest.raises(GrantError, match="^ALTER ROLE db_datareader ADD MEMBER failed"):
        _grant(conn, connect=connect, firewall=firewall)
    assert firewall.calls == [("allow", "198.51.100.4"), ("remove",)]


def test_az_and_azd_signed_in_as_different_accounts_stop_before_connecting():
    """Test that a token whose oid is not the admin azd deployed as stops in one line."""
    class Signed(FakeCredential):
        def get_token(self, scope):
            token = FakeToken()
            token.token = _jwt("11111111-2222-3333-4444-555555555555")
            return token

    def connect(*_a, **_k):
        raise AssertionError("must not connect")

    with pytest.raises(GrantError, match=r"signed in as object id 11111111-.*azd deployed as "
                                         r"0b3c5e2a-.*same account$"):
        grant_identity(URL, "app-x", admin_id=OBJECT_ID.upper(), credential=Signed(),
                       connect=connect)
    ok = Signed()
    conn = FakeConnection()
    grant_identity(URL, "app-x", admin_id="11111111-2222-3333-4444-555555555555",
                   credential=ok, connect=lambda *a, **k: conn)
    assert conn.closed
    assert token_object_id("not-a-jwt") is None


def _fake_az(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """An `az` that records its arguments, one JSON list per call, and exits exit_code."""
    log = tmp_path / "az-calls.jsonl"
    az = tmp_path / "az"
    az.write_text(f"""#!{sys.executable}
import json, sys
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if {exit_code}:
    sys.stderr.write("ERROR: (AuthorizationFailed) The client does not have "
                     "authorization\\nmore\\n")
sys.exit({exit_code})
""")
    az.chmod(0o755)
    return az, log


def test_az_firewall_adds_and_deletes_one_named_rule(tmp_path):
    """Test the `az sql server firewall-rule` calls: create for the address, then delete."""
    az, log = _fake_az(tmp_path)
    firewall = AzFirewall("rg-framewise-prod", "sql-abc", az=str(az))
    firewall.allow("198.51.100.4")
    firewall.remove()
    firewall.remove()  # nothing open any more: no second delete
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    common = ["--resource-group", "rg-framewise-prod", "--server", "sql-abc",
              "--name", RULE_NAME, "--output", "none"]
    assert calls == [
        ["sql", "server", "firewall-rule", "create", "--start-ip-address", "198.51.100.4",
         "--end-ip-address", "198.51.100.4", *common],
        ["sql", "server", "firewall-rule", "delete", *common],
    ]


def test_az_firewall_failure_is_one_line_and_the_grant_stops(tmp_path):
    """Test that `az` refusing to add the rule ends the grant with az's first line."""
    az, _ = _fake_az(tmp_path, exit_code=1)

    def connect(*_a, **_k):
        raise RuntimeError(REFUSED)

    with pytest.raises(GrantError) as info:
        _grant(None, connect=connect, firewall=AzFirewall("rg", "sql-abc", az=str(az)))
    assert str(info.value) == ("`az sql server firewall-rule create` failed: ERROR: "
                               "(AuthorizationFailed) The client does not have authorization")


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60)


def test_cli_refuses_a_weird_name_in_one_line(tmp_path):
    """Test that `cli.py db grant-identity` exits 2 with one error line for a bad name."""
    done = _cli("db", "grant-identity", "x]; DROP USER dbo; --", DATABASE_URL=URL,
                FRAMEWISE_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: the identity name may hold only")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "framewise.db").exists()  # the app's services were never opened


def test_cli_refuses_a_database_that_is_not_azure_sql(tmp_path):
    """Test that grant-identity against the default SQLite database exits 2 naming DATABASE_URL."""
    done = _cli("db", "grant-identity", "app-x", FRAMEWISE_DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: setting DATABASE_URL must be an Azure SQL URL")
    assert not (tmp_path / "framewise.db").exists()
