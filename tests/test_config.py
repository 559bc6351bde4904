"""Settings: embedded defaults, the .env file, validation naming the variable, secrets kept out."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote_plus

import pytest
from sqlalchemy.engine import make_url

from services.config import SettingsError, load_settings
from services.domain import DEFAULT_VISION_FEATURES

VISION_KEY = "vk-0123456789abcdef"
ACCOUNT_KEY = "QUNDT1VOVEtFWQ+/secret=="
DB_PASSWORD = "pg-Pa55word!"
CONNECTION_STRING = (
    "DefaultEndpointsProtocol=https;AccountName=fwstore;"
    f"AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
)


def _load(tmp_path: Path, **env: str):
    return load_settings(env, dotenv=tmp_path / "absent.env")


def test_defaults_run_locally_with_sqlite_in_the_data_folder(tmp_path, monkeypatch):
    """Test that no settings give ./data, a SQLite file inside it, localhost:8501 and local."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings({}, dotenv=Path(".env"))
    assert settings.data_dir == Path("data")
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database).parent == settings.data_dir
    assert settings.public_url == "http://localhost:8501"
    assert settings.analyzer == "local"
    assert settings.vision_features == DEFAULT_VISION_FEATURES
    assert settings.vision_gender_neutral is True
    assert not settings.uses_azure_storage
    assert settings.secrets() == []


def test_database_defaults_into_a_chosen_data_folder(tmp_path):
    """Test that FRAMEWISE_DATA_DIR moves the default SQLite database along with it."""
    settings = _load(tmp_path, FRAMEWISE_DATA_DIR=str(tmp_path / "store"))
    assert settings.data_dir == tmp_path / "store"
    assert Path(make_url(settings.database_url).database) == tmp_path / "store" / "framewise.db"


def test_a_vision_endpoint_switches_the_analyser_to_azure(tmp_path):
    """Test that setting AZURE_VISION_ENDPOINT makes azure the default analyser."""
    settings = _load(tmp_path, AZURE_VISION_ENDPOINT="https://fw.cognitiveservices.azure.com/")
    assert settings.analyzer == "azure"
    assert settings.vision_endpoint == "https://fw.cognitiveservices.azure.com"
    forced = _load(
        tmp_path,
        AZURE_VISION_ENDPOINT="https://fw.cognitiveservices.azure.com",
        FRAMEWISE_ANALYZER="local",
    )
    assert forced.analyzer == "local"


