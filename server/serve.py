"""The st.App that `streamlit run app.py` serves: lifespan, routes and secrets, built once.

app.py builds `st.App(__file__, **app_options())` when the server imports it as a module, before
any session exists (the st.App call stays in app.py: `streamlit run` finds it by reading the
source); each session then runs app.py as `__main__` (page config, gate, navigation).
"""

from __future__ import annotations

import logging
from typing import Any

from server.clips import clip_routes
from server.lifespan import lifespan
from server.pages_mode import serve_pages_only_through_main_script
from server.uploads import upload_routes
from services.auth_settings import auth_section
from services.config import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)


def app_secrets(settings: Settings | None = None) -> dict:
    """Secrets for `st.App(secrets=...)`: {"auth": ...} from FRAMEWISE_AUTH_*, else {}.

    Settings default to the environment and .env; raises SettingsError naming the variable when
    a setting is unusable or the sign-in settings are incomplete.
    """
    section = auth_section(load_settings() if settings is None else settings)
    return {"auth": section} if section else {}


def server_secrets() -> dict[str, Any]:
    """st.secrets the server adds: the [auth] section from FRAMEWISE_AUTH_* settings, if any.

    Incomplete sign-in settings, or any unusable setting, add nothing here: the pages then
    refuse everyone with the same one-line error naming the variable (app.py, components.auth),
    rather than the server failing to start.
    """
    try:
        return app_secrets()
    except SettingsError as exc:
        log.error("sign-in settings not loaded: %s", exc)
        return {}


def app_options() -> dict[str, Any]:
    """st.App's lifespan, routes and secrets; from now on every page runs only through app.py."""
    serve_pages_only_through_main_script()
    # The upload widget streams files to the upload route, the results page's clip links come
    # from the clip route (st.App checks they clash with none of Streamlit's own routes).
    return {"lifespan": lifespan, "routes": upload_routes() + clip_routes(),
            "secrets": server_secrets()}
