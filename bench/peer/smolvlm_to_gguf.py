#!/usr/bin/python3
"""Convert a SmolVLM (Idefics3) checkpoint directory into the two GGUF files llama.cpp runs.

    PYTHONPATH=LLAMA_CPP_SRC/gguf-py /usr/bin/python3 smolvlm_to_gguf.py MODEL_DIR OUT_DIR [--dtype f32|bf16]

MODEL_DIR is what `smolvid debug random-checkpoint` (or a Hugging Face download) writes: config.json,
tokenizer.json, preprocessor_config.json, generation_config.json, chat_template.json and
model.safetensors (or shards + index). Writes OUT_DIR/text-DTYPE.gguf (llama architecture) and
OUT_DIR/mmproj-DTYPE.gguf (clip, projector type idefics3).

Why our own: llama.cpp's convert_hf_to_gguf.py imports torch and transformers (not installable here).
This script needs only numpy and llama.cpp's gguf-py; it writes the same names and keys:
- tensor names come from gguf-py's own TensorNameMap (the table convert_hf_to_gguf.py uses);
- attn_q / attn_k weights are permuted from the Hugging Face rotary layout (rotate_half: the two halves
  of each head) to llama.cpp's interleaved layout, exactly like convert_hf_to_gguf.py's
  LlamaModel.permute (LLM_ARCH_LLAMA applies rope in "normal" mode on adjacent pairs);
- mmproj: the keys that tools/mtmd/clip.cpp reads for PROJECTOR_TYPE_IDEFICS3 (scale factor,
  preprocessor longest edge, gelu, image mean/std), the patch and position embeddings kept in f32 as
  SmolVLMModel.tensor_force_quant does.
q8_0 is made from the bf16 file with llama.cpp's own llama-quantize (bench/peer/llamacpp.sh).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("smolvlm_to_gguf: cannot import gguf: put LLAMA_CPP_SRC/gguf-py on PYTHONPATH")


def fail(msg):
    sys.exit(f"smolvlm_to_gguf: {msg}")


class Safetensors:
    """Reads tensors (F32, BF16, F16) of one model directory lazily, as numpy arrays."""

    def __init__(self, model_dir):
        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            files = sorted(set(json.load(open(index))["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        self.where = {}
        for f in files:
            path = os.path.join(model_dir, f)
            if not os.path.exists(path):
                fail(f"{path}: missing weight file")
            with open(path, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(n))
            header.pop("__metadata__", None)
            mm = np.memmap(path, dtype=np.uint8, mode="r")
            for name, info in header.items():
                self.where[name] = (mm, 8 + n, info)

    def names(self):
        return list(self.where)

    def raw(self, name):
        """(array, kind): kind 'bf16' gives the raw uint16 bits, else float32/float16 values."""
        mm, base, info = self.where[name]
        a, b = info["data_offsets"]
        buf = mm[base + a:base + b]
        shape = info["shape"]
        if info["dtype"] == "BF16":
            return buf.view(np.uint16).reshape(shape), "bf16"
        if info["dtype"] == "F32":
            return buf.view(np.float32).reshape(shape), "f32"
        if info["dtype"] == "F16":
            return buf.view(np.float16).reshape(shape), "f16"
        fail(f"tensor {name}: dtype {info['dtype']} not supported")

    def f32(self, name):
        a, kind = self.raw(name)
        if kind == "bf16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32)


def permute(w, n_head, n_head_kv):
    """HF rotate_half layout -> llama.cpp's pairwise rope layout (convert_hf_to_gguf.py LlamaModel.permute)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def add(writer, st, hf_name, gguf_name, dtype, force_f32=False, transform=None):
    """Writes one tensor in `dtype` (f32 or bf16); 1-D tensors (norms, biases) stay f32 like llama.cpp's convert."""
    arr, kind = st.raw(hf_name)
    keep_f32 = force_f32 or arr.ndim <= 1 or dtype == "f32"
    if transform is not None:
        arr = transform(arr)  # a pure reshuffle: works on raw bf16 bits as on floats
    if keep_f32:
        data = (arr.astype(np.uint32) << 16).view(np.float32) if kind == "bf16" else arr.astype(np.float32)
        writer.add_tensor(gguf_name, np.ascontiguousarray(data))
    elif kind == "bf16":
        u8 = np.ascontiguousarray(arr).view(np.uint8)
        writer.add_tensor(gguf_name, u8, raw_dtype=gguf.GGMLQuantizationType.BF16)
    else:
        q = gguf.quants.quantize(np.ascontiguousarray(arr.astype(np.float32)), gguf.GGMLQuantizationType.BF16)
        writer.add_tensor(gguf_name, q, raw_dtype=gguf.GGMLQuantizationType.BF16)


