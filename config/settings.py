"""All of paperbot's knobs in one typed object, read from ``PAPERBOT_*`` variables and ``.env``.

One object rather than scattered ``os.environ`` reads so that every knob is documented, validated
at start-up (a typo fails loudly, not at the first question) and injectable in tests.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def parse_shard_ids(value: str) -> tuple[int, ...]:
    """``"0,1"``, ``"0-3"`` or ``"0-1,4"`` -> sorted distinct shard ids."""
    ids: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(f"{part!r} is not a shard id or a range like 0-3") from None
        if first < 0 or last < first:
            raise ValueError(f"{part!r} is not a range of shard ids")
        ids.update(range(first, last + 1))
    if not ids:
        raise ValueError("no shard ids given")
    return tuple(sorted(ids))


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "paperbot"


class Settings(BaseSettings):
    """paperbot settings. Environment variables are ``PAPERBOT_`` + the upper-case field name."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        allow_inf_nan=False,  # PAPERBOT_BM25_K1=nan is refused as not a number, for every float
    )

    # --- storage -----------------------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the store lives.")
    db_path: Path | None = Field(
        default=None, description="SQLite paper store; default <data_dir>/paperbot.db."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://... selects the PostgreSQL paper store instead of SQLite.",
    )
    collection: str = Field(default="default", min_length=1, max_length=100)

    # --- retrieval ---------------------------------------------------------------------------
    engine: Literal["auto", "okapi", "sparse"] = Field(
        default="auto",
        description="auto: rank-bm25 below sparse_threshold papers, the sparse engine above.",
    )
    sparse_threshold: int = Field(default=20_000, ge=0)
    index_merge_at: int = Field(
        default=20_000,
        ge=0,
        description=(
            "Papers changed since the last full index build that are searched from a small "
            "delta index beside it; past this many the index is rebuilt whole (0: always)."
        ),
    )
    # Tuned on SciFact train queries by bench/tune_scifact.py (never on test).
    bm25_k1: float = Field(default=1.5, gt=0, le=10)
    bm25_b: float = Field(default=0.8, ge=0, le=1)
    title_weight: int = Field(default=3, ge=0, le=10, description="Title counted this often.")
    bm25_idf: Literal["okapi", "lucene", "atire"] = "atire"
    top_k: int = Field(default=10, ge=1, le=100)
    drop_question_words: bool = Field(
        default=False,
        description="Drop topic-less question words (which, paper, ...) from questions only.",
    )

    # --- answers -----------------------------------------------------------------------------
    answer_papers: int = Field(default=3, ge=1, le=5)
    semantic: bool = Field(
        default=True,
        description="Use the bundled WordLlama embeddings to re-rank papers and pick sentences.",
    )
    rerank_candidates: int = Field(
        default=10, ge=0, le=100, description="BM25's best this many are re-ranked by meaning."
    )
    semantic_weight: float = Field(
        default=0.5, ge=0, le=10, description="Weight of meaning against BM25 when re-ranking."
    )

    # --- discord -----------------------------------------------------------------------------
    discord_token: SecretStr | None = None
    discord_shards: int | None = Field(default=None, ge=1, description="Use AutoShardedBot.")
    # Several processes sharing one store split the guilds by Discord shard: each runs a range.
    shard_count: int | None = Field(
        default=None, ge=1, le=10000, description="Shards across all processes."
    )
    shard_ids: str | None = Field(
        default=None, description="The shards this process runs: '0,1' or '0-3' (with shard_count)."
    )
    leader_check_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How often a process tries to take over the once-only jobs (refresh, digests, "
        "alerts) from one that died.",
    )
    cooldown_seconds: float = Field(default=3.0, ge=0)
    cooldown_rate: int = Field(default=3, ge=1)
    view_timeout: float = Field(default=600, gt=0, le=840, description="Buttons stay live.")
    followup_ttl: float = Field(
        default=3600, gt=0, description="Seconds a thread's conversation lasts after its last turn."
    )
    followup_turns: int = Field(default=4, ge=1, le=20, description="Turns a conversation keeps.")
    answer_retention_days: float = Field(
        default=30, gt=0, description="Days answers are kept for follow-up and vote buttons."
    )
    log_level: str = "INFO"

    # --- ingestion ---------------------------------------------------------------------------
    hf_base_url: str = "https://huggingface.co"
    arxiv_api_url: str = "https://export.arxiv.org/api/query"
    arxiv_oai_url: str = "https://oaipmh.arxiv.org/oai"
    http_timeout: float = Field(default=20.0, gt=0, description="Per request, seconds.")
    http_max_attempts: int = Field(default=5, ge=1, le=20)
    http_total_timeout: float = Field(default=180.0, gt=0, description="With retries, seconds.")
    http_max_wait: float = Field(default=310.0, ge=0, description="Longest rate-limit pause.")
    http_contact: str | None = Field(default=None, description="Added to the User-Agent.")
    hf_token: SecretStr | None = None
    arxiv_min_interval: float = Field(default=3.0, ge=0)

    # --- guild features ----------------------------------------------------------------------
    add_roles: str = Field(
        default="",
        max_length=2000,
        description="Comma-separated role names or ids whose members may use /add and /watch "
        "(besides anyone with Manage Server).",
    )
    add_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Seconds /add may spend fetching a paper, retries included (capped by "
        "http_total_timeout).",
    )
    guild_max_papers: int = Field(
        default=5000,
        ge=0,
        description="Most papers one server's own collection may hold (0: no limit).",
    )
    links_per_message: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Most paper links taken from one message in a watched channel.",
    )
    daily_refresh_time: str | None = Field(
        default=None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="UTC time (HH:MM) to fetch Hugging Face daily papers into the shared "
        "collection every day; unset: no refresh.",
    )
    daily_refresh_backfill_days: int = Field(
        default=7,
        ge=1,
        le=60,
        description="After downtime, the daily refresh catches up at most this many days.",
    )
    # Topic alerts (/follow). The threshold is chosen on the train topics of bench/bench_alerts.py.
    alert_min_score: float = Field(
        default=0.55,
        ge=0,
        le=1,
        description="How well a new paper must match a followed topic to be announced: BM25 "
        "over the topic's best attainable score (0..1); every word of the topic is required, "
        "all in the title or in one sentence.",
    )
    alert_max_follows_user: int = Field(default=10, ge=1, le=100)
    alert_max_follows_guild: int = Field(default=50, ge=1, le=1000)
    alert_papers_per_message: int = Field(default=5, ge=1, le=10)
    alert_poll_seconds: float = Field(
        default=60.0, gt=0, description="How often the store is checked for new papers."
    )
    digest_count: int = Field(
        default=5, ge=1, le=10, description="Papers in a daily digest when /digest gives no count."
    )
    bot_state_path: Path | None = Field(
        default=None,
        description="The bot's small state file (watched channels, last daily refresh), used "
        "only without a writable store (the state is kept in the store; a file found here is "
        "imported into it once); default <store>.bot.json beside the store.",
    )
    # Optional model-written answers (off unless both the URL and the model are set).
    llm_base_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible endpoint (e.g. https://api.openai.com/v1, "
        "http://localhost:11434/v1); unset: no model-written answers.",
    )
    llm_model: str | None = Field(default=None, description="The model name sent to it.")
    llm_api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    llm_timeout: float = Field(
        default=8.0, gt=0, le=60, description="Total seconds per answer, retries included."
    )
    llm_max_tokens: int = Field(default=300, ge=16, le=4096, description="Reply token budget.")
    llm_prompt_chars: int = Field(
        default=6000, ge=500, le=100_000, description="Cap on the sentence text sent."
    )
    llm_temperature: float = Field(default=0.0, ge=0, le=2)

    @field_validator("data_dir", "db_path", "bot_state_path", mode="before")
    @classmethod
    def _path_not_empty(cls, value: Any) -> Any:
        # An empty path is Path("."), the working directory: never what was meant.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give a path, or leave the setting unset")
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_shard_ids(value)  # raises ValueError with the reason
        return value.strip()

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids:
            if not self.shard_count:
                raise ValueError("PAPERBOT_SHARD_IDS needs PAPERBOT_SHARD_COUNT (the total)")
            beyond = [i for i in parse_shard_ids(self.shard_ids) if i >= self.shard_count]
            if beyond:
                raise ValueError(
                    f"shard ids {beyond} are beyond PAPERBOT_SHARD_COUNT={self.shard_count} "
                    f"(ids run from 0 to {self.shard_count - 1})"
                )
        return self

    def shard_range(self) -> tuple[int, ...] | None:
        """The shard ids this process runs (None: all of ``shard_count``, or no sharding).
        A range beyond ``shard_count`` is refused, in one line, by :func:`check_shards`."""
        return parse_shard_ids(self.shard_ids) if self.shard_ids else None

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is blank: give a collection name")
        if not value.isprintable():
            raise ValueError("has control or invisible characters")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        names = [n for n in logging.getLevelNamesMapping() if n not in ("NOTSET", "WARN", "FATAL")]
        if level not in names:
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(names)}")
        return level

    @property
    def store_path(self) -> Path:
        """The SQLite file: ``db_path`` when set, else ``<data_dir>/paperbot.db``."""
        return self.db_path if self.db_path is not None else self.data_dir / "paperbot.db"

    @property
    def store_path_is_default(self) -> bool:
        return self.db_path is None


def describe_error(error: ValidationError, *, subject: str = "value") -> str:
    """The first problem pydantic found, as one line such as ``"abstract: abstract is empty"``:
    the one wording of a rejected setting, record or API item, wherever it was read."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or subject
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}"


def default(name: str) -> Any:
    """The default of one setting, for code that takes the knob as an argument (``BM25Params``,
    ``Library``, the index): settings are the only place a default is written."""
    field = Settings.model_fields[name]
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
