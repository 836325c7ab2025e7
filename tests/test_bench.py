"""``semcom bench``: the throughput measurements give sane numbers, the sustained rate
comes from the receiver's hop span, the JSON has every part, and a bad command line
is one line and exit 2."""
import json

import numpy as np
import pytest
import torch

from shared.bench import cli as bench_cli
from shared.bench import proxy_throughput
from shared.bench.pipeline_bench import sustained_fps
from shared.protocol import PROTOCOL_VERSION, Header, Kind, PayloadDescriptor
from shared.telemetry import LINKS, LinkStats

SMALL = ["--scheme", "digital", "--size", "64", "--param", "cbr=0.25", "--param", "link.modulation=qpsk", "--param", "link.ldpc_k=1024"]


def run(argv):
    try:
        return bench_cli.main(argv)
    except SystemExit as exc:
        return exc.code


def a_frame_message(n_symbols: int = 4096) -> tuple[Header, list[np.ndarray]]:
    """A valid frame message: unit-power symbols (the proxy never parses a payload)."""
    rng = np.random.default_rng(0)
    x = ((rng.standard_normal(n_symbols) + 1j * rng.standard_normal(n_symbols)) / np.sqrt(2)).astype(np.complex64)
    header = Header(version=PROTOCOL_VERSION, kind=Kind.FRAME, seq=0, scheme="digital", height=64, width=64,
                    payloads=[PayloadDescriptor(name="image", role="digital", n_symbols=n_symbols)])
    return header, [x]


def test_plain_zeromq_and_the_proxy_move_symbols_at_sane_rates():
    header, symbols = a_frame_message()
    ns = bench_cli.build_parser().parse_args(["--snr-db", "5", "--erasure", "0.5"])
    r = proxy_throughput.measure(header, symbols, 20, ns, ns._groups["channel"])
    for path in ("proxy", "zmq_bound"):
        assert r[path]["messages"] == 20
        assert 1e4 < r[path]["symbols_per_s"] < 1e11
        assert r[path]["megabytes_per_s"] > 0 and r[path]["seconds"] > 0
    assert r["proxy_over_bound"] == pytest.approx(r["proxy"]["symbols_per_s"] / r["zmq_bound"]["symbols_per_s"])
    # a real proxy did the physics on every message: the user's SNR, erasure forced off so all come back
    assert r["proxy_counters"]["frames_out"] == 20 + proxy_throughput.WARMUP_MESSAGES
    assert r["channel"]["snr_db"] == 5 and r["channel"]["erasure"] == 0
    assert r["bytes_per_message"] > 8 * 4096


def test_sustained_fps_spans_first_send_to_last_decode():
    links = LinkStats()
    for i in range(5):  # a frame sent every 0.1 s, each decoded 0.3 s after it was sent
        links.add({"tx_capture": 10 + 0.1 * i, "tx_sent": 10.01 + 0.1 * i, "rx_decoded": 10.31 + 0.1 * i})
    span = links.hop_span()
    assert span["tx_sent"] == {"first": pytest.approx(10.01), "last": pytest.approx(10.41)}
    r = sustained_fps(5, span)
    assert r["wall_s"] == pytest.approx(0.7)
    assert r["fps"] == pytest.approx(5 / 0.7)
    assert r["fps_steady"] == pytest.approx(10.0)
    assert sustained_fps(0, {})["fps"] is None


def test_bench_end_to_end_writes_every_part(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = run([*SMALL, "--frames", "3", "--modes", "throughput", "--proxy-messages", "10", "--repeats", "1",
                "--warmup", "0", "--schemes", "digital", "--out", str(out)])
    assert code == 0
    r = json.loads(out.read_text())
    assert {"command", "hardware", "config", "pipeline", "proxy_throughput", "codecs"} <= set(r)
    assert r["hardware"]["cpu"] and r["hardware"]["cores"] >= 1 and r["hardware"]["torch"]
    p = r["pipeline"]["throughput"]
    assert p["frames"] == {"sent": 3, "received": 3, "dropped": 0, "erased": 0, "decode_failed": 0}
    assert p["fps"] > 0 and p["fps_steady"] > 0
    for link in (link for link in LINKS if not link.startswith("ray_")):  # (the Ray hop only with --ray)
        assert {"p50_ms", "p95_ms", "p99_ms", "max_ms"} <= set(p["links"][link])
    assert r["proxy_throughput"]["proxy"]["symbols_per_s"] > 0
    assert r["proxy_throughput"]["symbols_per_message"] == 3072
    d = r["codecs"]["digital"]
    assert d["encode"]["median_ms"] > 0 and d["decode"]["median_ms"] > 0 and d["symbols_per_frame"] == 3072
    printed = capsys.readouterr().out
    assert "p99 ms" in printed and "end_to_end" in printed and "proxy / bound" in printed


def test_batch_part_decodes_streams_together_and_reports_fps(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # --device cpu sets it for the process: restored after the test
    out = tmp_path / "bench.json"
    assert run([*SMALL, "--parts", "batch", "--schemes", "deepjscc,digital", "--batch-sizes", "1,3", "--repeats", "2",
                "--warmup", "0", "--device", "cpu", "--out", str(out)]) == 0
    r = json.loads(out.read_text())["batch_decode"]
    assert r["device"] == "cpu"
    for scheme in ("deepjscc", "digital"):
        b = r["schemes"][scheme]["batches"]
        assert set(b) == {"1", "3"} and all(m["failures"] == 0 and m["gpu_peak_mb"] is None for m in b.values())
        assert b["3"]["fps"] == pytest.approx(3000 / b["3"]["p50_ms"]) and b["3"]["p95_ms"] >= b["3"]["p50_ms"]
    assert "frames/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--frames", "0"], "--frames"),
        (["--size", "8"], "--size"),
        (["--parts", "pipeline,teleport"], "--parts"),
        (["--modes", "fast"], "--modes"),
        (["--scheme", "nope"], "unknown scheme"),
        (["--schemes", "digital,nope"], "--schemes: unknown nope"),
        (["--param", "cbr=-1"], "cbr"),
        (["--snr-db", "99"], "snr_db"),
        (["--source", "video:/no/such/video.avi"], "video file not found"),
        (["--batch-sizes", "1,x"], "--batch-sizes"),
        (["--batch-sizes", "0,8"], "--batch-sizes"),
        *([(["--device", "cuda"], "no CUDA device")] if not torch.cuda.is_available() else []),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(capfd, argv, needle):
    assert run(argv) == 2
    err = capfd.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert needle in err
