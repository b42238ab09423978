"""What a model-written answer is, once checked: sentences of the model's, each citing sentences
of the abstracts by their offsets, so every claim can be shown beside the words it rests on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited sentence: ``abstract[start:end]`` of paper ``paper_id`` (its ``n``-th sentence,
    counting from 1, as numbered in the prompt). ``label`` is how the answer refers to it
    (``"1.3"``: paper 1 of the answer, sentence 3)."""

    paper_id: str
    sentence: int
    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class WrittenSentence:
    """A sentence the model wrote (sanitised: no mentions, links or control characters) and the
    sentences it cites, in the order cited (never empty: uncited sentences are dropped)."""

    text: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class WrittenAnswer:
    """The surviving written answer. ``unanswerable``: the model said the papers do not answer
    (then ``sentences`` may be empty and the extractive answer is shown as it was). ``dropped``:
    model sentences removed for lacking a valid citation; ``invalid_citations``: citations of ids
    that were not sent. ``model`` names the model; ``seconds`` is the time the call took."""

    sentences: tuple[WrittenSentence, ...]
    model: str
    dropped: int = 0
    invalid_citations: int = 0
    unanswerable: bool = False
    seconds: float = 0.0

    @property
    def citations(self) -> tuple[Citation, ...]:
        """Every cited sentence once, in first-cited order."""
        seen: dict[tuple[str, int], Citation] = {}
        for sentence in self.sentences:
            for citation in sentence.citations:
                seen.setdefault((citation.paper_id, citation.sentence), citation)
        return tuple(seen.values())

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)
