"""One module per tab; each ``build_tab()`` uses gradio and ``tasks`` only, never torch.

The tabs, their order and their titles come from :data:`multimodal_core.registry.FAMILIES`.
"""
