"""Domain signals of the separations layer; higher apps connect handlers (STYLE.md).

Handlers run inside the sender's transaction, so a failing handler rolls the change back.
"""

from django.dispatch import Signal

# kwargs: separation (in_effect, just approved), approver. Reunification opens one case per child.
separation_approved = Signal()
# kwargs: separation (its recorded facts just corrected), changed (field names), by, change_reason.
# Sent by separation_correct; reunification moves the clocks of its open cases when the time moved.
separation_corrected = Signal()
# kwargs: separation (just ended), outcome, by.
separation_ended = Signal()
# kwargs: separation (still in effect, or just ended with its last child), child (Person), outcome, by.
# Sent by separation_end_for_child; reunification closes that child's open case if casework did not.
separation_child_ended = Signal()
# kwargs: separations (a list, each in_effect, imported from a field sheet, members written),
# members (those SeparationMember rows, as written), by.
# Sent by separations_save_imported; reunification opens their cases as `separation_approved` does.
separations_imported = Signal()
