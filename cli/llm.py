"""``paperbot ask`` with a model-written answer (when ``PAPERBOT_LLM_*`` is configured).

The written answer is an addition, never a dependency: whatever goes wrong with the model, the
extractive answer is printed as it would have been, and only ``-v`` says why on stderr.
"""

from __future__ import annotations

import argparse
import logging

from cli.context import Context
from retrieval.answer.compose import Answer
from retrieval.sanitize import clean_line

__all__ = ["footer_line", "with_model_answer", "written_lines"]

WRITTEN_BY = "Answer written by {model} from the quoted abstracts."


def with_model_answer(answer: Answer, args: argparse.Namespace, ctx: Context) -> Answer:
    """``answer`` with the model's written answer and quotes, or unchanged when the feature is
    off, ``--no-llm`` was given, the answer was declined or the model's reply failed."""
    if getattr(args, "no_llm", False) or not answer.answered:
        return answer
    from retrieval.llm.writer import AnswerWriter, with_written

    writer = AnswerWriter.from_settings(ctx.settings_for(args))
    if writer is None:
        return answer
    verbose = bool(getattr(args, "verbose", False))
    writer_log = logging.getLogger("retrieval.llm.writer")
    if not verbose:  # a failure is shown as the extractive answer, without a word on stderr
        writer_log.setLevel(logging.ERROR)
    written = writer.write(answer)
    if written is None:
        if verbose:
            ctx.stderr.write(
                "note: no usable answer from the model; showing the extractive answer\n"
            )
        return answer
    return with_written(answer, written)


def written_lines(answer: Answer) -> list[str]:
    """The written answer, each sentence followed by its citation labels, then a blank line."""
    written = answer.written
    if written is None or not written.sentences or written.unanswerable:
        return []
    lines = [
        f"{clean_line(s.text)} [{', '.join(c.label for c in s.citations)}]"
        for s in written.sentences
    ]
    return [*lines, ""]


def footer_line(answer: Answer) -> str | None:
    """``Answer written by <model> from the quoted abstracts.``, when the model wrote one."""
    written = answer.written
    if written is None or not written.sentences or written.unanswerable:
        return None
    return WRITTEN_BY.format(model=clean_line(written.model))
