#!/usr/bin/python3
"""PyTorch eager umT5 decoding speed, the baseline for `umt5 bench` (run with Debian's /usr/bin/python3).

    /usr/bin/python3 bench/pytorch_eager.py --model DIR --prompt TEXT --new-tokens N [--repeat R] [--threads T]
                                            [--no-cache-too]

Loads the same Hugging Face checkpoint (model.safetensors or pytorch_model.bin, F32) and forces N greedy tokens
(eos ignored) with a KV cache: the reference forward of tests/make_fixtures.py (checked there against Hugging
Face), plus a cached one-token decoder step. With --no-cache-too it also times the uncached mode the way `umt5
bench` does it (whole-prefix decoder recompute, cross-attention K/V included, last-position projection only).
Runs alternate between modes; statistics are medians over --repeat runs, after one short untimed warm-up per
mode. Prints one JSON object shaped like `umt5 bench --json`.
"""
import argparse
import json
import os
import statistics
import sys
import time

import sentencepiece
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from make_fixtures import (Config, attention, encode, feed_forward, read_safetensors,  # noqa: E402
                           relative_position_bucket, rms_norm)


def load(directory):
    with open(os.path.join(directory, "config.json")) as f:
        raw = json.load(f)
    safetensors = os.path.join(directory, "model.safetensors")
    if os.path.exists(safetensors):
        w = read_safetensors(safetensors)
    else:
        w = torch.load(os.path.join(directory, "pytorch_model.bin"), map_location="cpu")
    w = {name: t.float().contiguous() for name, t in w.items()}
    cfg = Config(raw)
    cfg.tied = raw.get("tie_word_embeddings", True) and "lm_head.weight" not in w
    cfg.start_id = raw.get("decoder_start_token_id", 0)
    tokenizer = sentencepiece.SentencePieceProcessor(model_file=os.path.join(directory, "spiece.model"))
    return w, cfg, tokenizer


def project(w, cfg, h):
    """Logits of the rows of h (after the final norm)."""
    h = rms_norm(h, w["decoder.final_layer_norm.weight"], cfg.eps)
    if cfg.tied:
        return (h * cfg.d_model ** -0.5) @ w["shared.weight"].T
    return h @ w["lm_head.weight"].T


class CachedDecoder:
    """One token per step: self-attention K/V appended to preallocated per-layer buffers, cross-attention K/V
    computed once from the encoder output, the position bias of every distance gathered once per layer."""

    def __init__(self, w, cfg, encoder_hidden, capacity):
        self.w, self.cfg = w, cfg
        heads, d_kv = cfg.num_heads, cfg.d_kv
        self.keys = [torch.empty(heads, capacity, d_kv) for _ in range(cfg.num_decoder_layers)]
        self.values = [torch.empty(heads, capacity, d_kv) for _ in range(cfg.num_decoder_layers)]
        self.cross = []
        for i in range(cfg.num_decoder_layers):
            p = f"decoder.block.{i}.layer.1.EncDecAttention."
            k = (encoder_hidden @ w[p + "k.weight"].T).view(-1, heads, d_kv).transpose(0, 1).contiguous()
            v = (encoder_hidden @ w[p + "v.weight"].T).view(-1, heads, d_kv).transpose(0, 1).contiguous()
            self.cross.append((k, v))
        # Decoder self-attention is causal: key - query = -distance, distance in [0, capacity).
        distance = torch.arange(capacity, dtype=torch.long)
        buckets = relative_position_bucket(-distance, False, cfg.num_buckets, cfg.max_distance)
        self.bias_by_distance = [
            w[f"decoder.block.{i}.layer.0.SelfAttention.relative_attention_bias.weight"][buckets].T.contiguous()
            for i in range(cfg.num_decoder_layers)]  # [heads, capacity]
        self.length = 0

    def step(self, token_id):
        """Logits [vocab] of the token after token_id, which sits at position self.length."""
        w, cfg = self.w, self.cfg
        heads, d_kv = cfg.num_heads, cfg.d_kv
        pos = self.length
        h = w["shared.weight"][token_id].view(1, -1)
        for i in range(cfg.num_decoder_layers):
            p = f"decoder.block.{i}.layer."
            a = p + "0.SelfAttention."
            normed = rms_norm(h, w[p + "0.layer_norm.weight"], cfg.eps)
            q = (normed @ w[a + "q.weight"].T).view(heads, 1, d_kv)
            self.keys[i][:, pos] = (normed @ w[a + "k.weight"].T).view(heads, d_kv)
            self.values[i][:, pos] = (normed @ w[a + "v.weight"].T).view(heads, d_kv)
            keys, values = self.keys[i][:, :pos + 1], self.values[i][:, :pos + 1]
            scores = q @ keys.transpose(1, 2)  # [heads, 1, pos + 1]; no 1/sqrt(d_kv) in T5
            scores = scores + self.bias_by_distance[i][:, :pos + 1].flip(1).unsqueeze(1)
            context = (torch.softmax(scores, dim=-1) @ values).reshape(1, heads * d_kv)
            h = h + context @ w[a + "o.weight"].T

            c = p + "1.EncDecAttention."
            normed = rms_norm(h, w[p + "1.layer_norm.weight"], cfg.eps)
            q = (normed @ w[c + "q.weight"].T).view(heads, 1, d_kv)
            keys, values = self.cross[i]
            context = (torch.softmax(q @ keys.transpose(1, 2), dim=-1) @ values).reshape(1, heads * d_kv)
            h = h + context @ w[c + "o.weight"].T

            h = h + feed_forward(w, p + "2.DenseReluDense.", rms_norm(h, w[p + "2.layer_norm.weight"], cfg.eps))
        self.length += 1
        return project(w, cfg, h)[0]


