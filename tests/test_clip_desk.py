"""The clip desk's tickets (services/video/clip_desk.py), on an injected clock: the results page
asks for a link on every run, so one range keeps one ticket while it has half its life left,
then gets a fresh one; every ticket still works until its own end."""

from __future__ import annotations

from services.video.clip_desk import ClipDesk, ClipGrant, ClipRefused

TTL = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


def _grant(session: str = "page-1", video: str = "videos/a.mp4", start: float = 1.0,
           end: float = 3.0) -> ClipGrant:
    return ClipGrant(session, video, lambda: video, start, end, f"a_{start:g}-{end:g}.mp4")


def _desk() -> tuple[ClipDesk, Clock]:
    clock = Clock()
    return ClipDesk(clock=lambda: clock.now, ttl_s=TTL), clock


def test_page_runs_asking_for_the_same_range_share_one_ticket():
    """Test that a hundred runs of one page asking for the same clip hold one ticket."""
    desk, clock = _desk()
    tickets = set()
    for _ in range(100):
        tickets.add(desk.mint(_grant()))
        clock.now += 1.0
    assert len(tickets) == 1 and len(desk) == 1


def test_another_range_video_or_page_gets_a_ticket_of_its_own():
    """Test that the ticket is shared only by the same page, video, range and file name."""
    desk, _ = _desk()
    first = desk.mint(_grant())
    others = {desk.mint(_grant(session="page-2")), desk.mint(_grant(video="videos/b.mp4")),
              desk.mint(_grant(start=1.5)), desk.mint(_grant(end=2.5))}
    assert first not in others and len(others) == 4 and len(desk) == 5


def test_a_ticket_past_half_its_life_is_replaced_and_still_works_until_it_ends():
    """Test that the page gets a fresh ticket once the given one has less than half its life
    left, and that a link already shown with the old one keeps working until it expires."""
    desk, clock = _desk()
    old = desk.mint(_grant())
    clock.now = TTL / 2 - 1
    assert desk.mint(_grant()) == old
    clock.now = TTL / 2 + 1
    new = desk.mint(_grant())
    assert new != old
    assert desk.redeem(old, is_live=lambda s: True).start_s == 1.0  # shown before: still valid
    clock.now = TTL + 1
    try:
        desk.redeem(old, is_live=lambda s: True)
    except ClipRefused as refused:
        assert refused.status == 403
    else:
        raise AssertionError("an expired ticket was redeemed")
    assert desk.redeem(new, is_live=lambda s: True).end_s == 3.0


def test_expired_tickets_are_dropped_when_the_next_is_minted():
    """Test that the desk does not grow with tickets nobody can use any more."""
    desk, clock = _desk()
    for start in range(20):
        desk.mint(_grant(start=float(start)))
    clock.now = TTL + 1
    desk.mint(_grant(start=99.0))
    assert len(desk) == 1
