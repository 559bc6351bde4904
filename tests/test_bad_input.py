"""Bad and unusual input on the CLI: refused in one line leaving nothing, or analysed correctly."""

from __future__ import annotations

import json
import socket
import unicodedata
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from services.config import load_settings
from services.db import make_engine
from services.models import Analysis, Detection, Frame, Video
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY
from tests.fixtures.cli import cli
from tests.fixtures.videos import (
    _run,
    make_audio_only,
    make_image,
    make_truncated,
    make_vfr,
    make_video,
)


@pytest.fixture
def env(env, tmp_path):
    """The CLI's environment, with its own temporary folder so leftover temp files show."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**env, "TMPDIR": str(tmp)}


@pytest.fixture(scope="module")
def clip_8k(tmp_path_factory) -> Path:
    """A 0.4 s 7680x4320 clip (about 1.3 MB, so also over a 1 MB upload limit)."""
    return make_video(tmp_path_factory.mktemp("8k") / "8k.mp4", seconds=0.4, fps=5,
                      size=(7680, 4320))


def _frames_only(path: Path, frames: int) -> Path:
    _run(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-frames:v", str(frames),
          "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)])
    return path


def _unknown_codec(path: Path) -> Path:
    """An mkv whose codec id no decoder knows (an mpeg4 track relabelled)."""
    src = make_video(path.with_name("src.mkv"), codec="mpeg4", seconds=1.0)
    data = src.read_bytes()
    src.unlink()
    path.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_XYZZY/ISO/ASP"))
    return path


def leftovers(env) -> tuple[dict[str, int], list[str]]:
    """Rows per table and every file under the blobs and temp folders (hidden ones too)."""
    data = Path(env["FRAMEWISE_DATA_DIR"])
    rows: dict[str, int] = {}
    if (data / "framewise.db").exists():
        engine = make_engine(load_settings(env, dotenv=None).database_url)
        with engine.connect() as conn:
            for table in (Video, Analysis, Frame, Detection):
                if sa.inspect(conn).has_table(table.__tablename__):
                    rows[table.__tablename__] = conn.scalar(
                        sa.select(sa.func.count()).select_from(table))
        engine.dispose()
    files = [str(p) for folder in (data / "blobs", Path(env["TMPDIR"])) if folder.exists()
             for p in folder.rglob("*") if p.is_file()]
    return {k: v for k, v in rows.items() if v}, files


def assert_refused(done, *words: str) -> None:
    """Exit 2, exactly one `error:` line naming the problem, no traceback."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and all(w.lower() in errors[0].lower() for w in words), done.stderr
    assert "Traceback" not in done.stderr + done.stdout


