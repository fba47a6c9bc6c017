"""The README's Space configuration against the code it deploys.

Hugging Face Spaces read the YAML front matter at the top of README.md. These checks fail for
real reasons: a Gradio upgrade that leaves ``sdk_version`` behind (the Space would build an
older Gradio than the tests ran), a pretrained model id changed in settings but still preloaded
under its old id, or an example list given a function, which Gradio would then run for every
example while the Space starts.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest
import yaml

from multimodal_core.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"

HUB_ID_SETTINGS = (
    "caption_model",
    "caption_model_alt",
    "vqa_model",
    "vqa_model_alt",
    "clap_model",
    "clipseg_model",
    "diffusion_model",
)
"""Settings whose defaults are Hub ids of the pretrained preset (the sentence encoder's default
is the pip-installed copy, not a Hub id)."""


def front_matter() -> dict:
    text = README.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "README.md must open with the Space's YAML front matter"
    block, separator, _ = text[4:].partition("\n---\n")
    assert separator, "the front matter is not closed by a '---' line"
    return yaml.safe_load(block)


def test_front_matter_names_the_app_and_the_installed_gradio() -> None:
    config = front_matter()
    assert config["sdk"] == "gradio"
    assert config["app_file"] == "app.py" and (README.parent / "app.py").is_file()
    assert str(config["sdk_version"]) == gr.__version__
    assert isinstance(config["python_version"], str)  # unquoted 3.10 would read as 3.1
    for key in ("title", "suggested_hardware", "startup_duration_timeout"):
        assert config.get(key), f"{key} is missing from the front matter"


def test_every_pretrained_default_is_preloaded() -> None:
    preloaded = {entry.split()[0] for entry in front_matter()["preload_from_hub"]}
    defaults = {f.name: f.default for f in fields(Settings)}
    expected = {defaults[name] for name in HUB_ID_SETTINGS}
    assert expected - preloaded == set(), "preload_from_hub misses a pretrained default"
    assert preloaded - expected == set(), "preload_from_hub names a model no setting uses"


def test_building_the_app_caches_no_example(monkeypatch: pytest.MonkeyPatch) -> None:
    import app

    monkeypatch.setenv("GRADIO_CACHE_EXAMPLES", "true")  # as a Space may set it
    made: list[gr.helpers.Examples] = []
    init = gr.helpers.Examples.__init__

    def recording_init(self, *args, **kwargs) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(gr.helpers.Examples, "__init__", recording_init)
    app.build_app()
    assert made, "no example list was built"
    eager = [e for e in made if e.cache_examples is True]
    assert eager == [], "examples cached at start-up: give them cache_examples='lazy'"


def test_the_tab_table_lists_every_task_family() -> None:
    from multimodal_core.registry import FAMILIES

    rows = [
        line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("| ")
    ]
    cells = [row.split("|")[1].strip() for row in rows]  # "Group / Title"
    missing = [f"{f.group} / {f.title}" for f in FAMILIES if f"{f.group} / {f.title}" not in cells]
    assert missing == []
