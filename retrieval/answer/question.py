"""What a question asks for: its type, the thing it is about, the property it wants.

Users in a research server ask *questions*, and the answer's shape is in the question: "what is
ASAp" wants the sentence that introduces ASAp; "how does Magpie make its data" wants the
mechanism; "how much memory does ReMax save" wants a number next to "memory"; "any paper on
segmenting text without punctuation" wants the sentence that states a contribution; "what's
wrong with LoRA that VeRA fixes" wants the problem statement. A claim ("aspirin lowers the risk
of ...", SciFact's kind) wants a finding. The sentence scorer crosses these question types with
sentence types (:func:`sentence_kinds`), so the weights learn which kind of sentence answers
which kind of question.

Rules, not a model: the cues are few, stable and readable, and a wrong type only shifts weights
that lexical and semantic evidence still dominate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.tokenize import Tokenizer

__all__ = [
    "QUESTION_KINDS",
    "SENTENCE_KINDS",
    "QuestionAnalysis",
    "analyse_question",
    "sentence_kinds",
]

QUESTION_KINDS: tuple[str, ...] = (
    "definition",
    "method",
    "quantity",
    "paper-finding",
    "problem",
    "claim",
)

_QUANTITY = re.compile(
    r"\bhow (?:much|many|fast|big|large|small|long|often|well|accurate|far)\b"
    r"|\bby how\b|\bwhat (?:kind of |sort of )?(?:speed ?-?ups?|gains?|improvements?)\b"
    r"|\bhow (?:much )?(?:faster|slower|better|worse|smaller|cheaper|bigger)\b"
    r"|\b(?:accuracy|acc|f1|bleu|rouge|auc|auroc|iou|map|miou|psnr|ssim|fid|wer|perplexity"
    r"|speed ?-?ups?|latency|throughput|error rate|success rate|win rate|pass@\d+|top-?1"
    r"|percent(?:age)?|numbers?|scores?|params|parameters)\b",
    re.IGNORECASE,
)
_FINDING = re.compile(
    r"^\W*(?:hey\W+|hi\W+|so\W+|also\W+|pls\W+|please\W+)?"
    r"(?:any(?:one|body)?\b|is there\b|are there\b"
    r"|looking for\b|which (?:paper|work|study|article|preprint)s?\b|what (?:paper|work|study)s?\b"
    r"|papers? (?:on|about|that|where|for|with)\b|work on\b|anything (?:on|about)\b|recommend"
    r"|do you know\b|know (?:of|any)\b|find (?:me )?(?:a |some )?papers?\b"
    r"|need (?:a |some )?papers?|searching for\b|got (?:any|a) papers?\b|has anyone\b"
    r"|did anyone\b|someone\b|who (?:has|did)\b)",
    re.IGNORECASE,
)
_PROBLEM = re.compile(
    r"\b(?:problems?|limitations?|limits?|issues?|drawbacks?|downsides?|weakness(?:es)?|fails?"
    r"|failures?|shortcomings?|challenges?|struggles?|fall short|wrong|fix(?:es)?|address(?:es)?"
    r"|solves?|why|vs\.?|versus|compare[sd]?|comparison|better than|worse than|beats?"
    r"|outperforms?|than|gap|bottlenecks?|motivation|pain points?|hard)\b",
    re.IGNORECASE,
)
_METHOD = re.compile(
    r"\bhow (?:does|do|did|is|are|was|were|can|could|would|to|they|it)\b"
    r"|\bwhat (?:technique|approach|method|trick|mechanism|architecture|strategy|loss|objective"
    r"|model|algorithm|data|dataset|idea|recipe)s?\b|\b(?:mechanism|pipeline|architecture"
    r"|works?|trained|training|built|constructed|generated)\b",
    re.IGNORECASE,
)
_DEFINITION = re.compile(
    r"^\W*(?:so\W+|ok\W+|hey\W+)?(?:what|wat|wht)\s*(?:'|’)?\s*(?:is|s|are|was|does)?\b"
    r"|\bstands? for\b|\bmeaning of\b|\bdefin(?:e|ition)\b|\beli5\b|\bwhat does \S+ mean\b",
    re.IGNORECASE,
)
# "what is X": the words after the opener, up to a preposition or clause.
_DEFINED_PHRASE = re.compile(
    r"^\W*(?:so\W+|ok\W+|hey\W+|eli5\W+)?(?:what|wat|wht)\s*(?:'|’)?\s*(?:is|s|are|was|does)?\s+"
    r"(?:a|an|the|this|that)?\s*(?P<phrase>.+?)"
    r"(?:\s+(?:stands? for|mean|means|in|from|for|of|on|used|about|that|which|and|exactly"
    r"|actually|again|paper|work|method|approach)\b|[,?(]|$)",
    re.IGNORECASE,
)
# Raw words that name something: mixed case (ReMax), acronyms (ASAp, VeRA), letters+digits (B2S6).
_NAME = re.compile(
    r"\b(?=[A-Za-z0-9-]*[A-Za-z])(?:[A-Za-z]+[A-Z][A-Za-z0-9-]*|[A-Z]{2,}[A-Za-z0-9-]*"
    r"|[A-Za-z]+\d[A-Za-z0-9-]*)\b"
)
_WANTED_AFTER = re.compile(
    r"\bhow (?:much|many)\s+(?P<a>\w+)(?:\s+(?P<b>\w+))?|\bwhat(?:'s| is| was)?\s+(?:the\s+)?"
    r"(?P<c>\w+)\s+(?:of|on|for|does|do|is)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class QuestionAnalysis:
    """The question's type, the terms of what it is about, and of the property it asks for."""

    kind: str
    focus: frozenset[str]
    wanted: frozenset[str]


