"""Random LLaMA-family checkpoints for the integration tests.

Builds a tokenizer with the `tokenizers` library and a model with transformers'
own classes on fresh random weights, saves them in Hugging Face layout, and
computes transformers' logits for a prompt, so iris can be compared with the
implementation users already trust.
"""
import json
import os
import subprocess

import numpy as np
import torch

CORPUS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "What color is the triangle? The triangle is red.",
    "A chat between a curious user and an artificial intelligence assistant.",
    "USER: <image>\nWhat can be seen in the image? ASSISTANT: a blue circle and a green square",
    "0123456789 numbers 42 and 1.5e3; punctuation!?",
    "Ünïcödé — naïve café, 東京, привет, 😀",
]


def iris_bin():
    return os.environ.get("IRIS_BIN", "bin/iris")


def run_iris(args, check=True, timeout=300, env=None):
    # Decoded here rather than with text=True: Python's universal newlines
    # would turn a '\r' that a random model generates into '\n' (a CI seed
    # did), and the tests compare iris's bytes with the reference's text.
    p = subprocess.run([iris_bin()] + args, capture_output=True, timeout=timeout, env=env)
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    if check and p.returncode != 0:
        raise AssertionError(f"iris {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def make_bytelevel_tokenizer(path, vocab_size=320):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS * 4, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    tok.save(str(path))
    return tok


def randomize_(model, seed, std=0.08):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and "norm" in name:
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def build_config(arch, vocab, **over):
    from transformers import GemmaConfig, LlamaConfig, Qwen2Config
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-5, bos_token_id=0, eos_token_id=1)
    common.update(over)
    if arch == "llama":
        return LlamaConfig(**common)
    if arch == "gemma":
        common.setdefault("head_dim", 32)
        common["num_key_value_heads"] = over.get("num_key_value_heads", 1)
        return GemmaConfig(hidden_activation="gelu_pytorch_tanh", **common)
    if arch == "qwen2":
        common.setdefault("rope_theta", 1000000.0)
        return Qwen2Config(**common)
    raise ValueError(arch)


def build_model(arch, tmp_path, seed=0, dtype=torch.float32, **over):
    """Saves a random model + tokenizer in tmp_path; returns (model, tokenizer)."""
    from transformers import AutoModelForCausalLM
    tok = make_bytelevel_tokenizer(tmp_path / "tokenizer.json")
    cfg = build_config(arch, tok.get_vocab_size(), **over)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    randomize_(model, seed)
    if dtype != torch.float32:
        model = model.to(dtype)
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    return model, tok


def hf_last_logits(model, ids):
    with torch.no_grad():
        out = model(torch.tensor([ids]))
    return out.logits[0, -1].float().numpy()


def read_f32(path):
    return np.fromfile(path, dtype="<f4")


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))
