"""The answer composer: from a question and the retriever's papers to quotes that answer it.

- :mod:`~retrieval.answer.question`: what kind of question it is, what it is about.
- :mod:`~retrieval.answer.sentences`: abstracts split into sentences (offsets, never copies).
- :mod:`~retrieval.answer.semantic`: WordLlama vectors, offline, for meaning where words differ.
- :mod:`~retrieval.answer.evidence`: which sentences answer (features by name, a small model).
- :mod:`~retrieval.answer.compose`: which papers, which quotes, trimmed, or a plain "no".
- :mod:`~retrieval.answer.links`: the paper's page and a link that highlights the quote.
- :mod:`~retrieval.answer.highlight`: a quote cut into highlighted and plain pieces.

Every quote is a pair of offsets into the stored abstract, so what is shown is
``abstract[start:end]`` by construction. Nothing here knows of Discord or the terminal.
"""
