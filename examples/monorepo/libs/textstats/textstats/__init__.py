"""Word counts of a text: what the example's worker computes."""

import re
from collections import Counter

WORD = re.compile(r"[a-z0-9']+")


def words(text):
    """The words of text, lower case."""
    return WORD.findall(text.lower())


def summary(text, top=3):
    """The number of words and the most common ones, most common first."""
    found = words(text)
    common = Counter(found).most_common()
    # Ties in order of first appearance, so the result does not depend on hashing.
    first = {w: i for i, w in reversed(list(enumerate(found)))}
    common.sort(key=lambda item: (-item[1], first[item[0]]))
    return {"words": len(found), "top": [w for w, _ in common[:top]]}
