"""The shared core: every model is declared once and loaded once, on first use.

A model is a :class:`ModelSpec` in a :class:`Hub`. ``hub.get(name)`` builds it with the spec's
loader, moves it to the hub's device once (float16 on CUDA where the spec allows), puts it in
eval mode and keeps that one copy for every later call from every tab. A lock per model makes
concurrent first calls load it once; a failed load raises :class:`ModelUnavailableError` for
that model alone and is tried again on the next call.

Every model call of every task goes through one door, :func:`gpu` (``spaces.GPU`` on ZeroGPU,
inference mode everywhere): a resident model that runs outside it raises
:class:`OutsideModelCallError`, so a call that would get no GPU on ZeroGPU fails in the tests.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import threadpoolctl
import torch

from multimodal_core.errors import ModelUnavailableError
from multimodal_core.settings import get_settings

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class ModelSpec:
    """How to build one model; the loader runs on the CPU and may read files or the Hub."""

    name: str
    """Registry key, e.g. ``"captioning"``."""
    task: str
    """The task (tab) that uses it, e.g. ``"captioning"``."""
    loader: Callable[[], Any]
    """Returns an ``nn.Module``, or an object with ``to(device[, dtype])`` and maybe ``eval()``."""
    approx_mb: float
    """Approximate size of its weights, shown before it is loaded."""
    title: str = ""
    """Human name used in messages, e.g. "built-in captioning model"."""
    half_on_cuda: bool = False
    """Whether float16 on CUDA keeps its quality."""
    pretrained: bool = False
    """Downloaded from the Hub (True) or shipped in checkpoints/ (False)."""
    source: str = ""
    """For a pretrained model, the settings field that holds its Hub id or local folder (e.g.
    ``"vqa_model"``): what ``tasks.availability`` looks for on this machine before it loads."""

    @property
    def label(self) -> str:
        return self.title or f"{self.name} model"


@dataclass(frozen=True)
class ModelStatus:
    """One row of :meth:`Hub.status`."""

    name: str
    task: str
    state: str  # "loaded", "not loaded" or "failed"
    device: str
    dtype: str
    memory_mb: float
    load_seconds: float
    error: str


@dataclass
class _Loaded:
    model: Any
    dtype: torch.dtype
    memory_mb: float
    load_seconds: float


W = TypeVar("W", bound="ModelWrapper")


class ModelWrapper:
    """Base of an object that keeps one torch module in ``self.model`` beside what a task needs
    with it (a vocabulary, a processor). The hub places it with ``to``, puts it in eval mode and
    counts and guards its weights through ``components``."""

    model: torch.nn.Module

    def to(self: W, device: torch.device | str, dtype: torch.dtype | None = None) -> W:
        if dtype is None:
            self.model.to(device)
        else:
            self.model.to(device=device, dtype=dtype)
        return self

    def eval(self: W) -> W:
        self.model.eval()
        return self

    @property
    def components(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}


def resolve_device(choice: str) -> torch.device:
    """``auto`` means CUDA when there is one, else the CPU."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        logger.warning("MMC_DEVICE=cuda but no CUDA device is available; using the CPU")
        return torch.device("cpu")
    return torch.device(choice)


def limit_cpu_threads(count: int) -> None:
    """Give each torch call and each numpy (BLAS) call at most ``count`` threads, in this process
    and in threads started later: the server answers several requests at once, and a call's extra
    threads would compete with the other requests for the cores."""
    torch.set_num_threads(count)
    threadpoolctl.threadpool_limits(count, user_api="blas")


def parameter_bytes(model: Any) -> int:
    """Bytes held by parameters and buffers of a module, or of the modules an object holds."""
    if isinstance(model, torch.nn.Module):
        tensors = [*model.parameters(), *model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)
    parts = getattr(model, "components", None) or getattr(model, "__dict__", {})
    return sum(parameter_bytes(v) for v in parts.values() if isinstance(v, torch.nn.Module))


