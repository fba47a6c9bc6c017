"""The shared sentence encoder loads from the package's folder without touching the process:
loading it must not take the rest of the app offline."""

from __future__ import annotations

import os

import pytest
import torch

from multimodal_core.backends import loading, sentence_encoder


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that has not been told to stay offline, whose Hub answers."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(loading, "socket", _AnsweringSocket)


class _AnsweringSocket:
    """Stands in for the socket module: every connection succeeds (no traffic is sent)."""

    class _Connection:
        def __enter__(self) -> _AnsweringSocket._Connection:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    @staticmethod
    def create_connection(address: tuple[str, int], timeout: float) -> _Connection:
        return _AnsweringSocket._Connection()


def hub_variables() -> dict[str, str]:
    """The environment that decides whether the Hub is used (torch's own import-time variables,
    such as its compiler's cache folder, are not ours)."""
    return {k: v for k, v in os.environ.items() if k.startswith(("HF_", "HUGGINGFACE", "MMC_"))}


def test_loading_from_its_folder_leaves_the_environment_and_the_hub_alone(online) -> None:
    assert loading.hub_reachable()
    before = hub_variables()
    encoder = sentence_encoder.load_sentence_encoder()
    assert hub_variables() == before
    assert loading.hub_reachable(), "loading the sentence encoder took the process offline"
    vectors = encoder.encode(["a puppy", "a dog", "a car"])
    assert vectors.shape == (3, encoder.dim)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # puppy is nearer dog than car
