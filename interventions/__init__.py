"""Interventions (import as ``ampaudit.interventions``).

The simulator already calls the hooks ``on_catalog``, ``on_candidates``,
``on_slate`` and ``on_choice`` of every configured intervention, in config order
(see :class:`ampaudit.simulations.AuditModel`). The built-in interventions and
their contract arrive with the interventions issue; the default list is empty.
"""

__all__: list[str] = []
