"""Link-discovery quality: FamilyLink's `discover_links` beside Splink, on the same labelled records.

    .venv/bin/python bench/linkage/quality.py --persons 20000          # the recorded figures
    .venv/bin/python bench/linkage/quality.py --persons 500            # tiny: seconds

One run: generate the labelled data (bench/linkage/generator.py, seeded), write it into its own
database (`<DATABASE_URL's name>_q<persons>_s<seed>_<hash of the data>`, created and migrated if
missing, loaded once: the data is deterministic, so a re-run reuses it), run
`discover_links(persist=False)` over it, score it per kind, then train Splink (DuckDB) on the same
person rows read back from that database, with its threshold chosen on a separate seed, and score
it identically for `duplicate_person`. Prints both, the difference, and where each goes wrong
(with examples).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.linkage.generator import Dataset, generate  # noqa: E402

TARGET_DUPLICATE_MARGIN = 0.02
TARGET_RELATIONSHIP_RECALL = 0.95
TARGET_RELATIONSHIP_PRECISION = 0.90


def familylink_proposals(dataset: Dataset) -> tuple[list[Any], float]:
    """Run FamilyLink's discovery over the whole database (which holds only `dataset`)."""
    from apprehensions.linkage.discovery import discover_links

    started = time.monotonic()
    result = discover_links(persist=False)
    return list(result.candidates), time.monotonic() - started


def score_familylink(dataset: Dataset, proposals: list[Any], *, examples: int = 5) -> dict[str, Any]:
    from bench.linkage.scoring import Explainer, score_duplicates, score_relationships

    explainer = Explainer(dataset.truth, {p.id: p for p in dataset.records})
    return {
        "duplicate_person": score_duplicates(
            proposals, dataset.truth, explainer=explainer, examples=examples
        ),
        "relationship": score_relationships(proposals, dataset.truth, explainer=explainer, examples=examples),
    }


def splink_duplicates(
    dataset: Dataset, *, tune_seed: int, domain: bool = False, examples: int = 5
) -> tuple[Any, list[Any], float, float, float, float]:
    """Splink's duplicate_person score on the records on file: (score, the pairs it proposes, threshold,
    F1 at that threshold on the tuning seed, best F1 on the scored data at any threshold, seconds)."""
    from apprehensions.models import Person
    from bench.linkage import splink_baseline
    from bench.linkage.scoring import Explainer, score_duplicates

    started = time.monotonic()
    tuning = generate(persons=len(dataset.records), seed=tune_seed)
    tuning_pairs = splink_baseline.predict(
        splink_baseline.rows_from_records(tuning.records), seed=tune_seed, domain=domain
    )
    threshold, tuning_f1 = splink_baseline.best_threshold(tuning_pairs, tuning.truth.duplicate_pairs())
    on_file = Person.objects.only(
        "id",
        "given_names",
        "first_surname",
        "second_surname",
        "date_of_birth",
        "dob_estimated",
        "a_number",
        "sex",
        "country_of_citizenship",
    )
    pairs = splink_baseline.predict(
        splink_baseline.rows_from_records(on_file.iterator(chunk_size=5000)), seed=dataset.seed, domain=domain
    )
    chosen = [p for p in pairs if p.match_probability >= threshold]
    explainer = Explainer(dataset.truth, {p.id: p for p in dataset.records})
    score = score_duplicates(chosen, dataset.truth, explainer=explainer, examples=examples)
    _, hindsight_f1 = splink_baseline.best_threshold(pairs, dataset.truth.duplicate_pairs())
    return score, chosen, threshold, tuning_f1, hindsight_f1, time.monotonic() - started


def _breakdown(title: str, score: Any) -> list[str]:
    lines = []
    if score.false_positive_kinds:
        kinds = ", ".join(f"{k} {n}" for k, n in score.false_positive_kinds.most_common(6))
        lines.append(f"    {title} false positives: {kinds}")
        lines += [f"      e.g. {x}" for x in score.examples_fp]
    if score.false_negative_kinds:
        kinds = ", ".join(f"{k} {n}" for k, n in score.false_negative_kinds.most_common(8))
        lines.append(f"    {title} missed (variations in the pair): {kinds}")
        lines += [f"      e.g. {x}" for x in score.examples_fn]
    if score.other_types:
        lines.append(f"    {title} proposals of other types: {dict(score.other_types)}")
    return lines