def _kind(text: str) -> str:
    stripped = text.strip()
    if _FINDING.search(stripped):
        return "paper-finding"
    if _QUANTITY.search(stripped):
        return "quantity"
    lowered = stripped.lower()
    if re.match(r"^\W*(?:how|what|whats|what's|why|which|does|do|is|are|can|eli5)\b", lowered):
        if lowered.startswith("why") or (
            _PROBLEM.search(stripped) and not _METHOD.search(stripped)
        ):
            return "problem"
        if _METHOD.search(stripped):
            return "method"
        if _DEFINITION.search(stripped):
            return "definition"
        return "method"
    if _DEFINITION.search(stripped):
        return "definition"
    if _PROBLEM.search(stripped):
        return "problem"
    if "?" in stripped or len(stripped.split()) <= 6:
        return "method" if _METHOD.search(stripped) else "definition"
    return "claim"


def analyse_question(question: str, tokenizer: Tokenizer) -> QuestionAnalysis:
    """The type of ``question`` and the terms of its focus and of the property it asks for."""
    text = " ".join(question[:1000].split())
    kind = _kind(text)
    focus: set[str] = set()
    for match in _NAME.finditer(text):
        focus.update(tokenizer.terms(match.group(0)))
    if kind == "definition":
        defined = _DEFINED_PHRASE.search(text)
        if defined:
            focus.update(tokenizer.terms(defined.group("phrase")))
    wanted: set[str] = set()
    if kind == "quantity":
        for match in _WANTED_AFTER.finditer(text):
            for group in ("a", "b", "c"):
                if match.group(group):
                    wanted.update(tokenizer.terms(match.group(group)))
        for match in _QUANTITY.finditer(text):
            wanted.update(tokenizer.terms(match.group(0)))
        wanted -= focus
    return QuestionAnalysis(kind, frozenset(focus), frozenset(wanted))


SENTENCE_KINDS: tuple[str, ...] = (
    "quantity",
    "defines",
    "mechanism",
    "contribution",
    "problem",
    "comparison",
)

