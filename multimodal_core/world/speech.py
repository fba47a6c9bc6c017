"""Speech from eSpeak NG, driven through ctypes (``espeakng-loader`` ships the library and its
voice data but no Python synthesis API).

eSpeak NG keeps global state (one voice, one set of parameters), so every synthesis holds a
process-wide lock; at about 100x real time, session loading included, that is no bottleneck.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesise inside espeak_Synth, via callback
_POS_CHARACTER = 1  # espeak_POSITION_TYPE
_CHARS_UTF8 = 1  # espeak_Synth flags
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER ids

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class VoiceSettings:
    """How eSpeak NG speaks: ``variant`` names a voice variant ("f2", "m3", "grandma");
    ``rate`` is words per minute (80-450), ``pitch`` and ``pitch_range`` are 0-99."""

    variant: str
    rate: int
    pitch: int
    pitch_range: int


class Session:
    """eSpeak NG loaded afresh: the library keeps state between utterances (the pitch flutter
    phase, for one) that no API resets, so each clip is synthesised by a freshly loaded copy,
    unloaded afterwards (about 1 ms): the same seed then gives the same samples whatever was
    spoken before. That holds while no other code in the process keeps the library loaded
    (a second handle would keep its state alive); the world's tests check it."""

    def __init__(self, seed: int) -> None:
        import espeakng_loader  # dev-only dependency

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        data = espeakng_loader.get_data_path().encode()
        self.lib = lib
        self.sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.sample_rate <= 0:
            self.close()
            raise RuntimeError("eSpeak NG failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ng_SetRandSeed(seed)

    def _collect(self, wav: ctypes._Pointer, n: int, _events: int) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0: continue synthesis

    def speak(self, text: str, voice: VoiceSettings, language: str) -> np.ndarray:
        name = f"{language}+{voice.variant}".encode()
        if self.lib.espeak_SetVoiceByName(name) != 0:
            raise ValueError(f"eSpeak NG has no voice {name.decode()!r}")
        self.lib.espeak_SetParameter(_RATE, voice.rate, 0)
        self.lib.espeak_SetParameter(_PITCH, voice.pitch, 0)
        self.lib.espeak_SetParameter(_RANGE, voice.pitch_range, 0)
        self._chunks = []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if not self._chunks:
            raise RuntimeError(f"eSpeak NG produced no audio for {text!r}")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0

    def close(self) -> None:
        import _ctypes

        self.lib.espeak_Terminate()
        _ctypes.dlclose(self.lib._handle)  # the next session loads fresh static state


_LOCK = threading.Lock()  # eSpeak NG is one global state per process


@contextmanager
def session(seed: int) -> Iterator[Session]:
    """A fresh eSpeak NG session seeded with ``seed``, held alone by this thread:
    ``session(seed).speak(text, voice, language)`` gives float32 mono at ``.sample_rate``."""
    with _LOCK:
        s = Session(seed)
        try:
            yield s
        finally:
            s.close()
