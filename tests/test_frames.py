"""Probe and frame sampling against real videos generated with ffmpeg (no mocks)."""

from __future__ import annotations

import io
import os
import signal

import numpy as np
import pytest
from PIL import Image

from services.video.frames import SampledFrame, planned_frames
from services.video.probe import VideoError, VideoInfo, probe
from services.video.sampling import sample_frames
from tests.fixtures.videos import (
    CUT_COLOURS,
    make_audio_only,
    make_image,
    make_truncated,
    make_vfr,
    make_video,
)


def colour_index(frame: SampledFrame) -> int:
    """Which CUT_COLOURS segment a frame shows (nearest mean colour, must be close)."""
    mean = frame.rgb.reshape(-1, 3).mean(axis=0)
    dist = [np.abs(mean - np.array(c)).max() for c in CUT_COLOURS]
    best = int(np.argmin(dist))
    assert dist[best] < 30, f"frame {frame.index} shows no cut colour: {mean}"
    return best


def process_gone(pid: int) -> bool:
    """True when the process has exited and been reaped (not even a zombie is left)."""
    return not os.path.exists(f"/proc/{pid}")


# ---------------------------------------------------------------- probe


def test_probe_reads_header_fields(sample_video):
    """Test that probe reports duration, fps, size, codec and no rotation for a plain mp4."""
    info = probe(sample_video)
    assert info == VideoInfo(duration_s=3.0, fps=30.0, width=320, height=240, codec="h264")
    assert info.rotation == 0


@pytest.mark.parametrize(
    ("rotate", "size"), [(90, (240, 320)), (180, (320, 240)), (270, (240, 320))]
)
def test_probe_reports_rotation_and_displayed_size(video_factory, rotate, size):
    """Test that a rotated 320x240 video probes with its rotation and its size as displayed."""
    info = probe(video_factory(rotate=rotate))
    assert info.rotation == rotate
    assert (info.width, info.height) == size


def test_probe_other_codec_and_audio_track(video_factory):
    """Test that a VP9 webm and an mp4 with an audio track probe as their video stream."""
    vp9 = probe(video_factory("v.webm", codec="libvpx-vp9", seconds=1.0))
    assert (vp9.codec, vp9.width, vp9.height, vp9.duration_s) == ("vp9", 320, 240, 1.0)
    with_audio = probe(video_factory(audio=True, fps=25))
    assert (with_audio.codec, with_audio.fps, with_audio.duration_s) == ("h264", 25.0, 3.0)


def _unknown_codec(tmp_path):
    """An mkv whose codec id no decoder knows (an mpeg4 track relabelled)."""
    src = make_video(tmp_path / "m.mkv", codec="mpeg4", seconds=1.0)
    data = src.read_bytes()
    assert b"V_MPEG4/ISO/ASP" in data
    dst = tmp_path / "unknown.mkv"
    dst.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_XYZZY/ISO/ASP"))
    return dst


BAD_INPUTS = {
    "empty": (lambda p: p.write_bytes(b""), "empty"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(1).bytes(4096)), "not a video"),
    "text": (lambda p: p.write_text("just some notes, not a video\n" * 20), "not a video"),
    "png renamed": (lambda p: make_image(p, codec="png"), "image"),
    "jpeg renamed": (lambda p: make_image(p, codec="mjpeg"), "image"),
    "audio only": (lambda p: make_audio_only(p), "only audio"),
    "audio with cover art": (lambda p: make_audio_only(p, cover=True), "only audio"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_refused_with_one_line(tmp_path, kind):
    """Test that each kind of non-video raises VideoError with a short one-line reason."""
    write, words = BAD_INPUTS[kind]
    path = tmp_path / "upload.mp4"
    write(path)
    with pytest.raises(VideoError) as caught:
        probe(path)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message and len(message) < 100
    assert "@ 0x" not in message and "Stream #" not in message  # no ffmpeg dump
    with pytest.raises(VideoError):
        sample_frames(path, fps=1)  # probes first when not given an info


def test_unknown_codec_is_refused(tmp_path):
    """Test that a video stream without a decoder is refused as an unsupported codec."""
    with pytest.raises(VideoError, match="cannot decode") as caught:
        probe(_unknown_codec(tmp_path))
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------- counts and timestamps


@pytest.mark.parametrize(
    ("duration", "fps", "max_frames", "expected"),
    [(3.0, 2, None, 6), (3.0, 1, None, 3), (3.0, 0.5, None, 2), (3.0, 0.1, None, 1),
     (2.5, 7, None, 18), (3.0, 30, None, 90), (3.0, 2, 4, 4), (3.0, 2, 100, 6)],
)  # fmt: skip
def test_planned_frames(duration, fps, max_frames, expected):
    """Test that planned_frames counts one frame per k/fps inside the duration, capped."""
    info = VideoInfo(duration, 30.0, 320, 240, "h264")
    assert planned_frames(info, fps, max_frames) == expected


@pytest.mark.parametrize(
    ("fps", "timestamps"),
    [(2, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]), (1, [0.0, 1.0, 2.0]), (0.5, [0.0, 2.0])],
)
def test_sample_counts_and_timestamps(sample_video, fps, timestamps):
    """Test that sampling 3 s yields exactly one frame at each k/fps, indexed from 0."""
    with sample_frames(sample_video, fps=fps) as stream:
        frames = list(stream)
    assert [f.timestamp_s for f in frames] == pytest.approx(timestamps)
    assert [f.index for f in frames] == list(range(len(timestamps)))
    assert (stream.expected, stream.produced, stream.truncated) == (
        len(timestamps),
        len(timestamps),
        False,
    )


