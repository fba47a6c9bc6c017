"""The Status tab: first, in words, what each tab's models can do here; then the technical table
(which models are loaded, on which device, how much memory they hold) folded below."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry
from multimodal_core.tasks import status
from multimodal_core.ui.common import user_errors

FAMILY = registry.family("status")

LEGEND = (
    "**ready**: loaded and waiting · **loads on first use**: on this machine, loaded the first "
    "time someone uses it (a few seconds) · **downloads on first use**: fetched from the Hugging "
    "Face Hub the first time · **needs internet**: not on this machine, and the internet cannot "
    "be reached · **failed**: the reason is given; the next request tries again"
)


def _in_words() -> str:
    lines = ["| Tab | Model | State |", "|---|---|---|"]
    for row in status.choice_states():
        lines.append(f"| {row.tab} | {row.choice} | **{row.state}** |")
    return "\n".join(lines)


def _facts() -> str:
    return "\n".join(f"- **{name}**: {value}" for name, value in status.environment().items())


@user_errors("reading the status")
def _refresh() -> tuple[str, list[list], str]:
    return _in_words(), status.model_rows(), _facts()


def build_tab() -> None:
    gr.Markdown(
        "What each tab can do on this machine right now. Each model is loaded on first use and "
        "then stays in memory, shared by every tab and every visitor; a model that failed affects "
        "only its own tab."
    )
    words = gr.Markdown(elem_id="status-in-words")
    gr.Markdown(LEGEND)
    with gr.Accordion("Technical details: models, devices, memory, versions", open=False):
        table = gr.Dataframe(
            headers=status.STATUS_COLUMNS,
            interactive=False,
            label="Models (dtype: number format of the weights; memory: their size in MB)",
            max_height=800,  # every model at once, without an inner scroll bar
            elem_id="status-models",
        )
        facts = gr.Markdown(elem_id="status-facts")
    refresh = gr.Button("Refresh")
    refresh.click(_refresh, None, [words, table, facts], api_name=FAMILY.api_name)
    # Filled as each page loads; a helper event, not a second public endpoint.
    gr.on(None, _refresh, None, [words, table, facts], api_visibility="private")
