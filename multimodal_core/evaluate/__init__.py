"""Metrics and evaluation entry points: ``python -m multimodal_core.evaluate <task> [--json]``."""
