"""The model-written answer's checks: prompt ids, defensive parsing, dropping what cannot be
checked, sanitising, and the cited sentences becoming verbatim quotes."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import pytest

from retrieval.answer.compose import Answer
from retrieval.answer.sentences import split_sentences
from retrieval.llm.model import WrittenAnswer
from retrieval.llm.writer import (
    MAX_SENTENCE_CHARS,
    MAX_SENTENCES,
    AnswerWriter,
    build_prompt,
    clean_model_text,
    parse_reply,
    with_written,
    written_to_json,
)
from tests.retrieval.test_compose import ask

QUESTION = "how does direct preference optimization work?"


@lru_cache(maxsize=1)
def answer() -> Answer:
    result = ask(QUESTION)
    assert result.answered and len(result.papers) >= 2
    return result


def reply(items: list[dict[str, object]], unanswerable: bool = False) -> str:
    return json.dumps({"answer": items, "unanswerable": unanswerable})


def test_prompt_numbers_every_sentence_of_every_paper() -> None:
    a = answer()
    prompt = build_prompt(a, max_chars=100_000)
    assert f"Question: {QUESTION}" in prompt.user
    for p, paper in enumerate(a.papers, start=1):
        spans = split_sentences(paper.abstract)
        for s, (start, end) in enumerate(spans, start=1):
            got = prompt.ids[f"{p}.{s}"]
            assert got[0].id == paper.id and got[1:] == (s, start, end)
            assert f"[{p}.{s}] " in prompt.user
    assert len(prompt.ids) == sum(len(split_sentences(p.abstract)) for p in a.papers)


def test_prompt_cap_keeps_the_quoted_sentences_first() -> None:
    a = answer()
    prompt = build_prompt(a, max_chars=600)
    sent = "\n".join(line for line in prompt.user.splitlines() if line.startswith("["))
    assert len(sent) < 600 + 300 * len(a.papers)  # one over-long sentence per paper at most
    for p, paper in enumerate(a.papers, start=1):
        quoted = {
            s
            for s, (start, end) in enumerate(split_sentences(paper.abstract), start=1)
            if any(start < q.end and q.start < end for q in paper.quotes)
        }
        labels = {int(k.split(".")[1]) for k in prompt.ids if k.startswith(f"{p}.")}
        assert labels and (quoted & labels)


def test_parse_valid_json_keeps_sentences_with_their_citations() -> None:
    prompt = build_prompt(answer())
    written = parse_reply(
        reply([{"text": "DPO fits a classifier.", "cites": ["1.2", "2.1"]}]), prompt, model="m"
    )
    assert written is not None
    assert written.text == "DPO fits a classifier."
    assert [c.label for c in written.citations] == ["1.2", "2.1"]
    for c in written.citations:
        paper, number, start, end = prompt.ids[c.label]
        assert (c.paper_id, c.sentence, c.start, c.end) == (paper.id, number, start, end)
    assert written.dropped == 0 and written.invalid_citations == 0


@pytest.mark.parametrize(
    "content",
    [
        '```json\n{"answer": [{"text": "It works.", "cites": ["1.1"]}]}\n```',
        'Sure! Here it is: {"answer": [{"text": "It works.", "cites": "1.1"}]} Hope it helps.',
        '{"answer": [{"text": "It works [1.1].", "cites": []}]}',
        '{"answer": [{"text": "It works.", "cites": [1.1]}]}',
        "It works. [1.1]",
        "It works [1.1].",
        "It works (1.1).",
        "It works [id: 1.1]",
        '<think>The answer is [2.1]. Maybe.</think>\n{"answer": [{"text": "It works.", '
        '"cites": ["1.1"]}]}',
    ],
)
def test_parse_tolerates_what_small_models_write(content: str) -> None:
    written = parse_reply(content, build_prompt(answer()), model="m")
    assert written is not None
    assert written.text == "It works."
    assert [c.label for c in written.citations] == ["1.1"]


def test_plain_text_with_grouped_markers_and_an_uncited_preamble() -> None:
    written = parse_reply(
        "Here is what the papers say.\nDPO is a loss [1.1, 2.1]. It is simple. XPO explores (2.2).",
        build_prompt(answer()),
        model="m",
    )
    assert written is not None
    assert [s.text for s in written.sentences] == ["DPO is a loss.", "XPO explores."]
    assert [c.label for c in written.sentences[0].citations] == ["1.1", "2.1"]
    assert written.dropped == 2  # the preamble and "It is simple."


def test_invalid_ids_are_discarded_and_counted() -> None:
    prompt = build_prompt(answer())
    written = parse_reply(
        reply(
            [
                {"text": "Valid and invalid.", "cites": ["1.1", "9.9"]},
                {"text": "Only invalid.", "cites": ["1.999", "0.1"]},
            ]
        ),
        prompt,
        model="m",
    )
    assert written is not None
    assert written.text == "Valid and invalid."
    assert [c.label for c in written.citations] == ["1.1"]
    assert written.invalid_citations == 3 and written.dropped == 1


def test_ids_that_were_not_sent_under_the_cap_are_invalid() -> None:
    prompt = build_prompt(answer(), max_chars=500)
    missing = next(
        f"1.{s}"
        for s in range(1, len(split_sentences(answer().papers[0].abstract)) + 1)
        if f"1.{s}" not in prompt.ids
    )
    assert parse_reply(reply([{"text": "X.", "cites": [missing]}]), prompt, model="m") is None


@pytest.mark.parametrize(
    "content",
    [
        reply([{"text": "No citation here.", "cites": []}]),
        reply([{"text": "Cites nothing sent.", "cites": ["7.7"]}]),
        '```json\n{"answer": [{"text": "Broken", "cites": ["1.1"',
        "",
        "null",
        reply([], unanswerable=True),
        reply([{"text": "@everyone https://x.example", "cites": ["1.1"]}]),
    ],
)
def test_nothing_survives_means_no_written_answer(content: str) -> None:
    assert parse_reply(content, build_prompt(answer()), model="m") is None


def test_at_most_four_sentences() -> None:
    items: list[dict[str, object]] = [{"text": f"Claim {i}.", "cites": ["1.1"]} for i in range(6)]
    written = parse_reply(reply(items), build_prompt(answer()), model="m")
    assert written is not None
    assert len(written.sentences) == MAX_SENTENCES and written.dropped == 2


def test_unanswerable_flag_is_kept_when_a_cited_sentence_survives() -> None:
    a = answer()
    written = parse_reply(
        reply([{"text": "Only a related result.", "cites": ["2.1"]}], unanswerable=True),
        build_prompt(a),
        model="m",
    )
    assert written is not None and written.unanswerable
    assert with_written(a, written).papers == a.papers  # the extractive answer is shown


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello @everyone and @here.", "Hello and."),
        ("Ping <@123> <@!456> <@&789> <#42>.", "Ping."),
        ("See https://evil.example/x?a=1 now.", "See now."),
        ("See [this](https://evil.example) and www.evil.example.", "See this and."),
        ("Bell\x07 and \x1b[31mred\x1b[0m\u202e text.", "Bell and red text."),
        ("Line\nbreak.", "Line break."),
        ("Mail me@x.org now.", "Mail me now."),
        ("`code` here.", "'code' here."),
    ],
)
def test_model_text_is_sanitised(raw: str, expected: str) -> None:
    assert clean_model_text(raw) == expected


def test_long_sentences_are_cut() -> None:
    text = clean_model_text("word " * 200)
    assert len(text) <= MAX_SENTENCE_CHARS and text.endswith("…")


def test_with_written_quotes_the_cited_sentences_verbatim_in_citation_order() -> None:
    a = answer()
    prompt = build_prompt(a)
    written = parse_reply(
        reply(
            [
                {"text": "First claim.", "cites": ["2.3"]},
                {"text": "Second claim.", "cites": ["1.2", "2.1"]},
            ]
        ),
        prompt,
        model="m",
    )
    assert written is not None
    shown = with_written(a, written)
    assert shown.written is not None
    ids = [p.id for p in shown.papers]
    assert ids[:2] == [a.papers[1].id, a.papers[0].id]
    assert sorted(ids) == sorted(p.id for p in a.papers)  # uncited papers follow
    second, first = a.papers[1], a.papers[0]
    spans = split_sentences(second.abstract)
    assert [(q.start, q.end) for q in shown.papers[0].quotes] == [spans[0], spans[2]]
    assert [(q.start, q.end) for q in shown.papers[1].quotes] == [
        split_sentences(first.abstract)[1]
    ]
    for paper in shown.papers[:2]:
        for q in paper.quotes:
            assert q.text == paper.abstract[q.start : q.end]
            assert all(q.start <= x < y <= q.end for x, y in q.segments)
            assert all(any(x <= h0 and h1 <= y for x, y in q.segments) for h0, h1 in q.highlights)
    # Uncited papers keep the composer's quotes.
    if len(a.papers) > 2:
        assert shown.papers[2].quotes == a.papers[2].quotes
    # Labels follow the new order: paper 2 of the original is shown first.
    assert [c.label for c in shown.written.sentences[0].citations] == ["1.3"]
    assert [c.label for c in shown.written.sentences[1].citations] == ["2.2", "1.1"]
    data = written_to_json(shown)
    assert data is not None
    for sentence in data["sentences"]:
        for c in sentence["citations"]:
            paper = next(p for p in shown.papers if p.id == c["paper_id"])
            assert c["text"] == paper.abstract[c["start"] : c["end"]]


def test_with_written_highlights_question_terms() -> None:
    a = answer()
    written = parse_reply(reply([{"text": "X.", "cites": ["1.4"]}]), build_prompt(a), model="m")
    assert written is not None
    quote = with_written(a, written).papers[0].quotes[0]
    words = {quote.abstract[x:y].casefold() for x, y in quote.highlights}
    assert "preference" in words and "optimization" in words


def test_long_cited_sentences_are_trimmed_like_the_composers() -> None:
    a = answer()
    long_sentence = "We study " + "a very long clause, " * 40 + "and preference optimization."
    paper = replace(a.papers[0], abstract=long_sentence, quotes=())
    a = replace(a, papers=(paper,))
    written = parse_reply(reply([{"text": "X.", "cites": ["1.1"]}]), build_prompt(a), model="m")
    assert written is not None
    quote = with_written(a, written).papers[0].quotes[0]
    assert quote.text == long_sentence and quote.trimmed
    assert sum(y - x for x, y in quote.segments) <= 400


def test_unanswerable_written_answer_keeps_the_extractive_quotes() -> None:
    a = answer()
    shown = with_written(a, WrittenAnswer(sentences=(), model="m", unanswerable=True))
    assert shown.papers == a.papers and shown.written is not None


def test_declined_answers_are_not_sent() -> None:
    a = replace(answer(), answered=False)
    writer = AnswerWriter(base_url="http://127.0.0.1:9/v1", model="m")
    assert writer.write(a) is None
