"""Secrets never show: not in DEBUG logs, error messages or exports, on success or failure.

The CLI runs with FRAMEWISE_LOG_LEVEL=DEBUG (the SDKs' HTTP logs included) against Azurite, the
Vision emulator and PostgreSQL, with a Vision key, the storage account key and a database
password set; every value of Settings.secrets() is then searched for in everything it printed
and wrote, as is and URL-encoded.
"""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy.engine import make_url

from services.config import load_settings
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY, unique_container
from tests.fixtures.cli import cli
from tests.fixtures.videos import make_video
from tests.fixtures.vision_emulator import VisionEmulator

VISION_KEY = "fwk-7f3e9c2a51d8-SECRET-vision-key"
WRONG_KEY = "fwk-00badc0ffee0-SECRET-wrong-key"
DB_PASSWORD = "pg-S3cret-9431/pass"  # a '/' to be quoted in the URL, as real passwords are


@pytest.fixture
def emulator():
    emu = VisionEmulator(key=VISION_KEY).start()
    yield emu
    emu.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_login(url: str, user: str | None = None) -> str:
    parsed = make_url(url).set(password=DB_PASSWORD)
    return (parsed.set(username=user) if user else parsed).render_as_string(hide_password=False)


def _leaks(settings_env: dict, *texts: str) -> list[str]:
    """Which secrets of these settings appear in the texts (raw or URL-encoded)."""
    secrets = load_settings(settings_env, dotenv=None).secrets()
    assert secrets, "no secrets configured: the test would prove nothing"
    blob = "\n".join(texts)
    return [s for s in secrets if s in blob or quote(s, safe="") in blob]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_secrets_stay_out_of_debug_logs_errors_and_exports(
    env, database_url, azurite, emulator, tmp_path
):
    """Test that key, account key and DB password never appear in any output or export."""
    good = {
        **env, "FRAMEWISE_LOG_LEVEL": "DEBUG", "DATABASE_URL": _with_login(database_url),
        "AZURE_VISION_ENDPOINT": emulator.endpoint, "AZURE_VISION_KEY": VISION_KEY,
        "AZURE_VISION_FEATURES": "tags,caption,objects,read,people",
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "AZURE_STORAGE_CONTAINER": unique_container(),
    }
    assert DB_PASSWORD in load_settings(good, dotenv=None).secrets()
    video = make_video(tmp_path / "clip.mp4", seconds=2, fps=5)
    frames_csv, detections_csv = tmp_path / "f.csv", tmp_path / "d.csv"

    ok = cli(good, "analyze", str(video), "--analyzer", "azure")
    assert ok.returncode == 0, ok.stderr[-3000:]
    analysis_id = ok.stdout.splitlines()[-1].split('"analysis_id": "')[1][:32]
    exported = cli(good, "export", analysis_id, "--frames", str(frames_csv),
                   "--detections", str(detections_csv))
    assert exported.returncode == 0
    # The logs were really at DEBUG, with the SDKs' request headers in them.
    assert "DEBUG " in ok.stderr and "Ocp-Apim-Subscription-Key" in ok.stderr
    assert "x-ms-date" in ok.stderr.lower()  # Blob Storage requests were logged too
    assert "sqlalchemy.pool" in ok.stderr  # and database connections
    outputs = [ok, exported]
    exports = [Path(p).read_text(encoding="utf-8") for p in (frames_csv, detections_csv)]
    assert "," in exports[1].splitlines()[1]  # detections were exported
    assert _leaks(good, *[o.stdout + o.stderr for o in outputs], *exports) == []

    storage_down = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};"
                    f"AccountKey={ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:{_closed_port()}/"
                    f"{ACCOUNT};")
    failures = {
        "wrong vision key": ({"AZURE_VISION_KEY": WRONG_KEY}, 1, "AZURE_VISION_KEY"),
        "storage unreachable": ({"AZURE_STORAGE_CONNECTION_STRING": storage_down}, 2,
                                "AZURE_STORAGE_CONNECTION_STRING"),
        "database login refused": ({"DATABASE_URL": _with_login(database_url, "intruder")}, 2,
                                   "DATABASE_URL"),
        "database not listening": (
            {"DATABASE_URL": f"postgresql+psycopg2://fw:{quote(DB_PASSWORD, safe='')}"
                             f"@127.0.0.1:{_closed_port()}/fw"}, 2, "DATABASE_URL"),
    }
    fresh = make_video(tmp_path / "fresh.mp4", seconds=1, size=(352, 240))  # not in the cache

    def run(change: dict):
        return cli({**good, **change}, "analyze", str(fresh), "--analyzer", "azure", timeout=60)

    with ThreadPoolExecutor(len(failures)) as pool:  # independent runs: side by side
        done = dict(zip(failures, pool.map(run, [c for c, _, _ in failures.values()]),
                        strict=True))
    for case, (change, code, setting) in failures.items():
        out = done[case]
        assert out.returncode == code and setting in out.stderr, (case, out.stderr[-3000:])
        assert _leaks({**good, **change}, out.stdout, out.stderr) == [], case
