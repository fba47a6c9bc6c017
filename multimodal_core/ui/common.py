"""Pieces every tab shares: raw-path uploads, error sentences, and the model queue."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np
from gradio.components.gallery import GalleryData
from gradio.data_classes import ImageData
from gradio.processing_utils import hash_bytes
from PIL import Image

from multimodal_core.errors import InputError, ModelUnavailableError

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MODEL_QUEUE = "model"
"""Concurrency id shared by every event that runs a model, so GPU work waits in one queue."""

SHOWN_SIDE = 384
"""About how wide a result picture is sent (``viz.enlarge``): a 128 px heat map of an example
scene would otherwise be a thumbnail in a wide column."""


class ImageUpload(gr.Image):
    """An image input that hands the raw upload path to ``media.load_image``.

    ``gr.Image`` opens every upload with PIL before our function runs, so a broken file or a
    decompression bomb fails inside Gradio with a generic message. Passing the path through lets
    the project's media code judge the file and give its own sentence.
    """

    is_template = True  # the browser draws it with gr.Image's own front end

    def preprocess(self, payload: Any) -> str | None:  # type: ignore[override]
        return None if payload is None else str(payload.path)


PNG_LEVEL = 1
"""zlib level of result pictures: Gradio's default 6 took more CPU than the model for a
captioning request (35 ms for the attention sheet against 22 ms of beam search) and a fifth of a
sound request's; level 1 takes about a third of that for files 10 to 20% larger. Lossless still,
unlike JPEG or lossy WebP, which blur the plots' lettering."""


def cached_png(picture: np.ndarray | Image.Image, cache: str | Path) -> Path:
    """``picture`` written as a quickly compressed PNG into Gradio's cache, named by its bytes
    as Gradio names its own files there."""
    image = Image.fromarray(picture) if isinstance(picture, np.ndarray) else picture
    with io.BytesIO() as buffer:
        image.save(buffer, format="png", compress_level=PNG_LEVEL)
        data = buffer.getvalue()
    folder = Path(cache) / hash_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.png"
    path.write_bytes(data)
    return path


class ResultImage(gr.Image):
    """A result picture sent to the browser as a quickly compressed PNG (:data:`PNG_LEVEL`)."""

    is_template = True  # the browser draws it with gr.Image's own front end

    def postprocess(self, value: Any) -> ImageData | None:  # type: ignore[override]
        if not isinstance(value, np.ndarray | Image.Image):
            return super().postprocess(value)
        path = cached_png(value, self.GRADIO_CACHE)
        return ImageData(path=str(path), orig_name=path.name)


class ResultGallery(gr.Gallery):
    """A gallery of result pictures sent as quickly compressed PNGs (:data:`PNG_LEVEL`);
    ``gr.Gallery`` writes them at level 6."""

    is_template = True  # the browser draws it with gr.Gallery's own front end

    def postprocess(self, value: Any) -> GalleryData:  # type: ignore[override]
        def written(item: Any) -> Any:
            picture, caption = item if isinstance(item, tuple | list) else (item, None)
            if isinstance(picture, np.ndarray | Image.Image):
                picture = cached_png(picture, self.GRADIO_CACHE)
            return picture if caption is None else (picture, caption)

        return super().postprocess(None if value is None else [written(i) for i in value])


def cleared_first(
    trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any, outputs: list, **event: Any
) -> Any:
    """``trigger(fn, inputs, outputs, **event)``, after the outputs are emptied in the browser:
    a request that fails never leaves the last result on screen beside its error. API clients
    calling the event's ``api_name`` run ``fn`` alone."""

    def clear() -> Any:
        return None if len(outputs) == 1 else tuple(None for _ in outputs)

    emptied = trigger(
        clear, None, outputs, api_visibility="private", queue=False, show_progress="hidden"
    )
    return emptied.then(fn, inputs, outputs, **event)


def user_errors(action: str) -> Callable[[F], F]:
    """Turn failures into one sentence for the page; log unexpected ones with their traceback.

    ``action`` completes "Something went wrong on our side while ...", e.g. "analysing the sound".
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (InputError, ModelUnavailableError) as error:
                raise gr.Error(str(error), print_exception=False) from None
            except gr.Error:
                raise
            except Exception:
                logger.exception("unexpected failure while %s", action)
                raise gr.Error(
                    f"Something went wrong on our side while {action}; "
                    "please try again, or try another file.",
                    print_exception=False,
                ) from None

        return wrapper  # type: ignore[return-value]

    return decorate
