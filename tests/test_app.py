"""The served app answers through its HTTP API, turns bad uploads into sentences, keeps serving."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from multimodal_core.registry import FAMILIES

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def client(app_client: Client) -> Client:
    """The app served once for every HTTP test (tests/conftest.py)."""
    return app_client


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("app") / "tone.wav"
    rate = 16_000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate), rate)
    return path


def test_sound_endpoint_returns_four_pictures_and_the_facts(client: Client, tone_wav: Path) -> None:
    *pictures, facts = client.predict(handle_file(str(tone_wav)), api_name="/sound")
    assert len(pictures) == 4 and all(Path(p).is_file() for p in pictures)
    assert "1.00 s" in facts and "16000 Hz" in facts


def test_bad_upload_gets_its_sentence_and_the_next_request_succeeds(
    client: Client, tone_wav: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "letter.wav"
    bad.write_text("Dear friend, this is not a recording.\n" * 10)
    with pytest.raises(AppError) as caught:
        client.predict(handle_file(str(bad)), api_name="/sound")
    message = str(caught.value)
    assert "not a sound recording" in message and "please upload" in message
    assert "Traceback" not in message and str(tmp_path) not in message
    *_, facts = client.predict(handle_file(str(tone_wav)), api_name="/sound")
    assert "1.00 s" in facts


def test_status_endpoint_reports_the_device(client: Client) -> None:
    words, table, facts = client.predict(api_name="/status")
    assert table["headers"][:3] == ["model", "task", "state"]
    assert "**device**: cpu" in facts or "**device**: cuda" in facts
    # First, in words: one line per model choice of each tab that has models.
    assert "| Captioning | Built-in: Show, Attend and Tell" in words
    states = ("ready", "loads on first use", "downloads on first use", "needs internet", "failed")
    rows = [line for line in words.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 5 and all(any(s in row for s in states) for row in rows[1:]), rows


def test_the_queue_does_not_recompute_its_analytics_after_each_request(
    client: Client, tone_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gradio's default rebuilds a pandas table of every event kept after each one (app.py)."""
    from gradio.queueing import Queue

    tables: list[int] = []
    build_table = Queue._get_df

    def counted(records: list[dict]) -> object:
        tables.append(len(records))
        return build_table(records)

    monkeypatch.setattr(Queue, "_get_df", staticmethod(counted))
    for _ in range(3):
        client.predict(handle_file(str(tone_wav)), api_name="/sound")
    assert tables == []


def test_the_public_endpoints_are_one_per_task_family(client: Client) -> None:
    """Helper events (a tab's second trigger, the status page's load) stay private."""
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert set(endpoints) == {f"/{family.api_name}" for family in FAMILIES}


def test_building_the_app_loads_no_model_and_no_transformers() -> None:
    code = (
        "import sys, app; app.build_app(); "
        "from multimodal_core import hub; "
        "loaded = any(row.state == 'loaded' for row in hub.status()); "
        "print(int('transformers' in sys.modules), int(loaded))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["0", "0"]


def test_request_threads_run_models_with_the_configured_cpu_threads() -> None:
    """Each new thread takes torch's thread count at its first call: the app must set it before,
    and numpy's BLAS pool with it."""
    code = (
        "import threading, threadpoolctl, torch, app; app.build_app(); counts = []; "
        "thread = threading.Thread(target=lambda: counts.extend([torch.get_num_threads(), *("
        "pool['num_threads'] for pool in threadpoolctl.threadpool_info() "
        "if pool['user_api'] == 'blas')])); "
        "thread.start(); thread.join(); print(*counts)"
    )
    environ = {**os.environ, "MMC_CPU_THREADS": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    torch_threads, *blas_threads = result.stdout.splitlines()[-1].split()
    assert torch_threads == "3"
    assert blas_threads and set(blas_threads) == {"3"}


@pytest.mark.parametrize(
    ("minutes", "expected"), [("60", (3600, 3600)), ("0.001", (1, 1)), ("0", None)]
)
def test_files_are_kept_for_the_configured_minutes(
    monkeypatch: pytest.MonkeyPatch, minutes: str, expected: tuple[int, int] | None
) -> None:
    import app
    from multimodal_core.settings import load_settings

    monkeypatch.setattr(
        app, "get_settings", lambda: load_settings({"MMC_KEEP_FILES_MINUTES": minutes})
    )
    assert app.build_app().delete_cache == expected


@pytest.mark.slow
def test_uploads_and_results_leave_the_servers_cache_after_their_lifetime(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every file the server wrote for a request, the upload and the result picture written by
    the project's own PNG writer alike, is deleted on Gradio's schedule."""
    import app
    from multimodal_core.settings import get_settings

    lifetime_s = 3
    monkeypatch.setenv("MMC_KEEP_FILES_MINUTES", str(lifetime_s / 60))
    get_settings.cache_clear()
    demo = app.build_app()
    try:
        _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_options())
        client = Client(url, verbose=False, download_files=False)
        pixels = np.random.default_rng().integers(0, 256, (96, 96, 3), dtype=np.uint8)
        upload = tmp_path / f"upload-{os.getpid()}-{time.time_ns()}.png"
        Image.fromarray(pixels).save(upload)
        client.predict(handle_file(str(upload)), 1, "builtin", api_name="/captioning")  # loads
        *_, sheet = client.predict(handle_file(str(upload)), 1, "builtin", api_name="/captioning")
        cache = Path(sheet["path"]).parents[1]
        written = [Path(sheet["path"]), *cache.glob(f"*/{upload.name}")]
        assert len(written) == 2 and all(path.is_file() for path in written)
        deadline = time.monotonic() + 3 * lifetime_s + 5
        while any(path.exists() for path in written) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(path.exists() for path in written)
    finally:
        demo.close()
        get_settings.cache_clear()


def test_the_server_caches_in_a_folder_of_its_own_unless_one_is_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Gradio names cached files by their content: servers sharing a folder delete each other's
    files (tests/test_server_processes.py shows it with two servers)."""
    import app

    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    with app.cache_folder() as folder:
        assert folder.is_dir() and os.environ["GRADIO_TEMP_DIR"] == str(folder)
        (folder / "hash").mkdir()
        (folder / "hash" / "upload.png").write_bytes(b"left when the server stops")
    assert not folder.exists() and "GRADIO_TEMP_DIR" not in os.environ
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with app.cache_folder() as chosen:
        assert chosen == tmp_path
    assert tmp_path.is_dir() and os.environ["GRADIO_TEMP_DIR"] == str(tmp_path)
