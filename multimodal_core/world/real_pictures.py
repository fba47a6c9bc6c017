"""Pictures from outside the world: the counter-examples that calibrate the out-of-world score.

Everything here ships with packages already installed (scikit-image's ``skimage.data`` photos,
scikit-learn's and matplotlib's sample images, Gradio's demo pictures); nothing is downloaded,
and a source whose file is missing is skipped with a warning. scikit-image's grass, brick and
gravel are left out on purpose: tinted, they are the world's own textured backgrounds.

Sources are split whole: the out-of-world head trains on :data:`TRAIN_SOURCES` and its
variants, and is measured on :data:`HELD_OUT_SOURCES`, photos it never saw in any form (no
crop, no rotation, no other copy of the same shot).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from multimodal_core.world.scene_mix import world_scene
from multimodal_core.world.splits import scene_in_split

logger = logging.getLogger(__name__)

# (package, path inside it) of each picture file; a group is one shot or one kind of picture.
_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "astronaut": (("skimage", "data/astronaut.png"),),
    "chelsea": (("skimage", "data/chelsea.png"),),
    "camera": (("skimage", "data/camera.png"),),
    "coins": (("skimage", "data/coins.png"),),
    "moon": (("skimage", "data/moon.png"),),
    "page": (("skimage", "data/page.png"),),
    "text": (("skimage", "data/text.png"),),
    "cell": (("skimage", "data/cell.png"),),
    "hubble": (("skimage", "data/hubble_deep_field.jpg"),),
    "retina": (("skimage", "data/retina.jpg"),),
    "ihc": (("skimage", "data/ihc.png"),),
    "logo": (("skimage", "data/logo.png"),),
    "horse": (("skimage", "data/horse.png"),),
    "color": (("skimage", "data/color.png"),),
    "clock": (("skimage", "data/clock_motion.png"),),
    "motorcycle": (
        ("skimage", "data/motorcycle_left.png"),
        ("skimage", "data/motorcycle_right.png"),
    ),
    "cheetah": (
        ("gradio", "media_assets/images/cheetah.jpg"),
        ("gradio", "media_assets/images/cheetah1.jpg"),
        ("gradio", "test_data/cheetah2.jpg"),
    ),
    "mpl_logo": (("matplotlib", "mpl-data/sample_data/logo2.png"),),
    "present": (("matplotlib", "mpl-data/sample_data/Minduka_Present_Blue_Pack.png"),),
    # held out (see HELD_OUT_SOURCES)
    "rocket": (("skimage", "data/rocket.jpg"),),
    "coffee": (("skimage", "data/coffee.png"),),
    "china": (("sklearn", "datasets/images/china.jpg"),),
    "flower": (("sklearn", "datasets/images/flower.jpg"),),
    "tower": (("gradio", "media_assets/images/tower.jpg"),),
    "lion": (("gradio", "media_assets/images/lion.jpg"),),
    "groot": (("gradio", "media_assets/images/groot.jpeg"),),
    "grace_hopper": (("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),),
}
HELD_OUT_SOURCES: tuple[str, ...] = (
    "rocket", "coffee", "china", "flower", "tower", "lion", "groot", "grace_hopper",
)  # fmt: skip
"""Photos kept for measuring the out-of-world score: never trained on in any form."""
TRAIN_SOURCES: tuple[str, ...] = tuple(s for s in _FILES if s not in HELD_OUT_SOURCES)


def _package_dir(package: str) -> Path | None:
    """Where an installed package lives, found without importing it (Gradio is heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def as_rgb_float(picture: np.ndarray) -> np.ndarray:
    """Any array picture (greyscale, RGBA, bool, uint8 or float) as (H, W, 3) float32 in [0, 1],
    what :func:`multimodal_core.media.load_image` gives the tasks."""
    x = np.asarray(picture)
    if x.dtype == bool:
        x = x.astype(np.float32)
    elif x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    else:
        x = x.astype(np.float32)
        x = (x - x.min()) / max(float(x.max() - x.min()), 1e-6)
    if x.ndim == 2:
        x = np.repeat(x[..., None], 3, axis=2)
    return np.ascontiguousarray(x[..., :3])


def source_pictures(name: str) -> list[np.ndarray]:
    """The pictures of source ``name``, each (H, W, 3) float32 in [0, 1]; [] when the package
    that ships them is not installed."""
    pictures = []
    for package, inside in _FILES[name]:
        root = _package_dir(package)
        path = root / inside if root else None
        if path is None or not path.is_file():
            logger.warning("real picture %s/%s is not installed; skipped", package, inside)
            continue
        with Image.open(path) as image:
            pictures.append(as_rgb_float(np.asarray(image.convert("RGB"))))
    return pictures


def faces() -> list[np.ndarray]:
    """scikit-image's 100 small greyscale face photos (LFW), each as its own picture."""
    from skimage.data import lfw_subset

    return [as_rgb_float(face) for face in lfw_subset()[:100]]


def noise_pictures(rng: np.random.Generator, n: int, side: int = 64) -> list[np.ndarray]:
    """Uniform, Gaussian and blocky colour noise: pictures that no scene resembles."""
    pictures = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            x = rng.random((side, side, 3))
        elif kind == 1:
            x = np.clip(rng.normal(0.5, rng.uniform(0.05, 0.3), (side, side, 3)), 0, 1)
        else:
            cells = int(rng.integers(2, 9))
            x = np.kron(rng.random((cells, cells, 3)), np.ones((side // cells + 1,) * 2 + (1,)))
            x = x[:side, :side]
        pictures.append(x.astype(np.float32))
    return pictures


def _crop(picture: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop of 25% to 100% of the shorter side, of aspect 3:4 to 4:3."""
    h, w = picture.shape[:2]
    side = rng.uniform(0.25, 1.0) * min(h, w)
    aspect = rng.uniform(0.75, 4 / 3)
    ch, cw = max(8, min(h, int(side * aspect))), max(8, min(w, int(side / aspect)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return picture[top : top + ch, left : left + cw]


def _grey(picture: np.ndarray) -> np.ndarray:
    y = picture @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(y[..., None], 3, axis=2)


def variants(picture: np.ndarray, rng: np.random.Generator, n_crops: int) -> list[np.ndarray]:
    """The picture, its greyscale, three rotations, its mirror image and ``n_crops`` random crops
    (a fifth of them greyscale): what an upload of the same photo might look like."""
    out = [picture, _grey(picture), np.flip(picture, 1)]
    out += [np.rot90(picture, k) for k in (1, 2, 3)]
    for _ in range(n_crops):
        crop = _crop(picture, rng)
        out.append(_grey(crop) if rng.random() < 0.2 else crop)
    return [np.ascontiguousarray(p, dtype=np.float32) for p in out]


def real_pictures(
    sources: tuple[str, ...], rng: np.random.Generator, n_crops: int
) -> tuple[list[np.ndarray], list[str]]:
    """Every picture of ``sources`` with its :func:`variants`, and the source of each."""
    pictures: list[np.ndarray] = []
    names: list[str] = []
    for name in sources:
        for picture in source_pictures(name):
            made = variants(picture, rng, n_crops)
            pictures += made
            names += [name] * len(made)
    return pictures, names


def world_pictures(
    split: str, start: int, n: int, *, held_out_ok: bool = False
) -> list[np.ndarray]:
    """``n`` scenes of ``split`` from index ``start``, as the tasks' models see them: a cycle of
    the world classifier's mix at 64 px, the captioning scenes (1 to 4 objects, 128 px) and the
    VQA scenes (repeats more often, 128 px); each (H, W, 3) float32 in [0, 1]."""
    pictures = []
    for index in range(start, start + n):
        kind = index % 3
        if kind == 0:
            scene = world_scene(split, index, 64, held_out_ok=held_out_ok)
        else:
            repeats = 0.3 if kind == 1 else 0.5
            scene = scene_in_split(
                split, index, held_out_ok=held_out_ok, size=128, repeat_probability=repeats
            )
        pictures.append(scene.image.astype(np.float32) / 255.0)
    return pictures
