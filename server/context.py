"""Settings and services, opened once per Streamlit server process and shared by its sessions."""

from __future__ import annotations

import streamlit as st

from services.config import Settings, load_settings
from services.context import Services, open_services


@st.cache_resource(show_spinner=False)
def _open(settings: Settings) -> Services:
    return open_services(settings)


def get_services() -> Services:
    """Engine, blob store and settings, shared by every session (one per distinct settings).

    Settings come from the environment and .env; raises SettingsError naming the variable.
    """
    return _open(load_settings())
