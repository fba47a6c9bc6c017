"""Pictures of sounds: the waveform and spectrograms (linear, mel, MFCC) as RGB images.

Drawn with Matplotlib, which holds the interpreter lock while it draws, so the server runs these
in its worker processes. Figures are made once and redrawn with new data (spare plots), and
their labels are placed once (see :data:`LABEL_PLACES_PX`): both took most of a plot's time.
"""

from __future__ import annotations

import queue
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis


T = TypeVar("T")


def figure_to_array(figure) -> np.ndarray:
    """The drawn figure as an RGB uint8 array."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()


FIGURE_SIZE = (7.2, 2.8)  # inches at 100 dpi: 720 x 280 pixels
FIGURE_MARGINS = {"left": 0.11, "right": 0.97, "bottom": 0.16, "top": 0.9}
"""Fixed margins that fit the axis labels, instead of a constrained layout, which solves for
them at every draw and cost about a quarter of a spectrogram's drawing time (the figures are
most of a sound request's CPU time)."""

LABEL_PLACES_PX = {"y": 18.9, "x": 15.6, "colour bar": 670.2}
"""Where Matplotlib's own layout puts these figures' axis labels beside the widest tick labels
they show (five-digit frequencies, -100 dB on a colour bar), in pixels from the figure's left
edge (y label, colour bar label) or bottom edge (x label). Pinned there, and the titles at the
top of their axes, so that Matplotlib does not measure every tick label again at each draw to
place them (about a fifth of a plot's drawing time). The y labels of the pictures that a tab
stacks line up."""

WAVEFORM_COLUMNS = 1440  # min/max pairs drawn: two per pixel column of the plot
WAVEFORM_COLOUR = "#1f5fa8"


@dataclass(frozen=True)
class Curve:
    """A line drawn over a spectrogram, such as a pitch track: x in seconds, y in Hz."""

    x: np.ndarray
    y: np.ndarray
    label: str
    colour: str = "#35d0ff"


