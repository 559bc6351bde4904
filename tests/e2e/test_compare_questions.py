"""The Compare page of two Azure OpenAI analyses of one video, in a real browser: the questions
table (each run's share of yes, mean, frames per choice, and the moments they agreed on, derived
from the two runs' answers.csv) and every chart drawn with a usable plot."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e import ui
from tests.fixtures.openai_emulator import OpenAIEmulator
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

pytestmark = pytest.mark.e2e
# Red 0-2 s, blue 2-4 s, green 4-6 s, white 6-8 s (grey ~0.30, 0.11, 0.59, 1.0). The emulator
# picks choice min(int(b * n), n - 1) of n: A's two tones say light where B's three say mid on
# the green frames, so the runs disagree there and agree everywhere else.
BRIGHT = {"key": "bright", "text": "Is the frame bright?", "type": "yes_no"}
LEVEL = {"key": "level", "text": "How light is it?", "type": "count"}
TONES = {"a": ["dark", "light"], "b": ["dark", "mid", "light"]}
CANNOT_TELL = "cannot_tell"
A_BLUE = (0x00, 0x68, 0xC9)  # components/charts.py SERIES_COLOURS[0]
PLOT_PX = 170  # components/charts.py compare_chart's height
ROW_PX = 35  # a st.dataframe row, and its header


@dataclass
class Lines:
    extent: int  # pixel rows from the highest to the lowest blue pixel
    a_columns: int  # pixel columns holding A's colour


def _plot(chart, legend_px: int = 90) -> Lines:
    """Where a compare chart's lines are drawn, left of its legend (at the chart's right).
    Blue: both series and their anti-aliased edges (blue well above red; the axes are grey)."""
    image = Image.open(io.BytesIO(chart.screenshot())).convert("RGB")
    width, height = image.size
    pixels = image.load()
    blue = [y for y in range(height)
            if any(pixels[x, y][2] - pixels[x, y][0] > 60 for x in range(width - legend_px))]
    a_columns = sum(any(all(abs(p - q) <= 6 for p, q in zip(pixels[x, y], A_BLUE, strict=True))
                        for y in range(height)) for x in range(width - legend_px))
    return Lines(blue[-1] - blue[0] if blue else 0, a_columns)


def _at_least(element, height: float, what: str) -> None:
    """Wait until the element is drawn at least `height` px tall (a chart lays out after it is
    attached); the failure names its size when the wait began."""
    def tall_enough():
        box = element.bounding_box()
        return box is not None and box["height"] >= height
    wait_for(tall_enough, f"{what} at least {height:g} px tall "
                          f"(at first: {element.bounding_box()})", timeout=30)


@pytest.fixture(scope="module")
def emulator():
    with OpenAIEmulator(tpm=None, rpm=None) as running:
        yield running


@pytest.fixture(scope="module")
def server(start_server, emulator, tmp_path_factory):
    """A server (no embedded worker) with two analyses of one 8 s video run by the CLI: A with
    tags, B without, the same yes/no and count questions, the tone question with other choices."""
    server = start_server({"FRAMEWISE_EMBEDDED_WORKER": "0", **ui.openai_settings(emulator)})
    folder = tmp_path_factory.mktemp("compare")
    video = make_video(folder / "lights.mp4", seconds=8, fps=10, pattern="cuts",
                       cuts=(2.0, 4.0, 6.0))
    server.runs = {}
    for side, extra in (("a", ()), ("b", ("--no-tags",))):
        tone = {"key": "tone", "text": "Which tone?", "type": "choice", "choices": TONES[side]}
        questions = folder / f"questions-{side}.json"
        questions.write_text(json.dumps([BRIGHT, LEVEL, tone]), encoding="utf-8")
        done = server.cli("analyze", str(video), "--analyzer", "openai", "--questions",
                          str(questions), "--no-caption", *extra)
        assert done["status"] == "succeeded", done
        server.runs[side] = done["analysis_id"]
    return server


def _said(row: dict[str, str], key: str) -> str | None:
    """A row's answer to a question, if it said something within the rules."""
    value = row[key]
    if value in ("", CANNOT_TELL) or key in row.get("invalid", "").split():
        return None
    return value


