"""Pieces every tab shares: raw-path uploads, error sentences, and the model queue."""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np
from gradio.components.gallery import GalleryData
from gradio.data_classes import ImageData
from gradio.processing_utils import hash_bytes
from PIL import Image

from multimodal_core.choices import ModelChoices
from multimodal_core.errors import InputError, ModelUnavailableError
from multimodal_core.tasks import availability, compare

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

MODEL_QUEUE = "model"
"""Concurrency id shared by every event that runs a model, so GPU work waits in one queue."""

WRONG_FILE_JS = (Path(__file__).with_name("wrong_file.js")).read_text(encoding="utf-8")
"""Run by every page: a file dropped on an upload box of the other kind (a photo on a sound
input, a recording on a picture input) gets a sentence under the box; Gradio's front end
would drop it without a word."""

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


SCROLL_INTO_VIEW_JS = """() => {
  const element = document.getElementById(%s);
  if (!element) return;
  const top = element.getBoundingClientRect().top;
  if (top < 0 || top > 0.75 * window.innerHeight) {
    window.scrollBy({ top: top - 12, behavior: "smooth" });
  }
}"""
"""Brings a tab's first result into view unless it already is (on a desktop it is beside the
button; on a phone, a screen or two below it)."""


def cleared_first(
    trigger: Callable[..., Any],
    fn: Callable[..., Any],
    inputs: Any,
    outputs: list,
    *,
    also_cleared: Sequence[Any] = (),
    kept: Sequence[Any] = (),
    **event: Any,
) -> Any:
    """``trigger(fn, inputs, outputs, **event)``, after the outputs (and ``also_cleared``) are
    emptied in the browser: a request that fails never leaves the last result on screen beside
    its error. Outputs in ``kept`` stay until the new result replaces them (a picture the person
    clicks on to ask). API clients calling the event's ``api_name`` run ``fn`` alone. On a phone
    the result lies below the controls, so the page scrolls to the first output (when it has an
    ``elem_id``) as the button is pressed, and the result arrives in view."""
    emptied_outputs = [*outputs, *also_cleared]
    kept_ids = {id(component) for component in kept}

    def clear() -> Any:
        hidden = [gr.update(value=None, visible=False) for _ in also_cleared]
        emptied_values = [gr.update() if id(o) in kept_ids else None for o in outputs] + hidden
        return emptied_values[0] if len(emptied_values) == 1 else tuple(emptied_values)

    first_id = outputs[0].elem_id
    emptied = trigger(
        clear,
        None,
        emptied_outputs,
        api_visibility="private",
        queue=False,
        show_progress="hidden",
        js=SCROLL_INTO_VIEW_JS % json.dumps(first_id) if first_id else None,
    )
    return emptied.then(fn, inputs, outputs, **event)


def learn_what_can_load() -> None:
    """Start learning, in a background thread, which pretrained models can load here; pages
    mark their choices when it has answered and never wait for it to begin."""
    availability.start()


def intro(first_line: str, how_it_works: str) -> None:
    """A tab's introduction: one short line, the rest folded under "How it works" so that on a
    phone the controls come first."""
    gr.Markdown(first_line)
    with gr.Accordion("How it works", open=False):
        gr.Markdown(how_it_works)


def model_choice(choices: ModelChoices, label: str = "Model") -> gr.Radio:
    """The tab's model radio. Choices that cannot load on this machine are marked "needs
    internet" once the start-up probe has answered (the page never waits for it), and picking
    one says why in a sentence before anything runs."""
    radio = gr.Radio(choices.labelled(), value=choices.default(), label=label)
    why = gr.Markdown(visible=False)

    def relabelled() -> Any:
        return gr.update(choices=availability.labelled(choices))

    def explained(key: str) -> Any:
        sentence = availability.unavailable_choices(choices).get(key, "")
        return gr.update(value=f"⚠️ {sentence}" if sentence else "", visible=bool(sentence))

    gr.on(None, relabelled, None, [radio], api_visibility="private", queue=False)
    radio.change(explained, radio, why, api_visibility="private", queue=False)
    return radio


Summary = tuple[str, Any]
"""What a tab shows of one model's result in a comparison column: Markdown and a picture
(or None)."""


class SideBySide:
    """A "Compare with" list and two result columns: after the tab's own result arrives, the
    chosen model and the one named run again on the same input, timed, next to each other."""

    def __init__(self, choices: ModelChoices, name: str) -> None:
        self.choices = choices
        self.compare_with = gr.Dropdown(
            [("Nothing: one model", "")],
            value="",
            label="Compare with",
            info="Runs a second model on the same input: both answers side by side, timed.",
            elem_id=f"{name}-compare-with",
        )
        gr.on(None, self._listed, None, [self.compare_with], api_visibility="private", queue=False)

    def _listed(self) -> Any:
        return gr.update(choices=[("Nothing: one model", ""), *availability.labelled(self.choices)])

    def build_columns(self, name: str) -> None:
        """The two columns, hidden until a comparison fills them (call where they belong)."""
        self.columns: list[tuple[gr.Markdown, ResultImage]] = []
        with gr.Row(equal_height=False):
            for side in ("first", "second"):
                with gr.Column(min_width=240):
                    text = gr.Markdown(visible=False, elem_id=f"{name}-compare-{side}")
                    picture = ResultImage(
                        show_label=False,
                        interactive=False,
                        visible=False,
                        buttons=["download"],
                        elem_id=f"{name}-compare-{side}-picture",
                    )
                self.columns.append((text, picture))

    @property
    def outputs(self) -> list[Any]:
        return [component for column in self.columns for component in column]

    def follow(
        self,
        event: Any,
        run: Callable[..., Any],
        summarise: Callable[[Any], Summary],
        inputs: list[Any],
        model: gr.Radio,
        action: str,
    ) -> None:
        """After ``event`` succeeds, fill the columns: ``run(*inputs, key)`` for the chosen
        model and the compared one, each shown as ``summarise(result)``."""

        @user_errors(action)
        def compared(*values: Any) -> list[Any]:
            *arguments, chosen, other = values
            if not other or other == chosen:
                return [gr.update(visible=False)] * len(self.outputs)
            runs = compare.side_by_side(
                lambda key: run(*arguments, key), self.choices, chosen, other
            )
            shown: list[Any] = []
            for timed in runs:
                heading = f"**{timed.label}** · {timed.seconds:.2f} s"
                if timed.result is None:
                    text, picture = f"{heading}\n\n{timed.error}", None
                else:
                    text, picture = summarise(timed.result)
                    text = f"{heading}\n\n{text}"
                shown += [
                    gr.update(value=text, visible=True),
                    gr.update(value=picture, visible=picture is not None),
                ]
            return shown

        event.success(
            compared,
            [*inputs, model, self.compare_with],
            self.outputs,
            api_visibility="private",
            concurrency_id=MODEL_QUEUE,
        )


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
