"""``python app.py`` as a person runs it: stopping the server ends its worker processes, and two
servers on one machine never delete each other's cached files.

Each test starts real servers as subprocesses on free ports and ends every process it started,
whether it passes or not.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from PIL import Image, PngImagePlugin

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PICTURE = REPO / "examples" / "scene_20000001.png"
CAPTIONING = "/captioning"  # the Captioning tab's endpoint: (picture, beam size, model)
SERVE_TIMEOUT_S = 180  # start-up takes about 6 s on an idle machine; tests share two cores
STOP_TIMEOUT_S = 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes in /proc"),
]

Process = tuple[int, int]
"""A process as its pid and its start time (clock ticks after boot): a pid alone may be reused."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or None when there is no such
    process. ``fields[0]`` is the state, ``[1]`` the parent's pid, ``[19]`` the start time."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> set[Process]:
    """The processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        fields = stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and fields[1] == str(pid):
            found.add((int(entry.name), int(fields[19])))
    return found


def is_worker(process: Process) -> bool:
    """A process that multiprocessing spawned to run tasks (a ProcessPoolExecutor's worker)."""
    try:
        return b"--multiprocessing-fork" in Path(f"/proc/{process[0]}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False


def is_alive(process: Process) -> bool:
    """Still running: the same process (same start time), and not a zombie waiting to be
    reaped (an orphan's zombie stays while the machine's init does not reap it)."""
    fields = stat_fields(process[0])
    return fields is not None and int(fields[19]) == process[1] and fields[0] != "Z"


class Server:
    """``python app.py`` on a free port, its output in a log file."""

    def __init__(self, environ: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = log
        environ = {
            **environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
        }
        # A process that was started with SIGINT ignored (a shell's background job is) passes
        # that on, and Python then leaves it ignored: let the server take SIGINT as a
        # terminal's foreground job does.
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with log.open("wb") as output:
                self.process = subprocess.Popen(
                    [sys.executable, "app.py"],
                    cwd=REPO,
                    env=environ,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
        finally:
            if ignored:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.seen: set[Process] = set()  # every child seen, found again after it is orphaned

    def children(self) -> set[Process]:
        """Its child processes now; each is remembered in ``seen``."""
        found = children(self.process.pid) if self.process.poll() is None else set()
        self.seen |= found
        return found

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_until_served(self) -> None:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited:\n{self.output()}"
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"no page within {SERVE_TIMEOUT_S} s:\n{self.output()}")

    def wait_for_workers(self, count: int) -> set[Process]:
        deadline = time.monotonic() + SERVE_TIMEOUT_S
        while time.monotonic() < deadline:
            found = {process for process in self.children() if is_worker(process)}
            if len(found) >= count:
                return found
            time.sleep(0.2)
        raise AssertionError(f"fewer than {count} workers:\n{self.output()}")

    def stop(self, signal_number: int) -> None:
        """Send the signal and wait for the server to exit."""
        self.children()
        self.process.send_signal(signal_number)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            message = f"still serving {STOP_TIMEOUT_S} s later:\n{self.output()}"
            raise AssertionError(message) from None

    def end(self) -> None:
        """Kill the server and every child it had that still runs (the test is over)."""
        self.children()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)
        for process in self.seen:
            if is_alive(process):
                os.kill(process[0], signal.SIGKILL)


@pytest.fixture()
def servers() -> Iterator[list[Server]]:
    """Servers the test starts, appended here; all of them end with the test."""
    started: list[Server] = []
    yield started
    for server in started:
        server.end()


def app_environ(temp: Path, **settings: str) -> dict[str, str]:
    """The test's environment for a server, with ``settings``. Without the Gradio cache folder
    that tests/conftest.py sets for the servers inside the test process: each server picks its
    own, as the app does. With a temporary folder of the test's own (TMPDIR), where Gradio's
    shared default would be: a server that fell back on it could delete only this test's files.
    """
    temp.mkdir(exist_ok=True)
    environ = {name: value for name, value in os.environ.items() if name != "GRADIO_TEMP_DIR"}
    return {**environ, "TMPDIR": str(temp), **settings}


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_stopping_the_server_ends_its_worker_processes(
    servers: list[Server], tmp_path: Path, signal_number: int
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    environ = app_environ(tmp_path / "tmp", MMC_WORKERS="2", GRADIO_TEMP_DIR=str(cache))
    server = Server(environ, tmp_path / "log")
    servers.append(server)
    server.wait_until_served()
    workers = server.wait_for_workers(2)
    server.stop(signal_number)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(is_alive(process) for process in server.seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = sorted(pid for pid, _ in server.seen if is_alive((pid, _)))
    assert not left, f"processes left running: {left} (workers {sorted(workers)})"
    assert cache.is_dir(), "a cache folder the person chose is theirs: it stays"


def upload_of_its_own(folder: Path) -> Path:
    """An example scene with a text chunk of its own, as a person's upload: Gradio names a
    cached file by its content, and it keeps the app's example files for as long as it serves,
    so the example itself would stay however servers shared their folder."""
    info = PngImagePlugin.PngInfo()
    info.add_text("upload", f"{os.getpid()}-{time.time_ns()}")
    upload = folder / f"upload-{os.getpid()}-{time.time_ns()}.png"
    Image.open(EXAMPLE_PICTURE).save(upload, pnginfo=info)
    return upload


def caption_cached(url: str, path: Path) -> str:
    """Caption a file already in the server's cache, as the page asks for a picture it
    uploaded earlier: by its path on the server, without sending it again."""
    file = {"path": str(path), "meta": {"_type": "gradio.FileData"}}
    call = f"{url}gradio_api/call{CAPTIONING}"
    with httpx.Client(timeout=120) as http:
        event = http.post(call, json={"data": [file, 1, "builtin"]}).raise_for_status().json()
        stream = http.get(f"{call}/{event['event_id']}").raise_for_status().text
    kind, data = [line.split(": ", 1)[1] for line in stream.splitlines() if ": " in line][-2:]
    assert kind == "complete", stream
    return json.loads(data)[0]


def test_two_servers_keep_their_cached_files_apart(servers: list[Server], tmp_path: Path) -> None:
    environ = app_environ(tmp_path / "tmp", MMC_WORKERS="0")
    first = Server(environ, tmp_path / "first.log")
    second = Server(environ, tmp_path / "second.log")
    servers += [first, second]
    picture = upload_of_its_own(tmp_path)
    sheets = []
    for server in (first, second):
        server.wait_until_served()
        client = Client(server.url, verbose=False, download_files=False)
        *_, sheet = client.predict(handle_file(str(picture)), 1, "builtin", api_name=CAPTIONING)
        sheets.append(Path(sheet["path"]))
    caches = [sheet.parents[1] for sheet in sheets]  # <cache folder>/<hash>/<name>
    assert caches[0] != caches[1]
    (kept,) = caches[0].glob(f"*/{picture.name}")
    second.stop(signal.SIGINT)
    assert kept.is_file(), "stopping one server deleted the other's upload"
    assert sheets[0].is_file(), "stopping one server deleted the other's result"
    assert not caches[1].exists(), "the stopped server's own cache folder is left behind"
    assert caption_cached(first.url, kept).startswith("## ")
    first.stop(signal.SIGTERM)
    assert not caches[0].exists()