@pytest.mark.parametrize(("seconds", "fps"), [(2.5, 7), (3.3, 2), (1.0, 0.5), (2.0, 3.3)])
def test_planned_frames_matches_what_ffmpeg_yields(video_factory, seconds, fps):
    """Test that planned_frames(probe(v)) is exactly the number of frames sampled."""
    video = video_factory(seconds=seconds, size=(160, 120))
    info = probe(video)
    stream = sample_frames(video, fps=fps, info=info)
    assert sum(1 for _ in stream) == planned_frames(info, fps) == stream.expected
    assert not stream.truncated


def test_frame_shows_content_at_its_timestamp(video_factory):
    """Test that the frame at t shows what is on screen at t, never a later picture."""
    video = video_factory(pattern="cuts", cuts=(1.0, 1.6))
    frames = list(sample_frames(video, fps=2))
    # 1.5 s is before the cut at 1.6 s: rounding to the nearest slot would show segment 2.
    assert [colour_index(f) for f in frames] == [0, 0, 1, 1, 2, 2]
    every = list(sample_frames(video, fps=30))
    assert [colour_index(every[i]) for i in (29, 30, 47, 48)] == [0, 1, 1, 2]


def test_rgb_and_jpeg_hold_the_same_frame(sample_video):
    """Test that each frame carries an HxWx3 uint8 array and a JPEG of that same picture."""
    frame = next(iter(sample_frames(sample_video, fps=1)))
    assert frame.rgb.shape == (240, 320, 3) and frame.rgb.dtype == np.uint8
    with Image.open(io.BytesIO(frame.jpeg)) as img:
        assert img.format == "JPEG" and img.size == (320, 240)
        decoded = np.asarray(img.convert("RGB"), dtype=np.int16)
    assert np.abs(decoded - frame.rgb).mean() < 4


def test_variable_frame_rate_video(tmp_path):
    """Test that a VFR video is sampled at the requested times without loss."""
    stream = sample_frames(make_vfr(tmp_path / "vfr.mp4"), fps=2)
    frames = list(stream)
    assert [f.timestamp_s for f in frames] == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5])
    assert not stream.truncated


# ---------------------------------------------------------------- size and rotation


@pytest.mark.parametrize(
    ("size", "max_side", "out"),
    [((640, 360), 320, (320, 180)), ((360, 640), 320, (180, 320)),
     ((320, 240), 1280, (320, 240)), ((500, 300), 333, (332, 200))],
)  # fmt: skip
def test_resize_keeps_aspect_and_never_upscales(video_factory, size, max_side, out):
    """Test that the long side is capped at max_side, aspect kept, even, never enlarged."""
    video = video_factory(size=size, seconds=1.0)
    frames = list(sample_frames(video, fps=1, max_side=max_side))
    assert {(f.width, f.height) for f in frames} == {out}
    assert frames[0].rgb.shape == (out[1], out[0], 3)


def test_rotated_video_frames_come_out_upright(video_factory):
    """Test that a rotate=90 video yields 240x320 frames turned clockwise like a player does."""
    plain = next(iter(sample_frames(video_factory(pattern="still"), fps=1)))
    turned = next(iter(sample_frames(video_factory(pattern="still", rotate=90), fps=1)))
    assert (turned.width, turned.height) == (240, 320)
    assert turned.rgb.shape == (320, 240, 3)
    cw = np.abs(turned.rgb.astype(int) - np.rot90(plain.rgb, k=-1)).mean()
    ccw = np.abs(turned.rgb.astype(int) - np.rot90(plain.rgb, k=1)).mean()
    assert cw < 5 < ccw


# ---------------------------------------------------------------- limits, damage, stopping


