"""Shared fixtures: free loopback ports, services run in threads, small frames."""
from __future__ import annotations

import os
import tempfile
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# hermetic: no hub mirror or user cache of this machine decides what codec=auto picks (tests set their own)
os.environ.pop("SEMCOM_HUB_DIR", None)
os.environ["SEMCOM_CACHE"] = tempfile.mkdtemp(prefix="semcom-test-cache-")

from shared.config import Endpoints  # noqa: E402
from shared.launcher import free_ports  # noqa: E402

# 64x64 frames with a short LDPC code keep every service test fast
SMALL_DIGITAL = {"cbr": 0.25, "link": {"modulation": "qpsk", "code_rate": 0.5, "ldpc_k": 1024}}


@pytest.fixture
def endpoints() -> Endpoints:
    p_in, p_out, p_fb, p_ref = free_ports(4)
    return Endpoints(proxy_in_port=p_in, proxy_out_port=p_out, feedback_port=p_fb, reference_port=p_ref)


@pytest.fixture
def small_frame() -> np.ndarray:
    import skimage.data

    from shared.sources import square_resize

    return square_resize(skimage.data.astronaut(), 64)


class ServiceThread:
    """Runs a service's ``run()`` in a thread; ``stop()`` sets its flag and returns its stats."""

    def __init__(self, service):
        self.service = service
        self.result: dict | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.result = self.service.run()

    def stop(self, timeout: float = 10.0) -> dict:
        self.service.stop.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError("service did not stop")
        self.service.close()
        return self.result


def faded_frame(small_frame, stream_id: str = "default", channel=None) -> list[bytes]:
    """A digital frame as the proxy sends it on (faded, with its CSI part), for ``stream_id``."""
    import msgpack

    from shared.config import ChannelConfig
    from shared.pipeline import ChannelStage, FrameEncoder
    from shared.protocol import encode

    header, symbols, _ = FrameEncoder("digital", SMALL_DIGITAL, stream_id="cam1").encode(small_frame, 0)
    header, faded, _ = ChannelStage(channel or ChannelConfig(snr_db=30)).process(header, symbols)
    frames = [bytes(f) for f in encode(header, faded)]
    head = msgpack.unpackb(frames[0])
    return [msgpack.packb({**head, "stream_id": stream_id}), *frames[1:]]


def wait_for(pred, timeout: float = 20.0) -> bool:
    """Poll ``pred`` every 50 ms until it holds (True) or ``timeout`` s pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False
