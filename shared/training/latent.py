"""Train the embedded latent codec (:class:`~shared.codecs.latent_conv.ConvAutoencoder`).

Data: every photo in the media folder plus every ``--video-stride``-th frame of
its videos, sampled as random crops at random scales with random flips.
Validation: scikit-image's photos (astronaut, chelsea, coffee, rocket,
motorcycle_left, hubble_deep_field), centre-cropped and resized to 256x256;
they are never trained on.

Resumable: a checkpoint is written every ``--ckpt-every`` steps and picked up
on restart. ``--export`` writes ``shared/weights/latent_conv_ae.safetensors``
and its model card from the latest checkpoint.

``--decoder-only`` fine-tunes the decoder of the shipped codec (or of ``--init-from``) with its
encoder frozen: the latent space stays exactly what it was, so every embedded model trained
on it (the JSCC, the diffusion and semantic generators) stays valid, and only the pictures
the latents decode to change.

    semcom train latent --data folder:../shared/media --steps 2600 --minutes 24
    semcom train latent --decoder-only --data corpus:../shared/corpus --steps 7000 --minutes 55 --threads 2
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.codecs.latent_conv import ConvAEConfig, ConvAutoencoder, EmbeddedLatentCodec, save_conv_ae
from shared.training.data import DataSource, add_data_args, add_run_args, load_corpus, parse_data_source

VALIDATION = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "hubble_deep_field")
NAME = "latent_conv_ae"


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2400  # ~22 min at ~0.55 s/step on one CPU thread
    batch: int = 8  # small batches: more updates per CPU second
    crop: int = 96  # fully convolutional, so small crops train a codec used at 256x256
    lr: float = 1e-3  # Adam peak (2e-3 diverged at step ~330); cosine decay to lr/50
    warmup: int = 200  # steps of linear warm-up: avoids an early blow-up
    latent_noise: float = 0.05  # latent noise (x RMS) in training: decoder tolerates a noisy channel
    min_scale: float = 0.25  # crops come from images downscaled by [min_scale, 1]: frames are usually downscaled
    seed: int = 0  # reproducible crops and init


# --decoder-only: the decoder starts trained (lower peak, short warm-up); larger crops and batches: less noisy steps
DECODER_ONLY = {"lr": 3e-4, "warmup": 100, "crop": 128, "batch": 16}


def sample_batch(images: list[np.ndarray], cfg: TrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """(B, 3, crop, crop) float in [0, 1]: random image, scale, position and flip."""
    out = np.empty((cfg.batch, cfg.crop, cfg.crop, 3), np.uint8)
    for b in range(cfg.batch):
        img = images[rng.integers(len(images))]
        h, w = img.shape[:2]
        max_scale = 1.0
        min_scale = min(1.0, max(cfg.min_scale, cfg.crop / min(h, w)))  # an image smaller than the crop is upscaled
        s = math.exp(rng.uniform(math.log(min_scale), math.log(max_scale)))
        side = min(int(round(cfg.crop / s)), h, w)
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        patch = cv2.resize(img[y : y + side, x : x + side], (cfg.crop, cfg.crop), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        out[b] = patch
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, crop, crop)


def validation_images(size: int = 256) -> list[tuple[str, np.ndarray]]:
    """scikit-image's photos, centre-cropped to a square and resized to ``size``."""
    import skimage.data

    out = []
    for name in VALIDATION:
        img = skimage.data.stereo_motorcycle()[0] if name == "motorcycle_left" else getattr(skimage.data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        img = img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        out.append((name, cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=cv2.INTER_AREA)))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def validate(net: ConvAutoencoder) -> dict[str, float]:
    """PSNR (dB) per validation photo at 256x256, and their mean under ``"mean"``."""
    codec = EmbeddedLatentCodec(net)
    scores = {name: psnr(img, codec.decode(codec.encode(img))) for name, img in validation_images()}
    net.train()
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def shipped_weights() -> Path:
    """``shared/weights/latent_conv_ae.safetensors``: the codec that ships, and --decoder-only's starting point."""
    return Path(__file__).resolve().parents[1] / "weights" / f"{NAME}.safetensors"


