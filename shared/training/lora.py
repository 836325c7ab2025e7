"""``semcom train lora``: a scene adapter (LoRA, peft) for the DeepJSCC decoder, trained on one
camera's footage in minutes on a CPU (the deployment issue).

The clip's first half trains (random crops, SNR ~ U[0, 20] dB, AWGN and Rayleigh, the frozen encoder
and base decoder, only the LoRA matrices learn, MSE); its second half is held out and decoded at
256x256 by the base and by the adapted model at 0, 10 and 20 dB: PSNR (the trained loss) and SSIM
(not trained on). Only the adapter is saved (``$SEMCOM_LORA_DIR/<name>.safetensors``, its card in
the metadata); a stream uses it with ``--param lora=<name>``.

    semcom train lora --data video:../shared/corpus/videos/CLIP.mp4 --name street --minutes 5
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from shared.cli import CliParser, UsageError, run_cli
from shared.metrics.pixel import psnr_db, ssim
from shared.nets.jscc import DeepJSCC, load_jscc
from shared.nets.lora import DEFAULT_RANK, adapter_path, save_adapter, with_lora
from shared.nets.weights_file import WEIGHTS_DIR
from shared.sources import square_resize
from shared.training.data import DataSource, parse_data_source, video_frames
from shared.training.jscc import TrainConfig, forward_batch
from shared.training.latent import sample_batch
from shared.training.loop import fit

EVAL_SNRS_DB = (0.0, 10.0, 20.0)  # the held-out half, decoded at these SNRs (AWGN, full rate)
HELD_OUT_FRAMES = 24  # frames of the second half evaluated (evenly spaced): seconds on a CPU


class SceneBatches:
    """Random crops of the clip's first half (the Batches protocol of shared.training.loop)."""

    def __init__(self, frames: list[np.ndarray], cfg: TrainConfig, source: str):
        self.frames, self.cfg = frames, cfg
        self.describe = f"{len(frames)} frames of the first half of {source}"
        self.meta = {"data": source, "train_frames": len(frames)}

    def __call__(self, rng: np.random.Generator) -> torch.Tensor:
        return sample_batch(self.frames, self.cfg, rng)


def split_scene(path: Path, stride: int, size: int) -> tuple[list[np.ndarray], torch.Tensor]:
    """-> (the first half's frames at size x size, the second half as (N, 3, size, size) in [0, 1], N <= HELD_OUT_FRAMES)."""
    frames = video_frames(path, stride)
    if len(frames) < 4:
        raise UsageError(f"{path}: {len(frames)} frames at stride {stride}; a scene adapter needs at least 4")
    frames = [square_resize(f, size) for f in frames]  # the resolution the stream runs at (semcom demo --size)
    half = len(frames) // 2
    held = frames[half:]
    held = [held[i] for i in np.linspace(0, len(held) - 1, min(HELD_OUT_FRAMES, len(held))).round().astype(int)]
    x = torch.from_numpy(np.stack(held)).permute(0, 3, 1, 2).float() / 255  # (N, 3, S, S)
    return frames[:half], x


@torch.no_grad()
def scene_quality(net: DeepJSCC, held: torch.Tensor, cfg: TrainConfig) -> dict[str, float]:
    """Mean PSNR and SSIM of the held-out frames through AWGN at each of EVAL_SNRS_DB, full rate."""
    net.eval()
    out: dict[str, float] = {}
    for snr in EVAL_SNRS_DB:
        s = torch.full((held.shape[0], 1), snr)
        y = forward_batch(net, held, cfg, torch.Generator().manual_seed(0), k=net.config.rates[-1], snr_db=s,
                          tx_snr_db=s, fading=torch.zeros(held.shape[0], dtype=torch.bool)).clamp(0, 1)  # (N, 3, S, S)
        out[f"psnr_snr{snr:g}"] = float(psnr_db(y, held).mean())
        out[f"ssim_snr{snr:g}"] = float(ssim(y, held).mean())
    out["psnr_mean"] = float(np.mean([out[f"psnr_snr{s:g}"] for s in EVAL_SNRS_DB]))
    out["ssim_mean"] = float(np.mean([out[f"ssim_snr{s:g}"] for s in EVAL_SNRS_DB]))
    net.train()
    return out


