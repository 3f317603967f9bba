"""Splink (5.x, embedded DuckDB) as the duplicate-detection baseline, on the same person records.

Configured the way Splink's documentation recommends for person deduplication, with the obvious
feature engineering for these records (folded names, the first part of a compound given name, the
surnames as an unordered set):
- comparisons: given names (exact with term-frequency adjustment, Jaro-Winkler ≥ 0.92, first
  given name equal, Jaro-Winkler ≥ 0.8); surnames (both equal with term frequencies, the two
  swapped, first surname equal, first surname Jaro-Winkler ≥ 0.92, one's first = the other's
  second); `DateOfBirthComparison` (exact, one character apart, ≤ 1 month, ≤ 1 year, ≤ 10 years);
  A-number (exact, Damerau-Levenshtein ≤ 1, which catches two transposed digits); sex; country;
- blocking rules for prediction: A-number; date of birth; first surname + first given name;
  the surname set + year of birth; first given name + year of birth;
- training: the prior from deterministic rules (recall 0.7), u by random sampling (10^7 pairs,
  seeded), m by expectation maximisation on two blocking rules (date of birth; surnames + first
  given name) so every comparison gets estimated;
- threshold: the match probability with the best F1 on a *separate* seed (tuning data generated
  in memory, never the scored data), then applied unchanged to the scored data.

`domain=True` gives Splink the same knowledge of these records that FamilyLink's scorer has, so
the comparison is not won by configuration alone: given names Damerau-Levenshtein ≤ 2 (letters
swapped); surnames equal as a set (either order), the set within two edits, one record keeping a
single surname found among the other's; dates of birth with day and month swapped, within two
days, estimated (year only) within a year, the year off by one, within a year.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from familylink.common.text import fold

THRESHOLD_GRID = [x / 100 for x in range(5, 100, 5)] + [0.97, 0.98, 0.99, 0.995, 0.999]


@dataclass
class Pair:
    kind: str
    person_a_id: str
    person_b_id: str
    suggested_type: str
    match_probability: float


def rows_from_records(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Splink's input rows from person records (model instances or generated records)."""
    rows = []
    for p in records:
        given = fold(p.given_names)
        first = fold(p.first_surname) or None
        second = fold(p.second_surname) or None
        dob: date | None = p.date_of_birth
        rows.append(
            {
                "unique_id": str(p.id),
                "given_names": given or None,
                "given_first": given.split(" ")[0] if given else None,
                "first_surname": first,
                "second_surname": second,
                "surname_set": " ".join(sorted(s for s in (first, second) if s)) or None,
                "dob": dob,
                "dob_estimated": bool(getattr(p, "dob_estimated", False)),
                "a_number": p.a_number or None,
                "sex": p.sex if p.sex in ("F", "M") else None,
                "country": getattr(p, "country", None) or getattr(p, "country_of_citizenship", None) or None,
            }
        )
    return rows