def test_dotenv_is_read_and_the_real_environment_wins(tmp_path):
    """Test that .env values apply, and a real environment variable overrides the same key."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# local overrides\n"
        "\n"
        "FRAMEWISE_MAX_UPLOAD_MB=50\n"
        "export FRAMEWISE_PUBLIC_URL='https://from-dotenv.example.com'\n"
        'AZURE_VISION_FEATURES="tags, caption"\n',
        encoding="utf-8",
    )
    from_file = load_settings({}, dotenv=dotenv)
    assert from_file.max_upload_mb == 50
    assert from_file.public_url == "https://from-dotenv.example.com"
    assert from_file.vision_features == ("tags", "caption")

    overridden = load_settings({"FRAMEWISE_MAX_UPLOAD_MB": "75"}, dotenv=dotenv)
    assert overridden.max_upload_mb == 75
    assert overridden.public_url == "https://from-dotenv.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FRAMEWISE_MAX_UPLOAD_MB", "lots"),
        ("FRAMEWISE_LEASE_SECONDS", "-5"),
        ("FRAMEWISE_ANALYZER", "gpu"),
        ("AZURE_VISION_ENDPOINT", "not-a-url"),
        ("DATABASE_URL", "garbage"),
        ("AZURE_VISION_FEATURES", "tags,faces"),
        ("AZURE_VISION_GENDER_NEUTRAL", "maybe"),
        ("FRAMEWISE_MIN_CONFIDENCE", "1.5"),
        ("FRAMEWISE_PUBLIC_URL", "localhost:8501"),
        ("FRAMEWISE_LOG_LEVEL", "LOUD"),
        ("FRAMEWISE_EMBEDDED_WORKER", "sometimes"),
    ],
)
def test_an_invalid_value_raises_settings_error_naming_the_variable(tmp_path, name, value):
    """Test that each unusable value raises SettingsError whose message names its variable."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, **{name: value})
    assert caught.value.name == name
    assert name in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_process_environment_wins_over_dotenv(tmp_path, monkeypatch):
    """Test that with no mapping given, os.environ is read and overrides the same key in .env."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("FRAMEWISE_LEASE_SECONDS=30\nFRAMEWISE_MAX_UPLOAD_MB=50\n", encoding="utf-8")
    monkeypatch.setenv("FRAMEWISE_MAX_UPLOAD_MB", "75")
    monkeypatch.setenv("FRAMEWISE_EMBEDDED_WORKER", "0")
    settings = load_settings(dotenv=dotenv)
    assert settings.max_upload_mb == 75
    assert settings.lease_seconds == 30
    assert settings.embedded_worker is False


def test_framewise_env_file_names_the_file_or_turns_it_off(tmp_path, monkeypatch):
    """Test that FRAMEWISE_ENV_FILE replaces ./.env with another file, and empty reads none."""
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text("FRAMEWISE_LEASE_SECONDS=30\n", encoding="utf-8")
    other = tmp_path / "other.env"
    other.write_text("FRAMEWISE_LEASE_SECONDS=45\n", encoding="utf-8")
    monkeypatch.delenv("FRAMEWISE_ENV_FILE")
    assert load_settings().lease_seconds == 30  # the default: .env in the working folder
    monkeypatch.setenv("FRAMEWISE_ENV_FILE", str(other))
    assert load_settings().lease_seconds == 45
    monkeypatch.setenv("FRAMEWISE_ENV_FILE", "")
    assert load_settings().lease_seconds == 60
    # A given mapping stands in for the environment, FRAMEWISE_ENV_FILE included.
    assert load_settings({"FRAMEWISE_ENV_FILE": str(other)}).lease_seconds == 45
    assert load_settings({"FRAMEWISE_ENV_FILE": " "}).lease_seconds == 60


def test_a_bad_database_url_is_named_without_echoing_it(tmp_path):
    """Test that a refused DATABASE_URL is named but never quoted (it may hold a password)."""
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, DATABASE_URL=f"oracle://fw:{DB_PASSWORD}@db/fw")
    assert caught.value.name == "DATABASE_URL"
    assert DB_PASSWORD not in str(caught.value)


def test_an_invalid_value_in_dotenv_is_reported_too(tmp_path):
    """Test that a bad value coming from .env raises SettingsError naming the variable."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("FRAMEWISE_LEASE_SECONDS=-1\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="FRAMEWISE_LEASE_SECONDS"):
        load_settings({}, dotenv=dotenv)


@pytest.fixture(params=[DB_PASSWORD, quote_plus(DB_PASSWORD)], ids=["as-is", "url-encoded"])
def credentialed(request, tmp_path):
    """Settings holding a Vision key, a storage account key and a database password (written
    as it is, or URL-encoded as a driver's URL may carry it)."""
    return _load(
        tmp_path,
        AZURE_VISION_ENDPOINT="https://fw.cognitiveservices.azure.com",
        AZURE_VISION_KEY=VISION_KEY,
        AZURE_STORAGE_CONNECTION_STRING=CONNECTION_STRING,
        DATABASE_URL=f"postgresql+psycopg2://fw:{request.param}@db:5432/fw",
    )


def test_secrets_lists_the_vision_key_account_key_and_database_password(credentialed, tmp_path):
    """Test that secrets() returns every credential value the settings hold."""
    secrets = credentialed.secrets()
    assert VISION_KEY in secrets
    assert set(_load(tmp_path, FRAMEWISE_AUTH_CLIENT_SECRET="entra-client-secret",
                     FRAMEWISE_AUTH_COOKIE_SECRET="c" * 40).secrets()) == {
        "entra-client-secret", "c" * 40}
    assert ACCOUNT_KEY in secrets
    assert DB_PASSWORD in secrets  # decoded, as the driver (and its errors) would see it


def test_secrets_include_a_password_inside_odbc_connect(tmp_path):
    """Test that a PWD= inside an mssql odbc_connect string is treated as a secret."""
    odbc = "DRIVER={ODBC Driver 18 for SQL Server};Server=srv;Database=fw;UID=fw;PWD=odbc-Secret9"
    settings = _load(tmp_path, DATABASE_URL=f"mssql+pyodbc:///?odbc_connect={quote_plus(odbc)}")
    assert "odbc-Secret9" in settings.secrets()
    assert "odbc-Secret9" not in repr(settings)


def test_repr_hides_every_secret(credentialed):
    """Test that repr() and str() of Settings show none of the secret values."""
    for text in (repr(credentialed), str(credentialed), f"{credentialed}"):
        for secret in (VISION_KEY, ACCOUNT_KEY, DB_PASSWORD, quote_plus(DB_PASSWORD)):
            assert secret not in text
        assert "db:5432/fw" in text  # the non-secret parts stay visible for debugging
        assert "fw.cognitiveservices.azure.com" in text
