"""The results page's storyboard: one keyframe per shot in time order, a click moves the moment;
and the shots' exports (shots.csv, the EDL)."""

from __future__ import annotations

from pathlib import Path

from server.clips import DESK as CLIP_DESK
from services.video.clip_desk import CLIP_PATH
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


def test_the_clip_section_offers_the_shot_at_the_moment_and_a_typed_range(app_services,
                                                                         tmp_path):
    """Test that at 4 s the clip offered is shot 3 (3.6 to 4.4 s, to the frame), that a typed
    range is offered too, and that a reversed typed range is refused in one line."""
    video = make_video(tmp_path / "cuts.mp4", seconds=6, fps=25, pattern="cuts",
                       cuts=(1.6, 3.6, 4.4))
    aid = run_analysis(app_services, video, analyzer="local", fps=1.0, name="cuts.mp4",
                       user="local")
    at = open_page("results", analysis=aid, t="4")
    assert not at.exception, at.exception
    radio = at.radio(key=f"clip_of_{aid}")
    assert radio.options == ["Shot 3", "A range I type"] and radio.value == "Shot 3"
    [(label, url)] = _clip_links(at)
    assert label == "Download 0:03.60 to 0:04.40 as MP4"
    # The link's ticket, minted for this page session, holds the shot's range to the frame.
    assert url.startswith(CLIP_PATH + "?ticket=")
    grant = CLIP_DESK.redeem(url.split("ticket=", 1)[1], is_live=lambda session: True)
    assert (grant.start_s, grant.end_s) == (3.6, 4.4)
    assert grant.filename == "cuts_3.60-4.40s.mp4" and Path(grant.source()).is_file()
    radio.set_value("A range I type").run()
    at.number_input(key=f"clip_start_{aid}").set_value(3.0).run()
    at.number_input(key=f"clip_end_{aid}").set_value(2.0).run()
    assert [w.value for w in at.warning] == ["The end of the clip must be after its start."]
    assert _clip_links(at) == []


def _clip_links(at) -> list[tuple[str, str]]:
    return [(b.proto.label, b.proto.url) for b in at.get("link_button")
            if b.proto.url.startswith(CLIP_PATH)]
