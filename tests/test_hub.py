"""The shared core loads each model once, shares it, isolates failures and reports status."""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest
import torch

from multimodal_core import hub as hub_module
from multimodal_core.errors import ModelUnavailableError
from multimodal_core.hub import Hub, ModelSpec


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def tiny_linear(self) -> torch.nn.Module:
        with self.lock:
            self.calls += 1
        time.sleep(0.2)  # a slow load widens the window for a race
        return torch.nn.Linear(256, 256)


def test_concurrent_first_calls_load_once_and_share_one_object() -> None:
    counter = Counter()
    hub = Hub("cpu")
    hub.register(ModelSpec("linear", "test", counter.tiny_linear, approx_mb=0.25))
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(hub.get("linear"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.calls == 1
    assert len(results) == 8 and all(result is results[0] for result in results)
    assert hub.get("linear") is results[0]
    assert not results[0].training  # eval mode


def test_failed_load_is_isolated_and_retried() -> None:
    attempts = {"count": 0}

    def flaky() -> torch.nn.Module:
        attempts["count"] += 1
        if attempts["count"] == 1:
            raise OSError("/secret/server/path/model.safetensors is corrupt")
        return torch.nn.Linear(2, 2)

    hub = Hub("cpu")
    hub.register(ModelSpec("flaky", "test", flaky, 0.0, title="flaky test model"))
    hub.register(ModelSpec("steady", "test", lambda: torch.nn.Linear(2, 2), 0.0))
    with pytest.raises(ModelUnavailableError) as caught:
        hub.get("flaky")
    assert "flaky test model" in str(caught.value) and "/secret" not in str(caught.value)
    assert isinstance(hub.get("steady"), torch.nn.Linear)
    states = {row.name: row for row in hub.status()}
    assert states["flaky"].state == "failed" and states["flaky"].error
    assert states["steady"].state == "loaded"
    assert isinstance(hub.get("flaky"), torch.nn.Linear)  # the next call tries again
    assert {row.name: row.state for row in hub.status()}["flaky"] == "loaded"


def test_status_reports_device_dtype_and_parameter_memory() -> None:
    hub = Hub("cpu")
    hub.register(ModelSpec("big", "test", lambda: torch.nn.Linear(1024, 1024), 4.0))
    assert hub.status()[0].state == "not loaded"
    hub.get("big")
    row = hub.status()[0]
    expected_mb = (1024 * 1024 + 1024) * 4 / 2**20
    assert row.device == "cpu" and row.dtype == "float32"
    assert row.memory_mb == pytest.approx(expected_mb, abs=0.01)


def test_half_precision_only_on_cuda_and_only_where_allowed() -> None:
    hub = Hub("cpu")
    allowed = ModelSpec("a", "test", lambda: torch.nn.Linear(2, 2), 0.0, half_on_cuda=True)
    assert hub.dtype_for(allowed) == torch.float32
    hub.device = torch.device("cuda")  # dtype choice only; nothing is moved here
    assert hub.dtype_for(allowed) == torch.float16
    refused = ModelSpec("b", "test", lambda: torch.nn.Linear(2, 2), 0.0)
    assert hub.dtype_for(refused) == torch.float32
    assert Hub("cuda", half_precision=False).dtype_for(allowed) == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_models_are_resident_on_cuda_in_half_precision() -> None:
    hub = Hub("cuda")
    hub.register(ModelSpec("g", "test", lambda: torch.nn.Linear(8, 8), 0.0, half_on_cuda=True))
    model = hub.get("g")
    assert model.weight.device.type == "cuda" and model.weight.dtype == torch.float16


def test_objects_with_a_to_method_are_placed_and_measured() -> None:
    class Wrapper:
        def __init__(self) -> None:
            self.net = torch.nn.Linear(512, 512)
            self.placed_on: torch.device | None = None

        def to(self, device: torch.device, dtype: torch.dtype | None = None) -> Wrapper:
            self.placed_on = device
            self.net.to(device)
            return self

    hub = Hub("cpu")
    hub.register(ModelSpec("wrapped", "test", Wrapper, 0.0))
    wrapper = hub.get("wrapped")
    assert wrapper.placed_on == torch.device("cpu")
    assert hub.status()[0].memory_mb == pytest.approx((512 * 512 + 512) * 4 / 2**20, abs=0.01)


def test_unknown_model_names_the_registered_ones() -> None:
    hub = Hub("cpu")
    hub.register(ModelSpec("known", "test", lambda: torch.nn.Linear(1, 1), 0.0))
    with pytest.raises(KeyError, match="known"):
        hub.get("unknown")


def test_gpu_wrapper_without_spaces_runs_the_work_in_inference_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "spaces", None)  # import spaces -> ImportError

    @hub_module.gpu
    def work(x: int) -> tuple[int, bool]:
        return x + 1, torch.is_inference_mode_enabled()

    assert work(6) == (7, True)
    assert work.__name__ == "work"


def test_a_resident_model_runs_only_inside_the_gpu_door() -> None:
    hub = Hub("cpu")
    hub.register(ModelSpec("net", "test", lambda: torch.nn.Sequential(torch.nn.Linear(2, 2)), 0.0))
    net = hub.get("net")
    x = torch.ones(1, 2)
    with pytest.raises(hub_module.OutsideModelCallError, match=r"outside hub\.gpu"):
        net(x)
    with pytest.raises(hub_module.OutsideModelCallError):
        net[0](x)  # a part called directly is refused too
    assert hub_module.gpu(lambda: net(x))().shape == (1, 2)


def test_the_modules_an_object_holds_are_guarded_too() -> None:
    class Wrapper:
        def __init__(self) -> None:
            self.encoder = torch.nn.Linear(2, 2)
            self.decoder = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 1))

    wrapper = Wrapper()
    assert hub_module.guard_modules(wrapper) == 4  # Linear, Sequential, ReLU, Linear
    with pytest.raises(hub_module.OutsideModelCallError):
        wrapper.decoder(torch.ones(1, 2))


def test_gpu_wrapper_uses_spaces_gpu_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    wrapped: list[tuple[str, int]] = []
    fake = types.ModuleType("spaces")

    def fake_gpu(duration: int = 60):
        def decorate(fn):
            wrapped.append((fn.__name__, duration))
            return lambda *args, **kwargs: ("on zero gpu", fn(*args, **kwargs))

        return decorate

    fake.GPU = fake_gpu  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "spaces", fake)

    @hub_module.gpu(duration=30)
    def work() -> int:
        return 7

    assert work() == ("on zero gpu", 7)
    assert wrapped == [("work", 30)]
