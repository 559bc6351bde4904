"""The Search and Compare pages and the results page's segments and view links, through AppTest,
over two Azure analyses made by the pipeline against the Vision emulator."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.config import load_settings
from services.context import Services, open_services
from tests.fixtures.apptest import open_page, shown, texts
from tests.fixtures.library import WORD_LINE, make_scene_videos, run_analysis, scene_env
from tests.fixtures.videos import make_video

APP_URL = "http://localhost:8501"  # the app's FRAMEWISE_PUBLIC_URL (its default)
WORD_KEY = f"text_line:{WORD_LINE}"


@dataclass
class Library:
    services: Services
    a: str
    b: str


@pytest.fixture
def library(app_services, scene_emulator, tmp_path) -> Library:
    """Analyses a and b (tests/fixtures/library.py) in the data folder the app under test uses."""
    azure = open_services(load_settings(
        scene_env(app_services.settings.data_dir, scene_emulator), dotenv=None))
    a, b = (run_analysis(azure, path) for path in make_scene_videos(tmp_path))
    azure.engine.dispose()
    return Library(app_services, a, b)


def frames_shown(at):
    return at.dataframe[-1].value  # the frames table is the last table of the results page


def test_search_page_lists_the_one_segment_with_a_link_to_its_start(library):
    """Test that /search?q=zebra shows one result of analysis b, 0:03 to 0:05, linking to t=3."""
    at = open_page("search", q="zebra")
    assert not at.exception, at.exception
    assert at.text_input(key="search_q").value == "zebra"
    [button] = at.get("link_button")
    assert button.proto.url == f"{APP_URL}/results?analysis={library.b}&t=3"
    assert button.proto.label == "Open at 0:03.0"
    assert any(WORD_LINE in shown(m) for m in texts(at, "markdown"))
    assert any("0:03.0 to 0:05.0 · 3 frames" in c for c in texts(at, "caption"))
    assert any("1 segment" == c for c in texts(at, "caption"))

    at.text_input(key="search_q").set_value("no such words").run()
    assert not at.get("link_button") and "Nothing found" in at.info[0].value
    assert at.query_params["q"] == "no such words"


def test_search_page_restores_its_filters_from_the_link(library):
    """Test that kind and confidence in the URL set the controls and filter the results."""
    at = open_page("search", q="person", kind="tag", conf="0.6")
    assert not at.exception, at.exception
    assert at.multiselect(key="search_kinds").value == ["tag"]
    assert at.slider(key="search_conf").value == 0.6
    urls = [b.proto.url for b in at.get("link_button")]
    assert urls == [f"{APP_URL}/results?analysis={aid}&t=0" for aid in (library.b, library.a)]


def test_compare_page_shows_label_shares_of_both(library):
    """Test that /compare?a=..&b=.. shows each label's share, the word as only in B."""
    at = open_page("compare", a=library.a, b=library.b)
    assert not at.exception, at.exception
    labels = next(d.value for d in at.dataframe if "share_a" in d.value.columns)
    word = labels[labels["label"] == WORD_LINE].iloc[0]
    assert (word["share_a"], word["share_b"], word["only"]) == (0.0, 0.375, "B")
    furniture = labels[labels["label"] == "furniture"].iloc[0]
    assert (furniture["share_a"], furniture["share_b"], furniture["only"]) == (1.0, 1.0, "")
    assert len(at.get("vega_lite_chart")) == 5  # one chart per local statistic, both on it
    at.slider(key="compare_conf").set_value(0.6).run()
    labels = next(d.value for d in at.dataframe if "share_a" in d.value.columns)
    assert "using" not in set(labels["label"]) and at.query_params["conf"] == "0.6"


def test_a_results_link_restores_confidence_label_and_moment(library):
    """Test that conf, label and t in a results link are restored, govern the table, and ride in
    the share link; moving the slider changes the counts and the URL."""
    at = open_page("results", analysis=library.b, t="4", conf="0.65", label=WORD_KEY)
    assert not at.exception, at.exception
    assert at.sidebar.slider[0].value == 0.65
    assert at.selectbox(key=f"label_{library.b}").value == WORD_KEY
    assert at.select_slider[0].value == 4.0
    link = at.code[0].value
    assert link.startswith(f"{APP_URL}/results?analysis={library.b}&t=4&conf=0.65&label=")
    assert "label=text_line%3AZEBRA+crossing+42" in link
    assert any("now in the one from 0:03.0 to 0:05.0 (3 frames)" in c
               for c in texts(at, "caption"))
    assert frames_shown(at)["object_count"].tolist()[:1] == [2]

    at.sidebar.slider[0].set_value(0.5).run()
    assert at.query_params["conf"] == "0.5"
    assert frames_shown(at)["object_count"].tolist()[:1] == [5]


def test_picking_a_label_jumps_to_its_first_segment(library):
    """Test that choosing a label moves the moment to its first segment, and 'Go to a segment'
    jumps to the one picked; the URL follows."""
    at = open_page("results", analysis=library.b, t="0")
    assert not at.exception, at.exception
    assert at.selectbox(key=f"label_{library.b}").value == ""
    assert "label" not in at.query_params
    at.selectbox(key=f"label_{library.b}").set_value(WORD_KEY).run()
    assert at.select_slider[0].value == 3.0
    assert at.query_params["label"] == WORD_KEY and at.query_params["t"] == "3"
    at.selectbox(key=f"label_{library.b}").set_value("tag:furniture").run()
    assert at.select_slider[0].value == 0.0
    at.select_slider[0].set_value(6.0).run()
    at.selectbox(key=f"go_{library.b}").set_value(0.0).run()
    assert at.select_slider[0].value == 0.0
    assert at.selectbox(key=f"go_{library.b}").value is None


def test_a_local_analysis_has_shot_and_black_segments(app_services, tmp_path):
    """Test that a local analysis's results page offers its shots and black stretch as labels,
    and that picking one jumps to it (no confidence slider: nothing depends on one)."""
    video = make_video(tmp_path / "black.mp4", seconds=3, pattern="black_middle",
                       black=(1.0, 2.0))
    aid = run_analysis(app_services, video, analyzer="local", fps=2.0, name="clip.mp4",
                       user="local")
    at = open_page("results", analysis=aid)
    assert not at.exception, at.exception
    assert not at.sidebar.slider and "conf" not in at.query_params
    box = at.selectbox(key=f"label_{aid}")
    assert box.options == ["No label selected", "shot: shot 1", "shot: shot 2", "shot: shot 3",
                           "black: black"]
    box.set_value("black:black").run()
    assert at.select_slider[0].value == 1.0
    assert at.code[0].value.endswith(f"analysis={aid}&t=1&label=black%3Ablack")
