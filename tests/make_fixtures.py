#!/usr/bin/python3
"""Generates the extra checkpoint fixtures in tests/data/ (run with Debian's /usr/bin/python3, which has torch).

umt5-tiny-b/          untied umT5 with inner_dim != d_model, stored as pytorch_model.bin (torch.save), plus
                      reference.safetensors computed by the plain PyTorch forward below
umt5-tiny-b-bf16/     the same weights as one BF16 model.safetensors
umt5-tiny-b-sharded/  the same weights as two BF16 safetensors shards + model.safetensors.index.json

The weights are rounded to BF16-representable values first, so all three copies hold exactly the same numbers
and the reference applies to each. The reference forward is checked against umt5-tiny-a's Hugging Face
reference before anything is written. Output is deterministic (fixed seed, sorted headers).
"""
import collections
import json
import math
import os
import shutil
import struct
import sys

import sentencepiece
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
TINY_A = os.path.join(DATA, "umt5-tiny-a")

TINY_B_CONFIG = {
    "architectures": ["UMT5ForConditionalGeneration"],
    "d_ff": 80,
    "d_kv": 8,
    "d_model": 48,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "num_decoder_layers": 2,
    "num_heads": 5,
    "num_layers": 3,
    "pad_token_id": 0,
    "relative_attention_max_distance": 64,
    "relative_attention_num_buckets": 16,
    "tie_word_embeddings": False,
    "vocab_size": 3072,
}
TINY_B_PROMPTS = [
    "translate English to German: The house is wonderful.",
    "Wie spät ist es? 今日は良い天気です。",
]
DECODER_LENGTH = 40
GREEDY_TOKENS = 20


# ---------------------------------------------------------------------------------------------------------------
# safetensors without the safetensors package: 8-byte little-endian header length, JSON header, raw data.

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
               torch.int64: "I64"}
NAME_DTYPES = {v: k for k, v in DTYPE_NAMES.items()}


