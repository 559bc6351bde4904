"""Typed settings from environment variables and an optional `.env` file (pydantic-settings).

Every setting has an embedded default so the app runs on a laptop; Azure settings switch each
service to its cloud backend. An invalid value raises SettingsError naming the variable, in one
line. A new setting is one field below: its env name is the field's validation_alias.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from services.domain import DEFAULT_VISION_FEATURES, AnalyzerKind, Feature, parse_features

# Never echoed in an error message: their values carry credentials.
_SECRET_SETTINGS = ("DATABASE_URL", "AZURE_VISION_KEY", "AZURE_OPENAI_API_KEY",
                    "AZURE_STORAGE_CONNECTION_STRING", "FRAMEWISE_AUTH_CLIENT_SECRET",
                    "FRAMEWISE_AUTH_COOKIE_SECRET")


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


def _http_url(value: str | None, setting: str) -> str | None:
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(setting, f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _default_database_url(data: dict[str, Any]) -> str:
    return f"sqlite:///{(data['data_dir'] / 'framewise.db').as_posix()}"


def _default_analyzer(data: dict[str, Any]) -> AnalyzerKind:
    """The question analyser when configured (Image Analysis 4.0 is deprecated), else Azure AI
    Vision when configured, else local."""
    if data.get("openai_endpoint"):
        return AnalyzerKind.openai
    return AnalyzerKind.azure if data.get("vision_endpoint") else AnalyzerKind.local


class Settings(BaseSettings):
    """The app's settings; field order matters where a default derives from an earlier field."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore",
        frozen=True, populate_by_name=True, str_strip_whitespace=True,
    )

    data_dir: Path = Field(Path("data"), validation_alias="FRAMEWISE_DATA_DIR")
    database_url: str = Field(
        default_factory=_default_database_url, validation_alias="DATABASE_URL"
    )
    public_url: str = Field("http://localhost:8501", validation_alias="FRAMEWISE_PUBLIC_URL")
    max_upload_mb: int = Field(1024, ge=1, le=200_000, validation_alias="FRAMEWISE_MAX_UPLOAD_MB")
    vision_endpoint: str | None = Field(None, validation_alias="AZURE_VISION_ENDPOINT")
    openai_endpoint: str | None = Field(None, validation_alias="AZURE_OPENAI_ENDPOINT")
    analyzer: AnalyzerKind = Field(
        default_factory=_default_analyzer, validation_alias="FRAMEWISE_ANALYZER"
    )
    lease_seconds: int = Field(60, ge=2, le=86_400, validation_alias="FRAMEWISE_LEASE_SECONDS")
    # Analyses one worker runs at once (the fair queue), all under the one shared rate.
    worker_analyses: int = Field(3, ge=1, le=32, validation_alias="FRAMEWISE_WORKER_ANALYSES")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, validation_alias="FRAMEWISE_MIN_CONFIDENCE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias="FRAMEWISE_LOG_LEVEL"
    )
    embedded_worker: bool = Field(True, validation_alias="FRAMEWISE_EMBEDDED_WORKER")
    # An idle server goes quiet so a serverless database can pause: after this long with nothing
    # running and no page visited, its worker stops querying and the pool closes (0: never).
    db_idle_seconds: float = Field(300.0, ge=0.0, le=86_400.0,
                                   validation_alias="FRAMEWISE_DB_IDLE_SECONDS")
    # A quiet server looks for work queued elsewhere (cli.py analyze --no-wait) this often; each
    # look resumes a paused database (0: only a page visit wakes it).
    db_idle_recheck_seconds: float = Field(21_600.0, ge=0.0, le=604_800.0,
                                           validation_alias="FRAMEWISE_DB_IDLE_RECHECK_SECONDS")
    allowed_users: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias="FRAMEWISE_ALLOWED_USERS"
    )
    vision_key: str | None = Field(None, validation_alias="AZURE_VISION_KEY", repr=False)
    vision_features: Annotated[tuple[Feature, ...], NoDecode] = Field(
        DEFAULT_VISION_FEATURES, validation_alias="AZURE_VISION_FEATURES"
    )
    vision_language: str = Field("en", validation_alias="AZURE_VISION_LANGUAGE")
    vision_gender_neutral: bool = Field(True, validation_alias="AZURE_VISION_GENDER_NEUTRAL")
    vision_max_tps: float = Field(10.0, ge=0.1, le=1000.0, validation_alias="AZURE_VISION_MAX_TPS")
    vision_concurrency: int = Field(8, ge=1, le=64, validation_alias="AZURE_VISION_CONCURRENCY")
    # An analysis fails only when the service has given no successful answer for this long.
    vision_give_up_seconds: float = Field(
        600.0, ge=1.0, le=86_400.0, validation_alias="AZURE_VISION_GIVE_UP_SECONDS"
    )
    vision_price_per_1000: float = Field(
        1.0, ge=0.0, le=1000.0, validation_alias="AZURE_VISION_PRICE_PER_1000"
    )
    # Azure OpenAI, the question analyser: Entra ID unless a key is given (local development).
    openai_api_key: str | None = Field(None, validation_alias="AZURE_OPENAI_API_KEY", repr=False)
    openai_deployment: str = Field("gpt-4.1-mini", validation_alias="AZURE_OPENAI_DEPLOYMENT")
    openai_model: str = Field("gpt-4.1-mini", validation_alias="AZURE_OPENAI_MODEL")
    # The deployment's limits (capacity 100 = 100,000 tokens and, for gpt-4.1, 100 requests a
    # minute): each request is budgeted at its estimate against them.
    openai_tpm: int = Field(100_000, ge=1_000, le=100_000_000, validation_alias="AZURE_OPENAI_TPM")
    openai_rpm: int = Field(100, ge=1, le=1_000_000, validation_alias="AZURE_OPENAI_RPM")
    openai_max_side: int = Field(1280, ge=256, le=4096,
                                 validation_alias="AZURE_OPENAI_MAX_IMAGE_SIDE")
    openai_max_completion_tokens: int = Field(
        300, ge=16, le=16_384, validation_alias="AZURE_OPENAI_MAX_COMPLETION_TOKENS"
    )
    openai_concurrency: int = Field(8, ge=1, le=64, validation_alias="AZURE_OPENAI_CONCURRENCY")
    openai_give_up_seconds: float = Field(
        600.0, ge=1.0, le=86_400.0, validation_alias="AZURE_OPENAI_GIVE_UP_SECONDS"
    )
    # USD per million tokens (third-party copies of the price list for gpt-4.1-mini).
    openai_input_price: float = Field(
        0.40, ge=0.0, le=1000.0, validation_alias="AZURE_OPENAI_INPUT_PRICE_PER_MILLION"
    )
    openai_output_price: float = Field(
        1.60, ge=0.0, le=1000.0, validation_alias="AZURE_OPENAI_OUTPUT_PRICE_PER_MILLION"
    )
    storage_connection_string: str | None = Field(
        None, validation_alias="AZURE_STORAGE_CONNECTION_STRING", repr=False
    )
    storage_account_url: str | None = Field(None, validation_alias="AZURE_STORAGE_ACCOUNT_URL")
    storage_container: str = Field("framewise", validation_alias="AZURE_STORAGE_CONTAINER")
    # Sign-in: services/auth_settings.py checks these and builds st.login's [auth] section; the
    # two secrets are covered by secrets() (log and message masking).
    auth_client_id: str | None = Field(None, validation_alias="FRAMEWISE_AUTH_CLIENT_ID")
    auth_tenant_id: str | None = Field(None, validation_alias="FRAMEWISE_AUTH_TENANT_ID")
    auth_client_secret: str | None = Field(
        None, validation_alias="FRAMEWISE_AUTH_CLIENT_SECRET", repr=False
    )
    auth_cookie_secret: str | None = Field(
        None, validation_alias="FRAMEWISE_AUTH_COOKIE_SECRET", repr=False
    )
    auth_redirect_uri: str | None = Field(None, validation_alias="FRAMEWISE_AUTH_REDIRECT_URI")
    # Another OpenID Connect provider than Entra ID (the tests' mock provider, for one).
    auth_server_metadata_url: str | None = Field(
        None, validation_alias="FRAMEWISE_AUTH_SERVER_METADATA_URL"
    )

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if not scheme or scheme.split("+", 1)[0] not in ("sqlite", "postgresql", "mssql"):
            raise SettingsError(
                "DATABASE_URL", "must look like sqlite:///path, postgresql://... or mssql+pyodbc://..."
            )
        return value

    @field_validator("public_url", "vision_endpoint", "openai_endpoint", "storage_account_url")
    @classmethod
    def _http(cls, value: str | None, info: Any) -> str | None:
        alias = cls.model_fields[info.field_name].validation_alias
        return _http_url(value, str(alias))

    @field_validator("analyzer", "log_level", mode="before")
    @classmethod
    def _case(cls, value: Any, info: Any) -> Any:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

    @field_validator("allowed_users", mode="before")
    @classmethod
    def _users(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(u.strip().lower() for u in value.split(",") if u.strip())
        return value

    @field_validator("vision_features", mode="before")
    @classmethod
    def _features(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return parse_features(value)
        except ValueError as exc:
            raise SettingsError("AZURE_VISION_FEATURES", str(exc)) from None

    @model_validator(mode="after")
    def _analyzer_needs_endpoint(self) -> Settings:
        if not self.analyzer_ready(self.analyzer):
            raise SettingsError(str(self.analyzer.endpoint_setting),
                                f"must be set when FRAMEWISE_ANALYZER={self.analyzer}")
        return self

    def analyzer_ready(self, analyzer: AnalyzerKind) -> bool:
        """Whether the analyser can run here: the setting that turns it on (its endpoint) is set."""
        if analyzer.endpoint_setting is None:
            return True
        field = next(name for name, info in type(self).model_fields.items()
                     if info.validation_alias == analyzer.endpoint_setting)
        return bool(getattr(self, field))

    # False: a given mapping (init values) stands in for os.environ (_GivenEnvironment).
    reads_os_environ: ClassVar[bool] = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Real environment variables win over .env; no secrets-folder source.
        if not cls.reads_os_environ:
            return init_settings, dotenv_settings
        return init_settings, env_settings, dotenv_settings

    @property
    def uses_azure_storage(self) -> bool:
        return bool(self.storage_connection_string or self.storage_account_url)

    def secrets(self) -> list[str]:
        """Values that must never appear in logs, messages or exports."""
        found = [self.vision_key, self.openai_api_key, self.storage_connection_string,
                 self.auth_client_secret, self.auth_cookie_secret]
        if self.storage_connection_string:
            # The account key (or SAS) inside a connection string is the part that matters.
            for part in self.storage_connection_string.split(";"):
                key, _, value = part.partition("=")
                if key.strip().lower() in ("accountkey", "sharedaccesssignature"):
                    found.append(value)
        found += _url_passwords(self.database_url)
        return list(dict.fromkeys(s for s in found if s))

    def __repr__(self) -> str:
        """Every field but the keys, with any secret inside a value (a URL's password) masked."""
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name, info in type(self).model_fields.items()
            if info.repr
        )
        text = f"Settings({shown})"
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***").replace(repr(secret)[1:-1], "***")
        return text

    __str__ = __repr__


class _GivenEnvironment(Settings):
    """Settings from a given mapping (as init values) and .env, never from os.environ."""

    reads_os_environ = False


_PROBLEMS = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
}


