"""Link-discovery quality bench: labelled synthetic data, scoring, and a Splink baseline.

    bench/linkage/generator.py  the labelled data (humans, their person records, the ground truth)
    bench/linkage/load.py       writes it into the database through the real models' tables
    bench/linkage/scoring.py    precision / recall / F1 per kind
    bench/linkage/splink_baseline.py  Splink (DuckDB) on the same records
    bench/linkage/quality.py    one run: FamilyLink beside Splink

Production code never imports bench/.
"""
