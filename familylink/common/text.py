import re
import unicodedata
from functools import lru_cache

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


# Cached: a sheet import folds the same names, places and cells tens of thousands of times.
@lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """Lower-case, accents removed, punctuation to spaces, spaces collapsed: 'PÉREZ-Núñez' → 'perez nunez'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", stripped.lower()).strip()


def quoted(value: object, limit: int = 40) -> str:
    """`value` quoted for a message, cut to its first `limit` characters ("…" and the length after):
    a message names what was typed without echoing 3,000 characters of it back."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"
