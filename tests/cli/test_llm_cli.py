"""``paperbot ask`` with a model-written answer, as a subprocess against the loopback
OpenAI-compatible stand-in: the written answer first, the quotes it cites, the footer; the
extractive answer, silently, whenever the model fails; ``--no-llm`` to skip it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import ok, run
from tests.llm_standin import LLMStandIn

KEY = "sk-cli-secret-key"
QUESTION = "how does XPO make DPO explore?"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module (built by the first command, reused by the others)."""
    return tmp_path_factory.mktemp("llm_cli")


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMStandIn]:
    with LLMStandIn(chunk_delay=0.5).threaded() as server:
        yield server


@pytest.fixture(autouse=True)
def reset(llm: LLMStandIn) -> None:
    llm.behaviour = "good"
    llm.requests.clear()


def env(llm: LLMStandIn, **extra: str) -> dict[str, str]:
    return {
        "PAPERBOT_LLM_BASE_URL": llm.base_url,
        "PAPERBOT_LLM_MODEL": llm.model,
        "PAPERBOT_LLM_API_KEY": KEY,
        "PAPERBOT_LLM_TIMEOUT": "2",
        **extra,
    }


def test_written_answer_first_then_quotes_then_footer(llm: LLMStandIn, workdir: Path) -> None:
    proc = run(["ask", QUESTION], workdir, settings=env(llm))
    out = ok(proc)
    lines = out.splitlines()
    assert lines[0].startswith("Q: ")
    assert lines[2].endswith("]") and "[1." in lines[2]  # a written sentence with its labels
    assert lines[-1] == f"Answer written by {llm.model} from the quoted abstracts."
    assert lines.index("") < next(i for i, x in enumerate(lines) if x.startswith("1. "))
    assert llm.chat_requests[0].authorization == f"Bearer {KEY}"
    assert KEY not in proc.stdout + proc.stderr and proc.stderr == ""


def test_json_includes_written_with_verbatim_citations(llm: LLMStandIn, workdir: Path) -> None:
    payload = json.loads(ok(run(["ask", "--json", QUESTION], workdir, settings=env(llm))))
    written = payload["written"]
    assert written["model"] == llm.model and written["sentences"]
    papers = {p["id"]: p for p in payload["papers"]}
    for sentence in written["sentences"]:
        assert sentence["citations"]
        for c in sentence["citations"]:
            quotes = papers[c["paper_id"]]["quotes"]
            assert {"text": c["text"], "start": c["start"], "end": c["end"]} in quotes
            assert c["sentence"] >= 1


@pytest.mark.parametrize("behaviour", ["hang", "malformed", "error", "bad_ids"])
def test_failure_prints_the_extractive_answer(
    llm: LLMStandIn, workdir: Path, behaviour: str
) -> None:
    baseline = ok(run(["ask", "--no-llm", QUESTION], workdir, settings=env(llm)))
    assert not llm.chat_requests  # --no-llm sends nothing
    llm.behaviour = behaviour
    proc = run(["ask", QUESTION], workdir, settings=env(llm))
    assert ok(proc) == baseline and proc.stderr == ""
    assert "written by" not in baseline
    verbose = run(["ask", "-v", QUESTION], workdir, settings=env(llm))
    assert ok(verbose) == baseline
    assert "note: no usable answer from the model" in verbose.stderr
    assert KEY not in verbose.stderr


def test_off_without_settings(llm: LLMStandIn, workdir: Path) -> None:
    payload = json.loads(ok(run(["ask", "--json", QUESTION], workdir)))
    assert "written" not in payload and not llm.requests
