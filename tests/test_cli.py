"""A bad command line: one line of error on stderr, exit status 2, no traceback."""
import pytest

from channel_proxy.__main__ import main as proxy_main
from receiver.__main__ import main as receiver_main
from shared.cli import main as semcom_main
from shared.demo import main as demo_main
from transmitter.__main__ import main as tx_main


def run(main, argv):
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize(
    "main, argv, needle",
    [
        (demo_main, ["--scheme", "nope"], "unknown scheme"),
        (demo_main, ["--snr-db", "99"], "snr_db"),
        (demo_main, ["--source", "video:/no/such/video.avi"], "video file not found"),
        (demo_main, ["--source", "webcam:37"], "cannot open webcam 37"),
        (demo_main, ["--source", "folder:/no/such/folder"], "folder not found"),
        (demo_main, ["--channel", "pigeon"], "invalid choice"),
        (demo_main, ["--param", "cbr=-1"], "cbr"),
        (demo_main, ["--scheme", "digital", "--param", "link.modulation=8psk"], "unknown modulation"),
        (demo_main, ["--snr-schedule", "gm:1,2"], "gm:MEAN,STD,RHO"),
        (demo_main, ["--frames", "-1"], "--frames"),
        (demo_main, ["--scheme", "digital", "--param", "link.code_rate=0.33"], "not a 5G NR LDPC code"),
        (tx_main, ["--scheme", "nope"], "unknown scheme"),
        (tx_main, ["--source", "webcam:37"], "cannot open webcam"),
        (proxy_main, ["--erasure", "2"], "erasure"),
        (proxy_main, ["--snr-db", "-100"], "snr_db"),
        (receiver_main, ["--feedback-port", "0"], "feedback_port"),
        (semcom_main, ["frobnicate"], "invalid choice"),
    ],
)
def test_bad_command_lines_exit_2_with_one_line(capfd, main, argv, needle):
    assert run(main, argv) == 2
    err = capfd.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert needle in err


def test_help_explains_every_service(capsys):
    for main in (demo_main, tx_main, proxy_main, receiver_main):
        assert run(main, ["--help"]) == 0
    out = capsys.readouterr().out
    assert "--snr-db" in out and "--scheme" in out and "--delay-ms" in out
