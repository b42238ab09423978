"""Optional answers written by a language model that may only cite sentences paperbot shows.

Off unless ``PAPERBOT_LLM_BASE_URL`` and ``PAPERBOT_LLM_MODEL`` are set. The model sees the
question and numbered sentences of the candidate papers; whatever it writes is kept only where it
cites those numbers, and the cited sentences become the quotes shown, verbatim. Anything else (an
error, a timeout, nothing surviving the checks) leaves today's extractive answer as it was.
"""

from retrieval.llm.model import Citation, WrittenAnswer, WrittenSentence

__all__ = ["Citation", "WrittenAnswer", "WrittenSentence"]
