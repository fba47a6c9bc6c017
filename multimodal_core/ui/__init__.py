"""One module per tab; each ``build_tab()`` uses gradio and ``tasks`` only, never torch.

A task issue adds its tab by writing ``ui/<task>.py`` (with ``TITLE`` and ``build_tab()``) and
naming it in :data:`TAB_MODULES`, in the order the tabs appear.
"""

TAB_MODULES: tuple[str, ...] = (
    "captioning",
    "vqa",
    "text_to_image",
    "localization",
    "voice_to_face",
    "sound",
    "status",
)
