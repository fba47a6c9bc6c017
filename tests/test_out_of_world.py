"""The out-of-world check: the head on a tiny config, its real-picture sources, and the tasks
that carry ``in_world`` (with the shipped checkpoints, on photos the head never saw)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from multimodal_core import hub
from multimodal_core.models.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from multimodal_core.models.out_of_world import OutOfWorldConfig, OutOfWorldHead
from multimodal_core.models.world_classifier import WorldClassifier, WorldClassifierConfig
from multimodal_core.settings import get_settings
from multimodal_core.world import real_pictures

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WORLD_SCENE = EXAMPLES / "scene_20000001.png"  # a test-split scene: no training read it
SHIPPED = (get_settings().checkpoints_dir / "out_of_world" / WEIGHTS_NAME).is_file()


def tiny_head(threshold: float = 0.3) -> OutOfWorldHead:
    torch.manual_seed(0)
    return OutOfWorldHead(OutOfWorldConfig(feature_dim=8, threshold=threshold))


def test_forward_shapes_loss_and_every_parameter_learns() -> None:
    head = tiny_head()
    features = torch.randn(6, 8) * 3 + 1
    head.fit_standardisation(features)
    assert torch.allclose(head.feature_mean, features.mean(0))
    out = head(features, torch.tensor([1, 1, 1, 1, 0, 0]))
    assert out.logits.shape == (6,) and torch.isfinite(out.loss)
    assert ((out.world_probability > 0) & (out.world_probability < 1)).all()
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        head(torch.randn(6, 7))


def test_the_decision_uses_the_stored_threshold() -> None:
    head = tiny_head(threshold=0.5)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor([0.1]))  # probability 0.525 for any picture
    assert head.is_in_world(torch.randn(3, 8)).all()
    head.config.threshold = 0.6
    assert not head.is_in_world(torch.randn(3, 8)).any()


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1])
def test_config_rejects_a_threshold_outside_0_1(threshold: float) -> None:
    with pytest.raises(ValueError, match="threshold"):
        OutOfWorldConfig(feature_dim=8, threshold=threshold)


def test_save_load_round_trip_is_exact_and_strict(tmp_path: Path) -> None:
    head = tiny_head(threshold=0.42)
    head.fit_standardisation(torch.randn(10, 8))
    head.eval().save_pretrained(tmp_path / "head", dtype=torch.float32)
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    loaded = OutOfWorldHead.from_pretrained(tmp_path / "head")
    assert loaded.config.threshold == 0.42 and not loaded.training
    features = torch.randn(4, 8)
    assert torch.equal(loaded(features).logits, head(features).logits)

    config = json.loads((tmp_path / "head" / CONFIG_NAME).read_text())
    (tmp_path / "head" / CONFIG_NAME).write_text(json.dumps({**config, "treshold": 0.1}))
    with pytest.raises(ValueError, match="unknown"):
        OutOfWorldHead.from_pretrained(tmp_path / "head")
    (tmp_path / "head" / CONFIG_NAME).write_text(json.dumps(config))
    state = load_file(tmp_path / "head" / WEIGHTS_NAME)
    del state["feature_std"]  # a head saved without its standardisation would be wrong
    save_file(state, str(tmp_path / "head" / WEIGHTS_NAME))
    with pytest.raises(RuntimeError, match="feature_std"):
        OutOfWorldHead.from_pretrained(tmp_path / "head")


def test_world_classifier_statistics_have_the_heads_size() -> None:
    config = WorldClassifierConfig(("a", "b"), ("red",), image_size=32, channels=(4, 8, 16))
    stats = WorldClassifier(config).eval().feature_statistics(torch.rand(2, 3, 32, 32))
    assert stats.shape == (2, config.statistics_dim) == (2, 8 + 16 + 16)


def test_held_out_sources_share_nothing_with_training() -> None:
    assert set(real_pictures.HELD_OUT_SOURCES).isdisjoint(real_pictures.TRAIN_SOURCES)
    files = {name: set(real_pictures._FILES[name]) for name in real_pictures._FILES}
    held = set().union(*(files[s] for s in real_pictures.HELD_OUT_SOURCES))
    trained = set().union(*(files[s] for s in real_pictures.TRAIN_SOURCES))
    assert held.isdisjoint(trained)
    # the world's own backgrounds are never a counter-example
    assert not any("grass" in p or "brick" in p or "gravel" in p for _, p in trained)


def test_variants_are_rgb_floats_of_the_photo() -> None:
    (photo,) = real_pictures.source_pictures("rocket")
    made = real_pictures.variants(photo, np.random.default_rng(0), n_crops=4)
    assert len(made) == 6 + 4
    assert all(v.ndim == 3 and v.shape[2] == 3 and v.dtype == np.float32 for v in made)
    assert all(v.min() >= 0.0 and v.max() <= 1.0 for v in made)
    assert np.array_equal(made[0], photo) and made[3].shape == (*photo.shape[1::-1], 3)


# ----- the shipped check, through the tasks -----------------------------------------------------

needs_checkpoint = pytest.mark.skipif(not SHIPPED, reason="checkpoints/out_of_world not shipped")


@pytest.fixture(scope="module")
def held_out_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A photo the head never saw in any form (scikit-image's rocket)."""
    assert "rocket" in real_pictures.HELD_OUT_SOURCES
    (photo,) = real_pictures.source_pictures("rocket")
    path = tmp_path_factory.mktemp("photos") / "rocket.png"
    Image.fromarray((photo * 255).round().astype(np.uint8)).save(path)
    return path


