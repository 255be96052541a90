"""A TCP proxy on 127.0.0.1 between notifier and PostgreSQL, which a test can cut or blackhole.

- open: bytes flow both ways.
- cut: every connection is reset and new ones are reset as soon as they arrive, as when the
  server is gone (the client sees the connection refused or closed).
- blackholed: connections are accepted, bytes are read and held, nothing is forwarded, as
  when packets are dropped on the way; healing delivers what was held, as TCP's
  retransmissions would once the path is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Literal

from sqlalchemy import make_url

Mode = Literal["open", "cut", "blackholed"]


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host:target_port`` until told otherwise."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "open"
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    async def in_front_of(cls, url: str) -> TcpProxy:
        """A started proxy to the database server of ``url`` (a SQLAlchemy URL)."""
        target = make_url(url)
        return await cls(target.host or "127.0.0.1", target.port or 5432).start()

    def through(self, url: str) -> str:
        """``url`` with its port pointed at this proxy."""
        return make_url(url).set(port=self.port).render_as_string(hide_password=False)

    async def start(self) -> TcpProxy:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Reset every connection; reset new ones as they arrive."""
        self.mode = "cut"
        for writer in list(self._writers):
            _reset(writer)
        self._writers.clear()
        self._flowing.set()  # held pumps wake up, see the cut and close

    def blackhole(self) -> None:
        """Accept and read, forward nothing."""
        self.mode = "blackholed"
        self._flowing.clear()

    def heal(self) -> None:
        """Forward again, what was held first."""
        self.mode = "open"
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            _reset(writer)
            return
        self._writers.add(writer)
        try:
            await self._flowing.wait()  # a blackholed connection is held before it goes on
            if self.mode == "cut":
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                if self.mode == "cut" or writer.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a RST, not a FIN: the peer sees the connection reset at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
