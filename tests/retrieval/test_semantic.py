"""The offline embedding model: loads from its wheel, agrees with WordLlama, survives any text."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from retrieval.answer.semantic import MAX_EMBED_CHARS, embedder
from tests.paths import REPO


def test_loads_offline_in_a_fresh_process() -> None:
    """No network, no hub: the weights and tokenizer come from the installed package."""
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HTTPS_PROXY="http://127.0.0.1:9", PYTHONPATH=str(REPO)
    )
    code = (
        "from retrieval.answer.semantic import embedder; e = embedder(); "
        "print(e is not None and e.embed(['hello world']).shape == (1, 256))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "True", proc.stderr


def test_word_cache_gives_wordllamas_own_vectors() -> None:
    model = embedder()
    assert model is not None
    texts = [
        "ReMax reduces memory usage by about 50% compared to PPO.",
        "We propose adaptive sampling with approximate expected futures (ASAp).",
        "Segment any Text (SaT) relies less on punctuation.",
    ]
    ours = model.embed(texts)
    raw = model._model
    raw.tokenizer.enable_padding()
    try:
        reference = raw.embed(texts, norm=True)
    finally:
        raw.tokenizer.no_padding()
    assert np.allclose(np.sum(ours * reference, axis=1), 1.0, atol=1e-5)


def test_meaning_beats_shared_words() -> None:
    model = embedder()
    assert model is not None
    sims = model.similarity(
        "how much memory does it save",
        ["It reduces GPU memory usage by about 46%.", "We evaluate on four benchmarks."],
    )
    assert sims[0] > sims[1]


def test_empty_control_and_huge_texts() -> None:
    model = embedder()
    assert model is not None
    vectors = model.embed(["", "   ", "\x00\x1b[2J\u202e", "word " * 100_000])
    assert vectors.shape == (4, 256)
    assert not np.isnan(vectors).any()
    assert np.allclose(vectors[0], 0.0) and np.allclose(vectors[1], 0.0)
    assert len("word " * 100_000) > MAX_EMBED_CHARS
