"""Train the SNR-adaptive DeepJSCC baseline (:class:`~shared.nets.jscc.DeepJSCC`).

Data and validation as in :mod:`shared.training.latent` (its loaders are
reused): photos + video frames of the media folder as random crops/flips;
scikit-image's photos at 256x256 for validation, never trained on.

Channel in training: per sample, SNR ~ U[0, 20] dB (or one fixed ``--snr-db``
for the single-SNR comparison models); AWGN, or with probability
``fading_p`` Rayleigh block fading (one CN(0, 1) gain per block) with
zero-forcing equalisation, exactly what the receiver sees; the decoder input
is the MMSE-scaled symbol x_hat / (1 + noise_var) and its AF modules get the
SNR estimated from the noise variances. The transmitter's AF SNR equals the
true SNR half of the time and is drawn independently otherwise, so an
encoder fed a stale or default SNR still works. The number of sent feature
maps is drawn per batch from the config's ``rates`` (full rate with
probability ``full_rate_p``), which orders the maps by importance. Loss: MSE.

Resumable (safetensors checkpoints only); ``--export`` writes
``shared/weights/<name>.safetensors`` and its model card.

    OMP_NUM_THREADS=1 python -m shared.training.jscc --data folder:../shared/media --minutes 50
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from shared.bench.hardware import cpu_model
from shared.cli import CliParser, UsageError, run_cli
from shared.nets.jscc import (
    SNR_RANGE_DB,
    DeepJSCC,
    JSCCConfig,
    cbr_of,
    from_symbols,
    load_jscc_file,
    mmse_scale,
    psnr_db,
    save_jscc,
    snr_from_noise_var,
    to_symbols,
)
from shared.training.data import DataSource, add_data_args, add_run_args, load_corpus, parse_data_source
from shared.training.latent import lr_at, psnr, sample_batch, validation_images

VAL_SNRS_DB = (0.0, 10.0, 20.0)  # validation points: both ends and the middle of the training range


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 4000  # ~35 min at ~0.5 s/step (batch 8, 96x96) on one shared CPU thread
    batch: int = 8  # small batches: more updates per CPU second
    crop: int = 96  # fully convolutional: small crops train a codec used at 256x256 (multiple of 16)
    lr: float = 1e-3  # Adam peak, as the latent codec (stable there); cosine decay to lr/50
    warmup: int = 200  # steps of linear warm-up: avoids an early blow-up
    min_scale: float = 0.25  # crops come from images downscaled by [min_scale, 1]: frames are usually downscaled
    snr_db: float | None = None  # None: SNR ~ U[0, 20] dB per sample (adaptive); a number: single-SNR model
    fading_p: float = 0.2  # share of samples with Rayleigh block fading + ZF (the rest AWGN)
    full_rate_p: float = 0.6  # share of batches sending all C maps; the rest a random lower rate
    seed: int = 0  # reproducible crops, channel and init


def train_snrs(b: int, gen: torch.Generator, snr_db: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(true SNR, transmitter SNR), each (B, 1) dB: the true one U[0, 20] unless given; the transmitter's
    is the true one half the time and another draw otherwise (stale feedback)."""
    lo, hi = SNR_RANGE_DB
    if snr_db is None:
        snr_db = torch.rand(b, 1, generator=gen) * (hi - lo) + lo  # (B, 1)
    other = torch.rand(b, 1, generator=gen) * (hi - lo) + lo
    return snr_db, torch.where(torch.rand(b, 1, generator=gen) < 0.5, snr_db, other)