def _use_database(name: str | None, persons: int, seed: int, fingerprint: str) -> str:
    """Point Django at the bench database (before setup), create and migrate it if missing."""
    import environ

    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/familylink")
    config = environ.Env.db_url_config(url)
    target = name or f"{config['NAME']}_q{persons}_s{seed}_{fingerprint}"
    os.environ["DATABASE_URL"] = url.rsplit("/", 1)[0] + "/" + target
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--tune-seed", type=int, default=None, help="Splink's threshold seed (default seed+1000)"
    )
    parser.add_argument(
        "--database", default=None, help="default: <DATABASE_URL name>_q<persons>_s<seed>_<data hash>"
    )
    parser.add_argument(
        "--splink",
        choices=["standard", "domain", "both", "none"],
        default="both",
        help="Splink as its docs recommend (standard), with domain-aware levels (domain), both, or none",
    )
    parser.add_argument("--examples", type=int, default=5)
    args = parser.parse_args(argv)
    tune_seed = args.tune_seed if args.tune_seed is not None else args.seed + 1000

    started = time.monotonic()
    dataset = generate(persons=args.persons, seed=args.seed)
    database = _use_database(args.database, args.persons, args.seed, dataset.fingerprint())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "familylink.settings.base")
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.linkage.load import load
    from bench.linkage.scoring import duplicate_recall_by_variation, format_score

    call_command("ensure_database", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("migrate", verbosity=0, interactive=False)
    truth = dataset.truth
    written, load_seconds = load(dataset)
    print(
        f"data: seed {args.seed}, {len(dataset.records):,} person records of {len(dataset.humans):,} humans "
        f"in "
        f"{len(dataset.encounters):,} apprehensions; {len(truth.duplicate_pairs()):,} duplicate pairs and "
        f"{len(truth.relationship_pairs()):,} unrecorded parent/guardian links to find "
        f"(database {database}: {'written' if written else 'already on file'}, {load_seconds:.1f} s)"
    )

    proposals, discovery_seconds = familylink_proposals(dataset)
    ours = score_familylink(dataset, proposals, examples=args.examples)
    kinds: dict[str, int] = {}
    for p in proposals:
        kinds[str(p.kind)] = kinds.get(str(p.kind), 0) + 1
    print(f"\nFamilyLink discover_links: {len(proposals):,} candidates {kinds} in {discovery_seconds:.1f} s")
    for score in ours.values():
        print("  " + format_score(score))
    for score in ours.values():
        for line in _breakdown(score.kind, score):
            print(line)

    dup = ours["duplicate_person"]
    rel = ours["relationship"]
    verdicts = [
        f"relationship recall {rel.recall:.3f} (target ≥ {TARGET_RELATIONSHIP_RECALL}) at precision "
        f"{rel.precision:.3f} (target ≥ {TARGET_RELATIONSHIP_PRECISION}): "
        + (
            "MET"
            if rel.recall >= TARGET_RELATIONSHIP_RECALL and rel.precision >= TARGET_RELATIONSHIP_PRECISION
            else "NOT MET"
        )
    ]
    configs = {"standard": [False], "domain": [True], "both": [False, True], "none": []}[args.splink]
    for domain in configs:
        name = "Splink + domain levels" if domain else "Splink"
        theirs, their_pairs, threshold, tuning_f1, hindsight_f1, splink_seconds = splink_duplicates(
            dataset, tune_seed=tune_seed, domain=domain, examples=args.examples
        )
        print(
            f"\n{name} (DuckDB, {'with' if domain else 'without'} the domain levels), threshold match "
            f"probability ≥ {threshold} (best F1 {tuning_f1:.3f} on seed {tune_seed}), "
            f"{splink_seconds:.1f} s with tuning"
        )
        print("  " + format_score(theirs))
        print(f"  (in hindsight, the best threshold on this data would give F1 {hindsight_f1:.3f})")
        for line in _breakdown(f"{name} duplicate_person", theirs):
            print(line)
        ours_by = duplicate_recall_by_variation(proposals, truth)
        theirs_by = duplicate_recall_by_variation(their_pairs, truth)
        print(
            f"\nduplicate_person recall by how the records differ (pairs where a record has it), vs {name}:"
        )
        print(f"  {'variation':<30} {'pairs':>6} {'FamilyLink':>10} {'Splink':>7}")
        for tag, (found, total) in ours_by.items():
            print(f"  {tag:<30} {total:>6} {found / total:>10.3f} {theirs_by[tag][0] / total:>7.3f}")
        diff = dup.f1 - theirs.f1
        print(
            f"\nduplicate_person F1: FamilyLink {dup.f1:.3f} vs {name} {theirs.f1:.3f} "
            f"→ difference {diff:+.3f}"
            f" (P {dup.precision - theirs.precision:+.3f}, R {dup.recall - theirs.recall:+.3f})"
        )
        verdicts.insert(
            len(verdicts) - 1,
            f"duplicate_person F1 {dup.f1:.3f} vs {name} {theirs.f1:.3f} + {TARGET_DUPLICATE_MARGIN}: "
            + ("MET" if diff >= TARGET_DUPLICATE_MARGIN else "NOT MET"),
        )
    print("\ntargets:")
    for v in verdicts:
        print("  " + v)
    print(f"\ntotal {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
