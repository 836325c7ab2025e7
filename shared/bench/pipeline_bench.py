"""The real three-process pipeline over TCP loopback, timed end to end.

Two modes, both flow-controlled (``--fps 0``: the transmitter reads its source
as fast as the pipeline accepts frames, so nothing is dropped for pacing):

* ``throughput``: a few frames in flight (``--window 3``): every stage works
  in parallel and the slowest one always has a frame waiting, so frames per
  second is the sustained rate. Not ``--window 0``: with no cap, frames queue
  up to the high-water marks, latency grows with the queue, and when the
  receiver is slow the transmitter's last frames and its end of stream can
  outlast its socket's linger at exit;
* ``latency``: stop-and-wait (``--window 1``): each link is measured without
  queueing delay.

Latency percentiles come from the receiver's per-link statistics; the
sustained rate from its hop timestamps: frames received / (last ``rx_decoded``
- first ``tx_sent``).
"""
from __future__ import annotations

from shared.launcher import build_report, run_pipeline, sustained_fps
from shared.telemetry import format_link_table

# mode -> frames in flight; 3 keeps a slow stage fed yet fits in what lies past the transmitter (HWMs, kernel buffers)
MODES = {"throughput": 3, "latency": 1}


def run_mode(mode: str, *, source: str, frames: int, size: int, scheme: str, params: dict,
             scheme_argv: list[str], channel_argv: list[str], timeout: float, prog: str,
             verbose: bool = False) -> dict:
    """One pipeline run of ``frames`` frames in ``mode`` (a key of MODES) -> its measurements."""
    window = MODES[mode]
    argv = {
        "receiver": ["--exit-on-eos"],
        "proxy": ["--exit-on-eos", *channel_argv],
        "transmitter": ["--source", source, "--frames", str(frames), "--size", str(size),
                        "--fps", "0", "--window", str(window), *scheme_argv],
    }
    run = run_pipeline(argv, prog=prog, timeout=timeout, verbose=verbose)
    report = build_report(run.stats["transmitter"], run.stats["proxy"], run.stats["receiver"], scheme, params)
    return {
        "mode": mode,
        "window": window,
        "fps_limit": 0,
        "outcome": run.outcome,
        "exit_codes": run.exit_codes,
        "frames": report["frames"],
        **sustained_fps(report["frames"]["received"], run.stats["receiver"].get("hops", {})),
        "links": report["links"],
        "rate": report["rate"],
        "services": report["services"],
    }


def format_mode(result: dict) -> str:
    f = result["frames"]
    fps = f"{result['fps']:.2f} fps" if result["fps"] else "no fps (nothing decoded)"
    steady = f", {result['fps_steady']:.2f} once full" if result["fps_steady"] else ""
    head = (f"pipeline, {result['mode']} mode (window {result['window']}, fps 0): {fps}{steady}; "
            f"frames sent {f['sent']}, received {f['received']}, dropped {f['dropped']}, "
            f"erased {f['erased']}, decode failed {f['decode_failed']}")
    return head + "\n" + format_link_table(result["links"])
