"""The kinds of label that segments, search and compare know: services.domain's, named here too
while services/insights/segments.py still imports them from this module."""

from services.domain import LABEL_KINDS, LOCAL_KINDS, SEGMENT_KINDS

__all__ = ["LABEL_KINDS", "LOCAL_KINDS", "SEGMENT_KINDS"]
