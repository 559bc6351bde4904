"""Who may use the app: the FRAMEWISE_ALLOWED_USERS check and the gate's decision, no Streamlit.

An allow-list entry is either a full e-mail address (`ana@example.com`) or a domain written with
its at sign (`@example.com`). A domain entry matches addresses whose domain is exactly that
domain: `@example.com` lets in `ana@example.com`, not `ana@evil-example.com` and not
`ana@sub.example.com` (list `@sub.example.com` for that). Comparison ignores case and the
spaces around entries. An empty list lets in everyone who can sign in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from services.auth_settings import AuthConfig

LOCAL_USER = "local"


def normalise_email(email: object) -> str | None:
    """The address lower-cased and stripped, or None unless it is one local@domain address."""
    if not isinstance(email, str):
        return None
    email = email.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or "@" in local:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        return None
    if domain.startswith(".") or domain.endswith(".") or ".." in domain:
        return None
    return email


def is_allowed(email: object, allowed: Iterable[str]) -> bool:
    """True when the e-mail address may use the app under this allow-list."""
    entries = [e.strip().lower() for e in allowed if isinstance(e, str) and e.strip()]
    address = normalise_email(email)
    if address is None:
        return False  # nobody without a usable address, even when the list is empty
    if not entries:
        return True
    domain = address.rpartition("@")[2]
    for entry in entries:
        if entry.startswith("@"):
            if domain == entry[1:]:
                return True
        elif address == entry:
            return True
    return False


@dataclass(frozen=True)
class Access:
    """The outcome of the gate for this session."""

    state: Literal["local", "signed_out", "refused", "allowed"]
    email: str | None = None
    provider: str | None = None

    @property
    def lets_in(self) -> bool:
        return self.state in ("local", "allowed")


def user_email(user: Mapping) -> str | None:
    """The signed-in address: the email claim, else Entra ID's preferred_username (or upn)."""
    for claim in ("email", "preferred_username", "upn"):
        address = normalise_email(user.get(claim))
        if address:
            return address
    return None


def decide(user: Mapping, *, config: AuthConfig | None, allowed: Iterable[str]) -> Access:
    """Pure gate decision from the user-info mapping (st.user) and the settings."""
    if config is None:
        return Access("local", LOCAL_USER)
    if user.get("is_logged_in") is not True:
        return Access("signed_out", provider=config.provider)
    email = user_email(user)
    if email is None or not is_allowed(email, allowed):
        return Access("refused", email, config.provider)
    return Access("allowed", email, config.provider)
