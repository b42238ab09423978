"""Followed topics: standing queries whose new matching papers are announced once per place.

A follow is a topic a user typed (``"retrieval augmented generation"``), delivered to a channel or
to its owner by direct message. Whenever papers enter the collections it watches (the shared one,
plus the server's own ``guild-<id>`` for a follow made in a server), the new ones are scored
against the topic and the best are announced: at most one message per follow per UTC day, each
paper at most once per place (``announcements`` has the place and the paper as primary key).

What is new is read from the store, not from memory, so papers written by another process
(``paperbot ingest``) are seen too: each follow keeps, per collection, the generation it has
examined up to (its *cursor*), and :meth:`PaperStore.changes_since` lists what changed after it.
When the change log cannot tell (pruned, or one change too large to list), papers that joined the
collection since the cursor was taken are read by their membership time instead. A follow that
already posted today is not examined: its cursor stays, so its papers wait for tomorrow.

Matching is BM25 with the shared index's statistics (IDF, average length, k1, b, title weight),
divided by the best score the topic could reach (every term at saturation), so one threshold in
0..1 works for short and long topics alike: it grows with how often and where (the title counts
``title_weight`` times) a paper uses the topic's words, rare words weighing most. A paper must use
every word of the topic, and all of them in its title or in one sentence, to match at all (see
:class:`TopicScorer`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from config.settings import default
from retrieval.search import EmptyQuery

if TYPE_CHECKING:
    from retrieval.answer.gist import Gist
    from retrieval.index import BM25Index
    from retrieval.papers import Paper
    from retrieval.search import Library

log = logging.getLogger(__name__)

DDL = """
CREATE TABLE IF NOT EXISTS follows (
    id INTEGER PRIMARY KEY,
    guild_id INTEGER,
    channel_id INTEGER,
    owner_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    topic_key TEXT NOT NULL,
    min_score REAL NOT NULL,
    created_at TEXT NOT NULL,
    last_posted_day TEXT,
    cursor TEXT NOT NULL DEFAULT '{}',
    disabled TEXT
);
CREATE INDEX IF NOT EXISTS follows_owner ON follows(owner_id, topic_key);
CREATE INDEX IF NOT EXISTS follows_guild ON follows(guild_id);
CREATE TABLE IF NOT EXISTS announcements (
    place TEXT NOT NULL,
    paper_id TEXT NOT NULL,
    follow_id INTEGER,
    day TEXT NOT NULL,
    PRIMARY KEY (place, paper_id)
) WITHOUT ROWID;
"""

TOPIC_MAX_CHARS = 200
# Papers read and scored per batch while examining what is new (bounded memory).
_BATCH = 500
# A membership time is written when its transaction starts: read a little before the cursor.
_CLOCK_SLACK = timedelta(minutes=10)


class FollowError(Exception):
    """A follow that cannot be made; ``str()`` is a polite line for the user."""


class EmptyTopic(FollowError):
    def __init__(self) -> None:
        super().__init__("That topic has no searchable words. Try a few keywords.")


class TooManyFollows(FollowError):
    def __init__(self, limit: int, whose: str) -> None:
        super().__init__(
            f"{whose} already follow{'s' if whose != 'You' else ''} {limit} topics, the most "
            "allowed. Remove one with /unfollow first."
        )
        self.limit = limit


class AlreadyFollowed(FollowError):
    def __init__(self, follow: Follow) -> None:
        super().__init__("That topic is already followed there.")
        self.follow = follow


@dataclass(frozen=True, slots=True)
class Follow:
    id: int
    guild_id: int | None  # where it was made (None: in a direct message)
    channel_id: int | None  # where it is posted (None: by direct message to the owner)
    owner_id: int
    topic: str
    min_score: float
    created_at: datetime
    last_posted_day: date | None
    disabled: str | None

    @property
    def place(self) -> str:
        """Where announcements go: a paper is announced once per place."""
        return (
            f"channel:{self.channel_id}" if self.channel_id is not None else f"user:{self.owner_id}"
        )

    @property
    def by_dm(self) -> bool:
        return self.channel_id is None


@dataclass(frozen=True, slots=True)
class Match:
    paper: Paper
    score: float  # normalised, 0..1
    gist: Gist


@dataclass
class Due:
    """What one follow has to announce now: ``matches`` best first (at most the per-message cap),
    ``more`` matching papers left out of the message, and the cursor to keep once delivered."""

    follow: Follow
    matches: list[Match]
    more: int
    examined: int
    cursor: dict[str, list[Any]] = field(default_factory=dict)
    previous_cursor: dict[str, list[Any]] = field(default_factory=dict)  # for :meth:`release`


def topic_key(topic: str) -> str:
    return " ".join(topic.casefold().split())


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class TopicScorer:
    """Normalised BM25 of a topic against papers, with one index's corpus statistics.

    With ``require_all`` (the default) a paper that lacks any word of the topic scores 0: on the
    calibration topics, papers using only some of the words ("multi-agent" systems that are not
    reinforcement learning, "benchmarks" that are not of code generation) were the commonest
    wrong announcements, and requiring every word let a lower threshold keep precision with
    more papers (bench/bench_alerts.py)."""

    def __init__(
        self,
        library: Library,
        index: BM25Index,
        topic: str,
        *,
        require_all: bool = True,
        together: bool = True,
    ) -> None:
        self.library = library
        self.require_all = require_all
        self.together = together
        terms = library.query_terms(topic[:TOPIC_MAX_CHARS])
        self.terms = list(dict.fromkeys(terms))
        params = index.params
        self.k1, self.b, self.title_weight = params.k1, params.b, params.title_weight
        self.avgdl = max(float(index.avgdl), 1e-9)
        unseen = float(params.idf_values(max(index.n_docs, 1), np.array([1.0]))[0])
        self.idf = {t: (index.idf(t) if index.doc_freq(t) > 0 else unseen) for t in self.terms}
        self.best = sum(max(v, 0.0) * (self.k1 + 1.0) for v in self.idf.values())

    def score_counts(self, counts: Counter[str], length: int) -> float:
        if self.best <= 0:
            return 0.0
        norm = self.k1 * (1.0 - self.b + self.b * length / self.avgdl)
        total = 0.0
        for term in self.terms:
            tf = counts.get(term, 0)
            if tf:
                total += max(self.idf[term], 0.0) * tf * (self.k1 + 1.0) / (tf + norm)
            elif self.require_all:
                return 0.0
        return total / self.best

    def score_paper(
        self, counts: Counter[str], length: int, title: str, abstract: str, floor: float = 0.0
    ) -> float:
        """:meth:`score_counts`, and 0 when ``together`` is asked and no single sentence (nor
        the title) holds every word of the topic. Checked only for papers scoring at least
        ``floor`` (the sentence split costs more than the counts)."""
        score = self.score_counts(counts, length)
        if not self.together or score <= 0 or score < floor:
            return score
        return score if self.said_together(title, abstract) else 0.0

    def said_together(self, title: str, abstract: str) -> bool:
        """Whether the title, or one sentence of the abstract, uses every word of the topic.

        Why: a paper *about* "code generation benchmarks" says so in one place, while one that
        merely has "code" in one sentence and "benchmark" in another is the commonest wrong
        announcement left once every word is required (bench/bench_alerts.py: on the calibration
        topics it kept precision at a lower threshold, so with more papers a week)."""
        from retrieval.answer.sentences import split_sentences

        wanted = set(self.terms)
        terms_of = self.library.tokenizer.terms
        if wanted <= set(terms_of(title)):
            return True
        return any(wanted <= set(terms_of(abstract[a:b])) for a, b in split_sentences(abstract))


class DocTerms:
    """Term counts of papers as the index sees them (abstract, then the title weighted),
    computed once per paper however many topics are scored against it."""

    def __init__(self, library: Library, title_weight: int) -> None:
        self.tokenizer = library.tokenizer
        self.title_weight = title_weight
        self._cache: dict[int, tuple[Counter[str], int]] = {}

    def get(self, pk: int, title: str, abstract: str) -> tuple[Counter[str], int]:
        found = self._cache.get(pk)
        if found is None:
            terms = self.tokenizer.terms(abstract)
            if title and self.title_weight:
                terms += self.tokenizer.terms(title) * self.title_weight
            found = (Counter(terms), len(terms))
            self._cache[pk] = found
        return found


class Follows:
    """The follows and announcements tables of one store, and what is due (see module)."""

    def __init__(
        self,
        library: Library,
        *,
        min_score: float = default("alert_min_score"),
        max_per_user: int = default("alert_max_follows_user"),
        max_per_guild: int = default("alert_max_follows_guild"),
        per_message: int = default("alert_papers_per_message"),
    ) -> None:
        self.library = library
        self.store = library.store
        self.min_score = min_score
        self.max_per_user = max_per_user
        self.max_per_guild = max_per_guild
        self.per_message = per_message
        self.store.ensure_tables(DDL)

    # -- tables -----------------------------------------------------------------------------------
    def _ready(self) -> bool:
        """Whether the tables exist (a read-only store may lack them: then nothing is followed)."""
        return self.store.ensure_tables(DDL) or self.store.has_table("follows")

    _COLUMNS = (
        "id, guild_id, channel_id, owner_id, topic, min_score, created_at, last_posted_day,"
        " disabled"
    )

    @staticmethod
    def _row(row: Sequence[Any]) -> Follow:
        return Follow(
            id=int(row[0]),
            guild_id=row[1],
            channel_id=row[2],
            owner_id=int(row[3]),
            topic=row[4],
            min_score=float(row[5]),
            created_at=datetime.fromisoformat(row[6]),
            last_posted_day=date.fromisoformat(row[7]) if row[7] else None,
            disabled=row[8],
        )

    def _select(self, where: str, args: Sequence[Any]) -> list[Follow]:
        if not self._ready():
            return []
        rows = self.store.reader().execute(
            f"SELECT {self._COLUMNS} FROM follows WHERE {where} ORDER BY topic_key, id", args
        )
        return [self._row(r) for r in rows]

    def collections_for(self, follow: Follow) -> tuple[str, ...]:
        return self.library.scope(follow.guild_id).collections

    def _current_cursor(self, collections: Iterable[str], now: datetime) -> dict[str, list[Any]]:
        return {name: [self.store.generation(name), _iso(now)] for name in collections}

    # -- the bot's verbs --------------------------------------------------------------------------
    def follow(
        self,
        *,
        owner_id: int,
        topic: str,
        guild_id: int | None,
        channel_id: int | None,
        now: datetime,
        min_score: float | None = None,
    ) -> Follow:
        """Save a follow; papers already stored are not announced, only those that come later.
        Raises :class:`EmptyTopic`, :class:`AlreadyFollowed` or :class:`TooManyFollows`."""
        text = " ".join(topic.split())[:TOPIC_MAX_CHARS]
        try:
            self.library.query_terms(text)
        except EmptyQuery:
            raise EmptyTopic() from None
        key = topic_key(text)
        score = self.min_score if min_score is None else min(max(float(min_score), 0.0), 1.0)
        scope = self.library.scope(guild_id).collections
        cursor = json.dumps(self._current_cursor(scope, now))
        with self.store.transaction() as conn:
            same = conn.execute(
                f"SELECT {self._COLUMNS} FROM follows WHERE owner_id = ? AND topic_key = ?"
                " AND channel_id IS ? AND (channel_id IS NOT NULL OR guild_id IS ?)",
                (owner_id, key, channel_id, guild_id),
            ).fetchone()
            if same is not None:
                raise AlreadyFollowed(self._row(same))
            (mine,) = conn.execute(
                "SELECT COUNT(*) FROM follows WHERE owner_id = ?", (owner_id,)
            ).fetchone()
            if mine >= self.max_per_user:
                raise TooManyFollows(self.max_per_user, "You")
            if guild_id is not None and channel_id is not None:
                (theirs,) = conn.execute(
                    "SELECT COUNT(*) FROM follows WHERE guild_id = ? AND channel_id IS NOT NULL",
                    (guild_id,),
                ).fetchone()
                if theirs >= self.max_per_guild:
                    raise TooManyFollows(self.max_per_guild, "This server")
            (follow_id,) = conn.execute(
                "INSERT INTO follows(guild_id, channel_id, owner_id, topic, topic_key, min_score,"
                " created_at, cursor) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (guild_id, channel_id, owner_id, text, key, score, _iso(now), cursor),
            ).fetchone()
            follow_id = int(follow_id)
        log.info("follow %d: %r for %s", follow_id, text, channel_id or f"user {owner_id}")
        found = self.get(follow_id)
        assert found is not None
        return found

    def get(self, follow_id: int) -> Follow | None:
        found = self._select("id = ?", (follow_id,))
        return found[0] if found else None

    def of_user(self, owner_id: int) -> list[Follow]:
        """A user's follows, wherever they are posted."""
        return self._select("owner_id = ?", (owner_id,))

    def of_guild(self, guild_id: int) -> list[Follow]:
        """Follows made in a server (its channels' and its members' direct-message ones)."""
        return self._select("guild_id = ?", (guild_id,))

    def topics(self, owner_id: int, typed: str, limit: int = 25) -> list[Follow]:
        """Autocomplete for /unfollow: the user's follows whose topic contains what was typed
        (one seek of the owner index; a user has at most ``max_per_user`` follows)."""
        needle = topic_key(typed)
        mine = self.of_user(owner_id)
        starts = [f for f in mine if topic_key(f.topic).startswith(needle)]
        inside = [f for f in mine if f not in starts and needle in topic_key(f.topic)]
        return (starts + inside)[:limit]

    def unfollow(self, owner_id: int, follow_id: int) -> Follow | None:
        """Remove one of the user's own follows; None when it is not theirs (or gone)."""
        if not self._ready():
            return None
        with self.store.transaction() as conn:
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM follows WHERE id = ? AND owner_id = ?",
                (follow_id, owner_id),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM follows WHERE id = ?", (follow_id,))
        return self._row(row)

    def find_own(self, owner_id: int, text: str) -> Follow | None:
        """The user's follow named by ``text``: an id from autocomplete, or the topic typed."""
        stripped = text.strip()
        if stripped.isdigit():
            found = self.get(int(stripped))
            if found is not None and found.owner_id == owner_id:
                return found
        key = topic_key(stripped)
        mine = [f for f in self.of_user(owner_id) if topic_key(f.topic) == key]
        return mine[0] if mine else None

    def disable(self, follow_id: int, reason: str) -> None:
        """Stop delivering a follow (its channel is gone); it stays listed with the reason."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE follows SET disabled = ? WHERE id = ?", (reason[:200], follow_id))
        log.info("follow %d disabled: %s", follow_id, reason)

    def disable_channel(self, channel_id: int, reason: str) -> int:
        """Disable every follow posted to a channel (deleted, or the bot was removed)."""
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE follows SET disabled = ? WHERE channel_id = ? AND disabled IS NULL",
                (reason[:200], channel_id),
            )
            return int(cur.rowcount)

    # -- what is due ------------------------------------------------------------------------------
    def stamp(self) -> tuple[int, ...]:
        """Generations of every collection: when this has not changed, nothing is new (a cheap
        poll for papers written by another process)."""
        return tuple(c.generation for c in self.store.collections())

    def due(self, now: datetime, *, ids: Sequence[int] | None = None) -> list[Due]:
        """For each active follow that has not posted today: the new papers since its cursor
        that match well enough, best first (``per_message`` of them, plus how many more). A
        follow with nothing to announce is returned too (empty ``matches``), so its cursor can
        move on with :meth:`examined`."""
        today = now.astimezone(UTC).date().isoformat()
        follows = [
            f
            for f in self._select(
                "disabled IS NULL AND (last_posted_day IS NULL OR last_posted_day < ?)", (today,)
            )
            if ids is None or f.id in ids
        ]
        if not follows:
            return []
        base = self.library.index()
        doc_terms = DocTerms(self.library, base.params.title_weight)
        out: list[Due] = []
        chosen: set[tuple[str, str]] = set()  # (place, paper id) taken by an earlier follow
        for follow in follows:
            try:
                found = self._due_one(follow, base, doc_terms, now, chosen)
                chosen.update((follow.place, m.paper.id) for m in found.matches)
                out.append(found)
            except Exception:  # one broken follow must not stop the others
                log.exception("follow %d: could not be examined", follow.id)
        return out

    def _cursor_of(self, follow_id: int) -> dict[str, list[Any]]:
        row = (
            self.store.reader()
            .execute("SELECT cursor FROM follows WHERE id = ?", (follow_id,))
            .fetchone()
        )
        value = json.loads(row[0]) if row else {}
        return value if isinstance(value, dict) else {}

    def _new_pks(self, collection: str, since: list[Any] | None, floor: str) -> list[int]:
        """Store keys that joined ``collection`` after the cursor ``since`` (generation, time)."""
        if since is None:
            return []  # a collection the follow did not watch when made: cursor starts now
        changed = self.store.changes_since(collection, int(since[0]))
        conn = self.store.reader()
        if changed is None:  # the log cannot tell: read memberships by time
            after = _iso(datetime.fromisoformat(str(since[1])) - _CLOCK_SLACK)
            rows = conn.execute(
                "SELECT pk FROM collection_papers WHERE collection = ? AND added_at >= ?"
                " AND added_at >= ?",
                (collection, after, floor),
            )
            return [int(r[0]) for r in rows]
        keep: list[int] = []
        for start in range(0, len(changed), _BATCH):
            part = changed[start : start + _BATCH]
            marks = ",".join("?" * len(part))
            keep.extend(
                int(r[0])
                for r in conn.execute(
                    f"SELECT pk FROM collection_papers WHERE collection = ? AND pk IN ({marks})"
                    " AND added_at >= ?",
                    [collection, *part, floor],
                )
            )
        return keep

    def _due_one(
        self,
        follow: Follow,
        base: BM25Index,
        doc_terms: DocTerms,
        now: datetime,
        chosen: set[tuple[str, str]],
    ) -> Due:
        from retrieval.answer.gist import gist

        collections = self.collections_for(follow)
        cursor = self._cursor_of(follow.id)
        new_cursor = self._current_cursor(collections, now)  # read before the changes: safe
        floor = _iso(follow.created_at - _CLOCK_SLACK)
        scorer = TopicScorer(self.library, base, follow.topic)
        scored: dict[int, float] = {}
        examined = 0
        for name in collections:
            pks = self._new_pks(name, cursor.get(name), floor)
            for start in range(0, len(pks), _BATCH):
                for pk, title, abstract in self.store.iter_texts_by_pks(
                    name, pks[start : start + _BATCH]
                ):
                    if pk in scored:
                        continue
                    examined += 1
                    counts, length = doc_terms.get(pk, title, abstract)
                    scored[pk] = scorer.score_paper(
                        counts, length, title, abstract, floor=follow.min_score
                    )
        hits = sorted(
            ((pk, s) for pk, s in scored.items() if s >= follow.min_score),
            key=lambda item: (-item[1], item[0]),
        )
        # Never twice to the same place: drop what was announced there already.
        papers = self.store.papers_by_pks([pk for pk, _ in hits])
        said = self._announced(follow.place, [p.id for p in papers.values()])
        fresh = [
            (papers[pk], s)
            for pk, s in hits
            if pk in papers
            and papers[pk].id not in said
            and (follow.place, papers[pk].id) not in chosen
        ]
        shown = fresh[: self.per_message]
        matches = [Match(p, s, gist(p)) for p, s in shown]
        return Due(follow, matches, len(fresh) - len(shown), examined, new_cursor, cursor)

    def _announced(self, place: str, paper_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        conn = self.store.reader()
        for start in range(0, len(paper_ids), _BATCH):
            part = list(paper_ids[start : start + _BATCH])
            marks = ",".join("?" * len(part))
            found.update(
                r[0]
                for r in conn.execute(
                    f"SELECT paper_id FROM announcements WHERE place = ? AND paper_id IN ({marks})",
                    [place, *part],
                )
            )
        return found

    # -- after delivery ---------------------------------------------------------------------------
    def delivered(self, due: Due, now: datetime) -> int:
        """Record a posted message: its papers announced at its place (never again there), the
        day used up, the cursor moved on. Returns the papers newly recorded. Called *before*
        sending (a claim: see :meth:`release`), so a process that dies between sending and
        recording can never make another announce the same papers again."""
        day = now.astimezone(UTC).date().isoformat()
        with self.store.transaction() as conn:
            cur = conn.executemany(
                "INSERT OR IGNORE INTO announcements(place, paper_id, follow_id, day)"
                " VALUES (?,?,?,?)",
                [(due.follow.place, m.paper.id, due.follow.id, day) for m in due.matches],
            )
            conn.execute(
                "UPDATE follows SET last_posted_day = ?, cursor = ? WHERE id = ?",
                (day, json.dumps(due.cursor), due.follow.id),
            )
        return int(cur.rowcount)

    def release(self, due: Due, now: datetime) -> None:
        """Undo :meth:`delivered` for a message that could not be sent: its papers are not
        announced after all, and the cursor goes back to where it was (the papers wait for the
        next day with whatever comes meanwhile, as :meth:`postpone` says)."""
        day = now.astimezone(UTC).date().isoformat()
        with self.store.transaction() as conn:
            conn.executemany(
                "DELETE FROM announcements WHERE place = ? AND paper_id = ? AND follow_id = ?"
                " AND day = ?",
                [(due.follow.place, m.paper.id, due.follow.id, day) for m in due.matches],
            )
            conn.execute(
                "UPDATE follows SET cursor = ? WHERE id = ?",
                (json.dumps(due.previous_cursor), due.follow.id),
            )

    def examined(self, due: Due) -> None:
        """Nothing to announce: move the cursor on (the day is not used up)."""
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE follows SET cursor = ? WHERE id = ?",
                (json.dumps(due.cursor), due.follow.id),
            )

    def postpone(self, due: Due, now: datetime) -> None:
        """Delivery failed (no permission, DM closed, rate limited): try again tomorrow with the
        same papers and whatever comes meanwhile (the cursor stays)."""
        day = now.astimezone(UTC).date().isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                "UPDATE follows SET last_posted_day = ? WHERE id = ?", (day, due.follow.id)
            )


def normalised_bm25(
    library: Library,
    index: BM25Index,
    topic: str,
    papers: Iterable[tuple[int, str, str]],
    *,
    require_all: bool = True,
    together: bool = True,
) -> dict[int, float]:
    """The score :class:`Follows` compares with ``min_score``, for ``(pk, title, abstract)``
    rows (the calibration bench scores with exactly this)."""
    scorer = TopicScorer(library, index, topic, require_all=require_all, together=together)
    doc_terms = DocTerms(library, index.params.title_weight)
    return {
        pk: scorer.score_paper(*doc_terms.get(pk, title, abstract), title, abstract)
        for pk, title, abstract in papers
    }
