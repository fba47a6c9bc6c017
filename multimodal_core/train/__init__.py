"""One training entry point per built-in model: ``python -m multimodal_core.train.<model>``."""