class Hub:
    """A registry of model specs and the one resident copy of each loaded model."""

    def __init__(self, device: torch.device | str = "cpu", half_precision: bool = True) -> None:
        self.device = torch.device(device)
        self.half_precision = half_precision
        self._specs: dict[str, ModelSpec] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._errors: dict[str, str] = {}
        self._registry_lock = threading.Lock()

    def register(self, spec: ModelSpec) -> None:
        """Declare a model; registering the same name again replaces a spec not yet loaded."""
        with self._registry_lock:
            if spec.name in self._loaded and self._specs[spec.name] != spec:
                raise ValueError(f"model {spec.name!r} is loaded; unload it before replacing it")
            self._specs[spec.name] = spec
            self._locks.setdefault(spec.name, threading.Lock())

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"no model named {name!r}; registered: {sorted(self._specs)}") from None

    def specs(self) -> list[ModelSpec]:
        """Every declared model, by name."""
        return [self._specs[name] for name in sorted(self._specs)]

    def dtype_for(self, spec: ModelSpec) -> torch.dtype:
        half = self.device.type == "cuda" and spec.half_on_cuda and self.half_precision
        return torch.float16 if half else torch.float32

    def get(self, name: str) -> Any:
        """The resident model called ``name``, loading it on first use."""
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded.model
        spec = self.spec(name)
        with self._locks[name]:
            loaded = self._loaded.get(name)
            if loaded is None:
                loaded = self._load(spec)
                self._loaded[name] = loaded
                self._errors.pop(name, None)
        return loaded.model

    def _load(self, spec: ModelSpec) -> _Loaded:
        start = time.perf_counter()
        dtype = self.dtype_for(spec)
        try:
            model = spec.loader()
            model = self._place(model, dtype)
            guard_modules(model)
        except ModelUnavailableError as error:
            self._errors[spec.name] = str(error)
            raise
        except Exception as error:
            logger.exception("loading %s failed", spec.name)
            message = (
                f"The {spec.label} could not be loaded ({type(error).__name__}); "
                "the other tabs still work, and the next request will try again."
            )
            self._errors[spec.name] = message
            raise ModelUnavailableError(message) from error
        seconds = time.perf_counter() - start
        memory_mb = parameter_bytes(model) / 2**20
        logger.info(
            "loaded %s on %s (%.1f MB) in %.2f s", spec.name, self.device, memory_mb, seconds
        )
        return _Loaded(model=model, dtype=dtype, memory_mb=memory_mb, load_seconds=seconds)

    def _place(self, model: Any, dtype: torch.dtype) -> Any:
        if hasattr(model, "to"):
            moved = (
                model.to(self.device, dtype) if dtype != torch.float32 else model.to(self.device)
            )
            model = moved if moved is not None else model
        if hasattr(model, "eval"):
            model.eval()
        return model

    def unload(self, name: str) -> None:
        """Forget a loaded model (tests, or freeing memory); the next ``get`` loads it again."""
        with self._locks[name]:
            self._loaded.pop(name, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def warm_up(self, names: Iterable[str]) -> threading.Thread:
        """Load ``names`` in a background thread so the first request does not wait."""

        def load_all() -> None:
            for name in names:
                with contextlib.suppress(ModelUnavailableError):  # logged, shown in status()
                    self.get(name)

        thread = threading.Thread(target=load_all, name="hub-warm-up", daemon=True)
        thread.start()
        return thread

    def status(self) -> list[ModelStatus]:
        """What is registered, what is loaded, where, and how much memory its weights hold."""
        rows = []
        for name, spec in sorted(self._specs.items()):
            loaded = self._loaded.get(name)
            if loaded is not None:
                rows.append(
                    ModelStatus(
                        name,
                        spec.task,
                        "loaded",
                        str(self.device),
                        str(loaded.dtype).removeprefix("torch."),
                        round(loaded.memory_mb, 2),
                        round(loaded.load_seconds, 2),
                        "",
                    )
                )
            else:
                error = self._errors.get(name, "")
                state = "failed" if error else "not loaded"
                rows.append(
                    ModelStatus(
                        name, spec.task, state, "", "", round(spec.approx_mb, 2), 0.0, error
                    )
                )
        return rows


_DEFAULT: dict[str, Hub] = {}
_DEFAULT_LOCK = threading.Lock()


def default_hub() -> Hub:
    """The process-wide hub that every tab shares, on the device chosen by the settings."""
    with _DEFAULT_LOCK:
        if "hub" not in _DEFAULT:
            settings = get_settings()
            _DEFAULT["hub"] = Hub(resolve_device(settings.device), settings.half_precision)
        return _DEFAULT["hub"]


def register(spec: ModelSpec) -> None:
    """Declare a model in the default hub."""
    default_hub().register(spec)


def get(name: str) -> Any:
    """The resident model ``name`` from the default hub."""
    return default_hub().get(name)


def specs() -> list[ModelSpec]:
    """The default hub's :meth:`Hub.specs`."""
    return default_hub().specs()


def status() -> list[ModelStatus]:
    """The default hub's :meth:`Hub.status`."""
    return default_hub().status()


class OutsideModelCallError(RuntimeError):
    """A resident model ran outside :func:`gpu`: on ZeroGPU that call would get no GPU."""


_INSIDE_GPU_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "inside_gpu_call", default=False
)


def gpu(fn: F | None = None, *, duration: int = 60) -> Any:
    """The one door through which every task runs its models.

    Inside it a model may run (elsewhere the hub's guard refuses, see :func:`_refuse_outside`),
    in inference mode; on Hugging Face ZeroGPU the call is also wrapped with ``spaces.GPU``, which
    attaches the GPU for ``duration`` seconds at most.
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inside(*args: Any, **kwargs: Any) -> Any:
            token = _INSIDE_GPU_CALL.set(True)
            try:
                with torch.inference_mode():
                    return func(*args, **kwargs)
            finally:
                _INSIDE_GPU_CALL.reset(token)

        try:
            import spaces  # type: ignore[import-not-found]
        except ImportError:
            return inside  # type: ignore[return-value]
        return spaces.GPU(duration=duration)(inside)

    return wrap(fn) if fn is not None else wrap


def _refuse_outside(module: torch.nn.Module, args: Any) -> None:
    """Forward pre-hook of every module of a resident model."""
    if not _INSIDE_GPU_CALL.get():
        raise OutsideModelCallError(
            f"{type(module).__name__} ran outside hub.gpu; wrap the task function that runs it"
        )


def guard_modules(model: Any) -> int:
    """Make every torch module of ``model`` (itself, or the modules an object holds) refuse to
    run outside :func:`gpu`; returns how many modules are guarded. Every submodule is guarded,
    since a task may call a part (a vision tower, a decoder) directly."""
    if isinstance(model, torch.nn.Module):
        modules = list(model.modules())
        for module in modules:
            module.register_forward_pre_hook(_refuse_outside)
        return len(modules)
    parts = getattr(model, "components", None) or getattr(model, "__dict__", {})
    return sum(guard_modules(v) for v in parts.values() if isinstance(v, torch.nn.Module))
