"""The Status tab: which models are loaded, on which device, and how much memory they hold."""

from __future__ import annotations

import gradio as gr

from multimodal_core import registry
from multimodal_core.tasks import status
from multimodal_core.ui.common import user_errors

FAMILY = registry.family("status")


def _facts() -> str:
    return "\n".join(f"- **{name}**: {value}" for name, value in status.environment().items())


@user_errors("reading the status")
def _refresh() -> tuple[list[list], str]:
    return status.model_rows(), _facts()


def build_tab() -> None:
    gr.Markdown(
        "Each model is loaded on first use and then stays resident, shared by every tab and "
        "every visitor. A model that failed to load affects only its own tab; it is tried again "
        "on the next request."
    )
    table = gr.Dataframe(
        headers=status.STATUS_COLUMNS,
        interactive=False,
        label="Models",
        max_height=800,  # every model at once, without an inner scroll bar
        elem_id="status-models",
    )
    facts = gr.Markdown()
    refresh = gr.Button("Refresh")
    refresh.click(_refresh, None, [table, facts], api_name=FAMILY.api_name)
    # Filled as each page loads; a helper event, not a second public endpoint.
    gr.on(None, _refresh, None, [table, facts], api_visibility="private")
