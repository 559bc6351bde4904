"""What the pages show from storage: thumbnails, the playable video, playback URLs reused."""

from __future__ import annotations

from services.insights import media
from services.storage.local import LocalBlobStore


def test_a_thumbnail_is_read_once_and_a_missing_one_says_why(tmp_path):
    """Test that a thumbnail's bytes come back (then from memory), and a missing key is named."""
    store = LocalBlobStore(tmp_path)
    store.write_bytes("analyses/a1/thumbs/0000001.jpg", b"jpeg bytes")
    assert media.thumbnail(store, "analyses/a1/thumbs/0000001.jpg").content == b"jpeg bytes"
    store.delete("analyses/a1/thumbs/0000001.jpg")
    assert media.thumbnail(store, "analyses/a1/thumbs/0000001.jpg").content == b"jpeg bytes"
    gone = media.thumbnail(store, "analyses/a1/thumbs/0000002.jpg")
    assert gone.content is None and gone.problem and "cannot be read" in gone.problem
    assert media.thumbnail(store, None).problem == "This frame has no thumbnail."


def test_the_local_store_plays_the_file_itself(tmp_path):
    """Test that with no playback URL the video's own file is what st.video is given."""
    store = LocalBlobStore(tmp_path)
    store.write_bytes("videos/v.mp4", b"not really a video")
    played = media.playback(store, "videos/v.mp4")
    assert played.content == str(tmp_path / "videos" / "v.mp4")
    assert media.playback(store, "videos/missing.mp4").problem


class UrlStore:
    """A store that signs a new URL on each call, as Azure's user-delegation SAS does."""

    def __init__(self):
        self.signed = 0

    def url_for_playback(self, key, expires_minutes=60):
        self.signed += 1
        return f"https://store.example/{key}?sig={self.signed}"


def test_a_playback_url_is_reused_for_45_minutes_then_renewed():
    """Test that one URL serves reruns for 45 minutes (the player keeps it), then a new one."""
    now = [1000.0]
    urls = media._Urls(clock=lambda: now[0])
    store = UrlStore()
    first = urls.get(store, "videos/v.mp4")
    now[0] += 44 * 60
    assert urls.get(store, "videos/v.mp4") == first
    now[0] += 2 * 60
    assert urls.get(store, "videos/v.mp4") != first
    assert store.signed == 2
