"""The app's domain words, each typed in one place: the analysers, the kinds of label, Azure AI
Vision's features, the exports, and the limit of the sampling rate.

Light on purpose (the CLI's parser imports it): no pandas, SQL or SDK. A member carries what the
code needs to know about it, so a new analyser is one line here; code elsewhere compares members
or reads their attributes, never the strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound=StrEnum)


def _member(cls: type[_E], value: str, **attributes: object) -> _E:
    """A member of a StrEnum below whose members carry attributes: the body of its __new__
    (whose defaults only let mypy accept a look-up by value, `AnalyzerKind("azure")`)."""
    member = str.__new__(cls, value)
    member._value_ = value
    for name, attribute in attributes.items():
        setattr(member, name, attribute)
    return member


class AnalyzerKind(StrEnum):
    """What turns a sampled frame into rows (Analysis.analyzer, FRAMEWISE_ANALYZER)."""

    label: str  # its name on the pages
    finds: str  # what it finds, beside its name where the analyst chooses one
    cloud: bool  # a paid service: each frame sent costs a transaction
    endpoint_setting: str | None  # the setting that turns it on; None: always on
    key_setting: str | None  # its key's setting (without one: Entra ID, a managed identity)
    # What the pages, the CLI and the exports offer for it, asked of the kind, not its name:
    detects: bool  # chosen Features: people, objects, text with boxes and confidences
    asks: bool  # answers the analysts' questions, priced per token

    def __new__(cls, value: str, label: str = "", finds: str = "", cloud: bool = False,
                endpoint_setting: str | None = None, key_setting: str | None = None,
                detects: bool = False, asks: bool = False) -> AnalyzerKind:
        return _member(cls, value, label=label, finds=finds, cloud=cloud,
                       endpoint_setting=endpoint_setting, key_setting=key_setting,
                       detects=detects, asks=asks)

    local = ("local", "Local", "image statistics, free")
    azure = ("azure", "Azure AI Vision", "people, objects, tags, text", True,
             "AZURE_VISION_ENDPOINT", "AZURE_VISION_KEY", True, False)
    openai = ("openai", "Azure OpenAI", "answers to your questions, captions, tags", True,
              "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", False, True)


class LabelKind(StrEnum):
    """What a label is. The first six are Detection.kind, found by a remote analyser; a frame's
    caption is a label too, so is an answer to an analyst's question ("posture: kneeling"), and
    the local statistics give shots and black stretches."""

    noun: str  # in a timeline row's or a search result's name ("text: EXIT")

    def __new__(cls, value: str, noun: str = "") -> LabelKind:
        return _member(cls, value, noun=noun)

    person = ("person", "person")
    object = ("object", "object")
    tag = ("tag", "tag")
    dense_caption = ("dense_caption", "dense caption")
    text_line = ("text_line", "text")
    smart_crop = ("smart_crop", "smart crop")
    caption = ("caption", "caption")
    answer = ("answer", "answer")
    shot = ("shot", "shot")
    black = ("black", "black")
    note = ("note", "note")  # an analyst's note at a moment (services/review/notes.py)


# The kinds segments, search and compare know, in the order they list them: the remote ones
# (an Azure OpenAI analysis's answers last), then the local statistics' (segments only).
LABEL_KINDS = (LabelKind.tag, LabelKind.object, LabelKind.person, LabelKind.text_line,
               LabelKind.dense_caption, LabelKind.caption, LabelKind.answer)
LOCAL_KINDS = (LabelKind.shot, LabelKind.black)
SEGMENT_KINDS = LABEL_KINDS + LOCAL_KINDS
SEARCH_KINDS = LABEL_KINDS + (LabelKind.note,)  # what search finds: labels, and the notes


class Feature(StrEnum):
    """An Azure AI Vision (Image Analysis 4.0) feature: its API name, and its name on the page."""

    label: str

    def __new__(cls, value: str, label: str = "") -> Feature:
        return _member(cls, value, label=label)

    tags = ("tags", "Tags")
    caption = ("caption", "Caption")
    dense_captions = ("denseCaptions", "Dense captions")
    objects = ("objects", "Objects")
    read = ("read", "Text (OCR)")
    smart_crops = ("smartCrops", "Smart crops")
    people = ("people", "People")


VISION_FEATURES: tuple[Feature, ...] = tuple(Feature)
DEFAULT_VISION_FEATURES = (Feature.tags, Feature.objects, Feature.people, Feature.caption,
                           Feature.read)


def parse_features(raw: str) -> tuple[Feature, ...]:
    """'tags, Objects' as features, in the order given, each once; ValueError saying what is
    wrong (words that end "setting X ..." or "--features ...")."""
    by_lower = {f.lower(): f for f in Feature}
    chosen: list[Feature] = []
    for item in raw.replace(" ", "").split(","):
        if not item:
            continue
        feature = by_lower.get(item.lower())
        if feature is None:
            raise ValueError(f"has unknown feature {item!r}; choose from {', '.join(Feature)}")
        if feature not in chosen:
            chosen.append(feature)
    if not chosen:
        raise ValueError("must name at least one feature")
    return tuple(chosen)


def features_text(features: Iterable[str]) -> str:
    """Features as Analysis.features stores them: 'tags,objects' ('' for none)."""
    return ",".join(features)


def stored_features(text: str | None) -> tuple[Feature, ...]:
    """Analysis.features back as features (none for a local analysis)."""
    return tuple(Feature(f) for f in (text or "").split(",") if f)


class Export(StrEnum):
    """A file of an analysis's results: the same from the results page and `cli.py export`."""

    file_name: str
    mime: str
    about: str  # what is in it, for `cli.py export --help`
    analyzer: AnalyzerKind | None  # only this analyser's analyses have it; None: every one

    def __new__(cls, value: str, file_name: str = "", mime: str = "", about: str = "",
                analyzer: AnalyzerKind | None = None) -> Export:
        return _member(cls, value, file_name=file_name, mime=mime, about=about,
                       analyzer=analyzer)

    def made_for(self, analyzer: AnalyzerKind | str) -> bool:
        """Whether an analysis by this analyser has this export."""
        return self.analyzer is None or self.analyzer == analyzer

    frames = ("frames", "frames.csv", "text/csv", "one row per frame")
    detections = ("detections", "detections.csv", "text/csv", "one row per detection")
    segments = ("segments", "segments.csv", "text/csv", "one row per label segment")
    json = ("json", "insights.json", "application/json",
            "the insights JSON (schema in the README)")
    answers = ("answers", "answers.csv", "text/csv",
               "one row per analysed frame, a column per question (Azure OpenAI analyses)",
               AnalyzerKind.openai)
    notes = ("notes", "notes.csv", "text/csv", "one row per analyst's note on a moment")
    shots = ("shots", "shots.csv", "text/csv",
             "one row per shot: shot_index, start_s, end_s, transition")
    edl = ("edl", "shots.edl", "text/plain",
           "the shots as a CMX 3600 edit decision list, for editors")


