"""One training entry point per built-in model: ``python -m multimodal_core.train.<model>``.

They share :mod:`.scaffold` (arguments, schedule, resume state, run log, final JSON line);
voice-to-face and its face judge also share :mod:`.stages` and :mod:`.people_cache`.
"""
