"""A real live server (`stream serve`'s app on uvicorn, real models) in a thread, for tests."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from audio_pipeline.stream.server import StreamService, server_config


@contextmanager
def live_server(cfg, out: Path) -> Iterator[tuple[StreamService, str]]:
    """(service, "127.0.0.1:PORT"); reviews and recordings under out/reviews, the store out/reviews.sqlite."""
    import uvicorn

    service = StreamService(cfg, output_dir=out / "reviews", db=out / "reviews.sqlite")
    service.load()
    srv = uvicorn.Server(server_config(service))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "live server did not start"
        time.sleep(0.05)
    try:
        yield service, f"127.0.0.1:{srv.servers[0].sockets[0].getsockname()[1]}"
    finally:
        srv.should_exit = True
        thread.join(20)
