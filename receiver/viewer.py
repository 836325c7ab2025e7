"""The live viewer, served by the receiver: the stream in a browser, its per-link latency, controls, metrics.

``semcom receiver --viewer 127.0.0.1:8080`` (on by default in ``semcom demo``) serves, on Starlette and
uvicorn in a thread of the receiver:

* ``/``: the page (``viewer_page.html``): original | reconstruction side by side (the reconstruction
  alone without reference frames), the frame's scheme, SNR, CBR and PSNR, a live chart of p50/p95 per
  link with each control switch marked, the counters, and the controls;
* ``/stream.mjpg``: the newest frame as MJPEG. Each viewer gets the newest frame whenever it is ready
  for one, so a slow browser skips frames and never slows the stream; the decoder only hands over a
  reference to the frame, and the JPEG is encoded once per frame, by the first viewer that wants it;
* ``/frame.jpg``: the newest frame once; ``/api/status``: everything the page shows, as JSON;
* ``POST /api/control``: a control request (:mod:`shared.control`), checked here first: a bad one is
  answered 400 with its reason and changes nothing;
* ``/metrics``: the receiver's Prometheus metrics.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections import deque
from importlib import resources
from typing import Callable

import cv2
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shared.control import parse_request, resolve_scheme
from shared.protocol import ControlRequest

log = logging.getLogger("receiver.viewer")
SERIES_SAMPLES = 120  # the chart's history: one sample a second, two minutes
MAX_STREAM_VIEWERS = 32  # MJPEG connections at once; more are answered 503 (each holds a socket and a task)
FRAME_POLL_S = 0.02  # how often a viewer's stream looks for a newer frame (50 Hz: above any stream's rate)
JPEG_QUALITY = 85  # the picture is what is judged: little blocking, ~20 KB at 256x256
MAX_CONTROL_BYTES = 4096  # a control request is a few fields
MJPEG_BOUNDARY = "frame"
SEND_BUFFER_BYTES = 128 * 1024  # per viewer connection: a few frames, so a slow viewer's picture is not seconds old


class LiveView:
    """What the page shows, shared between the decoder (which publishes) and the web server (which reads):
    the newest frame of the stream and its facts, the sampled latency series, the counters, the control
    records. Thread-safe; nothing here ever makes the decoder wait for a viewer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.version = 0  # frames published
        self._frame: np.ndarray | None = None  # (H, W, 3) uint8 RGB, the reconstruction
        self._original: np.ndarray | None = None  # (H, W, 3) uint8 RGB, or None without reference frames
        self._jpeg: tuple[int, bytes] = (-1, b"")  # (version, JPEG) encoded once per frame
        self.stream: dict | None = None  # the newest frame's facts: stream, seq, scheme, params, SNR, CBR, PSNR
        self.series: deque[dict] = deque(maxlen=SERIES_SAMPLES)
        self.counters: dict[str, int] = {}
        self.controls: list[dict] = []
        self.pending: dict[int, dict] = {}  # control requests sent, no record back yet
        self.viewers = 0  # MJPEG streams open
        self.closed = False

    def publish(self, stream: dict, frame: np.ndarray, original: np.ndarray | None) -> None:
        """The decoder's newest frame (references only: no copy, no encoding on its thread)."""
        with self._lock:
            self.version += 1
            self._frame, self._original, self.stream = frame, original, stream

    def sample(self, links: dict[str, tuple[float, float]], fps: float, counters: dict[str, int]) -> None:
        """Once a second, from the decoder's thread: p50/p95 per link over the recent window, the counters."""
        with self._lock:
            self.series.append({"t": time.time(), "fps": fps, "links": links,
                                "scheme": self.stream["scheme"] if self.stream else None})
            self.counters = counters

    def set_controls(self, controls: list[dict]) -> None:
        """The records of the last control requests, as each arrives: a request with its record is no longer pending."""
        with self._lock:
            self.controls = controls
            for record in controls:
                self.pending.pop(record["id"], None)

    def jpeg(self) -> tuple[int, bytes]:
        """(version, JPEG of original | reconstruction); (0, b"") before the first frame."""
        with self._lock:
            if self._jpeg[0] == self.version or self._frame is None:
                return self._jpeg if self._frame is not None else (0, b"")
            version, frame, original = self.version, self._frame, self._original
        picture = frame if original is None or original.shape != frame.shape else np.concatenate([original, frame], axis=1)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        encoded = (version, buf.tobytes() if ok else b"")
        with self._lock:
            if encoded[0] > self._jpeg[0]:
                self._jpeg = encoded
            return self._jpeg

    def status(self) -> dict:
        with self._lock:
            return {"stream": self.stream, "series": list(self.series), "counters": self.counters,
                    "controls": self.controls, "pending": list(self.pending.values()), "viewers": self.viewers,
                    "frames_published": self.version}

    def sent(self, request: ControlRequest) -> None:
        with self._lock:
            self.pending[request.id] = {"id": request.id, "at": time.time(), **request.model_dump(exclude_none=True)}
            while len(self.pending) > 16:  # records that never came back (a transmitter gone) do not pile up
                self.pending.pop(next(iter(self.pending)))


