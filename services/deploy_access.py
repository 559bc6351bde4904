"""How the deploying machine reaches Azure SQL for `cli.py db grant-identity`.

Two things the grant needs beyond a connection: a firewall rule for this machine's address for as
long as the grant runs (made with the Azure CLI, removed right after, so no deployer's rule
outlives its use), and proof that the Azure CLI is signed in as the SQL administrator azd
deployed as (one identity for `az` and `azd`).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

RULE_NAME = "framewise-deployer"  # one rule, replaced by the next grant, deleted after each


class AccessError(ValueError):
    """This machine cannot be let in, or is signed in as the wrong identity; one line."""


class AzFirewall:
    """A temporary server firewall rule through `az sql server firewall-rule` (the deployer's
    Contributor role on the resource group allows it)."""

    def __init__(self, resource_group: str, server: str, az: str | None = None):
        self.resource_group, self.server = resource_group, server
        self._az = az
        self.opened: str | None = None

    def _run(self, *args: str) -> None:
        az = self._az or shutil.which("az")
        if az is None:
            raise AccessError("the Azure CLI (`az`) is not on PATH: it opens the SQL firewall "
                              "for this machine")
        done = subprocess.run([az, "sql", "server", "firewall-rule", *args,
                               "--resource-group", self.resource_group, "--server", self.server,
                               "--name", RULE_NAME, "--output", "none"],
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            detail = lines[0][:200] if lines else f"exit code {done.returncode}"
            raise AccessError(f"`az sql server firewall-rule {args[0]}` failed: {detail}")

    def allow(self, ip: str) -> None:
        self._run("create", "--start-ip-address", ip, "--end-ip-address", ip)
        self.opened = ip

    def remove(self) -> None:
        if self.opened is not None:
            self._run("delete")
            self.opened = None


def token_object_id(token: str) -> str | None:
    """The `oid` claim of an Entra ID access token (read, not verified: SQL verifies it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    oid = claims.get("oid") if isinstance(claims, dict) else None
    return oid.lower() if isinstance(oid, str) else None


def check_signed_in_as(token: str, admin_id: str) -> None:
    """AccessError unless the token belongs to admin_id (the object id azd deployed as)."""
    oid = token_object_id(token)
    if oid is None:
        raise AccessError("cannot read the object id of the Azure CLI's sign-in from its token")
    if oid != admin_id.strip().lower():
        raise AccessError(f"the Azure CLI is signed in as object id {oid}, but azd deployed as "
                          f"{admin_id.strip().lower()}, the SQL administrator: sign `az login` "
                          "and `azd auth login` in as the same account")
