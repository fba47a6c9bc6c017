"""Speech2Face and the face-attribute judge on tiny configs: shapes, range, gradients, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from multimodal_core.models.face_attributes import FaceAttributeClassifier, FaceAttributesConfig
from multimodal_core.models.speech2face import Speech2Face, Speech2FaceConfig


def tiny_speech2face(**overrides: object) -> Speech2FaceConfig:
    values = dict(
        image_size=16,
        face_channels=(4, 8),
        embed_dim=8,
        n_mels=16,
        voice_channels=(4, 8),
        voice_hidden=16,
        attribute_sizes=(3, 2, 5, 7),
    )
    values.update(overrides)
    return Speech2FaceConfig(**values)


def tiny_judge() -> FaceAttributesConfig:
    return FaceAttributesConfig(image_size=16, channels=(4, 8))


def _grads_everywhere(model: torch.nn.Module, prefixes: tuple[str, ...] = ("",)) -> None:
    missing = [
        name
        for name, p in model.named_parameters()
        if name.startswith(prefixes)
        and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)
    ]
    assert not missing, f"no gradient for {missing}"


def test_face_autoencoder_shapes_range_and_gradients() -> None:
    torch.manual_seed(0)
    config = tiny_speech2face()
    model = Speech2Face(config)
    faces, targets = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    labels = torch.tensor([[0, 1, 2, 3], [1, 0, 4, 6], [2, 1, 0, 0], [0, 0, 1, 2]])
    out = model.face_autoencoder(faces, targets, labels)
    assert out.embedding.shape == (4, 8)
    assert torch.allclose(out.embedding.norm(dim=-1), torch.ones(4), atol=1e-5)
    assert out.reconstruction.shape == (4, 3, 16, 16)
    assert out.reconstruction.min() >= 0.0 and out.reconstruction.max() <= 1.0
    assert [lg.shape for lg in out.attribute_logits] == [(4, n) for n in (3, 2, 5, 7)]
    assert torch.isfinite(out.loss)
    out.loss.backward()
    _grads_everywhere(model, ("face_encoder", "face_decoder", "attribute_head"))


def test_voice_path_shapes_any_length_and_gradients_with_face_side_frozen() -> None:
    torch.manual_seed(0)
    model = Speech2Face(tiny_speech2face())
    for p in (
        *model.face_encoder.parameters(),
        *model.face_decoder.parameters(),
        *model.attribute_head.parameters(),
    ):
        p.requires_grad_(False)
    mels = torch.rand(3, 16, 37) * -80.0  # dB
    target = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    out = model(mels, target)
    assert out.embedding.shape == (3, 8) and out.face.shape == (3, 3, 16, 16)
    assert torch.isfinite(out.loss) and out.l1_loss > 0 and out.distill_loss >= 0
    out.loss.backward()
    _grads_everywhere(model, ("voice_encoder",))
    model.eval()
    assert model(torch.rand(1, 16, 200) * -80.0).face.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="T >= 4"):
        model(torch.rand(1, 16, 2))


def test_judge_shapes_gradients_and_probabilities() -> None:
    torch.manual_seed(0)
    judge = FaceAttributeClassifier(tiny_judge())
    faces = torch.rand(5, 3, 16, 16)
    labels = torch.tensor([[0, 1, 2, 3]] * 5)
    out = judge(faces, labels)
    assert [lg.shape for lg in out.logits] == [(5, n) for n in (3, 2, 5, 7)]
    out.loss.backward()
    _grads_everywhere(judge)
    judge.eval()
    probs = judge.predict(faces)
    assert set(probs) == {"age_group", "gender", "skin_tone", "hair"}
    assert torch.allclose(probs["hair"].sum(-1), torch.ones(5), atol=1e-5)
    with pytest.raises(ValueError, match="expected faces"):
        judge(torch.rand(5, 16, 16))


def test_configs_validate_and_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="divisible"):
        tiny_speech2face(image_size=18)
    with pytest.raises(ValueError, match="n_mels"):
        tiny_speech2face(n_mels=18)
    with pytest.raises(ValueError, match="unknown"):
        Speech2FaceConfig.from_dict({"embed_dim": 8, "typo": 1})
    with pytest.raises(ValueError, match="same length"):
        FaceAttributesConfig(attribute_names=("a",), attribute_sizes=(2, 3))


@pytest.mark.parametrize("which", ["speech2face", "judge"])
def test_save_load_round_trip(tmp_path: Path, which: str) -> None:
    torch.manual_seed(0)
    if which == "speech2face":
        model = Speech2Face(tiny_speech2face()).eval()
        inputs = torch.rand(2, 16, 40) * -80.0

        def run(m):
            out = m(inputs)
            return torch.cat([out.embedding.flatten(), out.face.flatten()])
    else:
        model = FaceAttributeClassifier(tiny_judge()).eval()
        inputs = torch.rand(2, 3, 16, 16)

        def run(m):
            return torch.cat([lg.flatten() for lg in m(inputs).logits])

    model.save_pretrained(tmp_path, dtype=torch.float32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = type(model).from_pretrained(tmp_path)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(run(model), run(loaded))
    assert json.loads((tmp_path / "config.json").read_text())["image_size"] == 16
    model.save_pretrained(tmp_path / "half")  # float16: close, not equal
    with torch.no_grad():
        assert torch.allclose(
            run(model), run(type(model).from_pretrained(tmp_path / "half")), atol=5e-2
        )
