"""Adapters to pretrained Hub models (transformers, diffusers), imported lazily."""
