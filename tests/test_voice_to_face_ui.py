"""The Voice to face tab over HTTP (``/voice_to_face``) on a tiny random model: the face, the
traits, the spectrogram and the meaning line come back; a silent file gets its sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from multimodal_core import hub
from multimodal_core.models.speech2face import Speech2Face, Speech2FaceConfig


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    import gradio as gr

    from multimodal_core.tasks import voice_to_face as task
    from multimodal_core.ui import voice_to_face as tab

    torch.manual_seed(0)
    tiny = Speech2Face(
        Speech2FaceConfig(image_size=16, face_channels=(4, 8), embed_dim=8, voice_channels=(4, 8))
    ).eval()
    patch = pytest.MonkeyPatch()
    real_get = hub.get
    patch.setattr(hub, "get", lambda name: tiny if name == task.BUILTIN else real_get(name))
    with gr.Blocks() as demo:
        tab.build_tab()
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    try:
        yield Client(url, verbose=False)
    finally:
        demo.close()
        patch.undo()


def test_voice_to_face_endpoint(client: Client, tmp_path: Path) -> None:
    from multimodal_core.world.people import person

    path = tmp_path / "voice.wav"
    sf.write(path, person(20_000_002).voice(2.0, 16_000), 16_000)
    face, age, gender, spectrogram, meaning = client.predict(
        handle_file(str(path)), "builtin", 0, api_name="/voice_to_face"
    )
    assert Path(face).is_file() and Path(spectrogram).is_file()
    assert {c["label"] for c in age["confidences"]} == {"child", "adult", "older"}
    assert {c["label"] for c in gender["confidences"]} == {"female", "male"}
    assert "not the speaker's face" in meaning

    sf.write(tmp_path / "silence.wav", np.zeros(32_000, np.float32), 16_000)
    with pytest.raises(AppError, match="silent"):
        client.predict(handle_file(str(tmp_path / "silence.wav")), "builtin", 0,
                       api_name="/voice_to_face")  # fmt: skip