def new_figure(title: str):
    """A figure and its axes for one plot, drawn by Agg without pyplot: pyplot keeps every
    figure in one global registry that concurrent requests would share (not thread-safe)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_SIZE, dpi=100)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(**FIGURE_MARGINS)
    axes = figure.subplots()
    set_title(axes, title)
    pin_label(axes.xaxis, LABEL_PLACES_PX["x"])
    pin_label(axes.yaxis, LABEL_PLACES_PX["y"])
    return figure, axes


def set_title(axes: Axes, title: str) -> None:
    """The title, at the top of the axes: a given height spares Matplotlib's search for
    decorations it would overlap."""
    axes.set_title(title, fontsize=10, y=1.0)


def pin_label(axis: Axis, pixels: float) -> None:
    """Pin an axis label (see :data:`LABEL_PLACES_PX`): ``pixels`` from the figure's left edge
    for a y label, from its bottom edge for an x label, centred along the axis."""
    from matplotlib.axis import XAxis
    from matplotlib.transforms import blended_transform_factory

    figure = axis.get_figure(root=True)
    if isinstance(axis, XAxis):
        place = blended_transform_factory(axis.axes.transAxes, figure.transFigure)
        axis.set_label_coords(0.5, pixels / figure.bbox.height, transform=place)
    else:
        place = blended_transform_factory(figure.transFigure, axis.axes.transAxes)
        axis.set_label_coords(pixels / figure.bbox.width, 0.5, transform=place)


_SPARE_PLOTS: dict[tuple, queue.SimpleQueue] = defaultdict(queue.SimpleQueue)


@contextmanager
def _spare_plot(layout: tuple, build: Callable[[], T]) -> Iterator[T]:
    """A plot of this layout drawn before, or a new one; given back for the next request.

    Building a figure's axes, ticks and colour bar was about 40% of drawing a spectrogram, and a
    sound request draws four; a spare plot only gets new data and texts. One request holds a
    plot at a time, so there are at most as many per layout as requests drew at once. A plot
    whose drawing failed half way is not given back.
    """
    spares = _SPARE_PLOTS[layout]
    try:
        plot = spares.get_nowait()
    except queue.Empty:
        plot = build()
    yield plot
    spares.put(plot)


def _waveform_plot():
    figure, axes = new_figure("")
    axes.set_ylim(-1.05, 1.05)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("amplitude")
    return figure, axes


def waveform_image(samples: np.ndarray, sample_rate: int, title: str = "Waveform") -> np.ndarray:
    """A plot of amplitude against seconds, as an RGB uint8 array.

    A clip longer than ``WAVEFORM_COLUMNS`` samples is drawn as its envelope (the minimum and
    maximum of each slice), which is what a line through every sample looks like at this width,
    at a fraction of the cost."""
    with _spare_plot(("waveform",), _waveform_plot) as (figure, axes):
        for artist in [*axes.lines, *axes.collections]:
            artist.remove()  # the previous request's trace
        if len(samples) > 2 * WAVEFORM_COLUMNS:
            usable = len(samples) // WAVEFORM_COLUMNS * WAVEFORM_COLUMNS
            slices = samples[:usable].reshape(WAVEFORM_COLUMNS, -1)
            times = (np.arange(WAVEFORM_COLUMNS) + 0.5) * slices.shape[1] / sample_rate
            axes.fill_between(
                times, slices.min(1), slices.max(1), color=WAVEFORM_COLOUR, linewidth=0.6
            )
        else:
            times = np.arange(len(samples)) / sample_rate
            axes.plot(times, samples, linewidth=0.6, color=WAVEFORM_COLOUR)
        axes.set_xlim(0, max(len(samples) / sample_rate, 1e-3))
        set_title(axes, title)
        return figure_to_array(figure)


@dataclass
class _SpectrogramPlot:
    figure: Any
    axes: Any
    image: Any  # the AxesImage that each request gives new values
    line: Any  # the curve's Line2D, or None for plots without one


Y_LABELS = {
    "linear": "frequency (Hz)",
    "mel": "frequency (Hz, mel scale)",
    "coefficient": "MFCC index",
}


def _spectrogram_plot(scale: str, unit: str, curve: tuple[str, str] | None) -> _SpectrogramPlot:
    figure, axes = new_figure("")
    colours = "coolwarm" if scale == "coefficient" else "magma"
    image = axes.imshow(np.zeros((2, 2)), origin="lower", aspect="auto", cmap=colours)
    axes.set_xlabel("time (s)")
    axes.set_ylabel(Y_LABELS[scale])
    bar = figure.colorbar(image, ax=axes, label=unit, pad=0.01)
    set_title(bar.ax, "")
    pin_label(bar.ax.yaxis, LABEL_PLACES_PX["colour bar"])
    line = None
    if curve is not None:
        label, colour = curve
        (line,) = axes.plot([], [], color=colour, linewidth=1.6, label=label)
        axes.legend(loc="upper right", fontsize=8)
    return _SpectrogramPlot(figure, axes, image, line)


def spectrogram_image(
    values: np.ndarray | torch.Tensor,
    sample_rate: int,
    hop_length: int,
    title: str,
    scale: str = "linear",
    fmin: float = 0.0,
    fmax: float | None = None,
    unit: str = "dB",
    curve: Curve | None = None,
) -> np.ndarray:
    """A (rows, T) matrix drawn against time in seconds, optionally with a curve over it.

    ``scale`` says what the rows are: ``linear`` STFT bins from 0 Hz to ``fmax`` (axis in Hz),
    ``mel`` bands (axis in Hz at the band centres) or ``coefficient`` (MFCC index).
    """
    if scale not in Y_LABELS:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(Y_LABELS)}")
    values = np.asarray(values, dtype=np.float32)
    seconds = values.shape[1] * hop_length / sample_rate
    top = fmax or sample_rate / 2
    height = top if scale != "coefficient" else values.shape[0]
    if scale == "coefficient":
        # Coefficient 0 (overall level) dwarfs the others: scale the colours to the rest.
        rest = values[1:] if values.shape[0] > 1 else values
        limit = float(np.percentile(np.abs(rest), 98)) or 1.0
        low, high = -limit, limit
    else:
        low, high = float(values.min()), float(values.max())
    layout = (scale, unit, None if curve is None else (curve.label, curve.colour))
    with _spare_plot(("spectrogram", *layout), lambda: _spectrogram_plot(*layout)) as plot:
        plot.image.set_data(values)
        plot.image.set_extent((0.0, seconds, 0.0, height))
        plot.image.set_clim(low, high)
        plot.axes.set_xlim(0.0, max(seconds, 1e-3))
        plot.axes.set_ylim(0.0, height)
        if scale == "mel":
            # Rows are evenly spaced in mel: label a few rows with their centre frequency in Hz.
            import librosa

            centres = librosa.mel_frequencies(n_mels=values.shape[0], fmin=fmin, fmax=top)
            rows = np.linspace(0, values.shape[0] - 1, 6).round().astype(int)
            plot.axes.set_yticks(rows / values.shape[0] * top, [f"{centres[r]:.0f}" for r in rows])
        if curve is not None:
            plot.line.set_data(curve.x, curve.y)
        set_title(plot.axes, title)
        return figure_to_array(plot.figure)
