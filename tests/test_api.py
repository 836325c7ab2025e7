"""The Python API: one frame over a link in process, and the three services started, watched,
controlled and stopped from a script."""
import time

import pytest

from semcom import Link, UsageError, start
from shared.launcher import free_ports
from tests.conftest import SMALL_DIGITAL


def test_a_link_sends_a_frame_and_reports_what_the_receiver_shows(small_frame):
    link = Link("digital", SMALL_DIGITAL, snr_db=30)
    got = link.send(small_frame)
    assert got.ok and got.frame.shape == small_frame.shape and got.psnr_db > 20
    assert got.snr_db == 30 and got.n_symbols > 0 and got.cbr == pytest.approx(got.n_symbols / small_frame.size)
    assert link.send(small_frame).header.seq == 1  # one stream: the sequence goes on
    below_cliff = Link("digital", SMALL_DIGITAL, snr_db=-5).send(small_frame)
    assert not below_cliff.ok and below_cliff.frame.shape == small_frame.shape  # grey: nothing good yet


@pytest.mark.parametrize("kwargs, words", [({"scheme": "nope"}, "unknown scheme"),
                                            ({"scheme": "digital", "snr_db": 500}, "snr_db"),
                                            ({"scheme": "digital", "params": {"cbr": -1}}, "cbr")])
def test_a_bad_link_is_one_usage_error(kwargs, words):
    with pytest.raises(UsageError, match=words):
        Link(**kwargs)


def test_bad_options_to_start_are_the_demos_usage_errors():
    with pytest.raises(UsageError, match="size"):
        start(scheme="digital", size=8)
    with pytest.raises(UsageError, match="unknown scheme"):
        start(scheme="nope")


def test_start_watch_control_and_stop_the_three_services(tmp_path):
    viewer = f"127.0.0.1:{free_ports(1)[0]}"
    params = {"cbr": 0.25, "link": SMALL_DIGITAL["link"]}
    with start(scheme="digital", params=params, size=64, frames=0, fps=10, viewer=viewer, standby=False) as run:
        assert run.viewer_url == f"http://{viewer}/"
        status = run.wait_for_frames(3)
        assert status["stream"]["scheme"] == "digital" and status["stream"]["snr_db"] == 10.0
        with pytest.raises(UsageError, match="less than or equal to 60"):
            run.control(snr_db=100)
        request = run.control(snr_db=3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.status()["stream"]["snr_db"] != 3.0:
            time.sleep(0.2)
        status = run.status()
        assert status["stream"]["snr_db"] == 3.0
        assert [c["id"] for c in status["controls"] if c["applied"]] == [request]
    report = run.report
    assert report["outcome"] == "interrupted" and report["frames"]["received"] >= 3
    assert not run.running
