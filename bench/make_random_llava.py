"""Writes a random LLaVA-1.5-shaped checkpoint for benchmarks: a CLIP
ViT-L/14-336 tower (hidden 1024, 24 layers, 16 heads, 336 px; --image,
--patch, --vdim, --vlayers, --vheads, --vffn for others) + mlp2x_gelu
projector + a LLaMA decoder (default the ~134M one: dim 768, 12 layers,
12 heads, ffn 2048, vocab 32000), in llava-hf layout."""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", required=True)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=2048)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--dtype", default="f16", choices=["f32", "f16", "bf16"])
    # the tower (defaults: ViT-L/14-336)
    ap.add_argument("--image", type=int, default=336)
    ap.add_argument("--patch", type=int, default=14)
    ap.add_argument("--vdim", type=int, default=1024)
    ap.add_argument("--vlayers", type=int, default=24)
    ap.add_argument("--vheads", type=int, default=16)
    ap.add_argument("--vffn", type=int, default=4096)
    a = ap.parse_args()
    import torch
    from tokenizers import AddedToken
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration
    from llm_fixtures import make_bytelevel_tokenizer
    os.makedirs(a.o, exist_ok=True)
    tok = make_bytelevel_tokenizer(os.path.join(a.o, "tokenizer.json"))
    tok.add_special_tokens([AddedToken("<image>", special=True, normalized=False)])
    tok.save(os.path.join(a.o, "tokenizer.json"))
    text = LlamaConfig(hidden_size=a.dim, intermediate_size=a.ffn, num_hidden_layers=a.layers,
                       num_attention_heads=a.heads, vocab_size=a.vocab, max_position_embeddings=4096,
                       bos_token_id=0, eos_token_id=1)
    vision = CLIPVisionConfig(hidden_size=a.vdim, intermediate_size=a.vffn, num_hidden_layers=a.vlayers,
                              num_attention_heads=a.vheads, image_size=a.image, patch_size=a.patch,
                              projection_dim=768)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.token_to_id("<image>"),
                      vision_feature_layer=-2, vision_feature_select_strategy="default",
                      image_seq_length=(a.image // a.patch) ** 2)
    torch.manual_seed(0)
    dt = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[a.dtype]
    with torch.no_grad():
        model = LlavaForConditionalGeneration(cfg).to(dt)
    model.save_pretrained(a.o, safe_serialization=True, max_shard_size="20GB")
    print(f"{a.o}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {a.dtype}")


if __name__ == "__main__":
    main()
