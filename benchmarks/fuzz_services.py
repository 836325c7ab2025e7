"""The fuzz at scale: ``--examples`` hostile messages a service (every kind, all six schemes), with
fresh randomness each run, against the real handlers of the proxy, the receiver and the transmitter's
feedback path. Counts examples, failures (an exception out of a handler) and why messages were
dropped. Written as JSON, with the hardware and the seed.

    python benchmarks/fuzz_services.py --examples 10000 --out results/fuzz.json
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zmq  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from channel_proxy.service import ProxyService  # noqa: E402
from receiver.service import ReceiverService, ReceiverSettings  # noqa: E402
from shared.bench import hardware  # noqa: E402
from shared.config import ChannelConfig  # noqa: E402
from shared.launcher import free_endpoints  # noqa: E402
from shared.pipeline import FrameEncoder  # noqa: E402
from shared.transport import StopFlag  # noqa: E402
from tests.fuzz_messages import SCHEME_PARAMS, FakeFeedbackSocket, as_zmq_frames, feedback_messages, mutated  # noqa: E402
from transmitter.service import TransmitterService, TransmitterSettings  # noqa: E402


def run(name: str, strategy, check, examples: int, run_seed: int) -> dict:
    count, failures = [0], []

    @seed(run_seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def body(message):
        count[0] += 1
        try:
            check(message)
        except Exception:  # recorded, not raised: the run goes on and counts them all
            if len(failures) < 20:
                failures.append(traceback.format_exc(limit=3)[-1500:])
            failures_total[0] += 1

    failures_total = [0]
    t0 = time.monotonic()
    body()
    wall = time.monotonic() - t0
    print(f"{name}: {count[0]} examples, {failures_total[0]} failures, {wall:.0f} s", flush=True)
    return {"examples": count[0], "failures": failures_total[0], "first_failures": failures, "wall_s": round(wall, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=None, help="default: a fresh one, written to the results")
    p.add_argument("--out", type=Path, default=Path("results/fuzz.json"))
    ns = p.parse_args()
    run_seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(2**32)
    logging.basicConfig(level=logging.ERROR)  # one warning a dropped message would be 30,000 lines
    schemes = sorted(SCHEME_PARAMS)
    stop = StopFlag(install_signals=False)
    proxy = ProxyService(ChannelConfig(model="rayleigh", snr_db=10, block_len=16), free_endpoints(), stop)
    sink = zmq.Context.instance().socket(zmq.PULL)
    sink.connect(proxy.out.getsockopt_string(zmq.LAST_ENDPOINT))
    receiver = ReceiverService(free_endpoints(), ReceiverSettings(), stop)
    tx = TransmitterService(iter([]), FrameEncoder("lrisc", stream_id="fuzz"), free_endpoints(),
                            TransmitterSettings(window=2), stop)
    tx.next_seq, real_fb = 5, tx.fb

    def proxy_check(message):
        proxy.handle(as_zmq_frames(message))
        proxy._release_due()
        while sink.poll(0):
            sink.recv_multipart()

    def tx_check(raw):
        tx.fb = FakeFeedbackSocket([raw])
        tx._drain_feedback()
        assert tx.last_acked < tx.next_seq, "an unsent frame was acknowledged"

    results = {
        "proxy": run("proxy", mutated(schemes, faded=False), proxy_check, ns.examples, run_seed),
        "receiver": run("receiver", mutated(schemes, faded=True), lambda m: receiver.handle(as_zmq_frames(m)),
                        ns.examples, run_seed),
        "transmitter": run("transmitter (feedback)", feedback_messages(), tx_check, ns.examples, run_seed),
    }
    results["proxy"]["counters"] = dict(proxy.counters)
    results["receiver"]["counters"] = dict(receiver.counters)
    results["transmitter"]["counters"] = dict(tx.counters)
    tx.fb = real_fb
    stop.set()
    for svc in (proxy, receiver, tx):
        svc.close()
    sink.close(0)
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"command": " ".join(sys.argv), "hardware": hardware.describe(), "seed": run_seed,
                                  "schemes": schemes, "services": results}, indent=2))
    print(f"written to {ns.out}")
    return 0 if all(r["failures"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
