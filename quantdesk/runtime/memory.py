"""How many malloc arenas a long-running process may use (glibc).

glibc gives each thread that allocates under contention an arena of its own,
up to eight per core, and an arena keeps the pages of its high-water mark.
``quantdesk run`` has a dozen threads (the stream thread, the scheduler, the
loop's executors, the server's worker threads), and the soak benchmark
(``python -m benchmarks soak``) saw a thread's arena appear after the warm-up
and grow to 30 MiB while the process's live data did not grow. The GIL lets
one thread run Python at a time, so these threads gain little from arenas of
their own: :func:`limit_arenas` caps them at :data:`ARENAS` (the main one and
one shared), as ``MALLOC_ARENA_MAX=2`` would. An operator's own
``MALLOC_ARENA_MAX`` is left as it is; elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Final

__all__ = ["ARENAS", "limit_arenas"]

#: malloc arenas of a long-running quantdesk process (``mallopt(M_ARENA_MAX)``).
ARENAS: Final = 2
_M_ARENA_MAX: Final = -8  # glibc's malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas at ``arenas`` for threads started from now on; True if set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