def tensor_bytes(t):
    t = t.contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: go through the raw 16-bit pattern
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    base = 8 + length
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = NAME_DTYPES[entry["dtype"]]
        chunk = bytearray(raw[base + begin:base + end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(chunk, dtype=dtype)
        out[name] = t.reshape(entry["shape"]).clone()
    return out


# ---------------------------------------------------------------------------------------------------------------
# A plain umT5 forward (Hugging Face UMT5ForConditionalGeneration semantics, inference only).

class Config:
    def __init__(self, d):
        self.vocab_size = d["vocab_size"]
        self.d_model = d["d_model"]
        self.d_kv = d["d_kv"]
        self.num_heads = d["num_heads"]
        self.num_layers = d["num_layers"]
        self.num_decoder_layers = d.get("num_decoder_layers", d["num_layers"])
        self.num_buckets = d.get("relative_attention_num_buckets", 32)
        self.max_distance = d.get("relative_attention_max_distance", 128)
        self.eps = d.get("layer_norm_epsilon", 1e-6)
        self.tied = d.get("tie_word_embeddings", True)


def rms_norm(x, weight, eps):
    variance = x.to(torch.float32).pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def relative_position_bucket(relative_position, bidirectional, num_buckets, max_distance):
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    log_ratio = torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact)
    if_large = max_exact + (log_ratio * (num_buckets - max_exact)).to(torch.long)
    if_large = torch.min(if_large, torch.full_like(if_large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, if_large)


def position_bias(w, prefix, cfg, length, bidirectional):
    context = torch.arange(length, dtype=torch.long)[:, None]
    memory = torch.arange(length, dtype=torch.long)[None, :]
    buckets = relative_position_bucket(memory - context, bidirectional, cfg.num_buckets, cfg.max_distance)
    bias = w[prefix + "relative_attention_bias.weight"][buckets]  # [q, k, heads]
    return bias.permute(2, 0, 1)  # [heads, q, k]


def attention(w, prefix, cfg, x, memory, bias):
    heads, d_kv = cfg.num_heads, cfg.d_kv
    q = (x @ w[prefix + "q.weight"].T).view(-1, heads, d_kv).transpose(0, 1)
    k = (memory @ w[prefix + "k.weight"].T).view(-1, heads, d_kv).transpose(0, 1)
    v = (memory @ w[prefix + "v.weight"].T).view(-1, heads, d_kv).transpose(0, 1)
    scores = q @ k.transpose(1, 2)  # no 1/sqrt(d_kv) in T5
    if bias is not None:
        scores = scores + bias
    probs = torch.softmax(scores.float(), dim=-1)
    out = (probs @ v).transpose(0, 1).reshape(-1, heads * d_kv)
    return out @ w[prefix + "o.weight"].T


def feed_forward(w, prefix, x):
    gate = gelu_tanh(x @ w[prefix + "wi_0.weight"].T)
    return (gate * (x @ w[prefix + "wi_1.weight"].T)) @ w[prefix + "wo.weight"].T


def encode(w, cfg, ids):
    h = w["shared.weight"][torch.tensor(ids, dtype=torch.long)]
    for i in range(cfg.num_layers):
        p = f"encoder.block.{i}.layer."
        bias = position_bias(w, p + "0.SelfAttention.", cfg, h.shape[0], bidirectional=True)
        h = h + attention(w, p + "0.SelfAttention.", cfg, rms_norm(h, w[p + "0.layer_norm.weight"], cfg.eps), 
                          rms_norm(h, w[p + "0.layer_norm.weight"], cfg.eps), bias)
        h = h + feed_forward(w, p + "1.DenseReluDense.", rms_norm(h, w[p + "1.layer_norm.weight"], cfg.eps))
    return rms_norm(h, w["encoder.final_layer_norm.weight"], cfg.eps)


def decode(w, cfg, encoder_hidden, ids):
    """Logits [len(ids), vocab]: row t predicts the token after ids[:t + 1]."""
    h = w["shared.weight"][torch.tensor(ids, dtype=torch.long)]
    n = h.shape[0]
    causal = torch.triu(torch.full((n, n), torch.finfo(torch.float32).min), diagonal=1)
    for i in range(cfg.num_decoder_layers):
        p = f"decoder.block.{i}.layer."
        bias = position_bias(w, p + "0.SelfAttention.", cfg, n, bidirectional=False) + causal
        normed = rms_norm(h, w[p + "0.layer_norm.weight"], cfg.eps)
        h = h + attention(w, p + "0.SelfAttention.", cfg, normed, normed, bias)
        normed = rms_norm(h, w[p + "1.layer_norm.weight"], cfg.eps)
        h = h + attention(w, p + "1.EncDecAttention.", cfg, normed, encoder_hidden, None)
        h = h + feed_forward(w, p + "2.DenseReluDense.", rms_norm(h, w[p + "2.layer_norm.weight"], cfg.eps))
    h = rms_norm(h, w["decoder.final_layer_norm.weight"], cfg.eps)
    if cfg.tied:
        return (h * cfg.d_model ** -0.5) @ w["shared.weight"].T
    return h @ w["lm_head.weight"].T


def greedy(w, cfg, encoder_hidden, count, eos=1):
    ids = [0]
    for _ in range(count):
        ids.append(int(decode(w, cfg, encoder_hidden, ids)[-1].argmax()))
        if ids[-1] == eos:
            break
    return ids[1:]


# ---------------------------------------------------------------------------------------------------------------

def check_reference_against_tiny_a():
    """The forward above must reproduce the Hugging Face reference of umt5-tiny-a."""
    with open(os.path.join(TINY_A, "config.json")) as f:
        cfg = Config(json.load(f))
    w = read_safetensors(os.path.join(TINY_A, "model.safetensors"))
    ref = read_safetensors(os.path.join(TINY_A, "reference.safetensors"))
    with open(os.path.join(TINY_A, "reference.json")) as f:
        ref_json = json.load(f)
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(TINY_A, "spiece.model"))
    worst = 0.0
    for b, ids in enumerate(ref_json["input_ids"]):
        assert sp.encode(ref_json["texts"][b]) + [1] == ids, "tokenizer mismatch on tiny-a prompt %d" % b
        with torch.no_grad():
            hidden = encode(w, cfg, ids)
            worst = max(worst, float((hidden - ref["encoder_hidden"][b, :len(ids)]).abs().max()))
            generated = ref["generated_ids"][b].tolist()
            logits = decode(w, cfg, hidden, generated)
            worst = max(worst, float((logits - ref["greedy_logits"][b]).abs().max()))
            long_ids = ref["long_decoder_input_ids"][b].tolist()
            worst = max(worst, float((decode(w, cfg, hidden, long_ids) - ref["long_logits"][b]).abs().max()))
    assert worst < 1e-4, "reference forward disagrees with tiny-a's Hugging Face reference: %g" % worst
    print("reference forward matches umt5-tiny-a (max abs diff %.3g)" % worst)


def make_tiny_b_weights(cfg):
    """Random weights with varied scales, rounded to BF16-representable values."""
    g = torch.Generator().manual_seed(20240611)

    def normal(*shape, scale):
        return torch.randn(*shape, generator=g) * scale

    d, inner, ff = cfg.d_model, cfg.num_heads * cfg.d_kv, TINY_B_CONFIG["d_ff"]
    w = collections.OrderedDict()
    w["shared.weight"] = normal(cfg.vocab_size, d, scale=1.0)

    def attention_weights(prefix, with_bias):
        w[prefix + "q.weight"] = normal(inner, d, scale=0.5 / math.sqrt(d))
        w[prefix + "k.weight"] = normal(inner, d, scale=2.0 / math.sqrt(d))
        w[prefix + "v.weight"] = normal(inner, d, scale=1.0 / math.sqrt(d))
        w[prefix + "o.weight"] = normal(d, inner, scale=1.0 / math.sqrt(inner))
        if with_bias:
            w[prefix + "relative_attention_bias.weight"] = normal(cfg.num_buckets, cfg.num_heads, scale=0.5)

    def norm_weight(name):
        w[name] = 1.0 + normal(d, scale=0.2)

    def ff_weights(prefix):
        w[prefix + "wi_0.weight"] = normal(ff, d, scale=1.0 / math.sqrt(d))
        w[prefix + "wi_1.weight"] = normal(ff, d, scale=1.0 / math.sqrt(d))
        w[prefix + "wo.weight"] = normal(d, ff, scale=0.5 / math.sqrt(ff))

    for i in range(cfg.num_layers):
        p = f"encoder.block.{i}.layer."
        attention_weights(p + "0.SelfAttention.", True)
        norm_weight(p + "0.layer_norm.weight")
        ff_weights(p + "1.DenseReluDense.")
        norm_weight(p + "1.layer_norm.weight")
    norm_weight("encoder.final_layer_norm.weight")
    for i in range(cfg.num_decoder_layers):
        p = f"decoder.block.{i}.layer."
        attention_weights(p + "0.SelfAttention.", True)
        norm_weight(p + "0.layer_norm.weight")
        attention_weights(p + "1.EncDecAttention.", False)
        norm_weight(p + "1.layer_norm.weight")
        ff_weights(p + "2.DenseReluDense.")
        norm_weight(p + "2.layer_norm.weight")
    norm_weight("decoder.final_layer_norm.weight")
    w["lm_head.weight"] = normal(cfg.vocab_size, d, scale=1.0 / math.sqrt(d))
    for name in w:
        w[name] = w[name].to(torch.bfloat16).to(torch.float32).contiguous()
    return w


def fresh_dir(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


def write_config(directory):
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(TINY_B_CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")


def make_tiny_b():
    cfg = Config(TINY_B_CONFIG)
    w = make_tiny_b_weights(cfg)

    tiny_b = os.path.join(DATA, "umt5-tiny-b")
    fresh_dir(tiny_b)
    write_config(tiny_b)
    shutil.copyfile(os.path.join(TINY_A, "spiece.model"), os.path.join(tiny_b, "spiece.model"))
    state_dict = collections.OrderedDict(w)
    state_dict._metadata = collections.OrderedDict([("", {"version": 1})])  # like nn.Module.state_dict()
    torch.save(state_dict, os.path.join(tiny_b, "pytorch_model.bin"))

    bf16 = {name: t.to(torch.bfloat16) for name, t in w.items()}
    bf16_dir = os.path.join(DATA, "umt5-tiny-b-bf16")
    fresh_dir(bf16_dir)
    write_config(bf16_dir)
    write_safetensors(os.path.join(bf16_dir, "model.safetensors"), bf16)

    sharded = os.path.join(DATA, "umt5-tiny-b-sharded")
    fresh_dir(sharded)
    write_config(sharded)
    names = sorted(bf16)
    shards = {"model-00001-of-00002.safetensors": [n for n in names if n.startswith("decoder.")],
              "model-00002-of-00002.safetensors": [n for n in names if not n.startswith("decoder.")]}
    weight_map = {}
    total = 0
    for shard, shard_names in shards.items():
        write_safetensors(os.path.join(sharded, shard), {n: bf16[n] for n in shard_names})
        for n in shard_names:
            weight_map[n] = shard
            total += bf16[n].numel() * 2
    with open(os.path.join(sharded, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
        f.write("\n")

    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(TINY_A, "spiece.model"))
    g = torch.Generator().manual_seed(7)
    reference = {}
    with torch.no_grad():
        for b, text in enumerate(TINY_B_PROMPTS):
            ids = sp.encode(text) + [1]
            hidden = encode(w, cfg, ids)
            decoder_ids = [0] + torch.randint(2, cfg.vocab_size, (DECODER_LENGTH - 1,), generator=g).tolist()
            logits = decode(w, cfg, hidden, decoder_ids)
            generated = greedy(w, cfg, hidden, GREEDY_TOKENS)
            print("tiny-b prompt %d: %d input ids, generated %s" % (b, len(ids), generated))
            assert len(set(generated)) > 3, "greedy output is too repetitive to be a useful test"
            reference[f"input_ids_{b}"] = torch.tensor(ids, dtype=torch.int32)
            reference[f"encoder_hidden_{b}"] = hidden.contiguous()
            reference[f"decoder_ids_{b}"] = torch.tensor(decoder_ids, dtype=torch.int32)
            reference[f"logits_{b}"] = logits.contiguous()
            reference[f"generated_ids_{b}"] = torch.tensor(generated, dtype=torch.int32)
    write_safetensors(os.path.join(tiny_b, "reference.safetensors"), reference)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    check_reference_against_tiny_a()
    make_tiny_b()
    return 0


if __name__ == "__main__":
    sys.exit(main())
