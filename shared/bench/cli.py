"""``semcom bench``: the pipeline's per-link latency and sustained frames per second,
the proxy's raw symbol throughput beside plain ZeroMQ, each scheme's encode and
decode time, and the hardware, printed and written as JSON.

    semcom bench --frames 30 --size 256 --scheme digital --out results/bench.json
"""
from __future__ import annotations

import datetime
import itertools
import json
import sys
from pathlib import Path

from shared.cli import CliParser, UsageError, run_cli
from shared.cli_options import add_channel_args, add_scheme_args, channel_from_args, forward, scheme_from_args

PROG = "semcom bench"
PARTS = ("pipeline", "proxy", "codecs", "batch")
DEFAULT_PARTS = ("pipeline", "proxy", "codecs")  # batch: on request (it decodes up to max(--batch-sizes) streams at once)
SAMPLE_FRAMES = 6  # distinct source frames the codec timing cycles through


def _csv(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise ValueError(text)
        return items

    parse.__name__ = "comma-separated list of " + "|".join(choices)  # argparse names the type in its error
    return parse


def build_parser() -> CliParser:
    from shared.bench.pipeline_bench import MODES

    p = CliParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", type=_csv(PARTS), default=list(DEFAULT_PARTS), metavar="LIST",
                   help=f"what to measure, comma-separated from {', '.join(PARTS)} (default: {','.join(DEFAULT_PARTS)})")
    src = p.add_argument_group("frames")
    src.add_argument("--source", default="builtin", help="builtin | video:PATH | folder:PATH (default: %(default)s)")
    src.add_argument("--frames", type=int, default=30, help="frames through the pipeline in each mode (default: %(default)s)")
    src.add_argument("--size", type=int, default=256, help="frame size, pixels a side (default: %(default)s)")
    src.add_argument("--modes", type=_csv(tuple(MODES)), default=list(MODES), metavar="LIST",
                     help="pipeline modes: throughput (3 frames in flight: sustained fps) and/or latency (stop-and-wait) (default: both)")
    scheme = add_scheme_args(p)
    channel = add_channel_args(p)
    m = p.add_argument_group("measurement")
    m.add_argument("--proxy-messages", type=int, default=200, help="frames timed through the proxy and through plain ZeroMQ (default: %(default)s)")
    m.add_argument("--repeats", type=int, default=10, help="frames timed per scheme for encode/decode (default: %(default)s)")
    m.add_argument("--warmup", type=int, default=2, help="untimed frames per scheme first (default: %(default)s)")
    m.add_argument("--schemes", default="all", help="schemes for the encode/decode timing, comma-separated, or all (default: %(default)s)")
    m.add_argument("--batch-sizes", default="1,8", help="batch part: frames of that many streams decoded together, comma-separated (default: %(default)s)")
    m.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the receivers' networks run: auto = CUDA where there is one; cpu hides any GPU; cuda refuses "
                        "to run without one (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("results/bench.json"), help="write the JSON here (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up on a pipeline run after this many seconds (default: %(default)s)")
    p.add_argument("--verbose", action="store_true", help="show the services' INFO logs")
    p.set_defaults(_groups={"scheme": scheme, "channel": channel})
    return p


def _validate(ns) -> tuple[str, dict, list[str]]:
    """-> (scheme, its params, schemes to time); raises UsageError with a one-line reason."""
    from shared.schemes.base import scheme_names

    if ns.frames < 1 or ns.proxy_messages < 1 or ns.repeats < 1 or ns.warmup < 0 or ns.timeout <= 0:
        raise UsageError("--frames, --proxy-messages and --repeats must be >= 1, --warmup >= 0, --timeout > 0")
    if not 16 <= ns.size <= 4096:
        raise UsageError("--size must be within [16, 4096]")
    try:
        ns.batch_sizes = sorted({int(b) for b in ns.batch_sizes.split(",") if b.strip()})
    except ValueError:
        raise UsageError(f"--batch-sizes {ns.batch_sizes!r}: comma-separated integers, e.g. 1,8") from None
    if not ns.batch_sizes or not 1 <= ns.batch_sizes[0] <= ns.batch_sizes[-1] <= 64:
        raise UsageError("--batch-sizes: integers within [1, 64]")
    _select_device(ns.device)
    scheme, params = scheme_from_args(ns)
    channel_from_args(ns)
    names = scheme_names() if ns.schemes == "all" else [s.strip() for s in ns.schemes.split(",") if s.strip()]
    unknown = sorted(set(names) - set(scheme_names()))
    if unknown or not names:
        raise UsageError(f"--schemes: unknown {', '.join(unknown) or 'empty list'}; available: {', '.join(scheme_names())}")
    return scheme, params, names


def _select_device(device: str) -> None:
    """cpu: hide every GPU from this process (before CUDA initialises); cuda: refuse without one."""
    import os

    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    elif device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device here (torch sees none); use --device cpu or auto")


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sample_frames(ns) -> list:
    from shared.sources import SourceError, open_source

    try:
        source = open_source(ns.source, ns.size)
    except SourceError as exc:
        raise UsageError(str(exc)) from None
    frames = list(itertools.islice(iter(source), SAMPLE_FRAMES))
    if not frames:
        raise UsageError(f"source {ns.source} delivered no frame")
    return frames


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ns = build_parser().parse_args(argv)

    def body() -> int:
        scheme, params, timed_schemes = _validate(ns)
        frames = _sample_frames(ns)
        try:
            return run_bench(ns, argv, scheme, params, timed_schemes, frames)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130

    return run_cli(PROG, body)


def _encode_one(scheme: str, params: dict, frame):
    """One encoded frame of the stream's scheme (the proxy's test message); UsageError if it cannot be."""
    from shared.pipeline import FrameEncoder

    encoder = FrameEncoder(scheme, params, stream_id="bench")
    try:
        encoder.warmup(frame)
        header, symbols, _ = encoder.encode(frame, 0)
    except ValueError as exc:  # e.g. a symbol budget below one code block at this size
        raise UsageError(f"scheme {scheme} at {frame.shape[1]}x{frame.shape[0]}: {exc}") from None
    return header, symbols


def _pipeline(ns, scheme: str, params: dict, save) -> int:
    """Every requested mode of the three-process pipeline, each saved as it ends -> exit status."""
    from shared.bench import pipeline_bench

    results, status = {}, 0
    for mode in ns.modes:
        print(f"{PROG}: {ns.frames} frames at {ns.size}x{ns.size}, scheme {scheme}, {mode} mode; "
              "three processes on 127.0.0.1 ...", file=sys.stderr)
        run = pipeline_bench.run_mode(
            mode, source=ns.source, frames=ns.frames, size=ns.size, scheme=scheme, params=params,
            scheme_argv=forward(ns._groups["scheme"], ns), channel_argv=forward(ns._groups["channel"], ns),
            timeout=ns.timeout, prog=PROG, verbose=ns.verbose)
        results[mode] = run
        save(results)
        print("\n" + pipeline_bench.format_mode(run))
        if run["outcome"] == "interrupted":
            raise KeyboardInterrupt
        if run["outcome"] != "done" or any(c != 0 for c in run["exit_codes"].values()):
            status = 1
    return status


def _proxy(ns, header, symbols) -> tuple[dict, int]:
    """The proxy's symbol throughput beside plain ZeroMQ -> (result, exit status)."""
    from shared.bench import proxy_throughput

    print(f"{PROG}: {ns.proxy_messages} messages through the proxy and through plain ZeroMQ ...", file=sys.stderr)
    try:
        result = proxy_throughput.measure(header, symbols, ns.proxy_messages, ns, ns._groups["channel"], verbose=ns.verbose)
    except TimeoutError as exc:
        print(f"{PROG}: proxy throughput failed: {exc}", file=sys.stderr)
        return {"error": str(exc)}, 1
    print("\nproxy throughput, CPU\n" + proxy_throughput.format_throughput(result))
    return result, 0


def _codecs(ns, scheme: str, params: dict, timed_schemes: list[str], frames: list, save) -> None:
    """Encode / channel / decode time of each scheme, each saved as it ends (``params`` for the
    stream's own scheme, defaults for the rest)."""
    from shared.bench import codec_timing

    results: dict = {}
    for name in timed_schemes:
        try:
            results[name] = codec_timing.time_scheme(name, params if name == scheme else {}, frames,
                                                     channel_from_args(ns), ns.repeats, ns.warmup)
        except ValueError as exc:  # this scheme cannot code a frame of this size at its defaults
            results[name] = {"error": str(exc)}
        save(results)
    print(f"\nencode / decode per {ns.size}x{ns.size} frame, {_device()}, median of {ns.repeats}\n"
          + codec_timing.format_codecs(results))


def _batch(ns, scheme: str, params: dict, timed_schemes: list[str], frames: list, save) -> None:
    """Decode throughput by batch size for each scheme, each saved as it ends."""
    from shared.bench import batch_decode

    device, results = _device(), {}
    for name in timed_schemes:
        try:
            results[name] = batch_decode.time_batches(name, params if name == scheme else {}, frames, channel_from_args(ns),
                                                      ns.batch_sizes, ns.repeats, max(1, ns.warmup), device)
        except ValueError as exc:
            results[name] = {"error": str(exc)}
        save({"device": device, "schemes": results})
    print("\n" + batch_decode.format_batches(results, device))


def run_bench(ns, argv: list[str], scheme: str, params: dict, timed_schemes: list[str], frames: list) -> int:
    from shared.bench import hardware
    from shared.telemetry import LINKS

    header, symbols = _encode_one(scheme, params, frames[0])  # fails fast, before any process starts
    hw = hardware.describe()
    result: dict = {
        "command": " ".join(["semcom", "bench", *argv]),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": hw,
        "config": {"source": ns.source, "size": ns.size, "frames": ns.frames, "scheme": scheme,
                   "scheme_params": params, "channel": channel_from_args(ns).model_dump(), "links": list(LINKS)},
    }
    print(f"{PROG}: {hardware.one_line(hw)}")

    def save(part: str | None = None, value: dict | None = None) -> None:
        """Write the JSON after every part, so a later failure or Ctrl-C keeps what was measured."""
        if part:
            result[part] = value
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(json.dumps(result, indent=2))

    status = 0
    if "pipeline" in ns.parts:
        status = _pipeline(ns, scheme, params, lambda partial: save("pipeline", partial))
    if "proxy" in ns.parts:
        throughput, failed = _proxy(ns, header, symbols)
        status = max(status, failed)
        save("proxy_throughput", throughput)
    if "codecs" in ns.parts:
        _codecs(ns, scheme, params, timed_schemes, frames, lambda partial: save("codecs", partial))
    if "batch" in ns.parts:
        _batch(ns, scheme, params, timed_schemes, frames, lambda partial: save("batch_decode", partial))
    save()
    print(f"\n{PROG}: written to {ns.out}", file=sys.stderr)
    return status

if __name__ == "__main__":
    sys.exit(main())
