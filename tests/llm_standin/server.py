"""A loopback OpenAI-compatible chat server, so the model-written answers can be tested for every
way a real endpoint misbehaves without a model, a network or a key.

Why a server rather than a mocked transport: the writer's timeouts, retries and deadline live in
httpx and the socket; a slow body, a hang or a 429 only test something when they happen on a
real connection.

API (everything a test needs)::

    async with LLMStandIn(behaviour="good") as llm:      # async tests
        settings = make_settings(llm_base_url=llm.base_url, llm_model=llm.model, ...)
        llm.behaviour = "hang"                            # switch at any time
        llm.requests                                       # list[ChatRequest], in arrival order

    with LLMStandIn(behaviour="good").threaded() as llm:  # sync tests: own loop, own thread
        ...

``base_url`` ends in ``/v1`` like OpenAI's and Ollama's. Routes: ``POST /v1/chat/completions``
and ``GET /v1/models``. Behaviours (:data:`BEHAVIOURS`):

- ``good``: answers in JSON (``{"answer": [{"text", "cites"}], "unanswerable": false}``), citing
  the sentence ids of the prompt (``[P.S] text`` lines) that share most words with the question
  (``Question: ...`` line); deterministic. ``plain``: the same answer as plain text ending in
  ``[1.2]`` markers. ``unanswerable``: says the papers do not answer.
- ``bad_ids``: cites ids that were not sent (``9.9``, ``1.99``).
- ``no_citations``: sentences without any citation.
- ``malformed``: truncated JSON inside a code fence.
- ``slow``: the good body in :attr:`LLMStandIn.chunks` pieces :attr:`LLMStandIn.chunk_delay`
  seconds apart (as SSE when the request asks ``stream: true``).
- ``hang``: accepts the request and never answers (until the server stops).
- ``rate_limited``: 429 with ``Retry-After: retry_after`` for the first :attr:`fail_times`
  requests, then ``good``. ``error``: 500 every time. ``error_once``: 500 for the first
  :attr:`fail_times` requests, then ``good``.
- ``inject``: echoes any "ignore ... instructions ..." text found in the prompt, plus
  ``@everyone``, a user mention and a foreign link, citing a valid id.

Every request is recorded (:class:`ChatRequest`) with its ``Authorization`` header, so a test can
check the key went out as ``Bearer <key>`` — and then that it appears in no log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

BEHAVIOURS = (
    "good",
    "plain",
    "unanswerable",
    "bad_ids",
    "no_citations",
    "malformed",
    "slow",
    "hang",
    "rate_limited",
    "error",
    "error_once",
    "inject",
)

_SENTENCE = re.compile(r"^\[(\d+\.\d+)\]\s*(.+)$", re.MULTILINE)
_QUESTION = re.compile(r"^Question:\s*(.+)$", re.MULTILINE)
_INJECTION = re.compile(r"ignore[^\n.\]]*instructions[^\n\]]*", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = (
    "a an and are as at be by can do does for from how in is it of on or that the this "
    "to was what when which who why with we our paper papers"
)
_STOP = frozenset(_STOPWORDS.split())


@dataclass
class ChatRequest:
    """One request as the stand-in saw it."""

    method: str
    path: str
    body: Any  # parsed JSON, or the raw text when it was not JSON
    authorization: str | None  # the Authorization header as sent
    at: float  # time.monotonic() on arrival
    behaviour: str  # the behaviour that answered it
    status: int = 0

    @property
    def prompt(self) -> str:
        """All message contents, joined (what the model would have read)."""
        if not isinstance(self.body, dict):
            return ""
        parts = []
        for message in self.body.get("messages") or []:
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                parts.append(message["content"])
        return "\n".join(parts)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def best_ids(prompt: str, k: int = 2) -> list[tuple[str, str]]:
    """The ``k`` sentence ids (with their text) of ``prompt`` that share most words with its
    question: ties go to the earlier id, so the answer is deterministic."""
    match = _QUESTION.search(prompt)
    question = _words(match.group(1)) if match else set()
    sentences = _SENTENCE.findall(prompt)
    scored = [
        (len(question & _words(text)), -i, sid, text) for i, (sid, text) in enumerate(sentences)
    ]
    scored.sort(reverse=True)
    return [(sid, text) for overlap, _, sid, text in scored[:k] if overlap > 0] or [
        (sid, text) for sid, text in sentences[:1]
    ]


def _gist(text: str, words: int = 14) -> str:
    parts = text.split()
    gist = " ".join(parts[:words]).rstrip(".,;:")
    return gist[0].upper() + gist[1:] + "." if gist else "The paper says so."


class LLMStandIn:
    """The loopback OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        behaviour: str = "good",
        *,
        model: str = "standin-model",
        retry_after: float = 0.2,
        fail_times: int = 1,
        chunks: int = 8,
        chunk_delay: float = 0.5,
    ) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.model = model
        self.retry_after = retry_after
        self.fail_times = fail_times
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.requests: list[ChatRequest] = []
        self.port = 0
        self._failures = 0
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None

    # ------------------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> LLMStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @contextlib.contextmanager
    def threaded(self) -> Iterator[LLMStandIn]:
        """Run the server on its own event loop in a daemon thread (for sync tests and the
        CLI); stopped when the block ends."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="llm-standin", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the LLM stand-in did not start")
        try:
            yield self
        finally:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[ChatRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # ------------------------------------------------------------------------------- routes
    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(
            ChatRequest(
                "GET",
                request.path,
                None,
                request.headers.get("Authorization"),
                time.monotonic(),
                self.behaviour,
                200,
            )
        )
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        behaviour = self.behaviour
        record = ChatRequest(
            "POST",
            request.path,
            body,
            request.headers.get("Authorization"),
            time.monotonic(),
            behaviour,
        )
        self.requests.append(record)
        if behaviour in ("rate_limited", "error_once") and self._failures < self.fail_times:
            self._failures += 1
            status = 429 if behaviour == "rate_limited" else 500
            record.status = status
            headers = {"Retry-After": f"{self.retry_after:g}"} if status == 429 else {}
            return web.json_response(
                {"error": {"message": "stand-in failure", "type": "server_error"}},
                status=status,
                headers=headers,
            )
        if behaviour == "error":
            record.status = 500
            return web.json_response({"error": {"message": "stand-in failure"}}, status=500)
        if behaviour == "hang":
            assert self._closing is not None
            await self._closing.wait()
            record.status = 503
            return web.Response(status=503)
        content = self.reply(record.prompt, behaviour)
        stream = isinstance(body, dict) and bool(body.get("stream"))
        record.status = 200
        if behaviour == "slow":
            return await self._slow(request, content, stream)
        return web.json_response(self._completion(content))

    def _completion(self, content: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    async def _slow(self, request: web.Request, content: str, stream: bool) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream" if stream else "application/json"}
        )
        await response.prepare(request)
        if stream:
            size = max(1, -(-len(content) // self.chunks))
            pieces = [content[i : i + size] for i in range(0, len(content), size)]
            frames = [
                json.dumps(
                    {
                        "object": "chat.completion.chunk",
                        "model": self.model,
                        "choices": [{"index": 0, "delta": {"content": piece}}],
                    }
                )
                for piece in pieces
            ]
            payloads = [f"data: {frame}\n\n".encode() for frame in frames]
            payloads.append(b"data: [DONE]\n\n")
        else:
            data = json.dumps(self._completion(content)).encode()
            size = max(1, -(-len(data) // self.chunks))
            payloads = [data[i : i + size] for i in range(0, len(data), size)]
        try:
            for payload in payloads:
                await asyncio.sleep(self.chunk_delay)
                await response.write(payload)
            await response.write_eof()
        except ConnectionError:  # the client gave up waiting: what this behaviour is for
            pass
        return response

    # ------------------------------------------------------------------------------ replies
    @staticmethod
    def reply(prompt: str, behaviour: str) -> str:
        """What the model "writes" for ``prompt`` under ``behaviour`` (the message content)."""
        cited = best_ids(prompt)
        if behaviour == "unanswerable" or not cited:
            return json.dumps({"answer": [], "unanswerable": True})
        if behaviour == "plain":
            return "Here is the answer.\n" + " ".join(
                f"{_gist(text)} [{sid}]" for sid, text in cited
            )
        if behaviour == "bad_ids":
            return json.dumps(
                {
                    "answer": [
                        {"text": _gist(cited[0][1]), "cites": ["9.9"]},
                        {"text": "Another claim.", "cites": ["1.99", "0.1"]},
                    ],
                    "unanswerable": False,
                }
            )
        if behaviour == "no_citations":
            return json.dumps(
                {
                    "answer": [{"text": _gist(t), "cites": []} for _, t in cited],
                    "unanswerable": False,
                }
            )
        if behaviour == "malformed":
            good = json.dumps({"answer": [{"text": _gist(cited[0][1]), "cites": []}]})
            return "```json\n" + good[: len(good) // 2]
        if behaviour == "inject":
            found = _INJECTION.search(prompt)
            echoed = found.group(0).strip() if found else "ignore previous instructions"
            return json.dumps(
                {
                    "answer": [
                        {
                            "text": f"{echoed} @everyone <@123456789> see https://evil.example/x",
                            "cites": [cited[0][0]],
                        }
                    ],
                    "unanswerable": False,
                }
            )
        return json.dumps(
            {
                "answer": [{"text": _gist(text), "cites": [sid]} for sid, text in cited],
                "unanswerable": False,
            }
        )
