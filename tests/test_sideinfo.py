"""Side information: exact round trips (bit for bit), sizes, budgets and video reuse."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from shared.phy.link import LinkConfig
from shared.roles import Segmentation
from shared.sideinfo.budget import frame_budget
from shared.sideinfo.bundle import BundleError, decode_parts, encode_parts, pack_parts, unpack_parts
from shared.sideinfo.lowres import LowResConfig, decode_lowres, encode_lowres
from shared.sideinfo.mask_runs import RunsDecodeError, decode_runs, encode_runs
from shared.sideinfo.maps import HEADER, LZMA, PNG, RUNS, WEBP, MapDecodeError, block_factor, decode_map, encode_map, upsample
from shared.sideinfo.reuse import ReuseConfig, ReuseReceiver, ReuseSender, map_change, text_similarity
from shared.sideinfo.text import TextDecodeError, decode_text, encode_text

RNG = np.random.default_rng(0)


def blocky(h: int, w: int, f: int, n: int, dtype=np.uint8) -> np.ndarray:
    coarse = RNG.integers(0, n, (-(-h // f), -(-w // f))).astype(dtype)
    return upsample(coarse, f, h, w)


def regions(h: int, w: int) -> np.ndarray:
    """A smooth map: a few discs and bands, like a real segmentation."""
    lab = np.zeros((h, w), np.uint8)
    lab[h // 2 :] = 1
    cv2.circle(lab, (w // 3, h // 3), h // 5, 2, -1)
    cv2.ellipse(lab, (2 * w // 3, 2 * h // 3), (w // 6, h // 8), 30, 0, 360, 3, -1)
    return lab


MAPS = {
    "noise-uint8": RNG.integers(0, 256, (31, 47)).astype(np.uint8),
    "noise-uint16": RNG.integers(0, 60000, (20, 33)).astype(np.uint16),
    "regions": regions(96, 128),
    "blocky-4-odd-size": blocky(37, 53, 4, 6),
    "blocky-2-uint16": blocky(40, 30, 2, 700, np.uint16),
    "mask": regions(64, 80) == 2,
    "empty-mask": np.zeros((16, 16), bool),
    "one-pixel": np.array([[7]], np.uint8),
}


@pytest.mark.parametrize("name", MAPS)
def test_map_round_trip_is_bit_exact(name):
    a = MAPS[name]
    data = encode_map(a)
    b = decode_map(data)
    assert b.dtype == a.dtype and b.shape == a.shape
    assert np.array_equal(a, b)


@pytest.mark.parametrize("codec", [PNG, WEBP, LZMA])
def test_each_map_codec_alone_is_exact(codec):
    a = regions(64, 96)
    data = encode_map(a, codecs=(codec,))
    assert data[0] == codec
    assert np.array_equal(decode_map(data), a)


def test_block_factor_detected_and_exploited():
    a = blocky(64, 64, 4, 5)
    assert block_factor(a) in (4, 8, 12, 16) and np.array_equal(upsample(a[::block_factor(a), ::block_factor(a)], block_factor(a), 64, 64), a)
    b = a.copy()
    b[1, 2] = (b[1, 2] + 1) % 5  # one pixel breaks the block structure
    assert block_factor(b) == 1
    assert np.array_equal(decode_map(encode_map(b)), b)
    assert len(encode_map(a)) < len(encode_map(b))


def test_smooth_map_codes_small():
    a = regions(256, 256)
    bits = 8 * len(encode_map(a))
    assert bits / a.size < 0.06  # a 4-label smooth map: ~0.053 bpp (440 B at 256x256)
    assert len(encode_map(a)) < len(encode_map(a, codecs=(PNG,)))  # the best of the defaults beats plain PNG


def test_map_rejects_bad_input_and_bad_bytes():
    with pytest.raises(ValueError, match="uint8, uint16 or bool"):
        encode_map(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError):
        encode_map(np.zeros((2, 2, 3), np.uint8))
    data = encode_map(regions(32, 32))
    with pytest.raises(MapDecodeError):
        decode_map(data[:3])
    with pytest.raises(MapDecodeError):
        decode_map(bytes([9]) + data[1:])
    with pytest.raises(MapDecodeError):
        decode_map(data[:7] + b"garbage")


@pytest.mark.parametrize("text", [
    "a photo of possibly a bobsleigh; colours: light grey 28%, black 20%, red 14%; top light grey, middle black, bottom black",
    "a man in a suit standing in front of a building",
    "",
    "ünïcødé ✓ 写真",
    "x" * 5000,
])
def test_text_round_trip_is_exact(text):
    assert decode_text(encode_text(text)) == text


def test_dictionary_makes_structured_captions_small():
    caption = "a photo of an espresso; colours: brown 25%, red 16%, skin tone 16%; top skin tone, middle brown, bottom brown"
    coded = encode_text(caption)
    assert len(coded) < 0.5 * len(caption.encode())
    assert len(encode_text("ok")) == 3  # raw wins for tiny strings: 1 format byte + 2


def test_text_decode_errors():
    with pytest.raises(TextDecodeError):
        decode_text(b"")
    with pytest.raises(TextDecodeError, match="format byte"):
        decode_text(b"\x07abc")
    with pytest.raises(TextDecodeError):
        decode_text(b"\x01\xff\xff\xff")


def test_lowres_codec_sizes_and_fidelity():
    frame = cv2.resize(skimage.data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    data = encode_lowres(frame, LowResConfig(factor=8, codec="webp", quality=75))
    assert len(data) < 1500  # a 32x32 WebP
    out = decode_lowres(data, 256, 256)
    assert out.shape == frame.shape and out.dtype == np.uint8
    mse = np.mean((out.astype(float) - frame.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 18  # a blurry but faithful thumbnail
    jpeg = encode_lowres(frame, LowResConfig(factor=8, codec="jpeg", quality=75))
    assert len(jpeg) > len(data)  # JPEG's header dominates at 32x32
    with pytest.raises(ValueError, match="unknown low-res codec"):
        encode_lowres(frame, LowResConfig(codec="bpg"))
    with pytest.raises(ValueError, match="corrupt"):
        decode_lowres(b"not an image", 8, 8)


def test_bundle_round_trip_and_budget():
    frame = cv2.resize(skimage.data.coffee(), (128, 128), interpolation=cv2.INTER_AREA)
    seg = Segmentation(labels=regions(128, 128), class_names=("table", "cup", "saucer", "spoon"))
    mask = seg.labels == 2
    caption = "a photo of an espresso; colours: brown 25%"
    parts = encode_parts(frame, seg, mask, caption, LowResConfig())
    assert list(parts) == ["map", "classes", "mask", "caption", "lowres"]
    back = decode_parts(parts, 128, 128)
    assert np.array_equal(back["map"], seg.labels)
    assert back["classes"] == seg.class_names
    assert np.array_equal(back["mask"], mask) and back["mask"].dtype == bool
    assert back["caption"] == caption
    assert back["lowres"].shape == frame.shape
    # a shared vocabulary means no class names are sent
    assert "classes" not in encode_parts(frame, Segmentation(seg.labels, seg.class_names, vocabulary="ade20k"))

    link = LinkConfig()
    budget = frame_budget(128, 128, parts, {"latent": 8 * 16 * 16}, link)
    rows = {r["part"]: r for r in budget.rows()}
    assert rows["map"]["bits"] == 8 * len(parts["map"])
    assert rows["map"]["channel_uses"] == link.n_symbols(len(parts["map"]))
    assert rows["latent"]["channel_uses"] == 8 * 16 * 16 // 2
    assert budget.digital_symbols_joint == link.n_symbols(sum(len(v) for v in parts.values()))
    assert budget.digital_symbols_joint <= sum(link.n_symbols(len(v)) for v in parts.values())
    assert rows["total"]["cbr"] == pytest.approx(budget.total_symbols / (128 * 128 * 3))
    assert "total" in budget.format()


def test_map_change_ignores_renumbering_and_sees_motion():
    a = regions(64, 64)
    assert map_change(a, a) == 0.0
    assert map_change(a, (3 - a).astype(np.uint8)) == 0.0  # same regions, other numbers
    moved = np.roll(a, 8, axis=1)
    assert map_change(a, moved) > 0.02
    assert map_change(a, a[:32]) == 1.0


def test_text_similarity_ignores_jittering_numbers():
    a = "a photo of a cat; colours: brown 52%, grey 18%; top brown"
    assert text_similarity(a, a.replace("52", "49").replace("18", "21")) == 1.0
    assert text_similarity(a, "a photo of a dog on a street") < 0.75


def test_reuse_sender_and_receiver():
    cfg = ReuseConfig(refresh_every=4)
    tx, rx = ReuseSender(cfg), ReuseReceiver()
    a = regions(64, 64)
    sent = []
    for i in range(6):  # the same map six times: sent at 0, then refreshed at the 4th repeat
        s = tx.should_send("map", a)
        sent.append(s)
        held = rx.update("map", a.copy() if s else None)
        assert np.array_equal(held, a)
    assert sent == [True, False, False, False, True, False]
    assert tx.should_send("map", np.roll(a, 10, axis=0))  # moved: sent at once
    assert tx.should_send("caption", "a cat") and not tx.should_send("caption", "a cat ")
    assert tx.should_send("caption", "a dog on a street")
    assert rx.update("caption", None) is None  # never received: nothing held


def test_frame_gate():
    tx = ReuseSender()
    frame = cv2.resize(skimage.data.astronaut(), (64, 64))
    assert tx.frame_changed(frame)
    noisy = np.clip(frame.astype(int) + RNG.integers(-2, 3, frame.shape), 0, 255).astype(np.uint8)
    assert not tx.frame_changed(noisy)  # sensor-like noise is not a change
    assert tx.frame_changed(np.ascontiguousarray(frame[:, ::-1]))


def test_packed_parts_round_trip_and_malformed_bundles_are_refused():
    parts = {"mask": b"\x01\x02", "caption": b"", "lowres": bytes(range(256)) * 3}
    packed = pack_parts(parts)
    assert len(packed) == sum(len(v) for v in parts.values()) + 5 * len(parts)  # 5 bytes a part
    assert unpack_parts(packed) == parts and unpack_parts(b"") == {}
    with pytest.raises(ValueError, match="no side-information part"):
        pack_parts({"key": b"x"})
    for bad in (packed[:3], packed[:-1], b"\x09\x00\x00\x00\x00", pack_parts({"mask": b"a"}) * 2,
                b"\x02\xff\xff\xff\xff"):
        with pytest.raises(BundleError):
            unpack_parts(bad)


def key_grid(h: int = 32, w: int = 32) -> np.ndarray:
    """A key-cell grid as keyregion sends it: two blobs (a face and a body) on a 32 x 32 latent grid."""
    yy, xx = np.mgrid[:h, :w]
    return ((yy - 8) ** 2 + (xx - 20) ** 2 < 30) | ((yy > 14) & (yy < 30) & (abs(xx - 19) < 7 + (yy - 14) // 3))


def test_run_code_is_exact_and_wins_on_key_masks():
    rng = np.random.default_rng(0)
    cases = [key_grid(), np.ones((5, 7), bool), np.zeros((1, 1), bool), np.ones((1, 1), bool),
             rng.random((31, 17)) < 0.5, rng.random((32, 32)) < 0.03]
    for mask in cases:
        assert np.array_equal(decode_runs(encode_runs(mask), *mask.shape), mask)
        data = encode_map(mask, codecs=(RUNS,))
        assert data[0] == RUNS and decode_map(data).dtype == bool and np.array_equal(decode_map(data), mask)
    grid = key_grid()
    assert encode_map(grid)[0] == RUNS  # the best of the defaults for a key mask
    assert len(encode_map(grid)) < min(len(encode_map(grid, codecs=(c,))) for c in (WEBP, LZMA)) / 1.3
    assert encode_map(regions(32, 32))[0] != RUNS  # labels are never run-coded


def test_run_code_refuses_what_it_did_not_make():
    data = encode_runs(key_grid())
    with pytest.raises(RunsDecodeError, match="passes|ends"):
        decode_runs(data, 16, 16)  # the runs do not fit a smaller mask
    with pytest.raises(RunsDecodeError, match="ends"):
        decode_runs(data[: len(data) // 2], 32, 32)
    with pytest.raises(RunsDecodeError, match="left over"):
        decode_runs(data + b"\xff", 32, 32)
    with pytest.raises(RunsDecodeError, match="empty"):
        decode_runs(b"", 4, 4)
    coded = encode_map(key_grid(), codecs=(RUNS,))
    with pytest.raises(MapDecodeError, match="bool mask"):
        decode_map(coded[:6] + bytes([1]) + coded[7:])  # the header says uint8 labels
    with pytest.raises(MapDecodeError):
        decode_map(coded[:7] + b"\x00\x00")  # a zero-bit flood: no run ever ends
    huge = HEADER.pack(RUNS, 1, 65535, 65535, 0) + encode_runs(np.zeros((1, 1), bool))  # 4 G cells from 8 bytes
    with pytest.raises(MapDecodeError, match="larger than any frame"):
        decode_map(huge)
