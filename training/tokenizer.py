"""A tiny CLIP tokenizer for the demo vocabulary: real CLIPTokenizer files (vocab.json, merges.txt).

The vocabulary is CLIP's 512 byte symbols (with and without the end-of-word mark), the merges a
byte-pair encoding learns on the demo words, and the two special tokens. Every demo word becomes
one token; any other word still tokenizes, into pieces. Merges are learned on words split the
way CLIPTokenizer splits them (its regex, lower case, "</w>" on the last symbol), so what the
pipeline does at inference is exactly what training saw.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

from transformers.convert_slow_tokenizer import bytes_to_unicode  # CLIP's and GPT-2's table

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def learn_merges(words: list[str]) -> list[tuple[str, str]]:
    """Byte-pair merges, most frequent pair first (ties by the pair), until every word is one
    token."""
    byte_map = bytes_to_unicode()
    split: dict[str, list[str]] = {}
    for word in words:
        symbols = [byte_map[b] for b in word.encode("utf-8")]
        symbols[-1] += "</w>"
        split[word] = symbols
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols in split.values():
            for pair in pairwise(symbols):
                pairs[pair] += 1
        if not pairs:
            return merges
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        for word, symbols in split.items():
            out: list[str] = []
            i = 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            split[word] = out


def write_tokenizer_files(words: list[str], folder: Path) -> tuple[Path, Path]:
    """Write vocab.json and merges.txt for `words` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(bytes_to_unicode().values())
    vocab_list = symbols + [s + "</w>" for s in symbols]
    merges = learn_merges(words)
    vocab_list += ["".join(pair) for pair in merges]
    vocab_list += [BOS, EOS]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(vocab_list))}
    vocab_path, merges_path = folder / "vocab.json", folder / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    merges_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vocab_path, merges_path
