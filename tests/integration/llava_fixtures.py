"""Tiny random llava-hf checkpoints (CLIP tower + mlp2x_gelu projector + a
LLaMA-family LM) built with transformers' own classes, for comparing iris's
whole visual path with LlavaForConditionalGeneration."""
import json

import numpy as np
import torch

from llm_fixtures import build_config, make_bytelevel_tokenizer, randomize_

IMAGE_SIZE = 56   # 4x4 patches of 14 px: 16 image tokens
PATCH = 14


def build_llava(tmp_path, arch="llama", seed=0, dtype=torch.float32):
    """Saves a random LLaVA (config.json, model.safetensors, tokenizer.json with an
    <image> token) in tmp_path; returns (model, processor)."""
    from tokenizers import AddedToken
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor,
                              PreTrainedTokenizerFast)
    tok = make_bytelevel_tokenizer(tmp_path / "tokenizer.json")
    tok.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    tok.save(str(tmp_path / "tokenizer.json"))
    image_id = tok.token_to_id("<image>")
    text_cfg = build_config(arch, tok.get_vocab_size())
    vis_cfg = CLIPVisionConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                               num_attention_heads=4, image_size=IMAGE_SIZE, patch_size=PATCH,
                               projection_dim=32)
    cfg = LlavaConfig(vision_config=vis_cfg, text_config=text_cfg, image_token_index=image_id,
                      projector_hidden_act="gelu", vision_feature_layer=-2,
                      vision_feature_select_strategy="default",
                      image_seq_length=(IMAGE_SIZE // PATCH) ** 2)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg).eval()
    randomize_(model, seed, std=0.1)
    if dtype != torch.float32:
        model = model.to(dtype)
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    fast = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<image>"]})
    improc = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                                crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    proc = LlavaProcessor(image_processor=improc, tokenizer=fast, patch_size=PATCH,
                          vision_feature_select_strategy="default")
    return model, proc


def random_photo(path, w, h, seed, mode="RGB"):
    from PIL import Image
    rng = np.random.default_rng(seed)
    # smooth gradients plus noise look more like a photograph than white noise
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                     ((x + y) * 127 // max(w + h - 2, 1))], -1)
    img = np.clip(base + rng.integers(-40, 40, (h, w, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(img, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path)
    return im


def expand2square(pil_img, background_color):
    """LLaVA's padding, written from its documented behaviour: centre the image on
    a square canvas of the mean colour."""
    from PIL import Image
    w, h = pil_img.size
    if w == h:
        return pil_img
    side = max(w, h)
    out = Image.new(pil_img.mode, (side, side), background_color)
    out.paste(pil_img, ((side - w) // 2, (side - h) // 2))
    return out
