"""Multimodal Studio: the shared core behind every tab of the app (see DESIGN.md)."""

__version__ = "0.1.0"
