"""Remote paper sources: Hugging Face Papers, the arXiv API and arXiv OAI-PMH, over httpx.

* :mod:`retrieval.ingest.http` -- the polite async client (timeouts, retries with backoff and
  jitter, Retry-After / HF ``RateLimit``, per-host spacing, a bounded total time).
* :mod:`retrieval.ingest.hf`, :mod:`~retrieval.ingest.arxiv_api`, :mod:`~retrieval.ingest.oai`
  -- one module per API, each turning responses into validated :class:`retrieval.papers.Paper`.
* :mod:`retrieval.ingest.pipeline` -- fetch everything, then one store transaction.
* :mod:`retrieval.ingest.errors` -- one-line, request-naming errors for the CLI and the bot.

Nothing is imported here so that ``import retrieval`` stays cheap for the bot and the CLI.
"""