REFUSED = {
    "empty file": ("empty.mp4", lambda p: p.write_bytes(b""), "empty"),
    "random bytes": ("random.mp4", lambda p: p.write_bytes(bytes(range(256)) * 200),
                     "not a video"),
    "text file": ("notes.txt", lambda p: p.write_text("minutes of the meeting\n" * 200),
                  "not a video"),
    "image renamed": ("photo.mp4", lambda p: make_image(p, size=(640, 480)), "image"),
    "audio only": ("song.mp4", lambda p: make_audio_only(p), "only audio"),
    "zero frames": ("zero.mp4", lambda p: _frames_only(p, 0), "no video stream"),
    "unsupported codec": ("odd.mkv", _unknown_codec, "cannot decode"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_files_are_refused_in_one_line_leaving_nothing(env, tmp_path, case):
    """Test that each kind of bad file exits 2 with one error line and no row, blob or temp file."""
    name, write, words = REFUSED[case]
    path = tmp_path / name
    write(path)
    done = cli(env, "analyze", str(path))
    assert_refused(done, words)
    assert leftovers(env) == ({}, [])


def test_a_file_over_the_upload_limit_is_refused_like_on_the_page(env, clip_8k):
    """Test that FRAMEWISE_MAX_UPLOAD_MB applies to the CLI too, with the page's message."""
    assert clip_8k.stat().st_size > 1024 * 1024
    done = cli({**env, "FRAMEWISE_MAX_UPLOAD_MB": "1"}, "analyze", str(clip_8k))
    assert_refused(done, "8k.mp4 is ", " MB, over the 1 MB upload limit")
    assert leftovers(env) == ({}, [])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _unreachable_storage() -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{_closed_port()}/{ACCOUNT};")


BAD_SETTINGS = {
    "malformed database url": ("DATABASE_URL", lambda: "nonsense"),
    "database port not a number": (
        "DATABASE_URL", lambda: "postgresql+psycopg2://fw@127.0.0.1:port/fw"),
    "database not listening": (
        "DATABASE_URL", lambda: f"postgresql+psycopg2://fw:pw@127.0.0.1:{_closed_port()}/fw"),
    "storage not listening": ("AZURE_STORAGE_CONNECTION_STRING", _unreachable_storage),
    "storage string garbled": ("AZURE_STORAGE_CONNECTION_STRING", lambda: "no=thing"),
    "vision endpoint not a url": ("AZURE_VISION_ENDPOINT", lambda: "vision.example.com"),
    "upload limit not a number": ("FRAMEWISE_MAX_UPLOAD_MB", lambda: "lots"),
    "log level unknown": ("FRAMEWISE_LOG_LEVEL", lambda: "LOUD"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_invalid_settings_exit_2_naming_the_setting(env, tmp_path, case):
    """Test that a bad or unreachable setting is named in one error line, leaving nothing."""
    setting, value = BAD_SETTINGS[case]
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    # The timeout only keeps a hung run from stalling the suite; speed is the benchmark's.
    done = cli({**env, setting: value()}, "analyze", str(video), timeout=60)
    assert_refused(done, setting)
    assert leftovers(env) == ({}, [])


def _analysed(env, path: Path, *args: str):
    """Run analyze; return its JSON summary, stderr and the Frame rows in index order."""
    done = cli(env, "analyze", str(path), *args)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    engine = make_engine(load_settings(env, dotenv=None).database_url)
    with Session(engine) as s:
        frames = s.exec(select(Frame).where(Frame.analysis_id == summary["analysis_id"])
                        .order_by(Frame.frame_index)).all()
        video = s.exec(select(Video)).one()
    engine.dispose()
    return summary, done.stderr, frames, video


def test_a_truncated_video_is_analysed_as_far_as_it_decodes(env, tmp_path):
    """Test that a cut-off mp4 succeeds with fewer frames, truncated in the JSON and a warning."""
    whole = make_video(tmp_path / "whole.mp4", seconds=6)
    cut = make_truncated(whole, tmp_path / "cut.mp4", keep_fraction=0.5)
    summary, stderr, frames, _ = _analysed(env, cut, "--fps", "2")
    assert summary["status"] == "succeeded" and summary["truncated"] is True
    assert 0 < summary["frames"] == len(frames) < 12
    assert [line for line in stderr.splitlines() if line.startswith("warning:")] == [
        "warning: the video is truncated; analysed as far as it decodes"]


SHAPES = {
    # name: (make the video, sampling fps, expected frames, expected frame width x height)
    "one frame": (lambda p, _: _frames_only(p, 1), 1, 1, (320, 240)),
    "8K": (lambda p, big: big, 1, 1, (1280, 720)),
    "rotated phone video": (
        lambda p, _: make_video(p, seconds=1, fps=10, size=(1920, 1080), rotate=90), 2, 2,
        (720, 1280)),
    "portrait": (lambda p, _: make_video(p, seconds=1, fps=10, size=(240, 426)), 2, 2,
                 (240, 426)),
}


@pytest.mark.parametrize("case", list(SHAPES))
def test_unusual_shapes_are_scaled_to_1280_and_keep_their_orientation(env, tmp_path, clip_8k,
                                                                      case):
    """Test that tiny, 8K, rotated and portrait videos give the right frames at the right size."""
    make, fps, count, size = SHAPES[case]
    path = make(tmp_path / "clip.mp4", clip_8k)
    summary, _, frames, video = _analysed(env, path, "--fps", str(fps))
    assert summary["status"] == "succeeded" and summary["frames"] == count
    assert [(f.width, f.height) for f in frames] == [size] * count
    assert (video.width > video.height) == (size[0] > size[1])  # as displayed, rotation applied


def test_variable_frame_rate_gives_exact_frames_at_k_over_fps(env, tmp_path):
    """Test that a 30/10/30 fps video sampled at 4 fps gives 12 frames at exactly k/4 s."""
    summary, _, frames, _ = _analysed(env, make_vfr(tmp_path / "vfr.mp4"), "--fps", "4")
    assert summary["frames"] == 12
    assert [f.timestamp_s for f in frames] == [k / 4 for k in range(12)]
    assert [f.frame_index for f in frames] == list(range(12))


NAMES = {
    "windows traversal": ("..\\..\\Windows\\evil.mp4", "evil.mp4"),
    "control characters": ("bell\x07esc\x1b[31mred\nline\t.mp4", "bellesc[31mredline.mp4"),
    "250 characters": ("n" * 246 + ".mp4", None),
    "emoji": ("🎬 café 🎥.mp4", "🎬 café 🎥.mp4"),
}


@pytest.mark.parametrize("case", list(NAMES))
def test_hostile_file_names_are_stored_under_generated_keys(env, tmp_path, case):
    """Test that odd file names never become storage keys and are shown cleaned."""
    name, shown = NAMES[case]
    folder = tmp_path / "sub"
    folder.mkdir()
    path = make_video(tmp_path / "clip.mp4", seconds=1)
    path = path.rename(folder / name)
    _, _, _, video = _analysed(env, folder / ".." / "sub" / name)
    assert video.blob_key.startswith("videos/") and len(video.blob_key) == len("videos/") + 36
    assert video.blob_key.endswith(".mp4") and video.blob_key[7:39].isalnum()
    cleaned = video.original_filename
    assert not any(unicodedata.category(c)[0] == "C" for c in cleaned)
    assert "/" not in cleaned and "\\" not in cleaned and len(cleaned) <= 200
    assert cleaned == (shown or cleaned) and cleaned.endswith(".mp4")
    listed = cli(env, "list").stdout
    assert cleaned in listed and "\x1b" not in listed and "\x07" not in listed
