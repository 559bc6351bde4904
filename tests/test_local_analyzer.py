"""The local analyser on synthetic frames and on generated videos."""

from __future__ import annotations

import numpy as np
import pytest

from services.video.frames import SampledFrame
from services.video.sampling import sample_frames
from services.vision.local import LocalAnalyzer
from tests.fixtures.videos import make_video


def _frame(index: int, rgb: np.ndarray) -> SampledFrame:
    return SampledFrame(index, float(index), b"", rgb.shape[1], rgb.shape[0], rgb)


def _solid(colour, size=(120, 160)) -> np.ndarray:
    return np.full((*size, 3), colour, dtype=np.uint8)


def _noise(seed: int, size=(120, 160)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def _run(frames) -> list[dict]:
    analyzer = LocalAnalyzer()
    return [analyzer.analyze(f).stats for f in frames]


def test_black_frames_are_flagged_and_others_are_not():
    """Test that only black frames get the black flag."""
    stats = _run([_frame(0, _noise(1)), _frame(1, _solid(0)), _frame(2, _solid(8)),
                  _frame(3, _noise(2))])
    assert [s["is_black"] for s in stats] == [False, True, True, False]
    assert stats[1]["brightness"] == 0.0


def test_statistics_have_the_expected_order_of_magnitude():
    """Test that brightness, contrast, colourfulness and sharpness respond to the content."""
    grey, white, noise = _run([_frame(0, _solid(128)), _frame(1, _solid(255)),
                               _frame(2, _noise(3))])
    assert white["brightness"] == pytest.approx(1.0, abs=1e-3)
    assert grey["brightness"] == pytest.approx(128 / 255, abs=1e-2)
    assert grey["contrast"] == 0.0 and noise["contrast"] > 0.1
    assert noise["sharpness"] > grey["sharpness"]
    red = _run([_frame(0, _solid((255, 0, 0)))])[0]
    assert red["colourfulness"] > grey["colourfulness"] + 0.3


def test_motion_is_zero_for_identical_frames_and_large_for_different_ones():
    """Test that motion is the mean difference to the previous sampled frame."""
    a = _noise(4)
    stats = _run([_frame(0, a), _frame(1, a.copy()), _frame(2, _noise(5))])
    assert stats[0]["motion"] == 0.0
    assert stats[1]["motion"] == 0.0
    assert stats[2]["motion"] > 0.1


def test_a_new_shot_starts_where_the_content_changes():
    """Test that shot indices advance at a cut and stay put within a shot."""
    red, blue = _solid((200, 30, 30)), _solid((20, 40, 220))
    frames = [_frame(i, img) for i, img in enumerate([red, red, red, blue, blue, red])]
    assert [s["shot_index"] for s in _run(frames)] == [0, 0, 0, 1, 1, 2]


def test_restore_continues_the_stored_shot():
    """Test that a resumed run continues shot numbering and motion from a stored frame."""
    red, blue = _solid((200, 30, 30)), _solid((20, 40, 220))
    analyzer = LocalAnalyzer()
    analyzer.restore(_frame(4, red), shot_index=7)
    same = analyzer.analyze(_frame(5, red)).stats
    cut = analyzer.analyze(_frame(6, blue)).stats
    assert (same["shot_index"], same["motion"]) == (7, 0.0)
    assert cut["shot_index"] == 8


def test_cuts_in_a_generated_video_are_found_at_the_cut_times(tmp_path):
    """Test that a video cut at 1 s and 2 s gives three shots starting at those times."""
    video = make_video(tmp_path / "cuts.mp4", pattern="cuts", seconds=3, cuts=(1.0, 2.0))
    analyzer = LocalAnalyzer()
    shots = [(f.timestamp_s, analyzer.analyze(f).stats["shot_index"])
             for f in sample_frames(video, fps=4)]
    starts = {}
    for t, shot in shots:
        starts.setdefault(shot, t)
    assert starts == {0: 0.0, 1: 1.0, 2: 2.0}


def test_still_video_has_zero_motion_and_one_shot(tmp_path):
    """Test that a still video has no motion and a single shot."""
    video = make_video(tmp_path / "still.mp4", pattern="still", seconds=3)
    analyzer = LocalAnalyzer()
    stats = [analyzer.analyze(f).stats for f in sample_frames(video, fps=2)]
    assert len(stats) == 6
    assert max(s["motion"] for s in stats) < 0.002
    assert {s["shot_index"] for s in stats} == {0}


def test_black_stretch_in_a_generated_video_is_flagged(tmp_path):
    """Test that frames inside the black stretch, and only those, are flagged."""
    video = make_video(tmp_path / "black.mp4", pattern="black_middle", seconds=3,
                       black=(1.0, 2.0))
    analyzer = LocalAnalyzer()
    flags = {f.timestamp_s: analyzer.analyze(f).stats["is_black"]
             for f in sample_frames(video, fps=2)}
    assert flags == {0.0: False, 0.5: False, 1.0: True, 1.5: True, 2.0: False, 2.5: False}
