"""fold: the comparison form of names and cells, cached (an import folds the same texts many times)."""

from familylink.common.text import fold


def test_fold_lowers_strips_accents_and_punctuation_and_remembers_its_answers():
    """Accents and case go, punctuation becomes one space; a second call is answered from the cache."""
    assert fold("  PÉREZ-Núñez, María José ") == "perez nunez maria jose"
    assert fold("") == "" and fold(None) == ""  # type: ignore[arg-type]
    hits = fold.cache_info().hits
    assert fold("  PÉREZ-Núñez, María José ") == "perez nunez maria jose"
    assert fold.cache_info().hits == hits + 1
