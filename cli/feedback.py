"""``paperbot feedback export [-o FILE]``: the 👍/👎 votes on the bot's answers as JSON lines.

Each line is one vote: the answer id, a salted hash standing for the voter (never a Discord id),
the vote (+1 / -1), the question, the papers in the order shown with the quoted offsets into
their abstracts, and when it was cast and last changed. ``-o FILE`` is written whole or not at
all, and never over the store.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cli.errors import ExitCode

if TYPE_CHECKING:
    from cli.context import Context


def cmd_feedback_export(args: argparse.Namespace, ctx: Context) -> int:
    from cli.export import export_target, write_whole
    from retrieval.feedback import Feedback

    target = export_target(args.out, ctx.settings_for(args).store_path) if args.out else None
    library = ctx.library(args)
    feedback = Feedback(library.store)
    if target is not None:
        count = write_whole(target, feedback.export)
        ctx.stderr.write(f"exported {count:,} votes to {args.out}\n")
    else:
        feedback.export(ctx.stdout)
    return ExitCode.OK


def add_parsers(sub: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    """``feedback`` and its ``export`` command, under the main parser's sub-commands."""
    p = sub.add_parser("feedback", help="votes on the bot's answers")
    inner = p.add_subparsers(dest="feedback_command", metavar="COMMAND")
    e = inner.add_parser("export", help="write every vote as JSON lines (training data)")
    e.add_argument("-o", "--out", metavar="FILE", help="file to write (default: stdout)")
    common(e)
    e.set_defaults(func=cmd_feedback_export)