def _settings_error(exc: ValidationError) -> SettingsError:
    """The first problem pydantic found, as one line naming the variable."""
    error = exc.errors()[0]
    ctx = error.get("ctx") or {}
    if isinstance(ctx.get("error"), SettingsError):
        return ctx["error"]
    name = str(error["loc"][0]) if error["loc"] else "?"
    problem = _PROBLEMS.get(error["type"], error["msg"]).format(**ctx)
    if name not in _SECRET_SETTINGS:
        problem += f", got {str(error['input'])[:80]!r}"
    return SettingsError(name, problem)


ENV_FILE = Path(".env")  # in the working folder, unless FRAMEWISE_ENV_FILE names another


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = ENV_FILE
) -> Settings:
    """Read settings: real environment variables (or `environ` instead) win over the .env file.

    With the default file, FRAMEWISE_ENV_FILE (from the environment, or `environ`) names another
    file, or none when empty: the tests' servers run in the repository and must not read a
    developer's .env there.
    """
    if dotenv is ENV_FILE:
        named = (os.environ if environ is None else environ).get("FRAMEWISE_ENV_FILE")
        if named is not None:
            dotenv = Path(named) if named.strip() else None
    try:
        if environ is None:
            return Settings(_env_file=dotenv)
        given: dict[str, Any] = {key: value for key, value in environ.items() if value.strip()}
        return _GivenEnvironment(_env_file=dotenv, **given)
    except ValidationError as exc:
        raise _settings_error(exc) from None
