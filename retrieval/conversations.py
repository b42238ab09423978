"""Follow-up questions: the answers the bot gave, the conversation of each channel or thread, and
how a follow-up ("what dataset did they use?", "how does the second one compare?") is answered.

Why in the store: a follow-up can arrive after a restart (the thread is still open on Discord),
and every process using the store must see the same answers. Why bounded: a conversation keeps
its last few turns and expires an hour after its last one; answers are kept only as long as their
buttons may be pressed (``answer_retention_days``) and never more than :data:`MAX_ANSWERS`.

Nothing here knows of Discord: a *place* is an opaque integer (a channel, thread or DM id).
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from config import default
from retrieval.clock import Clock, utc_now
from retrieval.sqlcompat import FeatureStore, SqlConnection, is_missing_table

if TYPE_CHECKING:
    from retrieval.answer.compose import Answer
    from retrieval.papers import Paper
    from retrieval.search import Library, Where

log = logging.getLogger(__name__)

MAX_ANSWERS = 50_000  # answers kept at most, oldest dropped first
MAX_QUESTION_CHARS = 4000

DDL = """
CREATE TABLE IF NOT EXISTS bot_answers (
    answer_id TEXT PRIMARY KEY,
    place INTEGER NOT NULL,
    message_id INTEGER,
    thread_id INTEGER,
    question TEXT NOT NULL,
    paper_ids TEXT NOT NULL,
    quotes TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_answers_message ON bot_answers(message_id);
CREATE INDEX IF NOT EXISTS bot_answers_created ON bot_answers(created_at);
CREATE TABLE IF NOT EXISTS bot_conversations (
    place INTEGER PRIMARY KEY,
    turns TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bot_conversations_updated ON bot_conversations(updated_at);
"""



@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One answer as stored: what a follow-up or a vote needs, and nothing more."""

    answer_id: str
    place: int
    question: str
    paper_ids: tuple[str, ...]  # in the order shown
    quotes: dict[str, list[tuple[int, int]]]  # paper id -> quoted (start, end) offsets
    scope: tuple[str, ...]  # the collections the question searched
    created_at: datetime
    message_id: int | None = None
    thread_id: int | None = None


def quotes_of(answer: Answer) -> dict[str, list[tuple[int, int]]]:
    """The quoted offsets of an answer, by paper (a declined answer quotes nothing)."""
    return {p.id: [(q.start, q.end) for q in p.quotes] for p in answer.papers}


_COLUMNS = "answer_id, place, question, paper_ids, quotes, scope, created_at, message_id, thread_id"


def _record(row: Sequence[Any]) -> AnswerRecord:
    aid, place, question, ids, quotes, scope, created, message_id, thread_id = tuple(row)
    return AnswerRecord(
        answer_id=str(aid),
        place=int(place),
        question=str(question),
        paper_ids=tuple(json.loads(str(ids))),
        quotes={k: [(int(a), int(b)) for a, b in v] for k, v in json.loads(str(quotes)).items()},
        scope=tuple(json.loads(str(scope))),
        created_at=datetime.fromtimestamp(float(created), UTC),
        message_id=int(message_id) if message_id is not None else None,
        thread_id=int(thread_id) if thread_id is not None else None,
    )


class Conversations:
    """The answers the bot gave and the conversation (last few answers) of each place."""

    def __init__(
        self,
        store: FeatureStore,
        *,
        clock: Clock = utc_now,
        ttl: float = default("followup_ttl"),
        turns: int = default("followup_turns"),
        retention_days: float = default("answer_retention_days"),
        max_answers: int = MAX_ANSWERS,
    ) -> None:
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.turns = turns
        self.retention = timedelta(days=retention_days)
        self.max_answers = max_answers

    def _now(self) -> float:
        return self.clock().timestamp()

    @property
    def writable(self) -> bool:
        return self.store.ensure_tables(DDL)

    # -- answers ----------------------------------------------------------------------------------
    def record(
        self, answer: Answer, place: int, scope: Sequence[str], *, question: str | None = None
    ) -> str | None:
        """Store an answer given in ``place``; its id (for the buttons), or None on a read-only
        store (the answer is then shown without follow-up and vote buttons)."""
        if not self.writable:
            return None
        answer_id = secrets.token_hex(8)
        now = self._now()
        text = (question if question is not None else answer.question)[:MAX_QUESTION_CHARS]
        with self.store.transaction() as conn:
            # Answers are ordered by creation time when the oldest are dropped: strictly
            # increasing times make that order the order of recording on either engine (ties
            # would be broken by SQLite's rowid, by nothing on PostgreSQL).
            (latest,) = conn.execute("SELECT MAX(created_at) FROM bot_answers").fetchone()
            if latest is not None and now <= float(latest):
                now = math.nextafter(float(latest), math.inf)
            conn.execute(
                "INSERT INTO bot_answers (answer_id, place, question, paper_ids, quotes, scope,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    answer_id,
                    place,
                    text,
                    json.dumps([p.id for p in answer.papers]),
                    json.dumps(quotes_of(answer)),
                    json.dumps(list(scope)),
                    now,
                ),
            )
            self._prune(conn, now)
        return answer_id

    def _prune(self, conn: SqlConnection, now: float) -> None:
        """Drop expired conversations, answers past retention, and the oldest answers beyond
        ``max_answers``: the tables stay bounded however long the bot runs."""
        conn.execute("DELETE FROM bot_conversations WHERE updated_at < ?", (now - self.ttl,))
        conn.execute(
            "DELETE FROM bot_answers WHERE created_at < ?",
            (now - self.retention.total_seconds(),),
        )
        conn.execute(
            "DELETE FROM bot_answers WHERE answer_id IN (SELECT answer_id FROM bot_answers"
            " ORDER BY created_at DESC LIMIT ? OFFSET ?)",  # no LIMIT -1 on PostgreSQL
            (2**62, self.max_answers),
        )

    def _update(self, sql: str, args: tuple[object, ...]) -> None:
        if not self.writable:
            return
        with self.store.transaction() as conn:
            conn.execute(sql, args)

    def attach_message(self, answer_id: str, message_id: int) -> None:
        """The message that shows the answer (a reply to it is a follow-up)."""
        self._update(
            "UPDATE bot_answers SET message_id = ? WHERE answer_id = ?", (message_id, answer_id)
        )

    def attach_thread(self, answer_id: str, thread_id: int) -> None:
        """The thread opened from the answer's message, where its follow-ups go."""
        self._update(
            "UPDATE bot_answers SET thread_id = ? WHERE answer_id = ?", (thread_id, answer_id)
        )

    def _select(self, where: str, args: tuple[object, ...]) -> AnswerRecord | None:
        cutoff = self._now() - self.retention.total_seconds()
        try:
            row = (
                self.store.reader()
                .execute(
                    f"SELECT {_COLUMNS} FROM bot_answers WHERE {where} AND created_at >= ?"
                    " ORDER BY created_at DESC LIMIT 1",
                    (*args, cutoff),
                )
                .fetchone()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return None
            raise
        return _record(row) if row is not None else None

    def get(self, answer_id: str) -> AnswerRecord | None:
        """A stored answer (None when unknown or past retention)."""
        return self._select("answer_id = ?", (answer_id,))

    def by_message(self, message_id: int) -> AnswerRecord | None:
        """The answer a bot message shows, if it showed one."""
        return self._select("message_id = ?", (message_id,))

    # -- conversations ----------------------------------------------------------------------------
    def add_turn(self, place: int, answer_id: str) -> None:
        """Append an answer to the conversation of ``place`` (a thread or DM), keeping the last
        ``turns``; the conversation's hour starts again."""
        if not self.writable:
            return
        now = self._now()
        with self.store.transaction() as conn:
            # Lock the place's row first (a no-op on SQLite, whose transactions are exclusive):
            # on PostgreSQL two processes adding a turn at once then take turns, none lost.
            conn.execute(
                "INSERT INTO bot_conversations (place, turns, updated_at) VALUES (?, '[]', 0)"
                " ON CONFLICT(place) DO UPDATE SET turns = bot_conversations.turns",
                (place,),
            )
            row = conn.execute(
                "SELECT turns, updated_at FROM bot_conversations WHERE place = ?", (place,)
            ).fetchone()
            turns: list[str] = []
            if row is not None and float(row[1]) >= now - self.ttl:
                turns = list(json.loads(row[0]))
            turns = [t for t in turns if t != answer_id] + [answer_id]
            conn.execute(
                "INSERT INTO bot_conversations (place, turns, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(place) DO UPDATE SET turns = excluded.turns,"
                " updated_at = excluded.updated_at",
                (place, json.dumps(turns[-self.turns :]), now),
            )
            self._prune(conn, now)

    def conversation(self, place: int) -> list[AnswerRecord]:
        """The live conversation of ``place``, oldest turn first; empty when there is none or it
        expired (an hour after its last turn)."""
        try:
            row = (
                self.store.reader()
                .execute(
                    "SELECT turns, updated_at FROM bot_conversations WHERE place = ?", (place,)
                )
                .fetchone()
            )
        except Exception as exc:
            if is_missing_table(exc):
                return []
            raise
        if row is None or float(row[1]) < self._now() - self.ttl:
            return []
        records = [self.get(aid) for aid in json.loads(row[0])]
        return [r for r in records if r is not None]

    def end(self, place: int) -> None:
        self._update("DELETE FROM bot_conversations WHERE place = ?", (place,))


# -- references -----------------------------------------------------------------------------------
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "last": -1,
    "latter": -1,
    "former": 1,
    "top": 1,
}
_NOUNS = (
    r"(?:one|paper|result|answer|article|study|work|quote|method|approach|model|link|entry"
    r"|option|pick|hit|publication|preprint|abstract)s?"
)
_ORD = "|".join(sorted(_ORDINALS, key=len, reverse=True))
_ORDINAL_NOUN = re.compile(rf"\b(?:the\s+)?({_ORD})\s+{_NOUNS}\b", re.IGNORECASE)
_THE_ORDINAL = re.compile(
    rf"\bthe\s+({_ORD})\b(?!\s+(?:time|step|stage|place|author|half|part|sentence|line|of|few))",
    re.IGNORECASE,
)
_NUMBERED = re.compile(
    r"(?:\b(?:paper|result|answer|number|no\.?|item|entry|option)\s*#?\s*|#|\[)([1-9])\b\]?",
    re.IGNORECASE,
)
_ALL = re.compile(
    r"\b(?:both(?:\s+of\s+them)?|all\s+(?:three|of\s+them|these|those|the\s+papers)"
    r"|each\s+of\s+them|the\s+(?:two|three)(?:\s+" + _NOUNS + r")?)\b",
    re.IGNORECASE,
)
_DESCRIBED = re.compile(rf"\b(?:the|that|this)\s+((?:[\w-]+\s+){{0,2}}?[\w-]+)\s+{_NOUNS}\b", re.I)
_PRONOUN = re.compile(
    r"\b(?:it|its|they|them|their|this|that|these|those|the\s+(?:paper|authors|method|model"
    r"|approach))\b",
    re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
# Asking for a paper not shown yet: "is there one that...", "any other papers on...", "what
# about X?". Not when it speaks of the shown papers ("is there a dataset they used?").
_SEEK = re.compile(
    r"\b(?:is|are)\s+there\b|\bany\s+(?:other|more|similar)\b|\banything\s+(?:else|on|about)\b"
    r"|\b(?:another|other|more|similar|different)\s+(?:papers?|ones?|works?|stud(?:y|ies)"
    r"|approach(?:es)?|methods?)\b|\bsomething\s+(?:else|similar|on|about|for)\b"
    r"|^\W*(?:and\s+)?(?:what|how)\s+about\b|\bany\s+papers?\b",
    re.IGNORECASE,
)
_SHOWN = re.compile(r"\b(?:it|its|they|them|their|these|those|above)\b", re.IGNORECASE)


def seeks_another(question: str) -> bool:
    """Whether a follow-up asks for a paper beyond those shown ("is there one that avoids
    phoneme alignment?", "what about text-video retrieval?"), rather than about them."""
    return bool(_SEEK.search(question)) and not _SHOWN.search(question)


@dataclass(frozen=True, slots=True)
class References:
    """What a follow-up points at among the previous answer's papers."""

    ids: tuple[str, ...]  # the papers it names, in the order named (empty: none named)
    question: str  # the follow-up with the naming words taken out (what is searched for)
    pronoun: bool  # it says "it", "they", "this paper"... without naming one

    @property
    def explicit(self) -> bool:
        return bool(self.ids)


def _names(title: str) -> list[str]:
    """What a paper is called for short: the part of its title before a colon when short
    ("ReMax", "Magpie", "VALL-E R"), and its coined words (internal capitals or digits:
    "InfAlign", "EvalMuse-40K", "MMTEB")."""
    names: list[str] = []
    head, colon, _ = title.partition(":")
    if colon and len(head.split()) <= 4:
        names.append(head.strip())
    for word in re.findall(r"[\w][\w-]*[\w]", title):
        if (any(c.isupper() for c in word[1:]) or any(c.isdigit() for c in word)) and len(
            word
        ) >= 3:
            names.append(word)
    return list(dict.fromkeys(n for n in names if n))


def resolve_references(
    question: str, papers: Sequence[tuple[str, str]], term: Callable[[str], list[str]]
) -> References:
    """Which of ``papers`` (``(id, title)`` in the order shown) the follow-up names: by
    ordinal ("the second one", "2nd paper", "the last one", "paper 3", "#2"), by name ("the
    ReMax one", "does Magpie..."), by a word of one title only ("the speech one"), or all of
    them ("both", "all three"). ``term`` turns text into index terms (the tokenizer's)."""
    found: list[tuple[int, str]] = []  # (position in the question, paper id)
    spans: list[tuple[int, int]] = []
    n = len(papers)

    def take(match: re.Match[str], index: int) -> None:
        if 0 <= index < n:
            found.append((match.start(), papers[index][0]))
            spans.append(match.span())

    for pattern in (_ORDINAL_NOUN, _THE_ORDINAL):
        for match in pattern.finditer(question):
            if any(a <= match.start() < b for a, b in spans):
                continue
            value = _ORDINALS[match.group(1).casefold()]
            take(match, n - 1 if value < 0 else value - 1)
    for match in _NUMBERED.finditer(question):
        if not any(a <= match.start() < b for a, b in spans):
            take(match, int(match.group(1)) - 1)
    folded = question.casefold()
    for pid, title in papers:
        for name in _names(title):
            at = re.search(rf"(?<![\w-]){re.escape(name.casefold())}(?![\w-])", folded)
            if at is not None and not any(a <= at.start() < b for a, b in spans):
                found.append((at.start(), pid))
                spans.append(at.span())
                break
    if not found:
        title_terms = [set(term(title)) for _, title in papers]
        for match in _DESCRIBED.finditer(question):
            words = set(term(match.group(1)))
            hits = [i for i, terms in enumerate(title_terms) if words & terms]
            if len(hits) == 1:
                found.append((match.start(), papers[hits[0]][0]))
                spans.append(match.span())
    if not found:
        for match in _ALL.finditer(question):
            found.extend((match.start() + i, pid) for i, (pid, _) in enumerate(papers))
            spans.append(match.span())
    ids = tuple(dict.fromkeys(pid for _, pid in sorted(found)))
    rest = question
    for a, b in sorted(spans, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    rest = _SPACES.sub(" ", rest).strip()
    return References(ids=ids, question=rest, pronoun=bool(_PRONOUN.search(question)))


# -- answering ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FollowUp:
    """A follow-up's answer and where it came from: ``"previous"`` (the papers of the previous
    answer) or ``"collection"`` (they did not answer it)."""

    answer: Answer
    source: str
    referenced: tuple[str, ...] = field(default=())


def _prior_order(
    papers: Sequence[Paper], question: str, library: Library, stats: object
) -> tuple[list[tuple[Paper, float]], float]:
    """The previous answer's papers as candidates, the first (best) first unless a later one
    matches the follow-up's words clearly better, and the best such match: the IDF-weighted
    share of the follow-up's terms a paper's title and abstract contain."""
    terms = library.tokenizer.query_terms(question) or library.tokenizer.terms(question)
    idf = getattr(stats, "idf", None)
    weights = {t: (float(idf(t)) if idf else 1.0) for t in dict.fromkeys(terms)}
    total = sum(weights.values()) or 1.0
    scored = []
    best = 0.0
    for rank, paper in enumerate(papers):
        have = set(library.tokenizer.terms(f"{paper.title}\n{paper.abstract}"))
        coverage = sum(w for t, w in weights.items() if t in have) / total
        best = max(best, coverage)
        scored.append((paper, 1.0 - 0.1 * rank + FOLLOWUP_MATCH_WEIGHT * coverage))
    scored.sort(key=lambda item: -item[1])
    return scored, best


FOLLOWUP_MATCH_WEIGHT = 0.5  # a later paper leads when it covers 20% more of the follow-up
# "they"/"it" point at the previous papers: they answer when one holds this share of the
# follow-up's weight, even where the collection-wide answer gate would decline.
PRONOUN_COVERAGE = 0.3


def _always_gate() -> object:
    from retrieval.answer.compose import GATE_FEATURES, AnswerGate

    return AnswerGate(tuple(0.0 for _ in GATE_FEATURES), 1.0, 0.0)


def answer_followup(
    library: Library,
    question: str,
    previous_ids: Iterable[str],
    *,
    collection: Where = None,
    previous_question: str = "",
) -> FollowUp:
    """Answer ``question`` from the papers of the previous answer first, then from the
    collection. A paper named ("the second one", "the ReMax one") is quoted even when the
    follow-up's words are thin (its best sentences for the follow-up, else for the follow-up
    plus the previous question, else for its title); "it"/"they" mean the previous papers,
    the first first."""
    from retrieval.answer.compose import AnswerGate, compose
    from retrieval.search import Scope

    names = library._scope(collection)
    scope = Scope(names)
    stats = library.index(names[0])
    papers = [
        p
        for pid in dict.fromkeys(previous_ids)
        if library.visible(pid, scope) and (p := library.paper(pid)) is not None
    ]
    refs = resolve_references(
        question[:MAX_QUESTION_CHARS], [(p.id, p.title) for p in papers], library.tokenizer.terms
    )
    text = refs.question or question

    def composed(query: str, candidates: list[tuple[Paper, float]], gate: object) -> Answer:
        assert gate is None or isinstance(gate, AnswerGate)
        return compose(
            query,
            candidates,
            stats,
            library.tokenizer,
            max_papers=library.max_answer_papers,
            collection=names[-1],
            paper_count=library.info(scope).paper_count,
            as_of=stats.meta.built_at,
            semantic=library.semantic,
            gate=gate,
        )

    def labelled(answer: Answer) -> Answer:
        from dataclasses import replace

        return replace(answer, question=question)

    if refs.explicit:
        by_id = {p.id: p for p in papers}
        named = [(by_id[pid], 1.0) for pid in refs.ids]
        # The follow-up's words, then with the previous question's, then the previous question
        # alone, then the paper's title: a paper the user named is always quoted.
        queries = (
            text,
            f"{text} {previous_question}".strip(),
            previous_question,
            named[0][0].title,
        )
        for query in queries:
            if not library.tokenizer.terms(query):
                continue
            answer = composed(query, named, _always_gate())
            if answer.answered and answer.papers[0].id == refs.ids[0]:
                return FollowUp(labelled(answer), "previous", refs.ids)
    elif seeks_another(question) and library.tokenizer.terms(text):
        # Straight to the collection: the shown papers are what the user looked past, and the
        # follow-up's own words lead ("anything on idioms?" is not about the last topic); the
        # previous question is added only when those words alone find nothing that answers.
        answer = library.ask(text, collection=scope)
        if answer.answered:
            return FollowUp(labelled(answer), "collection", ())
    elif papers and library.tokenizer.terms(text):
        ordered, coverage = _prior_order(papers, text, library, stats)
        sure = refs.pronoun and coverage >= PRONOUN_COVERAGE
        answer = composed(text, ordered, _always_gate() if sure else None)
        if answer.answered:
            return FollowUp(labelled(answer), "previous", ())
    # The previous papers do not answer it: the collection, with the previous question's
    # words as context ("does it work for code?" means code *for that topic*).
    query = f"{text} {previous_question}".strip()
    return FollowUp(labelled(library.ask(query, collection=scope)), "collection", refs.ids)
