"""semcom's Python API, for people who script experiments.

One frame over a simulated link, in this process (the transmitter's encoder, the proxy's channel,
the receiver's decoder; no sockets)::

    from semcom import Link
    link = Link("deepjscc", snr_db=5)
    got = link.send(image)                 # image: (H, W, 3) uint8 RGB
    print(got.psnr_db, got.cbr, got.ok)

The three services as processes on 127.0.0.1, as ``semcom demo`` runs them, with the viewer and the
control path::

    from semcom import start
    with start(scheme="digital", frames=0, fps=10, size=128) as run:
        print(run.viewer_url)
        run.control(scheme="deepjscc", params={"cbr": 1 / 96}, snr_db=3)
        time.sleep(10)
    print(run.report["frames"], run.report["links"]["end_to_end"])

Every option is checked as on the command line; a bad one raises :class:`UsageError` with the same
one-line reason.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np

from shared.cli import UsageError
from shared.config import ChannelConfig
from shared.protocol import Header

__all__ = ["Link", "Received", "Services", "UsageError", "start"]
START_TIMEOUT_S = 180.0  # imports and models on a small machine before the first frame


@dataclass
class Received:
    """One frame through a :class:`Link`."""

    frame: np.ndarray  # (H, W, 3) uint8: what the receiver shows (grey for a lost frame)
    ok: bool  # decoded (False: lost on air or a failed decode)
    psnr_db: float  # against the frame sent
    cbr: float  # channel uses per pixel value
    n_symbols: int  # complex channel symbols sent
    snr_db: float  # the channel's SNR for this frame
    header: Header  # the frame's header as the receiver got it


class Link:
    """Transmitter -> channel -> receiver for one stream, in process. The receiver keeps its state
    between frames (a scheme's side information, the last good frame), as the service does."""

    def __init__(self, scheme: str = "lrisc", params: dict | None = None, channel: str = "awgn", snr_db: float = 10.0,
                 **channel_options):
        from shared.pipeline import ChannelStage, FrameDecoder, FrameEncoder

        try:
            self.encoder = FrameEncoder(scheme, params)
            self.channel = ChannelStage(ChannelConfig(model=channel, snr_db=snr_db, **channel_options))
        except ValueError as exc:  # an unknown scheme, a parameter or channel setting out of range
            raise UsageError(str(exc)) from None
        self.decoder = FrameDecoder()
        self.seq = 0
        self._last_good: np.ndarray | None = None

    def send(self, frame: np.ndarray) -> Received:
        """Encode ``frame`` ((H, W, 3) uint8 RGB), pass it through the channel, decode it."""
        from receiver.service import psnr_db
        from shared.schemes.base import DecodeFailure

        header, symbols, _ = self.encoder.encode(frame, self.seq)
        if self.seq == 0:
            self.decoder.prepare(header)
        header, faded, realization = self.channel.process(header, symbols)
        self.seq += 1
        ok = not realization.erased
        shown = None
        if ok:
            try:
                shown = self.decoder.decode(header, faded)
                self._last_good = shown
            except DecodeFailure:
                ok = False
        if shown is None:
            shown = self._last_good if self._last_good is not None else np.full_like(frame, 128)
        return Received(shown, ok, psnr_db(shown, frame), header.n_symbols / frame[..., 0].size / 3, header.n_symbols,
                        header.channel.snr_db if header.channel else float("nan"), header)


class Services:
    """The three services running in the background (see :func:`start`); a context manager that stops them."""

    def __init__(self, ns, scheme: str, params: dict):
        from shared.demo import run_and_report

        self.scheme, self.params = scheme, params
        self.viewer_url = f"http://{ns.viewer[0]}:{ns.viewer[1]}/" if ns.viewer else None
        self.report: dict | None = None  # the demo's report, once stopped
        self._stop = threading.Event()
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self.report = run_and_report(ns, scheme, params, stop=self._stop)[1]
            except BaseException as exc:  # handed to the caller by stop()
                self._error = exc

        self._thread = threading.Thread(target=run, name="semcom-services", daemon=True)
        self._thread.start()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> dict:
        """What the viewer shows, as JSON: the newest frame's facts, the latency series, counters, controls."""
        return self._viewer_json("api/status")

    def wait_for_frames(self, n: int = 1, timeout: float = START_TIMEOUT_S) -> dict:
        """Block until the receiver has shown ``n`` frames; -> the status then. TimeoutError if it has not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running:
            try:
                status = self.status()
                if status["frames_published"] >= n:
                    return status
            except OSError:  # the viewer is not up yet
                pass
            time.sleep(0.2)
        raise TimeoutError(f"fewer than {n} frames within {timeout:.0f} s" + ("" if self.running else " (the run ended)"))

    def control(self, scheme: str | None = None, params: dict | None = None, channel: str | None = None,
                snr_db: float | None = None) -> int:
        """Change the running stream from its next frame on (the viewer's control path); -> the request's id.
        UsageError with the viewer's reason for a request it refuses."""
        request = {k: v for k, v in (("scheme", scheme), ("params", params)) if v is not None}
        link = {k: v for k, v in (("model", channel), ("snr_db", snr_db)) if v is not None}
        if link:
            request["channel"] = link
        answer = self._viewer_json("api/control", request)
        return answer["id"]

    def stop(self, timeout: float = 60.0) -> dict:
        """Stop the stream (as Ctrl-C does) and return the report."""
        self._stop.set()
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self.report

    def _viewer_json(self, path: str, body: dict | None = None) -> dict:
        if self.viewer_url is None:
            raise UsageError("this run has no viewer (viewer='off')")
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.viewer_url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise UsageError(json.loads(exc.read()).get("error", str(exc))) from None


def start(scheme: str = "lrisc", params: dict | None = None, *, source: str = "builtin", frames: int = 0,
          fps: float = 10.0, size: int = 256, channel: str = "awgn", snr_db: float = 10.0,
          viewer: str = "127.0.0.1:8080", **options) -> Services:
    """Start transmitter, proxy and receiver as processes (what ``semcom demo`` does) and return at once.
    ``options``: any other ``semcom demo`` option, underscores for dashes (``out="frames/"``,
    ``record="run.mp4"``, ``restarts=0``); ``viewer="off"`` for none."""
    from shared.demo import build_parser, checked_options

    argv = ["--scheme", scheme, "--source", source, "--frames", str(frames), "--fps", str(fps), "--size", str(size),
            "--channel", channel, "--snr-db", str(snr_db), "--viewer", viewer]
    for key, value in (params or {}).items():
        argv += ["--param", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is False:
            argv.append("--no-" + key.replace("_", "-"))
        else:
            argv += [flag, str(value)]
    parser = build_parser()

    def refuse(message: str):
        raise UsageError(message)

    parser.error = refuse  # one line, raised, not printed and exited
    ns = parser.parse_args(argv)
    scheme, params = checked_options(ns)
    return Services(ns, scheme, params)
