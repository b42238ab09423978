"""The tokenizer: one pipeline for documents, questions and sentences."""

from __future__ import annotations

import re
import unicodedata

import pytest

from retrieval.tokenize import FORMAT_CHARS, TOKENIZER_VERSION, Tokenizer, default_tokenizer


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return default_tokenizer()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GPT-4", ["gpt", "4", "gpt4"]),
        ("GPT4", ["gpt4"]),
        ("Q*-Approximation", ["qstar", "approxim"]),
        ("Q^{star}", ["qstar"]),
        ("Q^{\\star}", ["qstar"]),
        ("co-citations", ["co", "citat", "cocit"]),
        ("6K examples", ["6k", "exampl"]),
        ("49.7% accuracy", ["49.7", "accuraci"]),
        ("1,000 patients", ["1000", "patient"]),
        ("in 2020, 30 patients", ["2020", "30", "patient"]),
        ("LLMs and GPUs", ["llm", "gpus"[:3]]),
        ("results.The model", ["result", "model"]),
        ("3.5-fold", ["3.5", "fold", "3.5fold"]),
        ("the model's output", ["model", "output"]),
        ("ＲＬＨＦ ﬁne-tuning", ["rlhf", "fine", "tune"]),
        ("Straße", ["strass"]),
        ("T cells", ["t", "cell"]),
        ("", []),
        ("?!... ---", []),
    ],
)
def test_terms(tok: Tokenizer, text: str, expected: list[str]) -> None:
    assert tok.terms(text) == expected


def test_acronym_plural_only_for_upper_case(tok: Tokenizer) -> None:
    assert tok.terms("LLMs") == tok.terms("LLM")
    assert tok.terms("bus") != tok.terms("bu")  # lower-case words keep their s for the stemmer


def test_query_terms_drop_question_words_only_on_query_side() -> None:
    from retrieval.stopwords import QUESTION_WORDS

    tok = Tokenizer(query_stopwords=QUESTION_WORDS)
    question = "Which paper segments text without punctuation?"
    assert tok.query_terms(question) == ["segment", "text", "without", "punctuat"]
    assert "paper" in tok.terms(question)
    assert default_tokenizer().query_terms(question) == default_tokenizer().terms(question)


def test_spans_point_into_the_original_text(tok: Tokenizer) -> None:
    text = "We fine-tune GPT-4 on 6K LLMs (DPO; Rafailov et al., 2023)."
    spans = tok.spans(text)
    assert [s.term for s in spans] == tok.terms(text)
    for span in spans:
        assert text[span.start : span.end].strip() == text[span.start : span.end]
        assert span.start < span.end
    assert {text[s.start : s.end] for s in spans if s.term == "gpt4"} == {"GPT-4"}


def test_spans_and_terms_agree_on_unicode(tok: Tokenizer) -> None:
    text = "ＲＬＨＦ with ﬁne-tuning — naïve Bayes, 49.7 %"
    assert [s.term for s in tok.spans(text)] == tok.terms(text)


def test_injectable_stopwords_and_stemmer() -> None:
    plain = Tokenizer(stopwords=(), stemmer=None, query_stopwords=())
    assert plain.terms("The Models") == ["the", "models"]
    custom = Tokenizer(stopwords={"models"}, stemmer=str.upper, query_stopwords=())
    assert custom.terms("the models run") == ["THE", "RUN"]
    assert plain.signature != custom.signature


def test_signature_is_stable() -> None:
    assert Tokenizer().signature == Tokenizer().signature


@pytest.mark.parametrize(
    "text",
    [
        "X\u200bPO explores",
        "X\u00adPO explores",
        "\ufeffXPO explores",
        "X\u2060P\u200dO explores",
        "co-cit\u00adations in GPT\u200b-4 and \u202eLLMs\u202c",
    ],
)
def test_format_characters_inside_words_are_ignored(tok: Tokenizer, text: str) -> None:
    """A soft hyphen, a zero-width space or joiner, a BOM, a bidi control: the same terms as
    without it, for documents and questions, and spans still index the original text."""
    plain = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    assert tok.terms(text) == tok.terms(plain)
    assert tok.query_terms(text) == tok.query_terms(plain)
    spans = tok.spans(text)
    assert [s.term for s in spans] == tok.terms(plain)
    plain_spans = tok.spans(plain)
    for span, bare in zip(spans, plain_spans, strict=True):
        shown = text[span.start : span.end]
        assert (
            "".join(ch for ch in shown if unicodedata.category(ch) != "Cf")
            == (plain[bare.start : bare.end])
        )


def test_format_chars_are_unicodes_category_cf() -> None:
    """The tokenizer's list of format characters is this Python's Unicode category Cf (a new
    Python with a newer Unicode fails here: update FORMAT_CHARS and TOKENIZER_VERSION)."""
    pattern = re.compile(f"[{FORMAT_CHARS}]")
    listed = {cp for cp in range(0x110000) if pattern.match(chr(cp))}
    cf = {cp for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cf"}
    assert listed == cf


def test_signature_names_the_pipeline_version() -> None:
    assert Tokenizer().signature.startswith(f"v{TOKENIZER_VERSION}-")
    assert TOKENIZER_VERSION >= 3  # 3: format characters ignored; older saved indexes rebuild