# Frames sampled per second: the most the Upload page and `cli.py analyze --fps` accept. 120
# samples every frame of a 120 fps recording; a rate above the video's repeats frames.
MAX_SAMPLE_FPS = 120.0


def check_sample_fps(fps: float) -> float:
    """The sampling rate if it is above 0 and at most MAX_SAMPLE_FPS; ValueError saying so."""
    if not 0 < fps <= MAX_SAMPLE_FPS:
        raise ValueError(f"must be above 0 and at most {MAX_SAMPLE_FPS:g}")
    return fps


# Shot-aware sampling (services/analysis/shot_sampling.py): a frame per shot, and in a shot longer
# than N seconds one per N seconds of it. Below 1 s fixed-rate sampling is the better tool.
DEFAULT_SHOT_EVERY_S = 10.0
MIN_SHOT_EVERY_S, MAX_SHOT_EVERY_S = 1.0, 3600.0


def check_shot_every(seconds: float) -> float:
    """N of shot-aware sampling if it is between the bounds; ValueError saying so."""
    if not MIN_SHOT_EVERY_S <= seconds <= MAX_SHOT_EVERY_S:  # also refuses NaN
        raise ValueError(f"must be at least {MIN_SHOT_EVERY_S:g} and at most "
                         f"{MAX_SHOT_EVERY_S:g} seconds")
    return float(seconds)
