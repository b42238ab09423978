"""The terminal renderer of ``paperbot ask``: never fails, quotes verbatim, bold only with color."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from cli.render import render_answer
from retrieval.answer.compose import Answer
from tests.rendering import answers, declined_answer, remax_answer


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_terminal_render_never_fails(answer: Answer) -> None:
    assert render_answer(answer, color=False)
    assert render_answer(answer, color=True)


def test_answer_text_example() -> None:
    answer = remax_answer()
    text = render_answer(answer, color=False)
    assert "“ReMax reduces memory usage by about 50% vs PPO.”" in text
    assert "\x1b[1mReMax\x1b[0m" in render_answer(answer, color=True)


def test_declined_answer_lists_closest_titles() -> None:
    assert "Closest titles:" in render_answer(declined_answer())
