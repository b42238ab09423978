"""The tokenizer: one pipeline for documents, questions and sentences."""

from __future__ import annotations

import pytest

from retrieval.tokenize import Tokenizer, default_tokenizer


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
