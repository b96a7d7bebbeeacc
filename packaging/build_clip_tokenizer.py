"""Convert OpenAI's CLIP BPE vocabulary into the files a CLIPTokenizer loads.

The source file `bpe_simple_vocab_16e6.txt.gz` (MIT licence, OpenAI) ships inside the PyPI
package `openai-clip` (folder `clip/`). The result lives in `core/resources/tokenizers/clip/` and is
what every built-in demo model uses, so nothing is fetched from a model hub.

    python packaging/build_clip_tokenizer.py PATH/TO/bpe_simple_vocab_16e6.txt.gz
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "core" / "resources" / "tokenizers" / "clip"


def bytes_to_unicode() -> dict[int, str]:
    """The byte -> printable character table of GPT-2 and CLIP."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def convert(source: Path) -> None:
    with gzip.open(source, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : 49152 - 256 - 2 + 1]]
    symbols = list(bytes_to_unicode().values())
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vocab.json").write_text(
        json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8"
    )
    with open(OUT / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    print(f"{len(vocab)} tokens, {len(merges)} merges -> {OUT}")


if __name__ == "__main__":
    convert(Path(sys.argv[1]))