@needs_checkpoint
def test_the_check_tells_a_held_out_photo_from_a_world_scene(held_out_photo: Path) -> None:
    from multimodal_core import media
    from multimodal_core.tasks import world_check

    photo, scene = world_check.check_pictures(
        [media.load_image(held_out_photo), media.load_image(WORLD_SCENE)]
    )
    assert not photo.in_world and scene.in_world
    assert 0.0 <= photo.score < scene.score <= 1.0
    assert world_check.NAME in {row.name for row in hub.status()}


@needs_checkpoint
def test_captioning_carries_the_check(held_out_photo: Path) -> None:
    from multimodal_core.tasks import captioning

    photo = captioning.caption_image(held_out_photo, beam_size=2)
    scene = captioning.caption_image(WORLD_SCENE, beam_size=2)
    assert photo.in_world is False and photo.note == captioning.out_of_world_note()
    assert scene.in_world is True and scene.note == ""
    assert scene.to_dict()["in_world_score"] == scene.in_world_score > photo.in_world_score


@pytest.mark.slow  # about 6 s: two models and the sentence encoder load
@needs_checkpoint
def test_vqa_carries_the_check_for_the_world_model_only(held_out_photo: Path) -> None:
    from multimodal_core.tasks import vqa

    photo = vqa.answer_question(held_out_photo, "what is on the left")
    scene = vqa.answer_question(WORLD_SCENE, "what is on the left")
    assert photo.in_world is False and photo.notes[0] == vqa.out_of_world_note()
    assert scene.in_world is True and vqa.out_of_world_note() not in scene.notes
    values = photo.to_dict()
    assert values["in_world"] is False and 0.0 <= values["in_world_score"] < 1.0
    pictures = [np.asarray(Image.open(p)) / 255.0 for p in (held_out_photo, WORLD_SCENE)]
    batched = vqa.answer_builtin(pictures, ["what is on the left"] * 2)
    assert [r.in_world for r in batched] == [False, True]
    easy = vqa.answer_question(held_out_photo, "what shape is it", model="easyvqa")
    assert easy.in_world is None  # easy-vqa's shapes are not the emoji world


@needs_checkpoint
def test_localization_carries_the_check(held_out_photo: Path) -> None:
    from multimodal_core.tasks import localization

    sound = EXAMPLES / "localization_20000000.wav"
    scene = localization.localize(EXAMPLES / "localization_20000000.png", sound)
    photo = localization.localize(held_out_photo, sound)
    assert scene.in_world is True and localization.out_of_world_note() not in scene.notes
    assert photo.in_world is False and localization.out_of_world_note() in photo.notes
    assert photo.to_dict()["in_world"] is False


