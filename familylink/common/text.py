import re
import unicodedata


def fold(text: str) -> str:
    """Lower-case, accents removed, punctuation to spaces, spaces collapsed: 'PÉREZ-Núñez' → 'perez nunez'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", " ", stripped.lower()).strip()
