"""The live viewer over a real socket: frames as JPEG and MJPEG, the newest always, a slow viewer never
slowing the decoder, status and metrics, and control requests checked before anything is sent."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from receiver import viewer
from receiver.viewer import LiveView, ViewerServer, build_app
from shared.pipeline import FrameEncoder
from shared.prometheus import ServiceCollector, service_registry
from shared.telemetry import Counters, LinkStats
from tests.conftest import SMALL_DIGITAL


def _stream_facts(seq: int, scheme: str = "digital", params: dict | None = None) -> dict:
    params = params if params is not None else FrameEncoder("digital", SMALL_DIGITAL).params.model_dump(mode="json")
    return {"stream_id": "cam1", "seq": seq, "scheme": scheme, "scheme_params": params, "snr_db": 10.0, "ok": True,
            "psnr_db": 30.0, "cbr": 0.25, "channel": "awgn", "has_original": True, "height": 32, "width": 32}


@pytest.fixture
def served():
    """A viewer on a free port with a LiveView the test publishes to; ``sent`` collects control requests."""
    view, sent = LiveView(), []
    counters, links = Counters(frames_received=3), LinkStats()
    links.add({"rx_start": 0.0, "rx_decoded": 0.012})
    registry = service_registry(ServiceCollector("receiver", counters, links))
    from prometheus_client import generate_latest

    app = build_app(view, lambda stream, req: sent.append((stream, req)), lambda: generate_latest(registry),
                    {"digital": ["cbr", "link"], "deepjscc": ["cbr"]})
    server = ViewerServer(app, view, "127.0.0.1", 0)
    server.start()
    base = server.address.rstrip("/")
    assert _wait_http(base + "/api/status")
    yield view, base, sent
    server.close()


def _wait_http(url: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers, r.read()


def _post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _frame(value: int) -> np.ndarray:
    return np.full((32, 32, 3), value, np.uint8)


def test_the_page_and_the_newest_frame_side_by_side(served):
    view, base, _ = served
    status, headers, page = _get(base + "/")
    assert status == 200 and b"/stream.mjpg" in page and b"/api/control" in page
    with pytest.raises(urllib.error.HTTPError) as exc:
        _get(base + "/frame.jpg")
    assert exc.value.code == 404  # before the first frame
    view.publish(_stream_facts(0), _frame(200), _frame(50))
    view.publish(_stream_facts(1), _frame(100), _frame(50))
    _, headers, jpeg = _get(base + "/frame.jpg")
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (32, 64, 3) and headers["X-Frame-Version"] == "2"  # original | reconstruction, the newest
    assert abs(int(picture[:, :32].mean()) - 50) < 3 and abs(int(picture[:, 32:].mean()) - 100) < 3
    view.publish(_stream_facts(2), _frame(100), None)  # no reference frame: the reconstruction alone
    _, _, jpeg = _get(base + "/frame.jpg")
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (32, 32, 3)


def _read_parts(sock: socket.socket, n: int = 0, until: int | None = None, timeout: float = 20.0) -> list[int]:
    """The frame versions of MJPEG parts read from a raw HTTP connection: ``n`` of them, or up to version ``until``."""
    sock.settimeout(timeout)
    data, versions = b"", []
    while (len(versions) < n) if until is None else (not versions or versions[-1] < until):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        while b"X-Frame-Version: " in data and b"\r\n" in data.partition(b"X-Frame-Version: ")[2]:
            _, _, data = data.partition(b"X-Frame-Version: ")
            number, _, data = data.partition(b"\r\n")
            versions.append(int(number))
    return versions


def test_a_slow_viewer_skips_frames_and_never_slows_the_decoder(served):
    view, base, _ = served
    port = int(base.rsplit(":", 1)[1])
    slow = socket.create_connection(("127.0.0.1", port))
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        frame = np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8)  # ~50 KB JPEGs that do not compress
        t0 = time.monotonic()
        for i in range(300):  # the slow viewer reads nothing meanwhile
            view.publish(_stream_facts(i), frame, None)
            time.sleep(0.002)
        publish_s = time.monotonic() - t0
        assert publish_s < 300 * 0.002 + 1.0  # publishing never waited for the viewer
        versions = _read_parts(slow, until=300)  # what the socket buffers held, then the newest frame
        assert len(versions) < 20, versions  # most of the 300 frames were skipped for it, few waited in buffers
        assert versions == sorted(set(versions))
    finally:
        slow.close()


def test_many_viewers_each_get_new_frames_and_the_cap_is_kept(served, monkeypatch):
    view, base, _ = served
    port = int(base.rsplit(":", 1)[1])
    monkeypatch.setattr(viewer, "MAX_STREAM_VIEWERS", 3)
    socks = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    stop = threading.Event()

    def publisher():
        i = 0
        while not stop.is_set():
            view.publish(_stream_facts(i), _frame(i % 255), None)
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=publisher, daemon=True)
    t.start()
    try:
        for s in socks:
            versions = _read_parts(s, 2)
            assert len(versions) == 2 and versions[1] > versions[0]
        assert json.loads(_get(base + "/api/status")[2])["viewers"] == 3
        with pytest.raises(urllib.error.HTTPError) as exc:  # the fourth is turned away, the others go on
            urllib.request.urlopen(base + "/stream.mjpg", timeout=5)
        assert exc.value.code == 503
    finally:
        stop.set()
        t.join()
        for s in socks:
            s.close()


def test_status_carries_the_stream_the_series_and_the_schemes(served):
    view, base, _ = served
    view.publish(_stream_facts(5), _frame(1), None)
    view.sample({"rx_decode": [10.0, 20.0]}, 9.5, {"frames_received": 6})
    st = json.loads(_get(base + "/api/status")[2])
    assert st["stream"]["seq"] == 5 and st["series"][-1]["links"]["rx_decode"] == [10.0, 20.0]
    assert st["series"][-1]["scheme"] == "digital" and st["counters"] == {"frames_received": 6}
    assert set(st["schemes"]) == {"digital", "deepjscc"}


def test_bad_control_requests_get_a_clear_error_and_nothing_is_sent(served):
    view, base, sent = served
    code, body = _post(base + "/api/control", {"channel": {"snr_db": 5}})
    assert code == 409 and "no stream yet" in body["error"]
    view.publish(_stream_facts(0), _frame(1), None)
    for bad, words in (({"scheme": "nope"}, "unknown scheme 'nope'"),
                       ({"channel": {"snr_db": 500}}, "less than or equal to 60"),
                       ({"params": {"cbr": "lots"}}, "cbr"),
                       ({"params": {"link.code_rate": 0.05}}, "link.code_rate"),
                       ({"scheme": "deepjscc", "params": {"cbr": 0.3}}, "deepjscc supports cbr"),
                       ({}, "nothing to change"),
                       ([1, 2], "JSON object"),
                       (b"{not json", "Expecting"),
                       (b"{" + b" " * 5000 + b"}", "at most")):
        code, body = _post(base + "/api/control", bad)
        assert code in (400, 413) and words in body["error"], (bad, body)
    assert sent == []
    code, body = _post(base + "/api/control", {"scheme": "deepjscc", "params": {"cbr": 1 / 96}, "channel": {"snr_db": 3}})
    assert code == 202 and len(sent) == 1
    stream_id, request = sent[0]
    assert stream_id == "cam1" and request.id == body["id"] and request.channel.snr_db == 3
    assert json.loads(_get(base + "/api/status")[2])["pending"][0]["id"] == body["id"]


def test_metrics_are_prometheus_text(served):
    _, base, _ = served
    _, headers, text = _get(base + "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    assert families["semcom_frames_received"].samples[0].value == 3
    hist = families["semcom_link_latency_seconds"]
    buckets = {s.labels["le"]: s.value for s in hist.samples if s.name.endswith("_bucket") and s.labels["link"] == "rx_decode"}
    assert buckets["0.01"] == 0 and buckets["0.02"] == 1 and buckets["+Inf"] == 1  # the 12 ms decode


def test_a_viewer_port_in_use_is_one_clear_error(served):
    _, base, _ = served
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(OSError, match=f"--viewer 127.0.0.1:{port}"):
        ViewerServer(build_app(LiveView(), lambda *a: None, lambda: b"", {}), LiveView(), "127.0.0.1", port)
