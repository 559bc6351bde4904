"""Who is using the app. Sign-in (st.login with Entra ID) comes later; until then one local user."""

from __future__ import annotations

LOCAL_USER = "local"


def current_user() -> str:
    """The signed-in user's id (an email once sign-in exists); 'local' without sign-in."""
    return LOCAL_USER


def user_label() -> str:
    """One line for the sidebar saying who is signed in."""
    return "Signed in as local user (no sign-in configured)"
