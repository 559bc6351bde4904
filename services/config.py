"""Typed settings from environment variables and an optional `.env` file.

Every setting has an embedded default so the app runs on a laptop; Azure settings switch each
service to its cloud backend. An invalid value raises SettingsError naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

VISION_FEATURES = ("tags", "caption", "denseCaptions", "objects", "read", "smartCrops", "people")
DEFAULT_VISION_FEATURES = ("tags", "objects", "people", "caption", "read")


class SettingsError(ValueError):
    """A setting has a value the app cannot use; the message names the variable."""

    def __init__(self, name: str, problem: str):
        self.name = name
        super().__init__(f"setting {name} {problem}")


def _url_passwords(url: str) -> list[str]:
    """The password of a database URL, as written and decoded, and any PWD= in odbc_connect."""
    parsed = urlparse(url)
    found: list[str] = []
    if parsed.password:
        found += [parsed.password, unquote(parsed.password)]
    for odbc in parse_qs(parsed.query).get("odbc_connect", []):
        for part in odbc.split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() in ("pwd", "password") and value:
                found.append(value.strip().strip("{}"))
    return found


@dataclass(frozen=True, repr=False)
class Settings:
    data_dir: Path
    database_url: str
    public_url: str = "http://localhost:8501"
    max_upload_mb: int = 1024
    analyzer: str = "local"
    lease_seconds: int = 60
    min_confidence: float = 0.5
    allowed_users: tuple[str, ...] = ()
    vision_endpoint: str | None = None
    vision_key: str | None = field(default=None, repr=False)
    vision_features: tuple[str, ...] = DEFAULT_VISION_FEATURES
    vision_language: str = "en"
    vision_gender_neutral: bool = True
    vision_max_tps: float = 10.0
    vision_concurrency: int = 8
    vision_price_per_1000: float = 1.0
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_account_url: str | None = None
    storage_container: str = "framewise"

    @property
    def uses_azure_storage(self) -> bool:
        return bool(self.storage_connection_string or self.storage_account_url)

    def secrets(self) -> list[str]:
        """Values that must never appear in logs, messages or exports."""
        found = [self.vision_key, self.storage_connection_string]
        if self.storage_connection_string:
            # The account key (or SAS) inside a connection string is the part that matters.
            for part in self.storage_connection_string.split(";"):
                key, _, value = part.partition("=")
                if key.strip().lower() in ("accountkey", "sharedaccesssignature"):
                    found.append(value)
        found += _url_passwords(self.database_url)
        return list(dict.fromkeys(s for s in found if s))

    def __repr__(self) -> str:
        """Every field, with secret values (such as the database password) masked."""
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        text = f"{type(self).__name__}({shown})"
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
        return text


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines of a .env file; comments and blank lines are ignored."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, f"must be true or false, got {raw!r}")


def _http_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(name, f"must be an http(s) URL, got {raw!r}")
    return raw.rstrip("/")


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        return f"sqlite:///{(data_dir / 'framewise.db').as_posix()}"
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    known = ("sqlite", "postgresql", "mssql")
    if not scheme or scheme.split("+", 1)[0] not in known:
        raise SettingsError(
            "DATABASE_URL", "must look like sqlite:///path, postgresql://... or mssql+pyodbc://..."
        )
    return raw


def _features(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("AZURE_VISION_FEATURES", "").strip()
    if not raw:
        return DEFAULT_VISION_FEATURES
    return parse_features(raw, setting="AZURE_VISION_FEATURES")


def parse_features(raw: str, setting: str = "features") -> tuple[str, ...]:
    """Turn 'tags, objects' into a tuple of Image Analysis feature names, refusing unknown ones."""
    by_lower = {f.lower(): f for f in VISION_FEATURES}
    chosen: list[str] = []
    for item in raw.replace(" ", "").split(","):
        if not item:
            continue
        name = by_lower.get(item.lower())
        if name is None:
            raise SettingsError(
                setting, f"has unknown feature {item!r}; choose from {', '.join(VISION_FEATURES)}"
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise SettingsError(setting, "must name at least one feature")
    return tuple(chosen)


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Read settings: real environment variables win over the .env file."""
    env: dict[str, str] = dict(read_dotenv(dotenv)) if dotenv else {}
    env.update(os.environ if environ is None else environ)

    data_dir = Path(env.get("FRAMEWISE_DATA_DIR", "").strip() or "./data").expanduser()
    endpoint = _http_url(env, "AZURE_VISION_ENDPOINT")
    analyzer = env.get("FRAMEWISE_ANALYZER", "").strip().lower() or (
        "azure" if endpoint else "local"
    )
    if analyzer not in ("local", "azure"):
        raise SettingsError("FRAMEWISE_ANALYZER", f"must be local or azure, got {analyzer!r}")
    if analyzer == "azure" and not endpoint:
        raise SettingsError("AZURE_VISION_ENDPOINT", "must be set when FRAMEWISE_ANALYZER=azure")
    public_url = _http_url(env, "FRAMEWISE_PUBLIC_URL") or "http://localhost:8501"
    allowed = tuple(
        u.strip().lower() for u in env.get("FRAMEWISE_ALLOWED_USERS", "").split(",") if u.strip()
    )
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        public_url=public_url,
        max_upload_mb=_int(env, "FRAMEWISE_MAX_UPLOAD_MB", 1024, 1, 200_000),
        analyzer=analyzer,
        lease_seconds=_int(env, "FRAMEWISE_LEASE_SECONDS", 60, 2, 86_400),
        min_confidence=_float(env, "FRAMEWISE_MIN_CONFIDENCE", 0.5, 0.0, 1.0),
        allowed_users=allowed,
        vision_endpoint=endpoint,
        vision_key=env.get("AZURE_VISION_KEY", "").strip() or None,
        vision_features=_features(env),
        vision_language=env.get("AZURE_VISION_LANGUAGE", "").strip() or "en",
        vision_gender_neutral=_bool(env, "AZURE_VISION_GENDER_NEUTRAL", True),
        vision_max_tps=_float(env, "AZURE_VISION_MAX_TPS", 10.0, 0.1, 1000.0),
        vision_concurrency=_int(env, "AZURE_VISION_CONCURRENCY", 8, 1, 64),
        vision_price_per_1000=_float(env, "AZURE_VISION_PRICE_PER_1000", 1.0, 0.0, 1000.0),
        storage_connection_string=env.get("AZURE_STORAGE_CONNECTION_STRING", "").strip() or None,
        storage_account_url=_http_url(env, "AZURE_STORAGE_ACCOUNT_URL"),
        storage_container=env.get("AZURE_STORAGE_CONTAINER", "").strip() or "framewise",
    )