def add_scene_args(p: CliParser, steps: int, lr: float, video_stride: int, minutes: float, ckpt: str, steps_note: str = "") -> None:
    """The options every scene-adapter trainer shares."""
    p.add_argument("--data", required=True, metavar="video:PATH", help="one camera's footage (a video file)")
    p.add_argument("--name", required=True, help="the adapter's name (a-z 0-9 _ -): streams use it as --param lora=NAME")
    p.add_argument("--rank", type=int, default=DEFAULT_RANK, help="LoRA rank (default: %(default)s)")
    p.add_argument("--steps", type=int, default=steps, help=f"training steps (default: %(default)s{steps_note})")
    p.add_argument("--lr", type=float, default=lr, help="Adam peak learning rate (default: %(default)s)")
    p.add_argument("--video-stride", type=int, default=video_stride, help="use every Nth frame of the clip (default: %(default)s)")
    p.add_argument("--minutes", type=float, default=minutes, help="wall-clock budget (default: %(default)s)")
    p.add_argument("--ckpt-dir", type=Path, default=None, help=f"checkpoint folder (resumes); default out/{ckpt}")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")


def scene_source(args) -> tuple[Path, DataSource]:
    """(the adapter's file, the clip) of a scene-adapter command line; UsageError for a bad name, source or bound."""
    path = adapter_path(args.name)  # (checks the name)
    source = parse_data_source(args.data)
    if source.kind != "video":
        raise UsageError(f"--data {args.data}: a scene adapter trains on one video (video:PATH)")
    if not 1 <= args.rank <= 64 or args.steps < 1 or args.minutes <= 0 or args.video_stride < 1:
        raise UsageError("--rank within [1, 64], --steps >= 1, --minutes > 0, --video-stride >= 1")
    return path, source


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train lora", description=__doc__.split("\n\n")[0])
    add_scene_args(p, steps=600, steps_note=": ~5 min on one CPU thread", lr=2e-3, video_stride=2, minutes=10.0, ckpt="lora-<name>")
    p.add_argument("--base", default="deepjscc", help="the DeepJSCC weights it adapts (default: %(default)s)")
    p.add_argument("--crop", type=int, default=96, help="training crop, pixels a side, a multiple of 16 (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="held-out frames are evaluated at this size (default: %(default)s)")
    args = p.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        path, source = scene_source(args)
        if args.crop % 16 or args.size % 16:
            raise UsageError("--crop and --size: multiples of 16")
        base = load_jscc(args.base)
        train_frames, held = split_scene(source.path, args.video_stride, args.size)
        cfg = replace(TrainConfig(), steps=args.steps, lr=args.lr, warmup=max(1, min(50, args.steps // 10)), crop=args.crop)
        net = with_lora(base, args.rank)
        before = scene_quality(base, held, cfg)

        def step_loss(x: torch.Tensor, gen: torch.Generator):
            return torch.mean((forward_batch(net, x, cfg, gen) - x) ** 2), {}

        command = "semcom train lora " + " ".join(argv if argv is not None else sys.argv[1:])
        fit(f"lora {args.name}", "lora", net, [{"params": [q for q in net.parameters() if q.requires_grad], "lr_scale": 1.0}],
            step_loss, lambda: {"psnr_mean": scene_quality(net, held, cfg)["psnr_mean"]},
            SceneBatches(train_frames, cfg, str(source)), args.ckpt_dir or Path("out") / f"lora-{args.name}", cfg,
            args.minutes, max(1, args.steps // 4), args.log_every, command)
        after = scene_quality(net, held, cfg)
        card = {"base": args.base, "rank": args.rank, "data": str(source), "train_frames": len(train_frames),
                "held_out_frames": int(held.shape[0]), "size": args.size, "steps": args.steps, "command": command,
                "held_out_base": before, "held_out_adapted": after}
        n = save_adapter(net, path, card)
        base_bytes = (WEIGHTS_DIR / f"{args.base}.safetensors").stat().st_size
        print(f"adapter '{args.name}': {n:,} parameters, {path.stat().st_size / 1e3:.0f} kB "
              f"({100 * path.stat().st_size / base_bytes:.1f} % of {args.base}'s {base_bytes / 1e6:.1f} MB), written to {path}")
        print(f"held-out second half ({held.shape[0]} frames at {args.size}x{args.size}, AWGN, full rate):")
        for snr in EVAL_SNRS_DB:
            k = f"snr{snr:g}"
            print(f"  {snr:>4g} dB  PSNR {before['psnr_' + k]:.2f} -> {after['psnr_' + k]:.2f} dB   "
                  f"SSIM {before['ssim_' + k]:.4f} -> {after['ssim_' + k]:.4f}")
        return 0

    return run_cli("semcom train lora", body)


if __name__ == "__main__":
    raise SystemExit(main())
