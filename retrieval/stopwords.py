"""Word lists the tokenizer drops.

Kept as data in their own module so that the tokenizer can take any list (injectable, as in
bm25s) and so that the query-side list can be measured on and off.
"""

from __future__ import annotations

# The common English function words (the classic SMART/NLTK-style core list, lower case).
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't
    doing don't down during each few for from further had hadn't has hasn't have haven't having he
    he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll i'm i've if
    in into is isn't it it's its itself let's me more most mustn't my myself no nor not of off on
    once only or other ought our ours ourselves out over own same shan't she she'd she'll she's
    should shouldn't so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those through to too under until up
    very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's
    which while who who's whom why why's with won't would wouldn't you you'd you'll you're you've
    your yours yourself yourselves also may might must shall will just s
    """.split()
)

# Words that shape a question but carry no topic. Dropped from queries only, because a
# document sentence like "we show how X works" should still count "show" for phrase context,
# while the question "which paper shows how X works?" is about X, not about papers or showing.
QUESTION_WORDS: frozenset[str] = frozenset(
    """
    paper papers article articles preprint which what how why who whom whose where when tell
    explain describe find anyone know someone somebody please give list mention mentions
    discuss discusses regarding
    """.split()
)
