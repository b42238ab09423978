"""Sentence segmentation: edge cases from real abstracts, and the span invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retrieval.answer.sentences import sentence_texts, split_sentences

CASES = [
    # (text, expected sentences)
    (
        "Some NAR models (e.g., NaturalSpeech 2/3) are slow. We fix that.",
        ["Some NAR models (e.g., NaturalSpeech 2/3) are slow.", "We fix that."],
    ),
    (
        "It uses data (i.e. predicted likelihood) in training. It works.",
        ["It uses data (i.e. predicted likelihood) in training.", "It works."],
    ),
    (
        "A one-line change to Direct Preference Optimization (DPO; Rafailov et al., 2023) "
        "-- yet strong. Next sentence here.",
        [
            "A one-line change to Direct Preference Optimization (DPO; Rafailov et al., 2023) "
            "-- yet strong.",
            "Next sentence here.",
        ],
    ),
    (
        "As shown by Smith et al. in prior work, this fails. We do better.",
        ["As shown by Smith et al. in prior work, this fails.", "We do better."],
    ),
    (
        "The collection contains a total of 49.7 million sentence pairs. It is large.",
        ["The collection contains a total of 49.7 million sentence pairs.", "It is large."],
    ),
    (
        "Results are shown in Fig. 2 and Eq. 3 of the paper. They are good.",
        ["Results are shown in Fig. 2 and Eq. 3 of the paper.", "They are good."],
    ),
    (
        "Audio samples are at https://aka.ms/valler. This research is useful.",
        ["Audio samples are at https://aka.ms/valler.", "This research is useful."],
    ),
    (
        "Demos are at {https://dongchaoyang.top/SimpleSpeech2\\_demo/}. Done.",
        ["Demos are at {https://dongchaoyang.top/SimpleSpeech2\\_demo/}.", "Done."],
    ),
    (
        "We present ({\\romannumeral1}) an analysis; ({\\romannumeral2}) a model. It helps.",
        ["We present ({\\romannumeral1}) an analysis; ({\\romannumeral2}) a model.", "It helps."],
    ),
    (
        "Model A vs. model B was tested. A won.",
        ["Model A vs. model B was tested.", "A won."],
    ),
    (
        "we introduce I-SHEEP, an Iterative Self-EnHancEmEnt Paradigm.This human-like paradigm "
        "enables LLMs to self-align.",
        [
            "we introduce I-SHEEP, an Iterative Self-EnHancEmEnt Paradigm.",
            "This human-like paradigm enables LLMs to self-align.",
        ],
    ),
    (
        'The effect might be "superficial." This raises questions.',
        ['The effect might be "superficial."', "This raises questions."],
    ),
    (
        "Is it possible? We show it is! Finally, we conclude.",
        ["Is it possible?", "We show it is!", "Finally, we conclude."],
    ),
    (
        "We study E. coli and B. subtilis strains. Both grew.",
        ["We study E. coli and B. subtilis strains.", "Both grew."],
    ),
    (
        "The kinase is inhibited. mTOR is a large protein kinase.",
        ["The kinase is inhibited.", "mTOR is a large protein kinase."],
    ),
    (
        "Scores rose by ~2.5% in Recall@1 (see Sec. 4). Code: github.com/x/y. Done.",
        ["Scores rose by ~2.5% in Recall@1 (see Sec. 4).", "Code: github.com/x/y.", "Done."],
    ),
    (
        "It costs $40.5 per QALY. Another $3 is saved.",
        ["It costs $40.5 per QALY.", "Another $3 is saved."],
    ),
    (
        "Models like GPT-4 etc. Are not covered. New one.",
        ["Models like GPT-4 etc.", "Are not covered.", "New one."],
    ),
    (
        "Plaques developed (75%). β-amyloid plaques were correlated.",
        ["Plaques developed (75%).", "β-amyloid plaques were correlated."],
    ),
    ("  Leading and trailing space.  ", ["Leading and trailing space."]),
    ("No final punctuation", ["No final punctuation"]),
    ("Version v1.2 and 3.14 and U.S. Army.", ["Version v1.2 and 3.14 and U.S. Army."]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_edge_cases(text: str, expected: list[str]) -> None:
    assert sentence_texts(text) == expected


def test_blank_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n\t ") == []


def test_unbalanced_bracket_does_not_swallow_the_abstract() -> None:
    text = "We list 1) data, 2) models. Then we test. " + "Filler words here. " * 40
    spans = split_sentences(text)
    assert len(spans) > 10


@given(st.text(alphabet=st.sampled_from(list("ab .!?\n()\"'A1é@{}\\-")), max_size=300))
def test_span_invariants(text: str) -> None:
    spans = split_sentences(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip() and piece
        assert not text[previous_end:start].strip()  # nothing but whitespace is skipped
        previous_end = end
    assert not text[previous_end:].strip()
