"""The Vision emulator itself (tests/fixtures/vision_emulator.py): it refuses what the service
would refuse and enforces its sliding-window rate limit, so tests against it can fail."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from tests.fixtures.azure_vision import KEY
from tests.fixtures.azure_vision import sample_frame as sample_frame  # noqa: F401  (fixture)
from tests.fixtures.vision_answers import RESPONSES
from tests.fixtures.vision_emulator import PATH


def test_emulator_rejects_what_the_service_would(vision_emulator):
    """Test that the emulator answers bad requests with 400/401 and records the violations."""

    def post(query: str, body: bytes, headers: dict) -> int:
        url = f"{vision_emulator.endpoint}/computervision/imageanalysis:analyze?{query}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    png = (RESPONSES / "sample.png").read_bytes()
    good = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"}
    ok = "api-version=2023-10-01&features=people"
    assert post(ok, png, good) == 200
    assert post(ok, png, {**good, "Ocp-Apim-Subscription-Key": "nope"}) == 401
    assert post("api-version=2024-02-01&features=people", png, good) == 400
    assert post("api-version=2023-10-01&features=faces", png, good) == 400
    assert post(ok, b"not an image", good) == 400
    assert post(ok, png, {**good, "Content-Type": "image/png"}) == 400
    assert len(vision_emulator.violations) == 5


def test_emulator_enforces_its_rate_limit(vision_emulator, sample_frame):
    """Test that the emulator's sliding window answers 429 above its limit and counts them."""
    vision_emulator.rate_limit = 3
    png = sample_frame.jpeg
    url = f"{vision_emulator.endpoint}/computervision/imageanalysis:analyze"
    codes = []
    for _ in range(5):
        request = urllib.request.Request(
            f"{url}?api-version=2023-10-01&features=tags",
            data=png,
            headers={"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                codes.append(answer.status)
        except urllib.error.HTTPError as err:
            codes.append(err.code)
            assert err.headers["Retry-After"] == "1"
    assert codes == [200, 200, 200, 429, 429] and vision_emulator.throttled == 2


@pytest.mark.parametrize("cut", ["in the body", "in the headers"])
def test_a_request_cut_short_by_its_client_is_no_request(vision_emulator, cut):
    """Test that a client gone mid-request (killed, say) is neither counted nor answered."""
    png = (RESPONSES / "sample.png").read_bytes()
    head = (f"POST {PATH}?api-version=2023-10-01&features=tags HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nOcp-Apim-Subscription-Key: {KEY}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(png)}\r\n\r\n"
            ).encode()
    sent = head + png[: len(png) // 2] if cut == "in the body" else head[: len(head) - 30]
    port = int(vision_emulator.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)  # what the client's kernel does when the client dies
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # until the emulator closes
    assert answer == b"" and vision_emulator.cut_short == 1
    assert vision_emulator.requests == 0 and vision_emulator.violations == []
    assert not vision_emulator.statuses
    request = urllib.request.Request(
        f"{vision_emulator.endpoint}{PATH}?api-version=2023-10-01&features=tags", data=png,
        headers={"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=10) as whole:
        assert whole.status == 200
    assert vision_emulator.requests == 1 and vision_emulator.violations == []
