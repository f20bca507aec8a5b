#!/usr/bin/python3
"""Rebuilds the seed corpora in tests/fuzz/corpus/<target>/ from the fixtures in tests/data (deterministic).

Run with /usr/bin/python3 (it has torch, for the PyTorch archives). With --umt5 PATH_TO_BUILT_TOOL it also
writes the session seeds, saved with the tiny-a model by `umt5 generate --session`. Regression inputs found by
the fuzzers (named regression-*) are kept; everything else in the corpus directories is rewritten.
"""
import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
CORPUS = os.path.join(HERE, "corpus")


def target_dir(name):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("regression-"):
            os.remove(os.path.join(d, f))
    return d


def put(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*values):
    return struct.pack("<%df" % len(values), *values)


def config_seeds():
    d = target_dir("fuzz_config")
    for model in ["umt5-tiny-a", "umt5-tiny-b"]:
        shutil.copy(os.path.join(DATA, model, "config.json"), os.path.join(d, model + ".json"))
    put(d, "minimal.json", "{}")
    put(d, "relu.json", json.dumps({"model_type": "t5", "feed_forward_proj": "relu", "num_layers": 2,
                                    "num_decoder_layers": None, "layer_norm_epsilon": 1e-5}))
    put(d, "big.json", json.dumps({"vocab_size": 4000000, "d_model": 65536, "num_heads": 16, "d_kv": 4096,
                                   "d_ff": 262144, "pad_token_id": 3999999}))


def safetensors_seeds():
    d = target_dir("fuzz_safetensors")
    put(d, "f32.safetensors", safetensors([("w", "F32", [2, 2], f32(1, 2, 3, 4)), ("b", "F32", [2], f32(5, 6))],
                                          {"format": "pt"}))
    put(d, "half.safetensors", safetensors([("h", "F16", [2], b"\x00\x3c\x00\xc1"),
                                            ("g", "BF16", [1, 2], b"\x80\x3f\x00\xc0")]))
    put(d, "ints.safetensors", safetensors([("i", "I32", [3], struct.pack("<3i", 1, -2, 3)),
                                            ("e", "F32", [0, 4], b""), ("s", "I64", [], struct.pack("<q", 7)),
                                            ("u", "U8", [2], b"\x01\x02"), ("t", "BOOL", [1], b"\x01")]))
    put(d, "metadata-only.safetensors", safetensors([], {"format": "umt5-session", "version": "1"}))
    # The header of tiny-a's weights with the data of its two smallest tensors only.
    with open(os.path.join(DATA, "umt5-tiny-a", "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        raw = f.read()
    keep = ["encoder.final_layer_norm.weight", "decoder.final_layer_norm.weight"]
    tensors = []
    for name in keep:
        b, e = header[name]["data_offsets"]
        tensors.append((name, header[name]["dtype"], header[name]["shape"], raw[b:e]))
    put(d, "tiny-a-norms.safetensors", safetensors(tensors, header.get("__metadata__")))


def index_seeds():
    d = target_dir("fuzz_sharded_index")
    # The fuzzer's directory holds a.safetensors (x, y) and b.safetensors (z).
    put(d, "valid.json", json.dumps({"metadata": {"total_size": 22},
                                     "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}))
    put(d, "wrong-shard.json", json.dumps({"weight_map": {"x": "b.safetensors", "z": "b.safetensors"}}))
    put(d, "escapes.json", json.dumps({"weight_map": {"x": "../a.safetensors", "y": "sub", "z": "."}}))
    shutil.copy(os.path.join(DATA, "umt5-tiny-b-sharded", "model.safetensors.index.json"),
                os.path.join(d, "tiny-b-sharded.json"))


def torch_archives():
    import torch
    torch.manual_seed(1)
    out = {}
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd = {"w": base, "v": base[1], "h": torch.tensor([1.0, -2.5], dtype=torch.float16),
          "g": torch.tensor([[0.5, 2.0]], dtype=torch.bfloat16)}
    for name, state in [("views", sd),
                        ("parameter", {"p": torch.nn.Parameter(torch.ones(2, 2))}),
                        ("module", torch.nn.Linear(3, 2).state_dict()),
                        ("ints", {"i": torch.tensor([1, 2], dtype=torch.int64), "s": torch.tensor(3.0)})]:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        out[name] = buffer.getvalue()
    return out


def pytorch_seeds():
    zd = target_dir("fuzz_pytorch_zip")
    pd = target_dir("fuzz_pickle")
    for name, archive in torch_archives().items():
        put(zd, name + ".bin", archive)
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            put(pd, name + ".pkl", z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0]))
    with zipfile.ZipFile(os.path.join(DATA, "umt5-tiny-b", "pytorch_model.bin")) as z:
        put(pd, "tiny-b.pkl", z.read("pytorch_model/data.pkl"))


def session_seeds(umt5):
    d = target_dir("fuzz_session")
    model = os.path.join(DATA, "umt5-tiny-a")
    path = os.path.join(d, "with-cache.umt5session")
    common = ["--model", model, "--threads", "1", "--max-new-tokens", "3"]
    subprocess.run([umt5, "generate", *common, "--prompt", "Hello world", "--session", path],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([umt5, "generate", *common, "--prompt", "Wie spät ist es?", "--context", "--session", path],
                   check=True, stdout=subprocess.DEVNULL)
    without = os.path.join(d, "without-cache.umt5session")
    subprocess.run([umt5, "generate", *common, "--prompt", "Bonjour", "--session", without,
                    "--session-without-cache"], check=True, stdout=subprocess.DEVNULL)
    # The same session with one bit of its last tensor flipped: the checksum no longer matches, so the cache is
    # dropped and the transcript kept.
    with open(path, "rb") as f:
        damaged = bytearray(f.read())
    damaged[-1] ^= 0x10
    put(d, "checksum-mismatch.umt5session", bytes(damaged))
    # The transcript JSON alone (what Conversation::from_json reads).
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    put(d, "transcript.json", header["__metadata__"]["conversation"])


def transcript_seeds(umt5):
    """JSON transcripts exported by `umt5 export` from the session seeds (only once transcripts exist)."""
    help_text = subprocess.run([umt5, "--help"], capture_output=True, text=True).stdout
    if " export " not in help_text:
        return
    d = target_dir("fuzz_transcript")
    for session in ["with-cache", "without-cache"]:
        subprocess.run([umt5, "export", "--session", os.path.join(CORPUS, "fuzz_session", session + ".umt5session"),
                        "--format", "json", "--out", os.path.join(d, session + ".json")],
                       check=True, stdout=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--umt5", help="built umt5 tool, to write the session seeds")
    args = parser.parse_args()
    config_seeds()
    safetensors_seeds()
    index_seeds()
    pytorch_seeds()
    if args.umt5:
        session_seeds(args.umt5)
        transcript_seeds(args.umt5)
    for name in sorted(os.listdir(CORPUS)):
        d = os.path.join(CORPUS, name)
        total = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        print(f"{name}: {len(os.listdir(d))} files, {total} bytes")
        if total > 200 * 1024:
            sys.exit(f"{name}: corpus over 200 KB")


if __name__ == "__main__":
    main()