def channel(x: torch.Tensor, snr_db: torch.Tensor, fading: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit-power symbols through AWGN or Rayleigh block fading, then ZF equalisation.

    Args:
        x: (B, N) complex symbols, E|x|^2 = 1.
        snr_db: (B, 1) true SNR per sample.
        fading: (B,) bool, Rayleigh block fading for these samples (block length
            drawn from {N, 256, 64}: one gain per frame, or several blocks).
    Returns:
        (x_hat, noise_var): ZF-equalised symbols (B, N) complex and their noise variances (B, N).
    """
    b, n = x.shape
    n0 = 10 ** (-snr_db / 10)  # (B, 1)
    noise = torch.complex(torch.randn(b, n, generator=gen), torch.randn(b, n, generator=gen)) * torch.sqrt(n0 / 2)  # (B, N)
    h = torch.ones(b, n, dtype=torch.complex64)  # (B, N)
    if bool(fading.any()):
        block = int((n, 256, 64)[int(torch.randint(3, (1,), generator=gen))])
        n_blocks = math.ceil(n / block)
        g = torch.complex(torch.randn(b, n_blocks, generator=gen), torch.randn(b, n_blocks, generator=gen)) / math.sqrt(2)
        g = g.repeat_interleave(block, dim=1)[:, :n]  # (B, N)
        h = torch.where(fading[:, None], g, h)
    power = h.abs().pow(2).clamp(min=1e-12)  # (B, N)
    x_hat = (h * x + noise) * h.conj() / power
    return x_hat, n0 / power


def forward_batch(net: DeepJSCC, x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator,
                  k: int | None = None, snr_db: torch.Tensor | None = None, tx_snr_db: torch.Tensor | None = None,
                  fading: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> reconstruction (B, 3, H, W) through a simulated channel."""
    b, _, hh, ww = x.shape
    c = net.config.latent_channels
    if snr_db is None:
        if cfg.snr_db is not None:
            snr_db = torch.full((b, 1), float(cfg.snr_db))
        else:
            snr_db = torch.rand(b, 1, generator=gen) * (SNR_RANGE_DB[1] - SNR_RANGE_DB[0]) + SNR_RANGE_DB[0]  # (B, 1)
    if tx_snr_db is None:
        if cfg.snr_db is not None:
            tx_snr_db = snr_db
        else:
            other = torch.rand(b, 1, generator=gen) * (SNR_RANGE_DB[1] - SNR_RANGE_DB[0]) + SNR_RANGE_DB[0]
            tx_snr_db = torch.where(torch.rand(b, 1, generator=gen) < 0.5, snr_db, other)  # (B, 1)
    if fading is None:
        fading = torch.rand(b, generator=gen) < cfg.fading_p  # (B,)
    if k is None:
        rates = net.config.rates
        k = rates[-1] if float(torch.rand(1, generator=gen)) < cfg.full_rate_p else rates[int(torch.randint(len(rates) - 1, (1,), generator=gen))]
    z = net.encode(x, tx_snr_db)  # (B, C, H/16, W/16)
    sym = to_symbols(z, k)  # (B, N)
    x_hat, nv = channel(sym, snr_db, fading, gen)  # (B, N), (B, N)
    z_hat = from_symbols(mmse_scale(x_hat, nv), c, hh // 16, ww // 16)  # (B, C, H/16, W/16)
    return net.decode(z_hat, snr_from_noise_var(nv))


@torch.no_grad()
def validate(net: DeepJSCC, cfg: TrainConfig) -> dict[str, float]:
    """Mean PSNR (dB) over the validation photos at 256x256, full rate, AWGN, per SNR (``"snr10"``...) and ``"mean"``."""
    net.eval()
    imgs = torch.stack([torch.from_numpy(img).permute(2, 0, 1).float() / 255 for _, img in validation_images()])  # (6, 3, 256, 256)
    gen = torch.Generator().manual_seed(1234)
    snrs = (cfg.snr_db,) if cfg.snr_db is not None else VAL_SNRS_DB
    scores = {}
    for s in snrs:
        snr = torch.full((imgs.shape[0], 1), float(s))
        y = forward_batch(net, imgs, cfg, gen, k=net.config.latent_channels, snr_db=snr, tx_snr_db=snr,
                          fading=torch.zeros(imgs.shape[0], dtype=torch.bool))
        out = (y.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
        ref = (imgs * 255).round().byte().permute(0, 2, 3, 1).numpy()
        scores[f"snr{s:g}"] = float(np.mean([psnr(a, b) for a, b in zip(ref, out)]))
    scores["mean"] = float(np.mean(list(scores.values())))
    net.train()
    return scores


def save_optimizer(opt: torch.optim.Adam, path: Path) -> None:
    """Adam state as safetensors (tensors) + the param groups in its metadata: no pickle."""
    tensors = {f"{i}.{key}": (v if torch.is_tensor(v) else torch.tensor(v)).contiguous()
               for i, st in opt.state_dict()["state"].items() for key, v in st.items()}
    groups = opt.state_dict()["param_groups"]
    save_file(tensors, path, metadata={"param_groups": json.dumps(groups)})


def load_optimizer(opt: torch.optim.Adam, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        groups = json.loads((f.metadata() or {})["param_groups"])
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, v in load_file(path).items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


def train(data: DataSource, ckpt_dir: Path, cfg: TrainConfig, net_cfg: JSCCConfig, minutes: float, video_stride: int,
          ckpt_every: int, log_every: int, init_from: Path | None, command: str = "") -> None:
    """Train until ``cfg.steps`` or ``minutes`` of wall time, checkpointing; resumes from ``ckpt_dir``."""
    torch.manual_seed(cfg.seed)
    images = load_corpus(data, video_stride)
    print(f"corpus: {len(images)} images from {data}", flush=True)
    net = DeepJSCC(net_cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    state_path, opt_path, meta_path = ckpt_dir / "model.safetensors", ckpt_dir / "optimizer.safetensors", ckpt_dir / "state.json"
    step, wall, history, init_note = 0, 0.0, [], ""
    if state_path.exists() and meta_path.exists():
        net.load_state_dict(load_file(state_path))
        if opt_path.exists():
            load_optimizer(opt, opt_path)
        meta = json.loads(meta_path.read_text())
        step, wall, history, init_note = meta["step"], meta["wall_s"], meta["history"], meta.get("init_from", "")
        print(f"resumed at step {step} ({wall:.0f} s trained)", flush=True)
    elif init_from is not None:
        net.load_state_dict(load_jscc_file(init_from).state_dict())
        init_note = str(init_from)
        print(f"initialised from {init_from}", flush=True)
    rng = np.random.default_rng(cfg.seed + step)
    gen = torch.Generator().manual_seed(cfg.seed + step)
    net.train()
    t0, run_loss = time.time() - wall, []

    def checkpoint() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, state_path)
        save_optimizer(opt, opt_path)
        meta_path.write_text(json.dumps({"step": step, "wall_s": time.time() - t0, "history": history,
                                         "train": asdict(cfg), "net": net_cfg.to_dict(), "data": str(data), "video_stride": video_stride,
                                         "command": command, "hardware": cpu_model(), "init_from": init_note}))

    bar = tqdm(total=cfg.steps, initial=step, desc="jscc", unit="step", mininterval=10, dynamic_ncols=True)
    while step < cfg.steps and time.time() - t0 < minutes * 60:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        x = sample_batch(images, cfg, rng)  # (B, 3, crop, crop)
        loss = torch.nn.functional.mse_loss(forward_batch(net, x, cfg, gen), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        run_loss.append(loss.item())
        bar.update(1)
        bar.set_postfix(mse=f"{loss.item():.4f}", lr=f"{lr_at(step, cfg):.1e}", refresh=False)
        if step % log_every == 0:
            mse = float(np.mean(run_loss))
            run_loss = []
            entry = {"step": step, "wall_s": round(time.time() - t0, 1), "train_mse": mse, "train_psnr": psnr_db(mse)}
            if step % ckpt_every == 0 or step == cfg.steps:
                entry["val_psnr"] = validate(net, cfg)
            history.append(entry)
            bar.write(json.dumps(entry))
        if step % ckpt_every == 0:
            checkpoint()
    bar.close()
    if not history or "val_psnr" not in history[-1]:
        history.append({"step": step, "wall_s": round(time.time() - t0, 1), "val_psnr": validate(net, cfg),
                        **({"train_mse": float(np.mean(run_loss)), "train_psnr": psnr_db(float(np.mean(run_loss)))} if run_loss else {})})
    checkpoint()
    print(f"stopped at step {step} after {time.time() - t0:.0f} s", flush=True)


def export(ckpt_dir: Path, out_dir: Path, name: str, note: str = "") -> Path:
    """Write ``<name>.safetensors`` (config in its metadata) and ``<name>.md``, the model card (``note``: a closing History paragraph)."""
    meta = json.loads((ckpt_dir / "state.json").read_text())
    net_cfg = JSCCConfig.from_dict(meta["net"])
    cfg = TrainConfig(**meta["train"])
    net = DeepJSCC(net_cfg)
    net.load_state_dict(load_file(ckpt_dir / "model.safetensors"))
    scores = validate(net, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{name}.safetensors"
    save_jscc(net, weights, {"train": json.dumps(meta["train"]), "step": str(meta["step"])})
    n_params = sum(p.numel() for p in net.parameters())
    last = next((h for h in reversed(meta["history"]) if "train_mse" in h), {})
    snr_text = f"fixed {cfg.snr_db:g} dB" if cfg.snr_db is not None else f"U[{SNR_RANGE_DB[0]:g}, {SNR_RANGE_DB[1]:g}] dB per sample"
    rows = "\n".join(f"| {k} | {v:.2f} |" for k, v in scores.items())
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | {h.get('train_psnr', float('nan')):.2f} | "
                      + ", ".join(f"{k} {v:.2f}" for k, v in h["val_psnr"].items()) + " |"
                      for h in meta["history"] if "val_psnr" in h)
    rates = ", ".join(f"{k} maps = CBR 1/{1 / cbr_of(k):.0f} ({k * 128} symbols per 256x256)" for k in net_cfg.rates)
    init = f" Initialised from `{meta['init_from']}` (fine-tuned)." if meta.get("init_from") else ""
    card = f"""# Model card: `{name}` (DeepJSCC baseline, ADJSCC-style SNR adaptation)

Pixels -> complex channel symbols -> pixels (`shared/nets/jscc.py`), used by the `deepjscc`
scheme. {n_params:,} parameters, {weights.stat().st_size / 1e6:.2f} MB float32.{init}

| | |
| --- | --- |
| architecture | 4 stride-2 stages {list(net_cfg.channels)} (4x4 stride-2 conv, GELU, residual block, AF module) -> {net_cfg.latent_channels} maps at 1/16; decoder mirrored (residual block, 2x nearest + 3x3 conv, GELU, AF); AF = sigmoid(MLP(global pool ‖ SNR)) channel gates, hidden {net_cfg.af_hidden}, after every stage of both sides |
| rates | importance-ordered maps, any prefix is sendable: {rates} |
| data | `{meta.get('data', 'folder:../shared/media')}`: every photo and every {meta.get('video_stride', 5)}th video frame; random crops {cfg.crop}x{cfg.crop} at random scales in [{cfg.min_scale}, 1], random horizontal flips |
| channel | SNR {snr_text}; AWGN, and Rayleigh block fading + ZF for {cfg.fading_p:.0%} of samples; decoder input x_hat/(1+noise_var) (MMSE scaling), AF SNR from the noise variances; transmitter AF SNR = true SNR half the time, random otherwise |
| rate in training | all {net_cfg.latent_channels} maps in {cfg.full_rate_p:.0%} of batches, else a random lower rate |
| loss | MSE on [0, 1] pixels |
| optimiser | Adam (betas 0.9, 0.99), peak lr {cfg.lr}, {cfg.warmup} warm-up steps, cosine decay to lr/50 over {cfg.steps} steps, grad-norm clip 1 |
| steps done | {meta['step']} (batch {cfg.batch}) |
| wall time | {meta['wall_s'] / 60:.1f} min |
| hardware | {meta.get('hardware', cpu_model())}, CPU only, 1 thread, torch {torch.__version__} |
| final train MSE | {last.get('train_mse', float('nan')):.5f} (PSNR {last.get('train_psnr', float('nan')):.2f} dB on crops, mixed SNR/rate) |
| command | `{meta.get('command', '')}` (then `--export`) |

## Validation PSNR (dB): scikit-image photos, 256x256, AWGN, full rate (CBR 1/48), never trained on
| SNR | PSNR |
| --- | --- |
{rows}

## Training curve
| step | wall s | train PSNR | val PSNR |
| --- | --- | --- | --- |
{curve}
""" + (f"\n## History\n{note}\n" if note else "")
    (out_dir / f"{name}.md").write_text(card)
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.2f} MB), val PSNR {scores}")
    return weights


def main(argv: list[str] | None = None) -> int:
    p = CliParser(prog="semcom train jscc", description="Train / export the SNR-adaptive DeepJSCC baseline.")
    add_data_args(p)
    p.add_argument("--name", default="deepjscc", help="weights name in shared/weights (deepjscc: the scheme's default)")
    p.add_argument("--ckpt-dir", type=Path, default=None, help="checkpoint folder (resumes); default out/<name>")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--snr-db", type=float, default=None, help="train a single-SNR model at this SNR (default: U[0, 20])")
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--warmup", type=int, default=TrainConfig.warmup)
    p.add_argument("--init-from", type=Path, default=None, help="start from these exported weights (fine-tuning)")
    add_run_args(p, minutes=50.0)
    args = p.parse_args(argv)
    ckpt_dir = args.ckpt_dir or Path("out") / args.name

    def body() -> int:
        torch.set_num_threads(args.threads)
        command = "OMP_NUM_THREADS=1 python -m shared.training.jscc " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.export:
            if not (ckpt_dir / "state.json").exists():
                raise UsageError(f"no checkpoint in {ckpt_dir}; train first")
            export(ckpt_dir, args.out_dir, args.name, args.note)
            return 0
        if args.snr_db is not None and not SNR_RANGE_DB[0] <= args.snr_db <= SNR_RANGE_DB[1]:
            raise UsageError(f"--snr-db must be in [{SNR_RANGE_DB[0]:g}, {SNR_RANGE_DB[1]:g}]")
        cfg = replace(TrainConfig(), steps=args.steps, snr_db=args.snr_db, lr=args.lr, warmup=args.warmup)
        train(parse_data_source(args.data), ckpt_dir, cfg, JSCCConfig(), args.minutes, args.video_stride, args.ckpt_every,
              args.log_every, args.init_from, command)
        return 0

    return run_cli("semcom train jscc", body)


if __name__ == "__main__":
    raise SystemExit(main())