@needs_checkpoint
@pytest.mark.parametrize("command", ["captioning", "vqa", "localization"])
def test_cli_json_carries_the_check(
    command: str, held_out_photo: Path, capsys: pytest.CaptureFixture
) -> None:
    from multimodal_core.cli import main

    extra = {
        "vqa": ["what is on the left"],
        "localization": [str(EXAMPLES / "localization_20000000.wav")],
    }
    assert main([command, str(held_out_photo), *extra.get(command, []), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["in_world"] is False and isinstance(result["in_world_score"], float)


def test_a_missing_check_leaves_in_world_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multimodal_core.tasks import world_check

    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    hub.default_hub().unload(world_check.NAME)
    try:
        assert world_check.check_if_available([np.zeros((8, 8, 3), np.float32)] * 2) == [None] * 2
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()
        hub.default_hub().unload(world_check.NAME)


@pytest.mark.slow  # renders scenes and reads every held-out photo: about 10 s
@needs_checkpoint
def test_the_evaluation_prints_its_figures_as_the_last_json_line(
    capsys: pytest.CaptureFixture,
) -> None:
    from multimodal_core.evaluate.__main__ import main

    args = ["out-of-world", "--scenes", "30", "--crops", "1", "--no-caption-baseline", "--json"]
    args += ["--no-sounds"] if not SOUND_SHIPPED else ["--sounds", "20", "--voices", "20"]
    args += ["--object-sounds", "10", "--signals", "2", "--recording-crops", "1"]
    args += ["--no-pitch-baseline"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n_world"] == 30 and result["n_photos"] == 8 * 7
    assert result["threshold"] == pytest.approx(
        OutOfWorldHead.from_pretrained(
            get_settings().checkpoints_dir / "out_of_world"
        ).config.threshold,
        abs=1e-6,
    )
    assert 0.0 <= result["world_flagged"] <= 0.1 and result["photos_flagged"] >= 0.5
    assert set(result["baseline_classifier_top_probability"]) == {
        "threshold",
        "world_flagged",
        "photos_flagged",
    }
    if SOUND_SHIPPED:
        assert result["n_sound_world"] == 20 and result["n_voice_world"] == 20
        assert 0.0 <= result["sound_world_flagged"] <= 0.2 and result["sound_real_flagged"] >= 0.8
        assert 0.0 <= result["voice_world_flagged"] <= 0.2
        assert result["voice_nonvoice_flagged"] >= 0.8


# ----- sounds and voices ------------------------------------------------------------------------

SOUND_SHIPPED = all(
    (get_settings().checkpoints_dir / f / WEIGHTS_NAME).is_file()
    for f in ("localization", "out_of_world_sound", "out_of_world_voice")
)
needs_sound_checkpoints = pytest.mark.skipif(
    not SOUND_SHIPPED, reason="checkpoints/out_of_world_sound or _voice not shipped"
)


def tiny_audio_net():
    from multimodal_core.models.localization import AudioNet, LocalizationConfig

    torch.manual_seed(0)
    config = LocalizationConfig(n_mels=16, audio_channels=(8, 12), embed_dim=4)
    return AudioNet(config).eval(), config


def test_sound_statistics_have_their_size_and_ignore_loudness() -> None:
    from multimodal_core.models.out_of_world import sound_statistics, sound_statistics_dim

    net, _ = tiny_audio_net()
    assert sound_statistics_dim(net) == 8 + 12 + 2 * 12 + 4  # the embedding last
    mels = torch.randn(3, 16, 40) * 10 - 30
    with torch.inference_mode():
        stats = sound_statistics(net, mels)
        louder = sound_statistics(net, mels + 12.0)  # 12 dB louder, same sound
    assert stats.shape == (3, sound_statistics_dim(net))
    assert torch.allclose(stats, louder, atol=1e-5)
    assert not torch.allclose(stats[0], stats[1])
    with pytest.raises(ValueError, match=r"\(B, 16, T\)"):
        sound_statistics(net, torch.randn(2, 8, 40))


def test_recording_statistics_read_clips_of_any_length() -> None:
    from multimodal_core.models.out_of_world import hearing_config, recording_statistics

    net, config = tiny_audio_net()
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (16_000, 40_000)]
    stats = recording_statistics(net, hearing_config(config), clips)
    assert stats.shape == (2, 48) and torch.isfinite(stats).all()
    assert torch.allclose(stats[:, -4:].norm(dim=1), torch.ones(2), atol=1e-5)


def test_held_out_sounds_share_nothing_with_training() -> None:
    from multimodal_core.world import real_sounds, sounds

    assert set(real_sounds.HELD_OUT_KINDS).isdisjoint(real_sounds.TRAIN_KINDS)
    assert set(real_sounds.HELD_OUT_KINDS) | set(real_sounds.TRAIN_KINDS) == set(
        real_sounds.SIGNALS
    )
    assert set(real_sounds.HELD_OUT_RECORDINGS).isdisjoint(real_sounds.TRAIN_RECORDINGS)
    assert set(real_sounds.HELD_OUT_PROGRAMS).isdisjoint(real_sounds.TRAIN_PROGRAMS)
    world_programs = {s.program for s in sounds.SOUND_SOURCES.values() if s.kind != "speech"}
    assert world_programs.isdisjoint(real_sounds.TRAIN_PROGRAMS + real_sounds.HELD_OUT_PROGRAMS)
    # one speaker, two clips: both held out together, never one of each side
    assert {"cate_blanchett", "cate_blanchett_2"} <= set(real_sounds.HELD_OUT_RECORDINGS)


def test_generated_signals_are_normalised_clips_of_their_kind() -> None:
    from multimodal_core.world import clips, real_sounds

    made = real_sounds.signals(tuple(real_sounds.SIGNALS), np.random.default_rng(0), 2)
    assert len(made) == 2 * len(real_sounds.SIGNALS)
    for clip in made:
        assert clip.dtype == np.float32 and clip.ndim == 1
        assert 1.5 * real_sounds.SAMPLE_RATE <= len(clip) <= 5.0 * real_sounds.SAMPLE_RATE
        assert np.sqrt(np.mean(clip.astype(np.float64) ** 2)) <= clips.TARGET_RMS + 1e-4
        assert np.abs(clip).max() <= clips.PEAK_LIMIT + 1e-6
    again = real_sounds.signals(("sweep",), np.random.default_rng(0), 1)
    assert np.array_equal(again[0], real_sounds.signals(("sweep",), np.random.default_rng(0), 1)[0])


def _sweep(path: Path, seconds: float = 3.0) -> Path:
    """The issue's example: a sine sweep, 100 Hz to 4 kHz."""
    import soundfile as sf

    t = np.arange(int(seconds * 16_000)) / 16_000
    k = np.log(40.0) / seconds
    sf.write(path, 0.3 * np.sin(2 * np.pi * 100.0 * (np.exp(k * t) - 1) / k), 16_000)
    return path


@needs_sound_checkpoints
def test_the_sound_checks_tell_a_sweep_from_world_sounds_and_voices(tmp_path: Path) -> None:
    from multimodal_core import media
    from multimodal_core.tasks import world_check

    def check(path: Path, question: str) -> world_check.WorldCheck:
        clip = media.load_audio(path, 16_000)
        return world_check.check_sound(clip.samples, clip.sample_rate, question)

    sweep = _sweep(tmp_path / "sweep.wav")
    assert not check(sweep, "sound").in_world and not check(sweep, "voice").in_world
    assert check(EXAMPLES / "localization_20000000.wav", "sound").in_world
    assert check(EXAMPLES / "voice_20000001.wav", "voice").in_world
    assert check(EXAMPLES / "voice_20000001.wav", "sound").in_world  # world speech is world sound
    with pytest.raises(ValueError, match="question"):
        world_check.check_sound(np.zeros(16_000, np.float32), 16_000, "music")
    assert world_check.SOUND_NAME in {row.name for row in hub.status()}


@needs_sound_checkpoints
@needs_checkpoint
def test_localization_keeps_the_picture_and_the_sound_apart(tmp_path: Path) -> None:
    from multimodal_core.tasks import localization

    scene = EXAMPLES / "localization_20000000.png"
    world = localization.localize(scene, EXAMPLES / "localization_20000000.wav")
    assert world.in_world is True and world.sound_in_world is True
    assert localization.sound_out_of_world_note() not in world.notes
    swept = localization.localize(scene, _sweep(tmp_path / "sweep.wav"))
    assert swept.picture_in_world is True and swept.sound_in_world is False
    assert swept.in_world is False and swept.in_world_score == swept.sound_in_world_score
    assert localization.sound_out_of_world_note() in swept.notes
    assert localization.out_of_world_note() not in swept.notes
    assert swept.heat.shape == (128, 128)  # what the model computes is still shown
    values = swept.to_dict()
    assert values["sound_in_world"] is False and values["picture_in_world"] is True


@needs_sound_checkpoints
def test_voice_to_face_says_a_sweep_is_no_voice(tmp_path: Path) -> None:
    from multimodal_core.tasks import voice_to_face

    swept = voice_to_face.voice_to_face(_sweep(tmp_path / "sweep.wav"))
    assert swept.in_world is False and not swept.confident
    assert voice_to_face.not_a_voice_note() in swept.notes
    assert "does not sound like a voice" in voice_to_face.describe(swept)
    assert swept.face.shape[2] == 3  # the face it computes is still drawn
    voice = voice_to_face.voice_to_face(EXAMPLES / "voice_20000001.wav")
    assert voice.in_world is True and voice_to_face.not_a_voice_note() not in voice.notes
    assert voice.to_dict()["in_world_score"] == voice.in_world_score > swept.in_world_score


@needs_sound_checkpoints
@pytest.mark.parametrize("command", ["localization", "voice-to-face"])
def test_cli_json_carries_the_sound_checks(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from multimodal_core.cli import main

    sweep = str(_sweep(tmp_path / "sweep.wav"))
    args = (
        [str(EXAMPLES / "localization_20000000.png"), sweep]
        if command == "localization"
        else [sweep]
    )
    assert main([command, *args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["in_world"] is False and isinstance(result["in_world_score"], float)
    if command == "localization":
        assert result["sound_in_world"] is False


def test_a_missing_sound_check_leaves_in_world_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from multimodal_core.tasks import world_check

    monkeypatch.setenv("MMC_CHECKPOINTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    hub.default_hub().unload(world_check.SOUND_NAME)
    try:
        assert world_check.check_sound_if_available(np.zeros(16_000), 16_000, "voice") is None
    finally:
        monkeypatch.delenv("MMC_CHECKPOINTS_DIR")
        get_settings.cache_clear()
        hub.default_hub().unload(world_check.SOUND_NAME)


def test_weakest_check_decides_and_none_means_unknown() -> None:
    from multimodal_core.tasks.world_check import WorldCheck, weakest

    picture, sound = WorldCheck(True, 0.9, 0.7), WorldCheck(False, 0.2, 0.3)
    assert weakest([picture, sound]) == sound and weakest([picture, None]) == picture
    assert weakest([None, None]) is None
    assert weakest([WorldCheck(True, 0.5, 0.1), WorldCheck(True, 0.8, 0.75)]).score == 0.8
    # a sound far from every stored world example is out even above the threshold
    far = WorldCheck(False, 0.99, 0.3)
    assert weakest([WorldCheck(True, 0.31, 0.3), far]) == far


def test_stored_world_examples_add_a_nearest_rule(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = OutOfWorldConfig(feature_dim=6, threshold=0.5, reference_dim=2, reference_size=3)
    head = OutOfWorldHead(config)
    world = torch.tensor([[0.0] * 4 + [1.0, 0.0], [0.0] * 4 + [0.0, 1.0], [0.0] * 4 + [0.6, 0.8]])
    head.fit_reference(world)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(2.0)  # probability 0.88 for anything: only the nearest rule acts
    head.config.reference_threshold = 0.9
    far = torch.tensor([[0.0] * 4 + [-1.0, 0.0]])
    near = torch.tensor([[0.0] * 4 + [0.8, 0.6]])
    assert torch.allclose(head.nearest_similarity(far), torch.tensor([0.0]))
    assert head.is_in_world(near).all() and not head.is_in_world(far).any()
    head.eval().save_pretrained(tmp_path / "head", dtype=torch.float32)
    loaded = OutOfWorldHead.from_pretrained(tmp_path / "head")
    assert torch.equal(loaded.reference, head.reference) and not loaded.is_in_world(far).any()
    assert tiny_head().nearest_similarity(torch.randn(2, 8)) is None  # the picture head's case
    with pytest.raises(ValueError, match="reference_dim"):
        OutOfWorldConfig(feature_dim=6, reference_size=3)
