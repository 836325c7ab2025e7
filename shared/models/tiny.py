"""Tiny, randomly initialised configs of the hub classes, saved with ``save_pretrained``.

They exercise the real loading code offline, the way diffusers' and
transformers' own test suites do: same classes, same files on disk, a few
thousand parameters. Used by the tests and by ``benchmarks/bench_extractors.py``
(where they time the framework overhead, not the real models' speed).

    path = save_tiny("segformer-b0-ade", tmp_dir)
    seg = load_model("segformer-b0-ade", source=str(path))
"""
from __future__ import annotations

from pathlib import Path

import torch

TINY_WORDS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "photo", "of", "cat", "dog", "street", "red")


def _segformer(path: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    names = {0: "wall", 1: "person;individual;someone", 2: "sky"}
    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                          patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                          decoder_hidden_size=16, num_labels=3, id2label=names,
                          label2id={v: k for k, v in names.items()})
    SegformerForSemanticSegmentation(cfg).save_pretrained(path)


def _blip(path: Path) -> None:
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(TINY_WORDS) + "\n")
    cfg = BlipConfig(
        text_config=dict(vocab_size=len(TINY_WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=32, bos_token_id=2, eos_token_id=3,
                         pad_token_id=0, sep_token_id=3),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16),
        projection_dim=16)
    BlipForConditionalGeneration(cfg).save_pretrained(path)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                  tokenizer=BertTokenizer(str(vocab))).save_pretrained(path)


def _sd_vae(path: Path, levels: int = 2) -> None:
    from diffusers import AutoencoderKL

    AutoencoderKL(block_out_channels=(8,) + (16,) * (levels - 1), layers_per_block=1, latent_channels=4,
                  norm_num_groups=4, down_block_types=("DownEncoderBlock2D",) * levels,
                  up_block_types=("UpDecoderBlock2D",) * levels, scaling_factor=0.5).save_pretrained(path)


def _taesd(path: Path, levels: int = 2) -> None:
    from diffusers import AutoencoderTiny

    AutoencoderTiny(encoder_block_out_channels=(8,) * levels, decoder_block_out_channels=(8,) * levels,
                    num_encoder_blocks=(1,) * levels, num_decoder_blocks=(1,) * levels,
                    latent_channels=4).save_pretrained(path)


def save_tiny(name: str, path: Path, levels: int = 2) -> Path:
    """Write a tiny model for registry entry ``name`` to ``path``; return ``path``.

    ``levels`` sets the VAEs' depth: spatial factor 2**(levels-1), so 4 gives f=8 like the real ones.
    """
    torch.manual_seed(0)  # deterministic weights
    builders = {"segformer-b0-ade": _segformer, "segformer-b0-cityscapes": _segformer, "blip-base": _blip,
                "sd-vae": lambda p: _sd_vae(p, levels), "taesd": lambda p: _taesd(p, levels)}
    if name not in builders:
        raise ValueError(f"no tiny config for '{name}'; have: {', '.join(builders)}")
    builders[name](Path(path))
    return Path(path)
