"""Domain signals of the apprehensions layer; higher layers and sub-apps connect receivers (STYLE.md).

Receivers run inside the sender's transaction unless the signal says otherwise.
"""

from django.dispatch import Signal

# kwargs: person_ids (list of Person ids just created or changed by an intake, an import or a
# merge), source ("intake", "legacy_import", "person_edit", "merge"), by (User).
# Sent inside the writing transaction. Link discovery runs its incremental pass for these persons.
persons_recorded = Signal()

# kwargs: a_number (normalised, "A" + 9 digits), existing_person (the Person on file that holds it,
# possibly out of the sender's scope), attempted_by (User), context (str: "intake", "person_edit",
# "legacy_import"), other_person (a Person that was saved with or asked for that A-number, or None).
# Sent OUTSIDE any transaction the conflict rolled back (e.g. from transaction.on_commit or after the
# failed atomic block), so the receiver keeps it; the receiver files an `a_number_conflict` for HQ.
a_number_conflict_detected = Signal()

# kwargs: apprehension (the Apprehension just recorded), person_ids (everyone encountered in it),
# by (User), reason (the change reason). Sent by intake inside its transaction, after every row is
# written: custody (separations) opens a CBP period at the apprehension's station for each person
# who has no open custody period.
apprehension_recorded = Signal()

# kwargs: encounters (a list of (apprehension, person_ids, reason), in the order they were
# recorded), by (User). `apprehension_recorded` for many encounters written together
# (`IntakeChunk.write`: a sheet import's chunk), sent once inside its transaction after every row
# of every encounter is written. A receiver of `apprehension_recorded` connects here too and does
# the same per encounter, set-based (custody opens the CBP periods in one insert).
apprehensions_recorded = Signal()