def settings(*, domain: bool = False) -> Any:
    """Splink's settings; `domain` adds levels that know these records (see DOMAIN_LEVELS)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    given = cl.CustomComparison(
        output_column_name="given_names",
        comparison_levels=[
            cll.NullLevel("given_names"),
            cll.ExactMatchLevel("given_names", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("given_names", 0.92),
            cll.ExactMatchLevel("given_first", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("given_names", 0.8),
            cll.ElseLevel(),
        ],
    )
    surnames = cl.CustomComparison(
        output_column_name="surnames",
        comparison_levels=[
            cll.NullLevel("first_surname"),
            cll.And(cll.ExactMatchLevel("first_surname"), cll.ExactMatchLevel("second_surname")),
            cll.ColumnsReversedLevel("first_surname", "second_surname", symmetrical=True),
            cll.ExactMatchLevel("first_surname", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("first_surname", 0.92),
            cll.CustomLevel(
                "first_surname_l = second_surname_r OR second_surname_l = first_surname_r",
                label_for_charts="one's first surname is the other's second",
            ),
            cll.ElseLevel(),
        ],
    )
    dob: Any = cl.DateOfBirthComparison("dob", input_is_string=False)
    if domain:
        given = cl.CustomComparison(
            output_column_name="given_names",
            comparison_levels=[
                cll.NullLevel("given_names"),
                cll.ExactMatchLevel("given_names", term_frequency_adjustments=True),
                cll.DamerauLevenshteinLevel("given_names", 2),
                cll.ExactMatchLevel("given_first", term_frequency_adjustments=True),
                cll.JaroWinklerLevel("given_names", 0.8),
                cll.ElseLevel(),
            ],
        )
        surnames = cl.CustomComparison(
            output_column_name="surnames",
            comparison_levels=[
                cll.NullLevel("first_surname"),
                cll.And(cll.ExactMatchLevel("first_surname"), cll.ExactMatchLevel("second_surname")),
                cll.ExactMatchLevel("surname_set"),
                cll.DamerauLevenshteinLevel("surname_set", 2),
                cll.CustomLevel(
                    "(second_surname_l IS NULL OR second_surname_r IS NULL) AND "
                    "(first_surname_l IN (first_surname_r, coalesce(second_surname_r, '')) OR "
                    "first_surname_r IN (first_surname_l, coalesce(second_surname_l, '')))",
                    label_for_charts="one record kept one of the other's surnames",
                ),
                cll.ExactMatchLevel("first_surname", term_frequency_adjustments=True),
                cll.CustomLevel(
                    "first_surname_l = second_surname_r OR second_surname_l = first_surname_r",
                    label_for_charts="one's first surname is the other's second",
                ),
                cll.ElseLevel(),
            ],
        )
        dob = cl.CustomComparison(
            output_column_name="dob",
            comparison_levels=[
                cll.NullLevel("dob"),
                cll.CustomLevel("dob_l = dob_r AND NOT (dob_estimated_l OR dob_estimated_r)", "exact"),
                cll.CustomLevel(
                    "year(dob_l) = year(dob_r) AND month(dob_l) = day(dob_r) AND day(dob_l) = month(dob_r)",
                    "day and month swapped",
                ),
                cll.CustomLevel("abs(date_diff('day', dob_l, dob_r)) <= 2", "within two days"),
                cll.CustomLevel(
                    "(dob_estimated_l OR dob_estimated_r) AND abs(year(dob_l) - year(dob_r)) <= 1",
                    "estimated, same year or next",
                ),
                cll.CustomLevel(
                    "month(dob_l) = month(dob_r) AND day(dob_l) = day(dob_r) "
                    "AND abs(year(dob_l) - year(dob_r)) = 1",
                    "year off by one",
                ),
                cll.AbsoluteDateDifferenceLevel("dob", threshold=1, metric="year", input_is_string=False),
                cll.ElseLevel(),
            ],
        )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            given,
            surnames,
            dob,
            cl.DamerauLevenshteinAtThresholds("a_number", [1]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("country"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("a_number"),
            block_on("dob"),
            block_on("first_surname", "given_first"),
            block_on("surname_set", "year(dob)"),
            block_on("given_first", "year(dob)"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def predict(
    rows: list[dict[str, Any]], *, seed: int, floor: float = 0.01, domain: bool = False
) -> list[Pair]:
    """Train Splink on `rows` (unsupervised) and return every scored pair above `floor`."""
    import pyarrow as pa
    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    db_api = DuckDBAPI()
    table = db_api.register(pa.Table.from_pylist(rows))
    linker = Linker(table, settings(domain=domain), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_names", "first_surname", "second_surname", "dob"), block_on("a_number")], recall=0.7
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    for rule in (block_on("dob"), block_on("first_surname", "given_first")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except ValueError as exc:
            # On a few hundred records a finely divided comparison can have a level EM drives to
            # m = 0, which Splink refuses; that session is skipped (its levels keep their estimates
            # from the other session or Splink's defaults). Never seen at 20,000 records.
            logging.getLogger(__name__).warning("Splink EM session skipped: %s", exc)
    predictions = linker.inference.predict(threshold_match_probability=floor, warning_mode="never")
    out = [
        Pair("duplicate_person", r["unique_id_l"], r["unique_id_r"], "", float(r["match_probability"]))
        for r in predictions.as_pyarrow_table()
        .select(["unique_id_l", "unique_id_r", "match_probability"])
        .to_pylist()
    ]
    return out


def best_threshold(pairs: list[Pair], expected: set[frozenset[uuid.UUID]]) -> tuple[float, float]:
    """The grid threshold with the best duplicate F1 on labelled data, and that F1."""
    best = (0.5, -1.0)
    for threshold in THRESHOLD_GRID:
        chosen = {
            frozenset((uuid.UUID(p.person_a_id), uuid.UUID(p.person_b_id)))
            for p in pairs
            if p.match_probability >= threshold
        }
        tp = len(chosen & expected)
        precision = tp / len(chosen) if chosen else 0.0
        recall = tp / len(expected) if expected else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best[1]:
            best = (threshold, f1)
    return best
