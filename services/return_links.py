"""The link that asked for a sign-in, kept per browser while the browser signs in.

st.login always brings the browser back to the app's root URL in a new session, so the page and
query parameters of a share link would be lost. They are kept here, keyed by `browser_key`: a
hash of the browser's Streamlit XSRF cookie token (the cookie survives the round trip; its token
does not change).
"""

from __future__ import annotations

import binascii
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping

XSRF_COOKIE = "_streamlit_xsrf"
LINK_TTL_S = 15 * 60


def browser_key(cookies: Mapping[str, str]) -> str | None:
    """A stable, opaque id of this browser from Streamlit's XSRF cookie, or None.

    The cookie is `2|<mask>|<token xor mask>|<timestamp>`: the mask changes with every response
    that sets it, the token and timestamp do not (until the browser drops the cookie).
    """
    raw = (cookies.get(XSRF_COOKIE) or "").strip("\"'")
    parts = raw.split("|")
    if len(parts) != 4 or parts[0] != "2":
        return None
    try:
        mask = binascii.a2b_hex(parts[1])
        masked = binascii.a2b_hex(parts[2])
    except (binascii.Error, ValueError):
        return None
    if len(mask) != 4 or not masked:
        return None
    token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
    return hashlib.sha256(token + b"|" + parts[3].encode()).hexdigest()


class ReturnLinks:
    """Page and query parameters that asked for a sign-in, per browser, for a short while."""

    def __init__(self, ttl_s: float = LINK_TTL_S, max_entries: int = 1000, clock=time.monotonic):
        self.ttl_s, self.max_entries, self.clock = ttl_s, max_entries, clock
        self._links: OrderedDict[str, tuple[float, str, dict[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, browser: str, path: str, params: Mapping[str, str]) -> None:
        kept = {str(k)[:64]: str(v)[:512] for k, v in list(params.items())[:16]}
        with self._lock:
            self._links.pop(browser, None)
            self._links[browser] = (self.clock() + self.ttl_s, str(path)[:200], kept)
            while len(self._links) > self.max_entries:
                self._links.popitem(last=False)

    def take(self, browser: str) -> tuple[str, dict[str, str]] | None:
        with self._lock:
            found = self._links.pop(browser, None)
        if found is None or found[0] < self.clock():
            return None
        return found[1], found[2]
