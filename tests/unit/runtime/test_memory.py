"""The malloc arena cap of long-running processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from quantdesk.runtime.memory import limit_arenas


def test_an_operators_malloc_arena_max_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_arenas() is False


def test_threads_share_the_capped_arenas() -> None:
    """Eight threads allocating at once: with the cap, no arena beyond the second appears."""
    code = """
import ctypes, re, sys, threading
from quantdesk.runtime.memory import limit_arenas
if sys.argv[1] == "cap":
    assert limit_arenas(2)
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    for _ in range(200):
        blobs = [bytearray(4096) for _ in range(500)]
        del blobs
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.tmpfile.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.rewind.argtypes = [ctypes.c_void_p]
libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
f = libc.tmpfile()  # malloc_info writes its XML (one <heap> per arena) to a FILE*
libc.malloc_info(0, f)
libc.rewind(f)
buf = ctypes.create_string_buffer(1 << 20)
n = libc.fread(buf, 1, len(buf) - 1, f)
print(len(re.findall(r'<heap nr="', buf.raw[:n].decode())))
"""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def arenas(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, env=env, check=True
        )
        return int(out.stdout.strip())

    assert arenas("cap") <= 2
    assert arenas("free") > 2  # the test can fail: without the cap, threads get arenas
