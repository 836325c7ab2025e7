"""The proxy's air time and delay: frames leave no earlier than physics allows, in order."""
import zmq

from channel_proxy.service import ProxyService
from shared import protocol
from shared.config import ChannelConfig
from shared.protocol import Limits
from shared.transport import StopFlag
from tests.conftest import ServiceThread
from tests.test_robustness import good_frame


def test_symbol_rate_and_delay_set_the_channel_link(endpoints, small_frame):
    frames = [good_frame(small_frame, seq, faded=False) for seq in range(3)]
    n_symbols = len(frames[0][1]) // 8
    rate = n_symbols / 0.2  # 200 ms of air time per frame
    cfg = ChannelConfig(snr_db=30, symbol_rate=rate, delay_ms=50)
    svc = ProxyService(cfg, endpoints, StopFlag(install_signals=False))
    runner = ServiceThread(svc)
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    push.connect(f"tcp://127.0.0.1:{endpoints.proxy_in_port}")
    pull = ctx.socket(zmq.PULL)
    pull.connect(f"tcp://127.0.0.1:{endpoints.proxy_out_port}")
    pull.setsockopt(zmq.RCVTIMEO, 20_000)
    try:
        for f in frames:  # a burst: the second and third frame queue for the air interface
            push.send_multipart(f)
        got = [protocol.decode(pull.recv_multipart(), Limits())[0] for _ in frames]
    finally:
        runner.stop()
        push.close(0)
        pull.close(0)
    assert [h.seq for h in got] == [0, 1, 2]
    first_in = got[0].hops["proxy_recv"]
    for i, h in enumerate(got):
        # frame i leaves after i + 1 air times (FIFO on one link) plus the propagation delay
        assert h.hops["proxy_sent"] - first_in >= 0.2 * (i + 1) + 0.05 - 0.01
    assert got[-1].hops["proxy_sent"] - first_in < 0.2 * 3 + 0.05 + 1.0