def build_app(view: LiveView, send_control: Callable[[str, ControlRequest], None], metrics: Callable[[], bytes],
              schemes: dict[str, list[str]]) -> Starlette:
    """The viewer's routes. ``send_control(stream_id, request)`` hands a checked request to the feedback link;
    ``metrics()`` renders the Prometheus exposition; ``schemes``: scheme -> its parameter names (for the page)."""
    page = resources.files("receiver").joinpath("viewer_page.html").read_text()
    next_id = iter(range(1, 2**31))

    async def index(_: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def frame_jpg(_: Request) -> Response:
        version, jpeg = await asyncio.to_thread(view.jpeg)
        if not jpeg:
            return Response("no frame yet", status_code=404, media_type="text/plain")
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store", "X-Frame-Version": str(version)})

    async def frames():
        view.viewers += 1
        try:
            shown = 0
            while not view.closed:
                if view.version == shown:
                    await asyncio.sleep(FRAME_POLL_S)
                    continue
                shown, jpeg = await asyncio.to_thread(view.jpeg)  # the newest: what this viewer missed is skipped
                if jpeg:
                    yield (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                           f"X-Frame-Version: {shown}\r\n\r\n").encode() + jpeg + b"\r\n"
        finally:
            view.viewers -= 1

    async def stream_mjpg(_: Request) -> Response:
        if view.viewers >= MAX_STREAM_VIEWERS:
            return Response(f"at most {MAX_STREAM_VIEWERS} viewers at once", status_code=503, media_type="text/plain")
        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
                                 headers={"Cache-Control": "no-store"})

    async def status(_: Request) -> JSONResponse:
        return JSONResponse({**view.status(), "schemes": schemes}, headers={"Cache-Control": "no-store"})

    async def control(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_CONTROL_BYTES:
            return JSONResponse({"error": f"a control request is at most {MAX_CONTROL_BYTES} bytes"}, status_code=413)
        stream = view.stream
        if stream is None:
            return JSONResponse({"error": "no stream yet: controls act on a running stream"}, status_code=409)
        try:
            obj = json.loads(body)
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object")
            checked = parse_request({**obj, "id": next(next_id)})
            if checked.changes_scheme:
                resolve_scheme(stream["scheme"], stream["scheme_params"], checked)  # what the transmitter will check
        except ValueError as exc:  # (json's errors are ValueErrors too)
            return JSONResponse({"error": str(exc)}, status_code=400)
        await asyncio.to_thread(send_control, stream["stream_id"], checked)
        view.sent(checked)
        return JSONResponse({"id": checked.id, "sent": True}, status_code=202)

    async def metrics_route(_: Request) -> Response:
        return Response(await asyncio.to_thread(metrics), media_type="text/plain; version=0.0.4; charset=utf-8")

    return Starlette(routes=[
        Route("/", index), Route("/frame.jpg", frame_jpg), Route("/stream.mjpg", stream_mjpg),
        Route("/api/status", status), Route("/api/control", control, methods=["POST"]), Route("/metrics", metrics_route),
    ])


class ViewerServer:
    """uvicorn serving the app on ``host:port`` in a daemon thread. The socket is bound at construction, so a
    port in use is an OSError at start-up (one line), and port 0 picks a free one (see ``address``)."""

    def __init__(self, app: Starlette, view: LiveView, host: str, port: int):
        self.view = view
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)  # inherited by each connection
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise OSError(f"--viewer {host}:{port}: {exc.strerror or exc}") from None
        self.sock.listen(64)
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, name="viewer", daemon=True)

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        self.thread.start()
        log.info("viewer at %s", self.address)

    def close(self) -> None:
        self.view.closed = True  # the MJPEG streams end, so the server can stop
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=3.0)
        self.sock.close()