def uncached_logits(w, cfg, encoder_hidden, ids):
    """The whole decoder prefix recomputed (cross-attention K/V included); only the last position projected."""
    h = w["shared.weight"][torch.tensor(ids, dtype=torch.long)]
    n = h.shape[0]
    causal = torch.triu(torch.full((n, n), torch.finfo(torch.float32).min), diagonal=1)
    context = torch.arange(n, dtype=torch.long)[:, None]
    memory = torch.arange(n, dtype=torch.long)[None, :]
    buckets = relative_position_bucket(memory - context, False, cfg.num_buckets, cfg.max_distance)
    for i in range(cfg.num_decoder_layers):
        p = f"decoder.block.{i}.layer."
        bias = w[p + "0.SelfAttention.relative_attention_bias.weight"][buckets].permute(2, 0, 1) + causal
        normed = rms_norm(h, w[p + "0.layer_norm.weight"], cfg.eps)
        h = h + attention(w, p + "0.SelfAttention.", cfg, normed, normed, bias)
        normed = rms_norm(h, w[p + "1.layer_norm.weight"], cfg.eps)
        h = h + attention(w, p + "1.EncDecAttention.", cfg, normed, encoder_hidden, None)
        h = h + feed_forward(w, p + "2.DenseReluDense.", rms_norm(h, w[p + "2.layer_norm.weight"], cfg.eps))
    return project(w, cfg, h[-1:])[0]


def run(w, cfg, prompt_ids, new_tokens, cached):
    """One run from the prompt: (output ids, per-token ms, first-token ms, total ms), encoder included."""
    started = time.perf_counter()
    encoder_hidden = encode(w, cfg, prompt_ids)
    decoder = CachedDecoder(w, cfg, encoder_hidden, new_tokens + 1) if cached else None
    ids = [cfg.start_id]
    per_token = []
    first = None
    for _ in range(new_tokens):
        t0 = time.perf_counter()
        logits = decoder.step(ids[-1]) if cached else uncached_logits(w, cfg, encoder_hidden, ids)
        ids.append(int(logits.argmax()))
        now = time.perf_counter()
        per_token.append((now - t0) * 1000)
        if first is None:
            first = (now - started) * 1000
    return ids[1:], per_token, first, (time.perf_counter() - started) * 1000


def summarize(runs, new_tokens):
    decode_ms = statistics.median(sum(r[1]) for r in runs)
    return {
        "tokens_per_s": new_tokens * 1000.0 / decode_ms,
        "ms_per_token_median": statistics.median(ms for r in runs for ms in r[1]),
        "first_token_ms": statistics.median(r[2] for r in runs),
        "total_ms": statistics.median(r[3] for r in runs),
        "per_position_ms": [statistics.median(r[1][i] for r in runs) for i in range(new_tokens)],
        "output_ids": runs[0][0],
        "runs": len(runs),
    }


def blas_library():
    """The BLAS this process loaded: Debian's torch calls whatever libblas.so.3 the alternatives system selects,
    and the reference BLAS is several times slower than OpenBLAS (bench/README.md)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "blas" in os.path.basename(path):
                return os.path.realpath(path)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-cache-too", action="store_true", help="also time the uncached mode")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    w, cfg, tokenizer = load(args.model)
    prompt_ids = tokenizer.encode(args.prompt) + [1]
    modes = [True, False] if args.no_cache_too else [True]
    for cached in modes:  # warm-up: allocator, kernels, page faults
        run(w, cfg, prompt_ids, min(args.new_tokens, 2), cached)
    runs = {True: [], False: []}
    for _ in range(args.repeat):
        for cached in modes:
            runs[cached].append(run(w, cfg, prompt_ids, args.new_tokens, cached))

    out = {
        "implementation": "pytorch-eager",
        "torch": torch.__version__,
        "blas": blas_library(),
        "model": os.path.basename(os.path.normpath(args.model)),
        "model_dir": args.model,
        "prompt_tokens": len(prompt_ids),
        "new_tokens": args.new_tokens,
        "repeat": args.repeat,
        "threads": torch.get_num_threads(),
        "cache_on": summarize(runs[True], args.new_tokens),
    }
    if args.no_cache_too:
        out["cache_off"] = summarize(runs[False], args.new_tokens)
        out["speedup"] = out["cache_on"]["tokens_per_s"] / out["cache_off"]["tokens_per_s"]
        out["identical"] = all(r[0] == runs[True][0][0] for r in runs[True] + runs[False])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
