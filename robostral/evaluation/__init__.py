"""Evaluation: run a policy bundle (ONNX Runtime, what deploys) on seeded, randomized sim episodes.

``evaluate_episodes`` / ``evaluate_chains`` / ``evaluate_chain_links`` return per-episode
results for one task and robot (the sweep engine calls them per cell); ``evaluate`` runs
`robostral eval` end to end and writes the report.
"""

from robostral.evaluation.actors import ExpertActor, PolicyActor
from robostral.evaluation.evaluate import EVAL_SEED_BASE, EvalConfig, evaluate, record_in_card
from robostral.evaluation.rollouts import (
    ChainResult,
    EpisodeResult,
    LinkResult,
    evaluate_chain_links,
    evaluate_chains,
    evaluate_episodes,
)

__all__ = [
    "EVAL_SEED_BASE",
    "ChainResult",
    "EpisodeResult",
    "EvalConfig",
    "ExpertActor",
    "LinkResult",
    "PolicyActor",
    "evaluate",
    "evaluate_chain_links",
    "evaluate_chains",
    "evaluate_episodes",
    "record_in_card",
]
