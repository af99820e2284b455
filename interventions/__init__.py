"""Interventions (import as ``ampaudit.interventions``).

Each acts at one pipeline stage through a hook of
:class:`~ampaudit.interventions.base.Intervention` (the contract is
:class:`ampaudit.core.intervention.Intervention`), on a
:class:`~ampaudit.core.intervention.PlatformView`; it declares and records what it did,
and is compared with the same recommender without it (same replicate, common random
numbers). :data:`INTERVENTIONS` maps the built-ins' config names to classes,
:data:`CONFS` to their Hydra configs; installed packages add theirs through the
entry-point group ``ampaudit.interventions`` (:func:`ampaudit.plugins.resolve_intervention`).
"""

from .base import Intervention
from .bridging import BridgingIntervention, BridgingInterventionConf
from .ranking import (
    CounterNarrativeIntervention,
    CounterNarrativeInterventionConf,
    DiversifyIntervention,
    DiversifyInterventionConf,
    DownrankIntervention,
    DownrankInterventionConf,
    ExposureCapIntervention,
    ExposureCapInterventionConf,
)
from .removal import (
    HashRemovalIntervention,
    HashRemovalInterventionConf,
    ModerationQueueIntervention,
    ModerationQueueInterventionConf,
)
from .rewire import RewireIntervention, RewireInterventionConf
from .user import (
    FrictionIntervention,
    FrictionInterventionConf,
    RedirectIntervention,
    RedirectInterventionConf,
)

__all__ = [
    "CONFS",
    "INTERVENTIONS",
    "BridgingIntervention",
    "BridgingInterventionConf",
    "CounterNarrativeIntervention",
    "CounterNarrativeInterventionConf",
    "DiversifyIntervention",
    "DiversifyInterventionConf",
    "DownrankIntervention",
    "DownrankInterventionConf",
    "ExposureCapIntervention",
    "ExposureCapInterventionConf",
    "FrictionIntervention",
    "FrictionInterventionConf",
    "HashRemovalIntervention",
    "HashRemovalInterventionConf",
    "Intervention",
    "ModerationQueueIntervention",
    "ModerationQueueInterventionConf",
    "RedirectIntervention",
    "RedirectInterventionConf",
    "RewireIntervention",
    "RewireInterventionConf",
]

INTERVENTIONS = {
    "redirect": RedirectIntervention,
    "counter_narrative": CounterNarrativeIntervention,
    "downrank": DownrankIntervention,
    "exposure_cap": ExposureCapIntervention,
    "friction": FrictionIntervention,
    "hash_removal": HashRemovalIntervention,
    "moderation_queue": ModerationQueueIntervention,
    "bridging": BridgingIntervention,
    "diversify": DiversifyIntervention,
    "rewire": RewireIntervention,
}

CONFS = {
    "redirect": RedirectInterventionConf,
    "counter_narrative": CounterNarrativeInterventionConf,
    "downrank": DownrankInterventionConf,
    "exposure_cap": ExposureCapInterventionConf,
    "friction": FrictionInterventionConf,
    "hash_removal": HashRemovalInterventionConf,
    "moderation_queue": ModerationQueueInterventionConf,
    "bridging": BridgingInterventionConf,
    "diversify": DiversifyInterventionConf,
    "rewire": RewireInterventionConf,
}