def _expected(rows_a: list[dict[str, str]], rows_b: list[dict[str, str]]) -> dict[str, tuple]:
    """What the questions table should say per key (A, B, Agreed), from the two answers.csv."""
    def in_short(rows, key, choices):
        said = [v for r in rows if (v := _said(r, key)) is not None]
        invalid = sum(key in r.get("invalid", "").split() for r in rows)
        if key == "bright":
            found = f"yes in {sum(v == 'yes' for v in said) / len(said):.0%}"
        elif key == "level":
            found = f"mean {sum(float(v) for v in said) / len(said):.3g}"
        else:
            found = ", ".join(f"{c} {n}" for c in choices if (n := said.count(c)))
        return (f"{found} ({len(said)} answered, {len(rows) - len(said) - invalid} cannot tell, "
                f"{invalid} invalid)")

    out = {}
    for key in ("bright", "level", "tone"):
        by_time_b = {r["timestamp_s"]: _said(r, key) for r in rows_b}
        both = [(_said(r, key), by_time_b[r["timestamp_s"]]) for r in rows_a
                if r["timestamp_s"] in by_time_b]
        both = [(x, y) for x, y in both if x is not None and y is not None]
        agreed = sum(x == y for x, y in both)
        out[key] = (in_short(rows_a, key, TONES["a"]), in_short(rows_b, key, TONES["b"]),
                    f"{agreed} of {len(both)} moments ({agreed / len(both):.0%})")
    return out


def _grid_rows(grid) -> list[list[str]]:
    """The cells of a st.dataframe's accessible table (it draws on a canvas), row by row."""
    return grid.locator("table[role='grid']").evaluate(
        "t => [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')]"
        ".map(c => c.innerText.trim()))")


def test_the_compare_page_shows_two_runs_question_by_question(server, page, steps):
    a, b = server.runs["a"], server.runs["b"]
    rows_a = ui.csv_rows(ui.exported(server, a, "answers"))
    rows_b = ui.csv_rows(ui.exported(server, b, "answers"))
    expected = _expected(rows_a, rows_b)
    # The runs disagree on the green frames' tone only: the check below has something to find.
    assert expected["tone"][2] == "6 of 8 moments (75%)", expected
    assert expected["bright"][2] == "8 of 8 moments (100%)", expected

    ui.goto(page, f"{server.url}/compare?a={a}&b={b}")
    ui.wait_for_run(page)
    expect(page.get_by_role("heading", name="Questions")).to_be_visible()
    grid = page.get_by_test_id("stDataFrame").filter(has_text="Agreed")
    # Read once the grid holds its three rows (it fills in after the page's run).
    def three_rows() -> dict[str, tuple[str, ...]] | None:
        rows = {cells[1]: tuple(cells[2:5]) for cells in _grid_rows(grid)}
        return rows if len(rows) == 3 else None
    shown = wait_for(three_rows, "the questions table's three rows")
    assert list(shown) == ["bright", "level", "tone"], shown
    assert shown == expected

    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(5)
    for i in range(5):  # each a plot of 170 px and the time axis under it (once drawn)
        drawn = charts.nth(i).locator("canvas, svg").first
        expect(drawn).to_be_attached()
        _at_least(drawn, PLOT_PX + 40, f"chart {i}")
    steps.shot(page, "compare")
    # The settings table shows all its rows (the default height held ten of thirteen).
    _at_least(page.get_by_test_id("stDataFrame").first,
              ROW_PX * (ui.grid_rows(page, 0) + 1), "the settings table")

    # The brightness lines span the plot as their values span 0..1: a plot of the chart's
    # 170 px (the theme once fitted axis, title and plot into 170 px, leaving about 90).
    frames = ui.csv_rows(ui.exported(server, a, "frames"))
    levels = [float(r["brightness"]) for r in frames]
    brightness = charts.filter(has_text="Brightness")
    # A's solid line shows where B's coincides with it (B dashed; solid over solid hid A).
    span = 0.85 * PLOT_PX * (max(levels) - min(levels))
    wait_for(lambda: (lines := _plot(brightness)).extent >= span and lines.a_columns >= 100,
             "the brightness lines drawn across their plot, A's visible", timeout=30)
    assert (ui.query(page)["a"], ui.query(page)["b"]) == (a, b)  # the choice, mirrored
