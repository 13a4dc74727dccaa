"""The one way backburner opens a listening TCP socket for uvicorn (`serve`, `demo`, the
fake provider): made by us, so a port in use is one clear `OSError` and port 0 works."""

from __future__ import annotations

import socket

__all__ = ["listen_socket"]

#: Connections the kernel queues before uvicorn accepts them.
BACKLOG = 2048


def listen_socket(host: str, port: int, *, share_port: bool = False) -> socket.socket:
    """A socket listening on ``host:port`` (0: a free port); with ``share_port``, others may
    listen on the same port too (``SO_REUSEPORT``: `serve --processes N`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said outright: asyncio sets TCP_NODELAY only on connections accepted from a
    # socket that says so (a socket sent to a child keeps what it was made with), and without
    # it each keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if share_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
