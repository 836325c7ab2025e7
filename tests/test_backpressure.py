"""A receiver slower than the source, with no credit window (``window=0``, HWM only): the live
transmitter drops frames and counts them, and never hoards them."""
import time

import zmq

from channel_proxy.service import MAX_IN_FLIGHT, ProxyService
from shared.config import ChannelConfig
from shared.pipeline import FrameEncoder
from shared.protocol import Limits
from shared.transport import StopFlag, make_socket
from tests.conftest import SMALL_DIGITAL, ServiceThread
from transmitter.service import TransmitterService, TransmitterSettings

N_FRAMES = 120
MAX_QUEUED = 40  # frames between source and reader: HWMs plus small kernel buffers (~1 MB here)


def test_slow_receiver_makes_the_live_transmitter_drop(endpoints, small_frame):
    proxy = ProxyService(ChannelConfig(snr_db=30), endpoints, StopFlag(install_signals=False), hwm=1)
    proxy_runner = ServiceThread(proxy)
    ctx = zmq.Context.instance()
    # a receiver, with the receiver's socket settings, that takes one frame every 0.2 s
    slow = make_socket(ctx, zmq.PULL, hwm=1, limits=Limits(), connect=f"tcp://127.0.0.1:{endpoints.proxy_out_port}")
    settings = TransmitterSettings(frames=N_FRAMES, fps=100.0, wait_ready_s=0, hwm=1)
    tx = TransmitterService([small_frame] * N_FRAMES, FrameEncoder("digital", SMALL_DIGITAL), endpoints,
                            settings, StopFlag(install_signals=False))
    tx_runner = ServiceThread(tx)
    got = 0
    try:
        end = time.monotonic() + 60
        while tx_runner.thread.is_alive() and time.monotonic() < end:
            if slow.poll(200):
                slow.recv_multipart()
                got += 1
                time.sleep(0.2)
        tx_runner.thread.join(5)
        assert not tx_runner.thread.is_alive()
        in_line = len(proxy.line)
    finally:
        tx_stats = tx_runner.stop()
        # take what the proxy still holds before stopping it: closing a PUSH socket whose session is part-way through
        # a multipart message to a reader that is not reading trips a libzmq assertion that aborts the process
        # (EAGAIN in session_base.cpp's clean_pipes, zeromq/libzmq#3442); CI hit it twice in 11 runs
        while slow.poll(300):
            slow.recv_multipart()
        proxy_runner.stop()
        slow.close(0)
    c = tx_stats["counters"]
    assert c["frames_sent"] + tx_stats["frames_dropped"] == N_FRAMES  # stale (replaced in the slot) or refused (full)
    assert tx_stats["frames_dropped"] > 0
    assert got <= c["frames_sent"] <= got + MAX_QUEUED  # what was not read was refused, not hoarded
    assert in_line <= MAX_IN_FLIGHT
