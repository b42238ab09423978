"""Saved indexes shared by several processes: concurrent builds and saves of one collection
never delete each other's work, and a reader never loses the index it is opening."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from retrieval.index import BM25Params, index_root, load_index
from retrieval.store import PaperStore
from retrieval.tokenize import default_tokenizer
from tests.procs import env, write_papers

_SETUP = """
import sys, json
from pathlib import Path
from retrieval.store import PaperStore
from retrieval.search import Library
db, rounds = Path(sys.argv[1]), int(sys.argv[2])
library = Library(PaperStore(db), semantic=False)
"""

# The same generation saved over and over through save_index itself (no build lock around the
# build), as fast as it goes.
_SAVER = (
    _SETUP
    + """
from retrieval.index import save_index, index_root
index = library.index()
for _ in range(rounds):
    save_index(index, index_root(db, "default"))
print("ok")
"""
)

# Builds through the library (build lock held from build to save).
_REBUILDER = (
    _SETUP
    + """
for _ in range(rounds):
    library.rebuild()
print("ok")
"""
)

# Opens the saved index again and again, each time as a new process would, and searches it.
_READER = (
    _SETUP
    + """
from retrieval.index import load_index, index_root
from retrieval.index.scoring import BM25Params
from retrieval.tokenize import default_tokenizer
misses = 0
for _ in range(rounds):
    index = load_index(index_root(db, "default"), generation=library.store.generation("default"),
                       params=BM25Params(), tokenizer_signature=default_tokenizer().signature,
                       engine="sparse")
    if index is None:
        misses += 1
    else:
        assert index.search(["kevomu"], 5) is not None
print("ok", misses)
"""
)


def test_concurrent_builds_and_saves_of_one_collection_never_break_each_other(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    papers = write_papers(tmp_path / "p.jsonl", 1500, prefix="p")
    from retrieval.papers import Paper

    store = PaperStore(db)
    store.upsert(
        (Paper(id=p["_id"], title=p["title"], abstract=p["text"], source="t") for p in papers),
        "default",
    )
    store.close()
    subprocess.run([sys.executable, "-c", _REBUILDER, str(db), "1"], env=env(tmp_path), check=True)
    jobs = [(_SAVER, 40), (_SAVER, 40), (_REBUILDER, 8), (_REBUILDER, 8), (_READER, 300)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(db), str(rounds)],
            env=env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script, rounds in jobs
    ]
    results = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert out.startswith("ok")
    assert results[-1][0].split() == ["ok", "0"]  # the reader always found the index
    root = index_root(db, "default")
    kwargs = {"params": BM25Params(), "tokenizer_signature": default_tokenizer().signature}
    assert load_index(root, generation=1, **kwargs) is not None
    # Once everyone is done, the next save leaves exactly one build and no temp directory.
    subprocess.run([sys.executable, "-c", _REBUILDER, str(db), "1"], env=env(tmp_path), check=True)
    names = sorted(child.name for child in root.iterdir() if child.is_dir())
    assert len(names) == 1 and names[0].startswith("gen-1-"), names
    assert not [child for child in root.iterdir() if child.name.startswith((".tmp-", ".CURRENT-"))]
