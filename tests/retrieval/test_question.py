"""Question analysis: the type a question asks for, its focus, and the kinds of sentences."""

from __future__ import annotations

import pytest

from retrieval.answer.question import QUESTION_KINDS, analyse_question, sentence_kinds
from retrieval.tokenize import default_tokenizer

TOK = default_tokenizer()


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is ASAp?", "definition"),
        ("whats VeRA", "definition"),
        ("How does Magpie create instruction data?", "method"),
        ("how do they make worst-case beamforming convex", "method"),
        ("how much memory does ReMax save compared to PPO?", "quantity"),
        ("ChangeRWKV iou and f1 on LEVIR-CD?", "quantity"),
        ("any paper on segmenting text without punctuation", "paper-finding"),
        ("is there work on distilling llms into recurrent students", "paper-finding"),
        ("which paper segments text without punctuation?", "paper-finding"),
        ("what problem with lora is VeRA supposed to fix", "problem"),
        ("why do transfer attacks flop on black box targets", "problem"),
        ("aspirin lowers the risk of colorectal cancer in older adults", "claim"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert analyse_question(question, TOK).kind == kind


def test_focus_and_wanted_property() -> None:
    remax = analyse_question("how much memory does ReMax save compared to PPO?", TOK)
    assert "remax" in remax.focus
    assert TOK.terms("memory")[0] in remax.wanted
    defined = analyse_question("whats precision weighted averaging in that paper", TOK)
    assert set(TOK.terms("precision weighted averaging")) <= defined.focus


def test_hostile_questions_are_analysed_without_error() -> None:
    for text in ("", "   ", "\x00\x1b[2J??", "a" * 100_000, "é" * 5000 + " what is X"):
        assert analyse_question(text, TOK).kind in QUESTION_KINDS


def test_sentence_kinds() -> None:
    assert sentence_kinds("Second, ReMax reduces memory usage by about 50%.")["quantity"] == 1.0
    defines = sentence_kinds(
        "We propose adaptive sampling with approximate expected futures (ASAp), a decoding "
        "algorithm that guarantees grammatical outputs."
    )
    assert defines["defines"] == 1.0 and defines["contribution"] == 1.0
    problem = sentence_kinds("However, existing methods suffer from high memory costs.")
    assert problem["problem"] == 1.0 and problem["quantity"] == 0.0
    assert sentence_kinds("Our method outperforms strong baselines.")["comparison"] == 1.0
    assert sentence_kinds("We obtain the data by prompting an aligned model.")["mechanism"] == 1.0
