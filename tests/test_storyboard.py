"""The results page's storyboard: one keyframe per shot in time order, a click moves the moment;
and the shots' exports (shots.csv, the EDL)."""

from __future__ import annotations

from tests.fixtures.apptest import open_page
from tests.fixtures.library import run_analysis
from tests.fixtures.videos import make_video


def test_the_storyboard_shows_one_keyframe_per_shot_in_order_and_jumps(app_services, tmp_path):
    """Test that a 1 fps analysis of a video cut at 1.6, 3.6 and 4.4 s shows four shots in time
    order with their start times, each with a keyframe image, and that clicking the third
    moves the selected moment to the sample inside it (4 s), the URL following."""
    video = make_video(tmp_path / "cuts.mp4", seconds=6, fps=25, pattern="cuts",
                       cuts=(1.6, 3.6, 4.4))
    aid = run_analysis(app_services, video, analyzer="local", fps=1.0, name="cuts.mp4",
                       user="local")
    at = open_page("results", analysis=aid, t="0")
    assert not at.exception, at.exception
    shots = [b for b in at.button if b.key and b.key.startswith(f"shot_{aid}_")]
    assert [b.label for b in shots] == ["▶ Shot 1 · 0:00.00", "Shot 2 · 0:01.60",
                                        "Shot 3 · 0:03.60", "Shot 4 · 0:04.40"]
    assert len(at.get("image")) == 1 + 4  # the frame viewer's and one keyframe per shot
    shots[2].click().run()
    assert not at.exception, at.exception
    assert at.select_slider[0].value == 4.0 and at.query_params["t"] == "4"
    assert at.button(key=f"shot_{aid}_3").label == "▶ Shot 3 · 0:03.60"