def ftype_of(dtype):
    return gguf.LlamaFileType.MOSTLY_BF16 if dtype == "bf16" else gguf.LlamaFileType.ALL_F32


def write_text(model_dir, st, cfg, out, dtype):
    tc = cfg["text_config"]
    n_layer, n_head = tc["num_hidden_layers"], tc["num_attention_heads"]
    n_kv = tc.get("num_key_value_heads", n_head)
    w = gguf.GGUFWriter(out, "llama")
    w.add_name("SmolVLM text model (smolvid bench/peer)")
    w.add_file_type(ftype_of(dtype))
    w.add_context_length(tc.get("max_position_embeddings", 8192))
    w.add_embedding_length(tc["hidden_size"])
    w.add_block_count(n_layer)
    w.add_feed_forward_length(tc["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(float(tc.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(tc.get("rms_norm_eps", 1e-5)))
    head_dim = tc.get("head_dim", tc["hidden_size"] // n_head)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(tc["vocab_size"])

    # Vocabulary: byte-level BPE (gpt2) from tokenizer.json, as convert_hf_to_gguf.py's _set_vocab_gpt2.
    tok_path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(tok_path):
        fail(f"{tok_path}: missing (the vocabulary comes from it)")
    tok = json.load(open(tok_path, encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    added = {t["id"]: t for t in tok.get("added_tokens", [])}
    n_vocab = tc["vocab_size"]
    by_id = {i: s for s, i in vocab.items()}
    for i, t in added.items():
        by_id[i] = t["content"]
    tokens, types = [], []
    for i in range(n_vocab):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    merges = tok["model"].get("merges", [])
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")  # SmolLM's pre-tokenizer (llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    gen = {}
    gp = os.path.join(model_dir, "generation_config.json")
    if os.path.exists(gp):
        gen = json.load(open(gp))
    bos = tc.get("bos_token_id", gen.get("bos_token_id"))
    eos = gen.get("eos_token_id", tc.get("eos_token_id"))
    if isinstance(eos, list):
        eos = eos[0]
    if bos is not None:
        w.add_bos_token_id(int(bos))
    if eos is not None:
        w.add_eos_token_id(int(eos))
    pad = gen.get("pad_token_id", tc.get("pad_token_id"))
    if pad is not None:
        w.add_pad_token_id(int(pad))
    w.add_add_bos_token(False)  # the chat template writes <|im_start|> itself
    ct = os.path.join(model_dir, "chat_template.json")
    if os.path.exists(ct):
        w.add_chat_template(json.load(open(ct))["chat_template"])

    # Tensors (names as gguf-py's TensorNameMap gives for the llama architecture).
    pre = "model.text_model."
    tmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    written = 0
    for name in st.names():
        if name == "lm_head.weight":
            add(w, st, name, "output.weight", dtype)
            written += 1
            continue
        if not name.startswith(pre):
            continue
        hf = "model." + name[len(pre):]
        new = tmap.get_name(hf, try_suffixes=(".weight", ".bias"))
        if new is None:
            fail(f"tensor {name}: no llama.cpp name for it")
        transform = None
        if name.endswith("self_attn.q_proj.weight"):
            transform = lambda a: permute(a, n_head, n_head)
        elif name.endswith("self_attn.k_proj.weight"):
            transform = lambda a: permute(a, n_head, n_kv)
        add(w, st, name, new, dtype, force_f32=new.endswith("_norm.weight"), transform=transform)
        written += 1
    if written != 2 + 9 * n_layer + 1:
        fail(f"{model_dir}: wrote {written} text tensors, expected {2 + 9 * n_layer + 1} (is it a SmolVLM checkpoint?)")
    finish(w)


def write_mmproj(model_dir, st, cfg, out, dtype):
    vc = cfg["vision_config"]
    tc = cfg["text_config"]
    pp = {}
    ppath = os.path.join(model_dir, "preprocessor_config.json")
    if os.path.exists(ppath):
        pp = json.load(open(ppath))
    n_layer = vc["num_hidden_layers"]
    w = gguf.GGUFWriter(out, "clip")
    w.add_type(gguf.GGUFType.MMPROJ)
    w.add_name("SmolVLM vision encoder and projector (smolvid bench/peer)")
    w.add_file_type(ftype_of(dtype))
    w.add_clip_has_vision_encoder(True)
    w.add_vision_projection_dim(tc["hidden_size"])
    w.add_vision_image_size(vc["image_size"])
    w.add_vision_patch_size(vc["patch_size"])
    w.add_vision_embedding_length(vc["hidden_size"])
    w.add_vision_feed_forward_length(vc["intermediate_size"])
    w.add_vision_block_count(n_layer)
    w.add_vision_head_count(vc["num_attention_heads"])
    w.add_vision_image_mean(pp.get("image_mean", [0.5, 0.5, 0.5]))
    w.add_vision_image_std(pp.get("image_std", [0.5, 0.5, 0.5]))
    w.add_clip_projector_type(gguf.VisionProjectorType.IDEFICS3)
    w.add_vision_attention_layernorm_eps(float(vc.get("layer_norm_eps", 1e-5)))
    w.add_vision_projector_scale_factor(int(cfg.get("scale_factor", 2)))
    w.add_vision_use_gelu(True)
    w.add_vision_preproc_image_size(int(pp.get("size", {}).get("longest_edge", vc["image_size"])))

    vmap = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, n_layer)
    written = 0
    for name in st.names():
        if not (name.startswith("model.vision_model.") or name.startswith("model.connector.")):
            continue
        new = vmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            fail(f"tensor {name}: no llama.cpp name for it")
        add(w, st, name, new, dtype, force_f32=".embeddings." in name)
        written += 1
    if written != 6 + 16 * n_layer:
        fail(f"{model_dir}: wrote {written} vision tensors, expected {6 + 16 * n_layer}")
    finish(w)


def finish(w):
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    ap = argparse.ArgumentParser(description="SmolVLM (Idefics3) checkpoint -> llama.cpp GGUF (text model + mmproj)")
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--dtype", choices=["f32", "bf16"], default="bf16")
    a = ap.parse_args()
    cp = os.path.join(a.model_dir, "config.json")
    if not os.path.exists(cp):
        fail(f"{cp}: missing (not a model directory)")
    cfg = json.load(open(cp))
    if cfg.get("model_type") not in ("idefics3", "smolvlm"):
        fail(f"{cp}: model_type {cfg.get('model_type')!r}, expected idefics3 or smolvlm")
    st = Safetensors(a.model_dir)
    os.makedirs(a.out_dir, exist_ok=True)
    text = os.path.join(a.out_dir, f"text-{a.dtype}.gguf")
    mmproj = os.path.join(a.out_dir, f"mmproj-{a.dtype}.gguf")
    write_text(a.model_dir, st, cfg, text, a.dtype)
    write_mmproj(a.model_dir, st, cfg, mmproj, a.dtype)
    print(f"wrote {text} and {mmproj}")


if __name__ == "__main__":
    main()
