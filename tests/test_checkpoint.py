"""The one checkpoint implementation every built-in model shares (models/checkpoint.py).

A tiny model of its own exercises the plumbing; the last test re-saves every shipped
checkpoint and checks that the files written today are the files in the repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from multimodal_core.models.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ConfigMixin,
    PretrainedModel,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TinyConfig(ConfigMixin):
    classes: int = 3  # before channels: config.json keeps the fields' order, not sorted keys
    channels: tuple[int, ...] = (4, 8)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # JSON gives lists
        if self.classes < 2:
            raise ValueError(f"classes must be at least 2, got {self.classes}")


class Tiny(PretrainedModel):
    """Convolutions with batch norm (float buffers and an int64 counter) and a linear head."""

    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in config.channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, config.classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.cnn(images).mean(dim=(2, 3)))


class ChannelsLastTiny(Tiny):
    memory_format = torch.channels_last


class TinyWithCritic(PretrainedModel):
    """Releases its drawer only: the critic is for training, as a GAN's discriminator is."""

    config_class = TinyConfig

    def __init__(self, config: TinyConfig, with_critic: bool = True) -> None:
        super().__init__()
        self.config = config
        self.drawer = Tiny(config)
        self.critic = nn.Linear(config.classes, 1) if with_critic else None

    def _released_module(self) -> nn.Module:
        return self.drawer

    @classmethod
    def _from_config(cls, config: TinyConfig) -> TinyWithCritic:
        return cls(config, with_critic=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.drawer(images)


IMAGES = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def trained(model: Tiny) -> Tiny:
    """Random weights and moved batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model.train()(torch.rand(4, 3, 8, 8))
    return model.eval()


def test_round_trip_gives_identical_outputs_and_exactly_the_expected_files(tmp_path) -> None:
    model = trained(Tiny(TinyConfig()))
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    # The shipped layout, byte for byte: fields in order, tuples as lists, indent 2, a newline.
    assert (tmp_path / CONFIG_NAME).read_text() == (
        '{\n  "classes": 3,\n  "channels": [\n    4,\n    8\n  ]\n}\n'
    )
    with safe_open(str(tmp_path / WEIGHTS_NAME), "pt") as weights:
        assert weights.metadata() == {"format": "pt"}
        assert sorted(weights.keys()) == sorted(model.state_dict())
    loaded = Tiny.from_pretrained(tmp_path)
    assert type(loaded) is Tiny and loaded.config == model.config
    assert loaded.config.channels == (4, 8)
    assert not any(m.training for m in loaded.modules())
    with torch.no_grad():
        assert torch.equal(model(IMAGES), loaded(IMAGES))


def test_float16_on_disk_halves_the_size_and_loads_back_as_float32(tmp_path) -> None:
    model = trained(Tiny(TinyConfig(channels=(16, 32))))
    model.save_pretrained(tmp_path / "full", dtype=torch.float32)
    model.save_pretrained(tmp_path / "half")  # the default
    state = model.state_dict()
    stored = {k: v.dtype for k, v in load_file(str(tmp_path / "half" / WEIGHTS_NAME)).items()}
    assert stored == {
        k: torch.float16 if v.is_floating_point() else v.dtype for k, v in state.items()
    }
    assert stored["cnn.1.num_batches_tracked"] == torch.int64  # integers are never cast
    full = (tmp_path / "full" / WEIGHTS_NAME).stat().st_size
    half = (tmp_path / "half" / WEIGHTS_NAME).stat().st_size
    assert half < 0.6 * full
    loaded = Tiny.from_pretrained(tmp_path / "half")
    assert {k: v.dtype for k, v in loaded.state_dict().items()} == {
        k: v.dtype for k, v in state.items()
    }
    with torch.no_grad():
        expected, got = model(IMAGES), loaded(IMAGES)
    assert not torch.equal(expected, got)  # rounded to float16 on the way
    torch.testing.assert_close(got, expected, atol=1e-2, rtol=1e-2)


def test_a_missing_unexpected_or_misshapen_weight_raises(tmp_path) -> None:
    trained(Tiny(TinyConfig())).save_pretrained(tmp_path)
    weights = tmp_path / WEIGHTS_NAME
    state = load_file(str(weights))
    save_file({k: v for k, v in state.items() if k != "head.bias"}, str(weights))
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*head\.bias"):
        Tiny.from_pretrained(tmp_path)
    save_file({**state, "head.extra": torch.zeros(3)}, str(weights))
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\).*head\.extra"):
        Tiny.from_pretrained(tmp_path)
    save_file(state, str(weights))
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**config, "classes": 5}))
    with pytest.raises(RuntimeError, match="size mismatch for head"):
        Tiny.from_pretrained(tmp_path)


def test_an_unknown_config_key_is_a_clear_error_and_values_are_validated(tmp_path) -> None:
    Tiny(TinyConfig()).save_pretrained(tmp_path)
    config = json.loads((tmp_path / CONFIG_NAME).read_text())
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**config, "clases": 4}))
    with pytest.raises(ValueError, match=r"unknown TinyConfig keys: \['clases'\]"):
        Tiny.from_pretrained(tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({**config, "classes": 1}))
    with pytest.raises(ValueError, match="classes must be at least 2"):
        Tiny.from_pretrained(tmp_path)
    assert TinyConfig.from_dict({"channels": [2]}) == TinyConfig(channels=(2,))
    assert TinyConfig().to_dict() == {"classes": 3, "channels": [4, 8]}  # lists, as JSON has


def test_the_memory_format_is_the_class_attribute(tmp_path) -> None:
    Tiny(TinyConfig()).save_pretrained(tmp_path)
    plain = Tiny.from_pretrained(tmp_path).cnn[0].weight
    fast = ChannelsLastTiny.from_pretrained(tmp_path).cnn[0].weight
    assert plain.is_contiguous() and not plain.is_contiguous(memory_format=torch.channels_last)
    assert fast.is_contiguous(memory_format=torch.channels_last) and not fast.is_contiguous()
    assert torch.equal(plain, fast)


def test_a_model_can_release_a_part_of_itself(tmp_path) -> None:
    model = TinyWithCritic(TinyConfig())
    trained(model.drawer)
    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(load_file(str(tmp_path / WEIGHTS_NAME))) == sorted(model.drawer.state_dict())
    loaded = TinyWithCritic.from_pretrained(tmp_path)
    assert loaded.critic is None and not loaded.training
    with torch.no_grad():
        assert torch.equal(model(IMAGES), loaded(IMAGES))


def test_a_hub_repository_is_read_through_hf_hub_download(tmp_path, monkeypatch) -> None:
    import huggingface_hub

    model = trained(Tiny(TinyConfig()))
    model.save_pretrained(tmp_path, dtype=torch.float32)
    asked = []

    def download(repo_id: str, filename: str) -> str:
        asked.append((repo_id, filename))
        return str(tmp_path / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    loaded = Tiny.from_pretrained("someone/tiny")
    assert asked == [("someone/tiny", CONFIG_NAME), ("someone/tiny", WEIGHTS_NAME)]
    with torch.no_grad():
        assert torch.equal(model(IMAGES), loaded(IMAGES))


def shipped_classes() -> dict[str, type[PretrainedModel]]:
    """Which class loads each folder of checkpoints/."""
    from multimodal_core.models.face_attributes import FaceAttributeClassifier
    from multimodal_core.models.joint_embedding import JointEmbedding
    from multimodal_core.models.localization import SoundLocalizer
    from multimodal_core.models.out_of_world import OutOfWorldHead
    from multimodal_core.models.show_and_tell import ShowAndTell
    from multimodal_core.models.show_attend_tell import ShowAttendTell
    from multimodal_core.models.sound_of_pixels import SoundOfPixels
    from multimodal_core.models.soundnet import SoundNet
    from multimodal_core.models.speech2face import Speech2Face
    from multimodal_core.models.text_gan import TextGAN
    from multimodal_core.models.vqa import StackedAttentionVQA
    from multimodal_core.models.word_vectors import WordVectors
    from multimodal_core.models.world_classifier import WorldClassifier

    return {
        "captioning": ShowAttendTell,
        "face_attributes": FaceAttributeClassifier,
        "localization": SoundLocalizer,
        "matching": JointEmbedding,
        "matching_minilm": JointEmbedding,
        "matching_no_semreg": JointEmbedding,
        "out_of_world": OutOfWorldHead,
        "out_of_world_sound": OutOfWorldHead,
        "out_of_world_voice": OutOfWorldHead,
        "separation": SoundOfPixels,
        "show_and_tell": ShowAndTell,
        "soundnet": SoundNet,
        "text_to_image": TextGAN,
        "voice_to_face": Speech2Face,
        "vqa_easyvqa": StackedAttentionVQA,
        "vqa_easyvqa_question_only": StackedAttentionVQA,
        "vqa_world": StackedAttentionVQA,
        "vqa_world_question_only": StackedAttentionVQA,
        "words": WordVectors,
        "world_classifier": WorldClassifier,
    }


@pytest.mark.slow
def test_every_shipped_checkpoint_is_written_back_as_it_is_stored(tmp_path) -> None:
    """Loading and re-saving (float16, the default) reproduces model.safetensors byte for byte
    and config.json up to the keys that newer code adds with their defaults: the format has
    not drifted from the files in the repository."""
    classes = shipped_classes()
    folders = sorted(p.parent.name for p in (REPO / "checkpoints").glob(f"*/{CONFIG_NAME}"))
    assert folders == sorted(classes)
    for name, cls in classes.items():
        shipped = REPO / "checkpoints" / name
        cls.from_pretrained(shipped).save_pretrained(tmp_path / name)
        written = tmp_path / name
        weights = (written / WEIGHTS_NAME).read_bytes()
        assert weights == (shipped / WEIGHTS_NAME).read_bytes(), name
        old, new = (json.loads((d / CONFIG_NAME).read_text()) for d in (shipped, written))
        assert old.items() <= new.items(), name
        if old.keys() == new.keys():
            assert (written / CONFIG_NAME).read_text() == (shipped / CONFIG_NAME).read_text()
