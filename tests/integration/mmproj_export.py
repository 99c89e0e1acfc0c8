"""Writes the vision half of a transformers LlavaForConditionalGeneration as a
llama.cpp "mmproj" GGUF with the `gguf` package, laid out as llama.cpp's
converter (examples/llava/convert_image_encoder_to_gguf.py after
llava_surgery.py) lays it out.  The facts it follows (our own code, written
from them):

- general.architecture "clip"; clip.has_text_encoder false,
  clip.has_vision_encoder true, clip.has_llava_projector true,
  clip.projector_type "mlp", general.file_type 0 (f32) / 1 (f16).
- clip.vision.{image_size, patch_size, embedding_length, feed_forward_length,
  projection_dim, attention.head_count, block_count} as u32,
  clip.vision.attention.layer_norm_epsilon f32, clip.vision.image_mean /
  image_std as f32 arrays, clip.use_gelu (hidden_act == "gelu").
- For LLaVA the converter drops the tower's last layer (LLaVA reads the
  second-to-last hidden state) and writes block_count = layers - 1; the
  post_layernorm and visual_projection are skipped.
- Tensor names: vision_model -> v, embeddings. dropped, patch_embedding ->
  patch_embd, class_embedding -> class_embd, position_embedding ->
  position_embd, pre_layrnorm -> pre_ln, encoder.layers -> blk,
  self_attn.{q,k,v}_proj -> attn_{q,k,v}, self_attn.out_proj -> attn_out,
  layer_norm1/2 -> ln1/2, and (sic) mlp.fc1 -> ffn_down, mlp.fc2 -> ffn_up.
  Projector linear_1 / linear_2 -> mm.0 / mm.2, written first.
- dtypes: the 4-D patch conv is always f16; with f16 output every 2-D
  ".weight" is f16; everything else f32.  Projector 2-D weights are f16 in
  both modes (the projector file is written before the ftype logic).
- Shapes as torch has them; the writer lists dims fastest-first.

`style="new"` writes the variant newer converters produce instead: all layers
kept, clip.vision.feature_layer = [layers - 1] (a hidden-state index), and
fc1 / fc2 named ffn_up / ffn_down.
"""
import numpy as np

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]

_LAYER_PARTS = {
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.out_proj": "attn_out", "layer_norm1": "ln1", "layer_norm2": "ln2",
}


def gguf_name(hf_name, style="legacy"):
    """The mmproj tensor name for a LlavaForConditionalGeneration state-dict key,
    or None when the converter leaves the tensor out."""
    if hf_name.startswith("multi_modal_projector."):
        rest = hf_name[len("multi_modal_projector."):]
        layer, kind = rest.split(".")
        return {"linear_1": "mm.0", "linear_2": "mm.2"}[layer] + "." + kind
    prefix = "vision_tower.vision_model."
    if not hf_name.startswith(prefix):
        return None
    rest = hf_name[len(prefix):]
    fixed = {
        "embeddings.patch_embedding.weight": "v.patch_embd.weight",
        "embeddings.patch_embedding.bias": "v.patch_embd.bias",
        "embeddings.class_embedding": "v.class_embd",
        "embeddings.position_embedding.weight": "v.position_embd.weight",
        "pre_layrnorm.weight": "v.pre_ln.weight", "pre_layrnorm.bias": "v.pre_ln.bias",
    }
    if rest in fixed:
        return fixed[rest]
    if rest.startswith("post_layernorm."):
        return None
    if rest.startswith("encoder.layers."):
        idx, part = rest[len("encoder.layers."):].split(".", 1)
        stem, kind = part.rsplit(".", 1)
        if stem in _LAYER_PARTS:
            new = _LAYER_PARTS[stem]
        elif stem == "mlp.fc1":
            new = "ffn_down" if style == "legacy" else "ffn_up"
        elif stem == "mlp.fc2":
            new = "ffn_up" if style == "legacy" else "ffn_down"
        else:
            raise KeyError(hf_name)
        return f"v.blk.{idx}.{new}.{kind}"
    raise KeyError(hf_name)


def write_mmproj_gguf(model, out_path, ftype="f16", style="legacy", mean=OPENAI_MEAN, std=OPENAI_STD,
                      drop=(), kv_override=None, tensor_override=None):
    """Writes model's vision tower + projector to out_path.  drop: gguf tensor
    names to leave out; kv_override: {key: value or None (leave out)};
    tensor_override: {gguf name: numpy array} (for broken files in tests)."""
    import gguf
    vc = model.config.vision_config
    n_layers = vc.num_hidden_layers
    kv_override = dict(kv_override or {})
    tensor_override = dict(tensor_override or {})
    w = gguf.GGUFWriter(str(out_path), "clip")

    def kv(kind, key, value):
        if key in kv_override:
            value = kv_override.pop(key)
            if value is None:
                return
        getattr(w, kind)(key, value)

    kv("add_bool", "clip.has_text_encoder", False)
    kv("add_bool", "clip.has_vision_encoder", True)
    kv("add_bool", "clip.has_llava_projector", True)
    w.add_file_type(0 if ftype == "f32" else 1)
    w.add_name("iris-test-llava-mmproj")
    w.add_description("image encoder for LLaVA")
    kv("add_string", "clip.projector_type", "mlp")
    kv("add_uint32", "clip.vision.image_size", vc.image_size)
    kv("add_uint32", "clip.vision.patch_size", vc.patch_size)
    kv("add_uint32", "clip.vision.embedding_length", vc.hidden_size)
    kv("add_uint32", "clip.vision.feed_forward_length", vc.intermediate_size)
    kv("add_uint32", "clip.vision.projection_dim", vc.projection_dim)
    kv("add_uint32", "clip.vision.attention.head_count", vc.num_attention_heads)
    kv("add_float32", "clip.vision.attention.layer_norm_epsilon", vc.layer_norm_eps)
    kept = n_layers - 1 if style == "legacy" else n_layers
    kv("add_uint32", "clip.vision.block_count", kept)
    if style == "new":
        kv("add_array", "clip.vision.feature_layer", [n_layers - 1])
    kv("add_array", "clip.vision.image_mean", list(mean))
    kv("add_array", "clip.vision.image_std", list(std))
    kv("add_bool", "clip.use_gelu", vc.hidden_act == "gelu")
    for key, value in kv_override.items():   # extra keys the caller wants
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
        else:
            w.add_uint32(key, value)

    sd = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    proj = [(k, v) for k, v in sd.items() if k.startswith("multi_modal_projector.")]
    tower = [(k, v) for k, v in sd.items() if k.startswith("vision_tower.")]

    def put(name, arr):
        if name in drop:
            return
        arr = tensor_override.pop(name, arr)
        w.add_tensor(name, np.ascontiguousarray(arr))

    for k, v in proj:
        name = gguf_name(k, style)
        put(name, v.astype(np.float16 if v.ndim == 2 else np.float32))
    for k, v in tower:
        name = gguf_name(k, style)
        if name is None:
            continue
        if name.startswith("v.blk.") and int(name.split(".")[2]) >= kept:
            continue   # the layer LLaVA never reads
        v = np.squeeze(v)
        if v.ndim == 4:
            v = v.astype(np.float16)
        elif ftype == "f16" and name.endswith(".weight") and v.ndim == 2:
            v = v.astype(np.float16)
        else:
            v = v.astype(np.float32)
        put(name, v)
    for name, arr in tensor_override.items():   # extra tensors
        w.add_tensor(name, np.ascontiguousarray(arr))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
