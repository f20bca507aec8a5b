#!/usr/bin/python3
"""Writes a umt5-small-shaped checkpoint with random weights, for speed measurements only (its output is noise).

    /usr/bin/python3 bench/make_random_checkpoint.py [DIR] [--format safetensors|bin|both] [--seed N]

DIR defaults to /tmp/umt5-small-random. The shapes are google/umt5-small's: d_model 512, 8 encoder and 8 decoder
layers, 6 heads of 64, gated-gelu feed-forward of 1024, vocabulary 256384, untied lm_head; about 1.2 GB in F32, so
it is generated, never committed. The tokenizer is the embedded demo model's spiece.model (16000 pieces; the
larger vocabulary in config.json is allowed). Weights are normal with std 0.05 and layer norms are 1, which keeps
activations finite and of ordinary size.
"""
import argparse
import collections
import json
import os
import shutil
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from make_fixtures import write_safetensors  # noqa: E402

TOKENIZER = os.path.join(ROOT, "resources", "models", "demo-umt5", "spiece.model")

# google/umt5-small's config.json, without model_type (the loader defaults to umt5).
CONFIG = {
    "architectures": ["UMT5ForConditionalGeneration"],
    "d_ff": 1024,
    "d_kv": 64,
    "d_model": 512,
    "decoder_start_token_id": 0,
    "dense_act_fn": "gelu_new",
    "dropout_rate": 0.0,
    "eos_token_id": 1,
    "feed_forward_proj": "gated-gelu",
    "is_encoder_decoder": True,
    "is_gated_act": True,
    "layer_norm_epsilon": 1e-06,
    "num_decoder_layers": 8,
    "num_heads": 6,
    "num_layers": 8,
    "pad_token_id": 0,
    "relative_attention_max_distance": 128,
    "relative_attention_num_buckets": 32,
    "tie_word_embeddings": False,
    "vocab_size": 256384,
}
STD = 0.05


def random_weights(seed):
    g = torch.Generator().manual_seed(seed)
    c = CONFIG
    d, inner, ff, heads = c["d_model"], c["num_heads"] * c["d_kv"], c["d_ff"], c["num_heads"]
    w = collections.OrderedDict()

    def normal(name, *shape):
        w[name] = torch.randn(*shape, generator=g) * STD

    def attention(prefix, with_bias):
        normal(prefix + "q.weight", inner, d)
        normal(prefix + "k.weight", inner, d)
        normal(prefix + "v.weight", inner, d)
        normal(prefix + "o.weight", d, inner)
        if with_bias:
            normal(prefix + "relative_attention_bias.weight", c["relative_attention_num_buckets"], heads)

    def feed_forward(prefix):
        normal(prefix + "wi_0.weight", ff, d)
        normal(prefix + "wi_1.weight", ff, d)
        normal(prefix + "wo.weight", d, ff)

    def norm(name):
        w[name] = torch.ones(d)

    normal("shared.weight", c["vocab_size"], d)
    for i in range(c["num_layers"]):
        p = f"encoder.block.{i}.layer."
        attention(p + "0.SelfAttention.", True)  # umT5: every layer has its own position bias
        norm(p + "0.layer_norm.weight")
        feed_forward(p + "1.DenseReluDense.")
        norm(p + "1.layer_norm.weight")
    norm("encoder.final_layer_norm.weight")
    for i in range(c["num_decoder_layers"]):
        p = f"decoder.block.{i}.layer."
        attention(p + "0.SelfAttention.", True)
        norm(p + "0.layer_norm.weight")
        attention(p + "1.EncDecAttention.", False)
        norm(p + "1.layer_norm.weight")
        feed_forward(p + "2.DenseReluDense.")
        norm(p + "2.layer_norm.weight")
    norm("decoder.final_layer_norm.weight")
    normal("lm_head.weight", c["vocab_size"], d)
    return w


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", nargs="?", default="/tmp/umt5-small-random")
    parser.add_argument("--format", choices=["safetensors", "bin", "both"], default="safetensors",
                        help="model.safetensors, pytorch_model.bin (torch.save) or both (the loader prefers "
                             "safetensors)")
    parser.add_argument("--seed", type=int, default=20240612)
    args = parser.parse_args()

    w = random_weights(args.seed)
    os.makedirs(args.dir, exist_ok=True)
    for stale in ("model.safetensors", "pytorch_model.bin"):
        if os.path.exists(os.path.join(args.dir, stale)):
            os.remove(os.path.join(args.dir, stale))
    with open(os.path.join(args.dir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.copyfile(TOKENIZER, os.path.join(args.dir, "spiece.model"))
    if args.format in ("safetensors", "both"):
        write_safetensors(os.path.join(args.dir, "model.safetensors"), w)
    if args.format in ("bin", "both"):
        torch.save(w, os.path.join(args.dir, "pytorch_model.bin"))
    parameters = sum(t.numel() for t in w.values())
    print(json.dumps({"dir": args.dir, "parameters": parameters, "f32_bytes": parameters * 4,
                      "format": args.format}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
