"""Audio features have the right shapes and units, and their pictures show what they should."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from multimodal_core import audio, sound_pictures

RATE = 16_000


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * RATE)) / RATE)).astype(
        np.float32
    )


def test_log_mel_shapes_for_one_clip_and_a_batch() -> None:
    config = audio.FeatureConfig()
    single = audio.log_mel(tone(440), config)
    frames = 1 + RATE // config.hop_length
    assert single.shape == (config.n_mels, frames)
    batch = audio.log_mel(np.stack([tone(440), tone(880)]), config)
    assert batch.shape == (2, config.n_mels, frames)
    assert torch.allclose(batch[0], single, atol=1e-4)
    assert torch.isfinite(batch).all()


def test_a_higher_tone_lights_a_higher_mel_band() -> None:
    low = audio.log_mel(tone(300)).mean(dim=1).argmax()
    high = audio.log_mel(tone(3000)).mean(dim=1).argmax()
    assert high > low + 10


def test_db_scale_floors_80_db_below_the_peak() -> None:
    spectrum = audio.to_db(audio.power_spectrogram(tone(1000), 512, 160))
    assert spectrum.max() - spectrum.min() == pytest.approx(80.0, abs=1e-3)


def test_mfcc_shape() -> None:
    mel = audio.log_mel(tone(440)).numpy()
    assert audio.mfcc(mel, 13).shape == (13, mel.shape[1])


def test_loudness_of_a_known_sine() -> None:
    level = audio.loudness(tone(440, amplitude=0.5))
    assert level.peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.05)
    assert level.rms_dbfs == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.05)
    assert audio.loudness(np.zeros(100, np.float32)).rms_dbfs == audio.DB_FLOOR


def test_bad_feature_config_is_refused() -> None:
    with pytest.raises(ValueError):
        audio.FeatureConfig(n_fft=256, hop_length=512)


def test_pictures_are_rgb_images() -> None:
    samples = tone(440)
    wave = sound_pictures.waveform_image(samples, RATE)
    spec = sound_pictures.spectrogram_image(audio.log_mel(samples), RATE, 160, "mel", scale="mel")
    for picture in (wave, spec):
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3
        assert picture.shape[0] > 100 and picture.shape[1] > 300
        assert picture.std() > 10  # something is drawn


def test_a_spare_plot_draws_the_same_picture_as_a_new_one() -> None:
    """Plots are reused between requests: nothing of one request's picture may show in the next
    (its trace, colour range, ticks or curve)."""
    noise = np.random.default_rng(0).normal(0.0, 0.1, RATE).astype(np.float32)
    loud, quiet = tone(440) + noise, 0.05 * noise[: RATE // 2]  # pictures with many colours
    track = sound_pictures.Curve(
        np.array([0.1, 0.5, 0.9]), np.array([200.0, 300.0, 250.0]), "pitch"
    )
    draws = {
        "waveform": lambda x: sound_pictures.waveform_image(x, RATE),
        "short waveform": lambda x: sound_pictures.waveform_image(x[:300], RATE),
        "mel": lambda x: sound_pictures.spectrogram_image(
            audio.log_mel(x), RATE, 160, "m", scale="mel"
        ),
        "mfcc": lambda x: sound_pictures.spectrogram_image(
            audio.mfcc(audio.log_mel(x)), RATE, 160, "c", scale="coefficient", unit="value"
        ),
        "curve": lambda x: sound_pictures.spectrogram_image(
            audio.to_db(audio.power_spectrogram(x, 512, 160)), RATE, 160, "p", curve=track
        ),
    }
    for name, draw in draws.items():
        sound_pictures._SPARE_PLOTS.clear()
        first = draw(loud)  # drawn on a new plot
        other = draw(quiet)  # the same plot, other data
        again = draw(loud)
        assert [q.qsize() for q in sound_pictures._SPARE_PLOTS.values()] == [1], (
            name
        )  # one served all
        assert not np.array_equal(first, other), name
        assert np.array_equal(first, again), name
        if "waveform" not in name:  # the colours follow each request's own range of values
            for picture in (first, other):
                inside = picture[60:220, 120:560].reshape(-1, 3)
                assert len(np.unique(inside, axis=0)) > 5, name  # 2 if the range stuck


def test_plots_drawn_at_once_by_many_requests_match_plots_drawn_alone() -> None:
    """Concurrent requests each hold their own spare plot while they draw."""
    clips = [tone(f, seconds=s) for f, s in ((300, 1.0), (900, 0.5), (2000, 0.8), (5000, 0.3))]

    def draw(clip: np.ndarray) -> np.ndarray:
        return sound_pictures.spectrogram_image(audio.log_mel(clip), RATE, 160, "mel", scale="mel")

    alone = [draw(clip) for clip in clips]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(draw, clips * 6))
    for index, picture in enumerate(together):
        assert np.array_equal(picture, alone[index % len(clips)]), index


def drawn_tick_labels(axis) -> list:
    """The tick labels that a drawn axis shows: in view, on either side."""
    low, high = sorted(axis.get_view_interval())
    ticks = [t for t in axis.get_major_ticks() if low <= t.get_loc() <= high]
    labels = [label for t in ticks for label in (t.label1, t.label2)]
    return [label for label in labels if label.get_visible() and label.get_text()]


def test_pinned_axis_labels_clear_the_widest_tick_labels_inside_the_picture() -> None:
    """Axis labels are pinned, not placed by Matplotlib at each draw: they must still clear
    five-digit frequencies (44.1 kHz audio) and a colour bar down to -100 dB."""
    rate = 44_100
    values = np.linspace(-100.0, 0.0, 64 * 50, dtype=np.float32).reshape(64, 50)
    sound_pictures._SPARE_PLOTS.clear()
    sound_pictures.spectrogram_image(values, rate, 512, "linear")
    sound_pictures.spectrogram_image(values, rate, 512, "mel", scale="mel")
    sound_pictures.waveform_image(tone(440), RATE)
    for layout, spares in sound_pictures._SPARE_PLOTS.items():
        plot = spares.get_nowait()
        figure = plot[0] if isinstance(plot, tuple) else plot.figure
        renderer = figure.canvas.get_renderer()
        inside = figure.bbox
        main, *bar = figure.axes
        y_label, x_label = (a.label.get_window_extent(renderer) for a in (main.yaxis, main.xaxis))
        y_ticks, x_ticks = (
            [label.get_window_extent(renderer) for label in drawn_tick_labels(axis)]
            for axis in (main.yaxis, main.xaxis)
        )
        assert inside.x0 <= y_label.x0 and y_label.x1 < min(b.x0 for b in y_ticks), layout
        assert inside.y0 <= x_label.y0 and x_label.y1 < min(b.y0 for b in x_ticks), layout
        assert main.title.get_window_extent(renderer).y1 <= inside.y1, layout
        if layout != ("waveform",):
            assert max(len(t.get_text()) for t in drawn_tick_labels(main.yaxis)) == 5, layout
            bar_labels = drawn_tick_labels(bar[0].yaxis)
            assert "−100" in [t.get_text() for t in bar_labels], layout
            bar_label = bar[0].yaxis.label.get_window_extent(renderer)
            assert max(t.get_window_extent(renderer).x1 for t in bar_labels) < bar_label.x0
            assert bar_label.x1 <= inside.x1, layout


def test_an_unknown_spectrogram_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        sound_pictures.spectrogram_image(np.zeros((4, 4)), RATE, 160, "x", scale="log")


def test_a_long_waveform_is_drawn_as_its_envelope_where_the_sound_is() -> None:
    samples = np.zeros(4 * RATE, np.float32)
    samples[3 * RATE :] = tone(440)[:RATE]  # silence, then one loud second
    picture = sound_pictures.waveform_image(samples, RATE).astype(int)
    line = (picture[..., 2] > 120) & (picture[..., 0] < 90)  # the plot's blue
    loud = np.flatnonzero(line.sum(axis=0) > 40)  # columns with a tall stroke of blue
    width = picture.shape[1]  # the axes run from 0.11 to 0.97 of it: 3 s of 4 is at 0.755
    assert 0.74 * width < loud.min() and loud.max() < 0.98 * width
    assert sound_pictures.waveform_image(tone(440)[:100], RATE).std() > 10  # a short clip: a line
