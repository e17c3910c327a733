"""The prompt registry: named prompts with immutable versions, movable labels, sandboxed rendering."""

from shipyard.prompts.evaluation import eval_target  # the hook shipyard.evals looks for

__all__ = ["eval_target"]