_S_QUANTITY = re.compile(
    r"\d(?:[\d.,]*\d)?\s*(?:%|\\%|percent|×|x\b|times\b|-?fold\b|pp\b|points?\b|ms\b|seconds?\b"
    r"|hours?\b|minutes?\b|days?\b|gb\b|mb\b|tb\b|[kmb]\b|bits?\b|tokens?\b|param\w*|fps\b"
    r"|db\b|gpus?\b|samples\b|images\b|examples\b|languages\b|tasks\b|users\b)"
    r"|\b(?:half|double[sd]?|twice|tenfold|an order of magnitude)\b"
    r"|\b\d+\.\d+\b",
    re.IGNORECASE,
)
_S_DEFINES = re.compile(
    r"\bwe (?:propose|introduce|present|develop|design|call|name|term|dub|define|coin)\b"
    r"|\b(?:called|named|dubbed|termed|coined|referred to as|known as|stands? for|is defined as"
    r"|(?:is|are) (?:a|an) (?:new|novel|simple|general|unified|lightweight|large|open))\b"
    r"|\(\s*[A-Z][A-Za-z0-9-]*[A-Z][A-Za-z0-9-]*\s*\)"
    r"|^[A-Z][A-Za-z0-9-]+(?: \([A-Z][A-Za-z0-9-]+\))?,? (?:is|are) (?:a|an)\b",
)
_S_MECHANISM = re.compile(
    r"\b(?:by|via|through|using|leverag\w+|based on|consists? of|compris\w+|employ\w*"
    r"|combin\w+|integrat\w+|instead of|rather than|first|then|whereby|which (?:uses|learns)"
    r"|that (?:uses|learns|leverages|combines)|decompos\w+|distill\w*|prompt\w*|fine-tun\w+)\b",
    re.IGNORECASE,
)
_S_CONTRIBUTION = re.compile(
    r"\b(?:we|this (?:paper|work|study|article|letter)|in this (?:paper|work|study)|here)\b"
    r"[^.]{0,60}?\b(?:propose|introduce|present|develop|design|build|construct|release|create"
    r"|study|investigate|explore|address|tackle|formulate|provide|offer|describe|report)\w*",
    re.IGNORECASE,
)
_S_PROBLEM = re.compile(
    r"\b(?:however|but|challeng\w+|limitations?|limited|suffer\w*|struggl\w+|fail\w*|lack\w*"
    r"|costly|expensive|bottlenecks?|difficult\w*|remains?|problems?|issues?|drawbacks?|unclear"
    r"|inefficien\w+|vulnerab\w+|despite|hinder\w*|overlook\w*|neglect\w*|prohibitive|unreliable"
    r"|insufficient|poorly|scarce|scarcity|unexplored|underexplored|gap)\b",
    re.IGNORECASE,
)
_S_COMPARISON = re.compile(
    r"\b(?:outperform\w*|compared (?:to|with)|than|surpass\w*|superior|beats?|exceed\w*"
    r"|state-of-the-art|sota|baselines?|versus|vs\.?|improv\w+|gains?|competitive|on par"
    r"|match\w*)\b",
    re.IGNORECASE,
)


def sentence_kinds(sentence: str) -> dict[str, float]:
    """Which kinds of statement a sentence makes (1.0 or 0.0 per :data:`SENTENCE_KINDS`)."""
    return {
        "quantity": 1.0 if _S_QUANTITY.search(sentence) else 0.0,
        "defines": 1.0 if _S_DEFINES.search(sentence) else 0.0,
        "mechanism": 1.0 if _S_MECHANISM.search(sentence) else 0.0,
        "contribution": 1.0 if _S_CONTRIBUTION.search(sentence) else 0.0,
        "problem": 1.0 if _S_PROBLEM.search(sentence) else 0.0,
        "comparison": 1.0 if _S_COMPARISON.search(sentence) else 0.0,
    }
