"""The semantic schemes' hub generator: Stable-Diffusion-family pipelines through diffusers, loaded offline.

For users who have the real pretrained weights (a Hugging Face cache, or directories saved with
``save_pretrained``), each semantic scheme can generate with them instead of the embedded generator:

| scheme      | pipeline (picked from the model's ``model_index.json``)                                  |
| ----------- | ---------------------------------------------------------------------------------------- |
| ``spic``      | SD + ControlNet-seg img2img: the upsampled low-res image as the start, the map as control; without a ControlNet plain img2img; an x4 upscaler model (``StableDiffusionUpscalePipeline``) takes the low-res image itself |
| ``keyregion`` | SD inpainting: the key region (decoded from its received latents) kept, the rest painted from the caption |
| ``full``      | SD inpainting + ControlNet-seg: the same, with the map as control                       |

LoRA adapters load with ``load_lora_weights`` (peft). Weights that are not on the machine give one
line (:class:`~shared.hub.WeightsNotFound`), never a library traceback. The tests run this
module end to end on tiny configs of the same diffusers classes (:func:`shared.registry.tiny.save_tiny`).
"""
from __future__ import annotations

import json
import math
from functools import lru_cache

import numpy as np
import torch

from shared.hub import WeightsNotFound, resolve

UPSCALER = "StableDiffusionUpscalePipeline"
INPAINT_UNET_CHANNELS = 9  # latent 4 + masked-image latent 4 + mask 1
LORA_FILE = "pytorch_lora_weights.safetensors"  # what diffusers' save_lora_weights writes


def label_colours(labels: np.ndarray) -> np.ndarray:
    """(H, W) label map -> (H, W, 3) uint8 control image, one fixed colour per label id (a seeded palette)."""
    palette = np.random.default_rng(2024).integers(0, 256, (int(labels.max()) + 1, 3), dtype=np.uint8)  # (labels, 3)
    return palette[labels]


class HubGenerator:
    """One scheme's diffusers pipeline, built from local weights; ``generate`` returns (H, W, 3) uint8."""

    def __init__(self, scheme: str, model: str, controlnet: str = "", lora: str = "", device: str = "cpu"):
        self.scheme, self.device = scheme, device
        dtype = {"torch_dtype": torch.float16} if device.startswith("cuda") else {}  # fp16 on CUDA, the weights' own on CPU
        base = resolve(f"{scheme} hub generator", model, marker="model_index.json")  # missing weights: fail before the heavy import
        from diffusers import ControlNetModel

        self.kind = json.loads((base / "model_index.json").read_text()).get("_class_name", "")
        control = None
        if controlnet and scheme != "keyregion" and self.kind != UPSCALER:
            control = ControlNetModel.from_pretrained(resolve(f"{scheme} ControlNet", controlnet), **dtype)
        self.pipe = self._pipeline(base, control, dtype).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        inpainting = self.pipe.unet.config.in_channels == INPAINT_UNET_CHANNELS
        if (scheme != "spic") != inpainting:
            want = "an inpainting model (UNet with 9 input channels)" if scheme != "spic" else "a text-to-image or upscaler model"
            raise WeightsNotFound(f"{scheme} hub generator", f"{model} (the {scheme} scheme needs {want})")
        if lora:
            self.pipe.load_lora_weights(str(resolve(f"{scheme} LoRA", lora, marker=LORA_FILE)))

    def _pipeline(self, base, control, dtype: dict):
        import diffusers as d

        if self.kind == UPSCALER:
            cls = d.StableDiffusionUpscalePipeline
        elif self.scheme == "spic":
            cls = d.StableDiffusionControlNetImg2ImgPipeline if control is not None else d.StableDiffusionImg2ImgPipeline
        else:
            cls = d.StableDiffusionControlNetInpaintPipeline if control is not None else d.StableDiffusionInpaintPipeline
        extra = {"controlnet": control} if control is not None else {}
        return cls.from_pretrained(base, safety_checker=None, **dtype, **extra)

    @torch.no_grad()
    def generate(self, height: int, width: int, prompt: str = "", lowres: np.ndarray | None = None,
                 labels: np.ndarray | None = None, key_image: np.ndarray | None = None, key_mask: np.ndarray | None = None,
                 steps: int = 20, strength: float = 0.75, guidance: float = 7.5, seed: int = 0) -> np.ndarray:
        """Generate one frame.

        Args:
            lowres: spic's low-res image, (h, w, 3) uint8 at its coded size.
            labels: the segmentation map (H, W), for a ControlNet.
            key_image: (H, W, 3) uint8, the key region decoded from its latents; key_mask (H, W) bool.
        """
        from PIL import Image

        h8, w8 = -(-height // 8) * 8, -(-width // 8) * 8  # SD works on multiples of 8
        size = lambda a: Image.fromarray(a).resize((w8, h8), Image.BICUBIC)  # noqa: E731
        # diffusers runs int(num_inference_steps * strength) steps; ``steps`` means steps run, as in our own sampler
        args: dict = {"prompt": prompt, "num_inference_steps": math.ceil(steps / strength), "guidance_scale": guidance,
                      "output_type": "np", "generator": torch.Generator().manual_seed(seed)}
        if self.kind == UPSCALER:
            args |= {"image": Image.fromarray(lowres), "num_inference_steps": steps}
        elif self.scheme == "spic":
            args |= {"image": size(lowres), "strength": strength}
        else:
            mask = np.where(key_mask, 0, 255).astype(np.uint8) if key_mask is not None else np.full((height, width), 255, np.uint8)
            base = key_image if key_image is not None else np.full((height, width, 3), 128, np.uint8)
            args |= {"image": size(base), "mask_image": size(mask), "height": h8, "width": w8, "strength": strength}
        if hasattr(self.pipe, "controlnet"):
            control = label_colours(labels) if labels is not None else np.zeros((height, width, 3), np.uint8)
            args |= {"control_image": size(control)}
            if self.scheme == "spic":
                args |= {"height": h8, "width": w8}
        out = self.pipe(**args).images[0]  # (h', w', 3) float in [0, 1]
        frame = Image.fromarray((np.clip(out, 0, 1) * 255).round().astype(np.uint8)).resize((width, height), Image.BICUBIC)
        return np.asarray(frame)


@lru_cache(maxsize=2)
def load_hub_generator(scheme: str, model: str, controlnet: str, lora: str, device: str) -> HubGenerator:
    """A :class:`HubGenerator`, built once per process and configuration."""
    return HubGenerator(scheme, model, controlnet, lora, device)