def starting_codec(path: Path) -> EmbeddedLatentCodec:
    """An exported codec to start from, loaded once (weights, architecture, ``latent_std``); one line if it is not one."""
    from safetensors import SafetensorError

    if not path.is_file():
        raise UsageError(f"--init-from {path}: no such weights file")
    try:
        return EmbeddedLatentCodec.load(NAME, None, str(path))
    except (KeyError, ValueError, OSError, RuntimeError, SafetensorError) as exc:
        raise UsageError(f"--init-from {path}: not an exported latent codec ({exc})") from exc


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr / 50 + (cfg.lr - cfg.lr / 50) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train(data: DataSource, ckpt_dir: Path, cfg: TrainConfig, net_cfg: ConvAEConfig, minutes: float, video_stride: int,
          ckpt_every: int, log_every: int, command: str = "", init: Path | None = None, decoder_only: bool = False,
          start: EmbeddedLatentCodec | None = None) -> None:
    """Train until ``cfg.steps`` or ``minutes`` of wall time, checkpointing; resumes from ``ckpt_dir``.

    ``init``: start from these exported weights (their architecture replaces ``net_cfg``), or ``start``, the codec
    already loaded from them; ``decoder_only``: freeze the encoder (needs a start)."""
    torch.manual_seed(cfg.seed)
    if start is None and init is not None:
        start = starting_codec(init)
    if decoder_only and getattr(start, "latent_std", None) is None:
        raise UsageError(f"--init-from {init}: no latent_std in its metadata, which --decoder-only must keep; export it first")
    images = load_corpus(data, video_stride)
    print(f"corpus: {len(images)} images from {data}", flush=True)
    net = ConvAutoencoder(net_cfg) if start is None else start.net
    if start is not None:
        net_cfg = net.config
        print(f"initialised from {init}", flush=True)
    kept_std = None  # decoder-only: the starting codec's latent_std (C,), exported unchanged with its encoder
    if decoder_only:
        net.encoder.requires_grad_(False)
        kept_std = [float(v) for v in start.latent_std]
    trained = net.decoder if decoder_only else net
    opt = torch.optim.Adam(trained.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    state_path, meta_path = ckpt_dir / "model.safetensors", ckpt_dir / "state.json"
    step, wall, history = 0, 0.0, []
    if state_path.exists() and meta_path.exists():
        net.load_state_dict(load_file(state_path))
        opt_path = ckpt_dir / "optimizer.pt"
        if opt_path.exists():  # our own checkpoint, loaded tensors-only
            opt.load_state_dict(torch.load(opt_path, weights_only=True))
        meta = json.loads(meta_path.read_text())
        step, wall, history = meta["step"], meta["wall_s"], meta["history"]
        print(f"resumed at step {step} ({wall:.0f} s trained)", flush=True)
    rng = np.random.default_rng(cfg.seed + step)
    net.train()
    t0, run_loss = time.time() - wall, []

    def checkpoint() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_file(net.state_dict(), state_path)
        torch.save(opt.state_dict(), ckpt_dir / "optimizer.pt")
        meta_path.write_text(json.dumps({"step": step, "wall_s": time.time() - t0, "history": history,
                                         "train": cfg.__dict__, "net": net_cfg.to_dict(),
                                         "data": str(data), "video_stride": video_stride, "command": command,
                                         "hardware": cpu_model(), "threads": torch.get_num_threads(),
                                         "init": str(init) if init else None, "decoder_only": decoder_only,
                                         "latent_std": kept_std}))

    while step < cfg.steps and time.time() - t0 < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        x = sample_batch(images, cfg, rng)
        with torch.set_grad_enabled(not decoder_only):
            z = net.encoder(x * 2 - 1)  # (B, C, crop/f, crop/f)
        if cfg.latent_noise > 0:
            rms = z.detach().pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()  # (B, 1, 1, 1)
            z = z + cfg.latent_noise * rms * torch.randn_like(z) * torch.rand(z.shape[0], 1, 1, 1)
        y = net.decoder(z) * 0.5 + 0.5
        loss = torch.nn.functional.mse_loss(y, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained.parameters(), 1.0)
        opt.step()
        step += 1
        run_loss.append(loss.item())
        if step % log_every == 0:
            mse = float(np.mean(run_loss))
            run_loss = []
            entry = {"step": step, "wall_s": round(time.time() - t0, 1), "train_mse": mse,
                     "train_psnr": 10 * math.log10(1 / max(mse, 1e-10))}
            if step % ckpt_every == 0 or step == cfg.steps:
                entry["val_psnr"] = validate(net)["mean"]
            history.append(entry)
            print(json.dumps(entry), flush=True)
        if step % ckpt_every == 0:
            checkpoint()
    checkpoint()
    print(f"stopped at step {step} after {time.time() - t0:.0f} s", flush=True)


def export(ckpt_dir: Path, out_dir: Path, note: str = "") -> Path:
    """Write ``latent_conv_ae.safetensors`` (+ config in its metadata) and the model card.

    A decoder-only run keeps its starting codec's ``latent_std``: the encoder, and so the latent space, did not change."""
    meta = json.loads((ckpt_dir / "state.json").read_text())
    net_cfg = ConvAEConfig.from_dict(meta["net"])
    net = ConvAutoencoder(net_cfg)
    net.load_state_dict(load_file(ckpt_dir / "model.safetensors"))
    net.eval()
    scores = validate(net)
    codec = EmbeddedLatentCodec(net)
    lat = torch.stack([codec.encode(img) for _, img in validation_images()])  # (N, C, 32, 32)
    latent_std = lat.std(dim=(0, 2, 3))  # (C,) per-channel scale, for JSCC power normalisation
    decoder_only = bool(meta.get("decoder_only"))
    if decoder_only:
        latent_std = torch.tensor(meta["latent_std"])  # (C,) the starting codec's, recorded when training began
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{NAME}.safetensors"
    save_conv_ae(net, weights, latent_std)
    last = meta["history"][-1] if meta["history"] else {}
    n_params = sum(p.numel() for p in net.parameters())
    rows = "\n".join(f"| {k} | {v:.2f} |" for k, v in scores.items())
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | {h['train_psnr']:.2f} | {h.get('val_psnr', float('nan')):.2f} |"
                      for h in meta["history"] if "val_psnr" in h)
    card = f"""# Model card: `{NAME}` (embedded latent codec)

A small convolutional autoencoder, the embedded default of the *latent codec* role
(`shared/codecs/latent_conv.py`). 256x256x3 -> {net_cfg.latent_channels}x{256 // net_cfg.downsample}x{256 // net_cfg.downsample}
(spatial factor {net_cfg.downsample}), {n_params:,} parameters, {weights.stat().st_size / 1e6:.2f} MB float32.
It is *not* a VAE: no KL term, a deterministic latent; it trades quality for size and speed.

| | |
| --- | --- |
| architecture | channels {list(net_cfg.channels)}, {net_cfg.res_blocks} residual block(s) per stage, stride-2 4x4 convs down, nearest+3x3 conv up, GELU |
| data | `{meta.get('data', 'folder:../shared/media')}`: every photo and every {meta.get('video_stride', 5)}th video frame; random crops {meta['train']['crop']}x{meta['train']['crop']} at random scales in [{meta['train']['min_scale']}, 1], random horizontal flips |
| trained | {f"the decoder only, from `{Path(meta['init']).name}`; the encoder frozen, so the latent space and `latent_std` are unchanged" if decoder_only else ('everything, from ' + Path(meta['init']).name if meta.get('init') else 'everything, from a random init')} |
| loss | MSE, with Gaussian latent noise up to {meta['train']['latent_noise']} x latent RMS (robustness to a noisy channel) |
| optimiser | Adam (betas 0.9, 0.99), peak lr {meta['train']['lr']}, {meta['train']['warmup']} warm-up steps, cosine decay to lr/50 over {meta['train']['steps']} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {meta['train']['batch']}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, {meta.get('threads', 1)} thread(s), torch {torch.__version__} |
| final train MSE | {last.get('train_mse', float('nan')):.5f} (PSNR {last.get('train_psnr', float('nan')):.2f} dB on crops) |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation PSNR (dB), 256x256 centre crops, never trained on
| image | PSNR |
| --- | --- |
{rows}

## Training curve
| step | wall s | train PSNR | val PSNR |
| --- | --- | --- | --- |
{curve}

History: a first run with peak lr 2e-3 diverged at step ~330 and was discarded; 1e-3 has been
the default since.{chr(10) + chr(10) + note if note else ""}

Per-channel latent standard deviation on the validation set (also in the safetensors
metadata as `latent_std`): {[round(float(s), 3) for s in latent_std]}.
"""
    weights.chmod(0o644)  # safetensors writes 0600; the file ships with the package
    (out_dir / f"{NAME}.md").write_text(card)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB), val PSNR {scores['mean']:.2f} dB")
    return weights


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train latent", description="Train / export the embedded latent codec, or fine-tune its "
                  "decoder alone (--decoder-only: the latent space, and every embedded model trained on it, stays valid).")
    add_data_args(p)
    p.add_argument("--ckpt-dir", type=Path, default=Path("out/latent_conv_ae"), help="checkpoint folder (resumes)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--decoder-only", action="store_true",
                   help="freeze the encoder and fine-tune the decoder of --init-from (default: the shipped codec) at "
                        f"peak lr {DECODER_ONLY['lr']:g}, batches of {DECODER_ONLY['batch']} {DECODER_ONLY['crop']}px crops")
    p.add_argument("--init-from", type=Path, default=None, metavar="SAFETENSORS",
                   help="start from these exported codec weights (default: none, or the shipped codec with --decoder-only)")
    add_run_args(p, minutes=24.0, ckpt_every=200, note=True)
    args = p.parse_args(argv)

    def body() -> int:
        torch.set_num_threads(args.threads)
        command = "semcom train latent " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.export:
            if not (args.ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {args.ckpt_dir}; train first")
            export(args.ckpt_dir, args.out_dir, args.note)
            return 0
        init = args.init_from or (shipped_weights() if args.decoder_only else None)
        start = starting_codec(init) if init is not None else None  # before the data: a bad file fails at once
        cfg = TrainConfig(steps=args.steps, **(DECODER_ONLY if args.decoder_only else {}))
        train(parse_data_source(args.data), args.ckpt_dir, cfg, ConvAEConfig(), args.minutes, args.video_stride,
              args.ckpt_every, args.log_every, command, init=init, decoder_only=args.decoder_only,
              start=start)
        return 0

    return run_cli("semcom train latent", body)


if __name__ == "__main__":
    raise SystemExit(main())
