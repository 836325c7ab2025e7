"""Tiny, randomly initialised configs of the hub classes, saved with ``save_pretrained``.

They exercise the real loading code offline, the way diffusers' and
transformers' own test suites do: same classes, same files on disk, a few
thousand parameters. Used by the tests and by ``benchmarks/bench_extractors.py``
(where they time the framework overhead, not the real models' speed).

    path = save_tiny("segformer-b0-ade", tmp_dir)
    seg = load_model("segformer-b0-ade", source=str(path))
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

ESPNETV2_ROWS = ("espnetv2-voc", "espnetv2-voc-small", "espnetv2-cityscapes")
NO_TINY = {"yunet": "an ONNX graph run by OpenCV: its selector is tested with a stand-in detector"}
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


def _clip_text(path: Path):
    """A tiny CLIP tokenizer (a handful of whole words, no merges) and text encoder, as SD pipelines take."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{f"{w}</w>": i + 2 for i, w in enumerate(TINY_WORDS[5:])}}
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"), model_max_length=16)
    encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                           num_attention_heads=2, max_position_embeddings=16, projection_dim=16,
                                           bos_token_id=0, eos_token_id=1, pad_token_id=1))
    return tokenizer, encoder


def _sd_unet(in_channels: int, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=in_channels,
                                out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=2, norm_num_groups=4, **extra)


def _sd_pipeline(path: Path, kind: str) -> None:
    """A tiny Stable Diffusion pipeline: ``img2img`` (text-to-image weights), ``inpaint`` or ``x4-upscaler``."""
    import diffusers as d

    tokenizer, encoder = _clip_text(path / "_tokenizer_src")
    vae = d.AutoencoderKL(block_out_channels=(8, 16), layers_per_block=1, latent_channels=4, norm_num_groups=4,
                          down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                          scaling_factor=0.08333 if kind == "x4-upscaler" else 0.18215)  # the real checkpoints' factors
    common = dict(vae=vae, text_encoder=encoder, tokenizer=tokenizer, scheduler=d.DDIMScheduler(steps_offset=1, clip_sample=False))
    if kind == "x4-upscaler":
        pipe = d.StableDiffusionUpscalePipeline(unet=_sd_unet(7, class_embed_type=None, num_class_embeds=1000),
                                                low_res_scheduler=d.DDPMScheduler(), **common)
    else:
        cls = d.StableDiffusionInpaintPipeline if kind == "inpaint" else d.StableDiffusionImg2ImgPipeline
        pipe = cls(unet=_sd_unet(9 if kind == "inpaint" else 4), safety_checker=None, feature_extractor=None,
                   requires_safety_checker=False, **common)
    pipe.save_pretrained(path)


def _controlnet(path: Path) -> None:
    from diffusers import ControlNetModel

    ControlNetModel(block_out_channels=(8, 16), layers_per_block=1, in_channels=4, cross_attention_dim=16,
                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), attention_head_dim=2, norm_num_groups=4,
                    conditioning_embedding_out_channels=(8, 8)).save_pretrained(path)


def _lora(path: Path) -> None:
    """A LoRA adapter (peft) for the tiny SD UNet's attention, saved as diffusers' save_lora_weights does."""
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = _sd_unet(4)
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    StableDiffusionPipeline.save_lora_weights(path, unet_lora_layers=get_peft_model_state_dict(unet))


def save_tiny(name: str, path: Path, levels: int = 2) -> Path:
    """Write a tiny model for registry entry ``name`` to ``path``; return ``path``.

    ``levels`` sets the VAEs' depth: spatial factor 2**(levels-1), so 4 gives f=8 like the real ones.
    """
    torch.manual_seed(0)  # deterministic weights
    builders = {"segformer-b0-ade": _segformer, "segformer-b0-cityscapes": _segformer, "blip-base": _blip,
                "sd-vae": lambda p: _sd_vae(p, levels), "taesd": lambda p: _taesd(p, levels),
                "sd-img2img": lambda p: _sd_pipeline(p, "img2img"), "sd-inpaint": lambda p: _sd_pipeline(p, "inpaint"),
                "sd-x4-upscaler": lambda p: _sd_pipeline(p, "x4-upscaler"), "controlnet-seg": _controlnet, "sd-lora": _lora,
                "taef2": save_tiny_taef2,  # its files' hashes differ from the pinned ones: use save_tiny_taef2's config
                **{row: (lambda p, row=row: save_tiny_espnetv2(row, p)) for row in ESPNETV2_ROWS}}  # idem
    if name not in builders:
        raise ValueError(f"no tiny config for '{name}'; have: {', '.join(builders)}")
    builders[name](Path(path))
    return Path(path)


def save_tiny_taef2(path: Path, width: int = 8):
    """Random TAEF2 files of the upstream layout at a tiny ``width`` (plain state dicts, as upstream publishes
    them) in ``path``; return the registry config that pins their hashes (use it in place of the real row's)."""
    from dataclasses import replace

    from shared.codecs.taef2 import DECODER_FILE, ENCODER_FILE, Taef2Net
    from shared.hub import sha256_of
    from shared.registry.table import get_spec

    torch.manual_seed(0)
    net = Taef2Net(width)
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(net.encoder.state_dict(), path / ENCODER_FILE)
    torch.save(net.decoder.state_dict(), path / DECODER_FILE)
    return replace(get_spec("taef2").config, encoder_sha256=sha256_of(path / ENCODER_FILE),
                   decoder_sha256=sha256_of(path / DECODER_FILE), width=width)


def save_tiny_espnetv2(name: str, path: Path, scale: float = 0.5):
    """A random ESPNetv2 state dict of the upstream layout at width multiplier ``scale``, saved under the
    registry row's file name in ``path``; return the row's config pinning its hash (use it in place of the real one)."""
    from dataclasses import replace

    from shared.extractors.segment_espnetv2 import Espnetv2Net
    from shared.hub import sha256_of
    from shared.registry.table import get_spec

    config = get_spec(name).config
    torch.manual_seed(0)
    net = Espnetv2Net(scale, len(config.classes()))
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path / config.weights_file)
    return replace(config, sha256=sha256_of(path / config.weights_file), scale=scale, input_size=(64, 96))
