"""The bot's side of model-written answers (:mod:`retrieval.llm`): when, and for how long, the
model is asked, and what happens when it does not deliver.

The extractive answer is computed first, in the index thread, as without a model. The model is
then asked on the event loop (async httpx: the single index thread never waits on the network),
within what is left of :data:`ANSWER_BUDGET` after retrieval, less :data:`SEND_RESERVE` for
rendering and sending. The interaction was deferred before any of this, so Discord's 3-second
acknowledgement is never at stake; the budget keeps the whole answer within about ten seconds,
which is as long as anyone should look at "thinking…". Anything but a checked written answer (an
error, a timeout, a 429, an "unanswerable", nothing surviving the citation checks, a bug) leaves
the extractive answer exactly as it was: the model can only ever improve an answer, never cost
one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from retrieval.answer.compose import Answer
    from retrieval.llm.model import WrittenAnswer
    from retrieval.llm.writer import AnswerWriter

__all__ = [
    "ANSWER_BUDGET",
    "SEND_RESERVE",
    "answer_in_steps",
    "apply_written",
    "make_writer",
    "time_left",
    "write_answer",
]

_log = logging.getLogger("paperbot.bot.written")

ANSWER_BUDGET = 10.0  # seconds from the deferred interaction to the written answer's end
SEND_RESERVE = 1.5  # seconds kept back for rendering, storing and sending the answer
T = TypeVar("T")
R = TypeVar("R")
RunBlocking = Callable[..., Awaitable[Any]]

# How long past its own deadline the writer may run before it is cut off here (it never
# should: this only guards the answer against a bug in the writer).
_GRACE = 0.5


def make_writer(settings: Any) -> AnswerWriter | None:
    """The writer the settings describe (None: the feature is off, or misconfigured)."""
    if not getattr(settings, "llm_base_url", None) or not getattr(settings, "llm_model", None):
        return None
    try:
        from retrieval.llm.writer import AnswerWriter

        writer = AnswerWriter.from_settings(settings)
    except Exception:  # a bad URL must not keep the bot from starting: answers stay extractive
        _log.exception("model-written answers are off: the LLM settings could not be used")
        return None
    if writer is not None:
        _log.info("model-written answers on: %r", writer)
    return writer


def time_left(started: float, *, now: float | None = None) -> float:
    """Seconds the model may take for an answer begun at ``started`` (``time.monotonic()``)."""
    elapsed = (time.monotonic() if now is None else now) - started
    return ANSWER_BUDGET - SEND_RESERVE - elapsed


async def write_answer(
    writer: AnswerWriter | None, answer: Answer, started: float
) -> WrittenAnswer | None:
    """The model's checked answer to ``answer``, or None: off, declined, out of time, failed,
    unanswerable or nothing valid. Never raises, never runs past the budget."""
    if writer is None or not answer.answered or not answer.papers:
        return None
    deadline = time_left(started)
    if deadline <= 0:
        _log.info("no time left for a model-written answer (%.2f s over)", -deadline)
        return None
    try:
        written = await asyncio.wait_for(
            writer.awrite(answer, deadline=deadline), timeout=deadline + _GRACE
        )
    except TimeoutError:
        _log.warning("the model writer overran its %.2f s deadline; extractive answer", deadline)
        return None
    except Exception:
        _log.exception("the model writer failed; extractive answer")
        return None
    if written is None or written.unanswerable or not written.sentences:
        return None
    return written


def apply_written(answer: Answer, written: WrittenAnswer | None) -> Answer:
    """``answer`` with the written answer and its cited sentences as the quotes (in the index
    thread: it tokenizes the cited sentences), or ``answer`` unchanged if that fails."""
    if written is None:
        return answer
    try:
        from retrieval.llm.writer import with_written

        return with_written(answer, written)
    except Exception:
        _log.exception("could not apply the model-written answer; extractive answer")
        return answer


async def answer_in_steps(
    run_blocking: RunBlocking,
    writer: AnswerWriter | None,
    retrieve: Callable[[], T],
    answer_of: Callable[[T], Answer],
    finish: Callable[[T, WrittenAnswer | None], R],
    *,
    started: float,
) -> R:
    """``finish(retrieve(), written)`` in the index thread (``run_blocking``), with the model
    asked for ``written`` on the event loop in between; without a writer, one trip to the index
    thread, as without the feature."""
    if writer is None:
        return await run_blocking(lambda: finish(retrieve(), None))
    retrieved = await run_blocking(retrieve)
    written = await write_answer(writer, answer_of(retrieved), started)
    return await run_blocking(finish, retrieved, written)
