"""Candidate generation: sampling K answers per prompt from one or more model versions and
turning them into ranking tasks (job kind "generate"), and single answers on demand for the
labeler workspace and the admin playground (job kind "suggest").

Web processes only create jobs here; models are loaded in worker processes (see backends.py).
"""
from training.services.generation.start import generation_start, prompts_select, suggestion_start

__all__ = ["generation_start", "prompts_select", "suggestion_start"]
