"""Everything the bot posts, rendered as Discord messages that always fit Discord's limits.

``limits`` (Discord's numbers and :func:`~bot.render.limits.embed_size`), ``markup`` (escaping,
and :func:`~bot.render.markup.fit_text`, the one way text is shortened), ``message``
(:class:`Outgoing`, what every renderer returns), ``answer`` (answers), ``search`` (result pages,
paper cards) and ``notices`` (lines the bot writes itself). Rendering is one pass of pure
functions over plain data: budgets are shared out before text is written, so nothing checks or
cuts a message afterwards (the property tests in tests/bot/test_render.py hold it to the limits).
"""

from bot.render.answer import answer_message
from bot.render.message import Outgoing
from bot.render.notices import about_message, added_message, help_message, mention_help, notice
from bot.render.search import PAGE_SIZE, paper_card, search_page, similar_page

__all__ = [
    "PAGE_SIZE",
    "Outgoing",
    "about_message",
    "added_message",
    "answer_message",
    "help_message",
    "mention_help",
    "notice",
    "paper_card",
    "search_page",
    "similar_page",
]