def test_max_frames_stops_early(sample_video):
    """Test that max_frames caps the frames and the stream is complete, not truncated."""
    stream = sample_frames(sample_video, fps=30, max_frames=5)
    frames = list(stream)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert (stream.expected, stream.produced, stream.truncated) == (5, 5, False)
    assert process_gone(stream.pid)


def test_truncated_file_is_detected(sample_video, tmp_path):
    """Test that a file cut short still yields its frames and reports truncation."""
    cut = make_truncated(sample_video, tmp_path / "cut.mp4", keep_fraction=0.5)
    assert probe(cut).duration_s == 3.0  # the header still promises the whole video
    stream = sample_frames(cut, fps=2)
    frames = list(stream)
    assert 0 < len(frames) == stream.produced < stream.expected - 1
    assert stream.truncated
    assert [f.timestamp_s for f in frames] == pytest.approx([i * 0.5 for i in range(len(frames))])


def test_header_without_frames_raises_video_error(sample_video, tmp_path):
    """Test that a file cut right after its header (no whole frame left) raises VideoError."""
    cut = make_truncated(sample_video, tmp_path / "cut.mp4", keep_fraction=0.03)
    stream = sample_frames(cut, fps=2)
    with pytest.raises(VideoError, match="could not be decoded"):
        list(stream)
    assert stream.produced == 0 and process_gone(stream.pid)


def test_undecodable_file_raises_video_error(tmp_path):
    """Test that ffmpeg failing outright surfaces as a VideoError, not a silent empty stream."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(2).bytes(4096))
    info = VideoInfo(3.0, 30.0, 320, 240, "h264")  # e.g. a stale row for a replaced blob
    with pytest.raises(VideoError, match="could not be decoded"):
        list(sample_frames(junk, fps=1, info=info))


@pytest.mark.parametrize("how", ["with", "close", "break"])
def test_early_stop_kills_ffmpeg(video_factory, how):
    """Test that leaving the stream early kills ffmpeg and reaps it, whichever way."""
    video = video_factory(seconds=10.0)  # 300 frames: far more than the pipe buffer holds
    stream = sample_frames(video, fps=30)
    if how == "with":
        with stream:
            next(iter(stream))
    elif how == "close":
        next(iter(stream))
        stream.close()
    else:
        for _ in stream:
            break  # the for loop drops the generator, which stops ffmpeg
    assert stream.pid is not None and process_gone(stream.pid)
    assert stream.returncode == -signal.SIGKILL  # killed, it did not run to the end
    assert stream.produced == 1


def test_stream_iterates_once(sample_video):
    """Test that a second iteration is refused instead of silently yielding nothing."""
    stream = sample_frames(sample_video, fps=1)
    list(stream)
    with pytest.raises(RuntimeError):
        iter(stream)


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_invalid_fps_is_refused(sample_video, fps):
    """Test that a non-positive or non-finite sampling rate raises ValueError."""
    with pytest.raises(ValueError):
        sample_frames(sample_video, fps=fps)


def test_a_text_file_named_txt_is_not_a_video(tmp_path):
    """Test that plain text, which ffmpeg would render as ANSI art, is refused."""
    path = tmp_path / "notes.txt"
    path.write_text("meeting notes\n" * 50)
    with pytest.raises(VideoError, match="not a video"):
        probe(path)


def test_sparse_sampling_seeks_and_lands_on_the_requested_times(tmp_path):
    """Test that sparse sampling (seeking) yields each frame from the right moment."""
    from services.video.seek import SeekingFrameStream
    from tests.fixtures.videos import CUT_COLOURS

    video = make_video(tmp_path / "cuts.mp4", pattern="cuts", seconds=15, cuts=(5.0, 10.0))
    stream = sample_frames(video, fps=0.2)  # 150 source frames apart: the seeking path
    assert isinstance(stream, SeekingFrameStream)
    frames = list(stream)
    assert [f.timestamp_s for f in frames] == [0.0, 5.0, 10.0]
    for frame, colour in zip(frames, CUT_COLOURS, strict=False):
        centre = frame.rgb[frame.height // 2, frame.width // 2].astype(int)
        assert np.abs(centre - np.array(colour)).max() < 40
    assert not stream.truncated and stream.produced == stream.expected == 3


def test_sparse_sampling_stops_at_max_frames_and_reports_truncation(tmp_path):
    """Test that the seeking path honours max_frames and notices a truncated file."""
    whole = make_video(tmp_path / "whole.mp4", seconds=20)
    assert len(list(sample_frames(whole, fps=0.2, max_frames=2))) == 2
    cut = make_truncated(whole, tmp_path / "cut.mp4", keep_fraction=0.4)
    stream = sample_frames(cut, fps=0.2)
    frames = list(stream)
    assert stream.truncated and 0 < len(frames) < stream.expected
