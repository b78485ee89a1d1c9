"""The bootstrap plugin's evaluators: REFLECTION learns facts and relationships."""

from plugins.bootstrap.evaluators.reflection import REFLECTION
from shared.plugin import Evaluator

BOOTSTRAP_EVALUATORS: list[Evaluator] = [REFLECTION]
"""Every bootstrap evaluator."""

__all__ = ["BOOTSTRAP_EVALUATORS", "REFLECTION"]
