"""The "what it does" sentence used by topic alerts and the digest."""

from __future__ import annotations

from retrieval.answer.gist import gist
from retrieval.loaders import bundled_papers
from retrieval.papers import Paper


def _paper(abstract: str, pid: str = "2401.00001") -> Paper:
    return Paper(id=pid, title="T", abstract=abstract, source="test")


def test_contribution_sentence_beats_background() -> None:
    abstract = (
        "Large language models are widely used. However, they hallucinate. "
        "We study why retrieval helps. In this paper, we propose RAGX, a retriever for "
        "long documents. Code is available at https://github.com/x/y."
    )
    g = gist(_paper(abstract))
    assert g.text == "In this paper, we propose RAGX, a retriever for long documents."
    assert abstract[g.start : g.end] == g.text


def test_housekeeping_is_never_the_gist() -> None:
    abstract = "Graphs are common. We release our code at https://github.com/a/b. Results vary."
    assert "github" not in gist(_paper(abstract)).text


def test_falls_back_to_own_voice_then_first_sentence() -> None:
    assert gist(_paper("Graphs are common. Our results on graphs are good.")).text == (
        "Our results on graphs are good."
    )
    assert gist(_paper("Graphs are common. Trees are too.")).text == "Graphs are common."


def test_long_sentence_is_cut_at_a_word_and_stays_verbatim() -> None:
    abstract = "We propose " + "a very long method name " * 40 + "end."
    g = gist(_paper(abstract), max_chars=120)
    assert g.trimmed and len(g.text) <= 120
    assert abstract[g.start : g.end] == g.text
    assert not g.text.endswith(" ")


def test_link_highlights_the_sentence_on_the_arxiv_page() -> None:
    g = gist(_paper("Background. We introduce FooNet for bars."))
    assert g.link is not None
    assert g.link.startswith("https://arxiv.org/abs/2401.00001#:~:text=")
    no_page = Paper(id="x-1", title="T", abstract="We introduce it.", source="t")
    assert gist(no_page).link is None


def test_every_bundled_paper_gets_a_verbatim_sentence() -> None:
    for paper in bundled_papers():
        g = gist(paper)
        assert g.text and paper.abstract[g.start : g.end] == g.text
