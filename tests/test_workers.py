"""Worker processes: the work, its result and its errors are the same as in the calling thread;
the pool follows the settings and survives a worker that dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile
import threadpoolctl
import torch

from multimodal_core import workers
from multimodal_core.errors import InputError
from multimodal_core.settings import get_settings
from multimodal_core.tasks import captioning, localization, sound

RATE = 16_000
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def with_workers(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Set MMC_WORKERS for the test; the settings go back afterwards."""

    def use(count: int) -> None:
        monkeypatch.setenv("MMC_WORKERS", str(count))
        get_settings.cache_clear()

    yield use
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture()
def voice_wav(tmp_path: Path) -> Path:
    seconds = np.arange(RATE) / RATE
    path = tmp_path / "tone.wav"
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 220 * seconds)).astype(np.float32), RATE)
    return path


def test_without_workers_the_work_runs_in_the_calling_process(with_workers) -> None:
    with_workers(0)
    assert workers.run(os.getpid) == os.getpid()


def test_a_worker_gives_the_same_result_and_the_same_sentence(with_workers, voice_wav) -> None:
    with_workers(1)
    assert workers.run(os.getpid) != os.getpid()
    here, there = sound.analyse_sound(voice_wav), workers.run(sound.analyse_sound, voice_wav)
    for name in ("waveform", "stft", "mel", "mfcc"):
        assert np.array_equal(getattr(here, name), getattr(there, name)), name
    assert there.facts == here.facts
    empty = voice_wav.with_name("empty.wav")
    empty.write_bytes(b"")
    with pytest.raises(InputError) as caught:
        workers.run(sound.analyse_sound, empty)
    with pytest.raises(InputError) as expected:
        sound.analyse_sound(empty)
    assert str(caught.value) == str(expected.value)


def test_a_worker_draws_the_localization_spectrogram_pixel_for_pixel(with_workers) -> None:
    rng = np.random.default_rng(0)
    hearing = localization.Hearing((rng.random((64, 200)) * -80).astype(np.float32), 16_000, 160)
    with_workers(1)
    there = workers.run(localization.hearing_image, hearing)
    assert np.array_equal(there, localization.hearing_image(hearing))


def test_a_worker_draws_the_attention_sheet_pixel_for_pixel(with_workers) -> None:
    rng = np.random.default_rng(0)
    picture = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    heats = [rng.random((12, 12)).astype(np.float32) for _ in range(7)]
    words = ["a", "dog", "on", "the", "red", "grass", "<end>"]
    maps = captioning.AttentionMaps(picture, heats, words)
    with_workers(1)
    there = workers.run(captioning.attention_sheet, maps)
    assert np.array_equal(there, captioning.attention_sheet(maps))


def test_start_starts_every_worker_before_any_request(with_workers) -> None:
    with_workers(2)
    before = {process.pid for process in multiprocessing.active_children()}
    workers.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = {process.pid for process in multiprocessing.active_children()} - before
        if len(started) >= 2:
            break
        time.sleep(0.05)
    assert len(started) >= 2


def test_a_worker_takes_the_servers_settings_of_the_moment(with_workers, monkeypatch) -> None:
    with_workers(1)
    worker = workers.run(os.getpid)
    assert workers.run(get_settings) == get_settings()
    monkeypatch.setenv("MMC_MAX_AUDIO_SECONDS", "5")
    get_settings.cache_clear()
    assert workers.run(get_settings).max_audio_seconds == 5.0
    monkeypatch.setenv("MMC_CPU_THREADS", "3")
    get_settings.cache_clear()
    assert workers.run(torch.get_num_threads) == 3
    pools = workers.run(threadpoolctl.threadpool_info)
    assert {pool["num_threads"] for pool in pools if pool["user_api"] == "blas"} == {3}
    assert workers.run(os.getpid) == worker  # the same worker, with the new settings


def test_another_number_of_workers_gets_a_new_pool(with_workers) -> None:
    with_workers(1)
    first = workers.run(os.getpid)
    with_workers(2)
    assert workers.run(os.getpid) not in (first, os.getpid())


def test_a_worker_that_dies_fails_its_request_and_the_next_one_is_served(with_workers) -> None:
    with_workers(1)
    with pytest.raises(workers.WorkerCrashError):
        workers.run(os._exit, 1)
    assert workers.run(os.getpid) != os.getpid()


def running(pid: int) -> bool:
    """A process with this pid runs and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def signal_then_sleep(flag: Path) -> None:
    """A task that says it has started, then takes far longer than any test."""
    flag.touch()
    time.sleep(600)


def test_stop_ends_the_workers_without_waiting_for_their_tasks(with_workers, tmp_path) -> None:
    with_workers(1)
    worker = workers.run(os.getpid)
    flag = tmp_path / "started"
    request = ThreadPoolExecutor(1)
    try:
        sleeping = request.submit(workers.run, signal_then_sleep, flag)
        while not flag.exists():
            time.sleep(0.05)
        started = time.monotonic()
        workers.stop()
        with pytest.raises(workers.WorkerCrashError):
            sleeping.result(timeout=60)
        assert time.monotonic() - started < 30 and not running(worker)
    finally:
        if running(worker):  # free the request's thread
            os.kill(worker, signal.SIGKILL)
        request.shutdown()
    assert workers.run(os.getpid) not in (worker, os.getpid())  # the next task: a new pool


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes in /proc")
def test_a_worker_ends_itself_when_its_server_is_killed() -> None:
    """SIGKILL (the kernel's, for memory, say) leaves the server no time to stop its workers."""
    code = (
        "import os, time; from multimodal_core import workers; "
        "print(workers.run(os.getpid), flush=True); time.sleep(600)"
    )
    environ = {**os.environ, "MMC_WORKERS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=environ, stdout=subprocess.PIPE, text=True
    )
    worker = None
    try:
        worker = int(server.stdout.readline())  # the worker has started and served a task
        server.kill()
        server.wait(timeout=30)
        deadline = time.monotonic() + 30
        while running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running(worker)
    finally:
        server.kill()
        server.wait(timeout=30)
        if worker is not None and running(worker):
            os.kill(worker, signal.SIGKILL)
