"""Domain signals of the common layer."""

from django.dispatch import Signal

# Sent by `manage.py seed_demo` with `scale` (int) and `stdout`. Each app connects a receiver in
# its AppConfig.ready(); receivers run in INSTALLED_APPS order, lower apps first.
demo_seed_requested = Signal()
