"""``quantdesk run`` as one process: the runner's loop and the API server, stopped together.

SIGINT/SIGTERM stop both: the runner completes its last minute, writes open
bars and checkpoints; the API server closes its connections. If either ends
on its own (the API: port in use; the runner: a finished replay, a refused
Twitter token), the other is stopped too and the first error is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

from quantdesk.runtime.runner import Runner
from quantdesk.runtime.server import api_config, freeze_startup_objects

__all__ = ["serve_platform"]


@contextlib.contextmanager
def _signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[], None]) -> Iterator[None]:
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def serve_platform(runtime: Runner, host: str, port: int, api: bool = True) -> None:
    """Run the runner's loop and (optionally) the API until SIGINT/SIGTERM."""
    server: _QuietServer | None = None
    tasks = [asyncio.create_task(runtime.run(), name="runner")]
    if api:
        from quantdesk.api.app import create_app
        from quantdesk.api.context import ApiContext

        context = ApiContext(runtime.store, runtime.settings, runtime.bus, runtime)
        app = create_app(context, echo=runtime.echo)
        config = api_config(
            app, host, port, lifespan="on", ws_max_size=runtime.settings.ws_max_frame_bytes
        )
        freeze_startup_objects()
        quiet = server = _QuietServer(config)
        tasks.append(asyncio.create_task(quiet.serve(), name="api"))
        runtime.echo(
            f"API on http://{host}:{port} (GET /health, /api/klines, /docs; WebSocket /ws/...)"
        )

    def on_signal() -> None:
        if not runtime.stopping:
            runtime.echo("Stopping: flushing bars and state ...")
        runtime.stop()
        if server is not None:
            server.should_exit = True

    with _signals(asyncio.get_running_loop(), on_signal):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        runtime.stop()
        if server is not None:
            server.should_exit = True
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result


class _QuietServer:
    """A uvicorn server whose signals are handled by the runtime, not by uvicorn."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = _Server(config)

    @property
    def should_exit(self) -> bool:
        return bool(self._server.should_exit)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    async def serve(self) -> None:
        await self._server.serve()
        if not self._server.started:
            config = self._server.config
            raise SystemExit(f"API server could not start on {config.host}:{config.port}")
