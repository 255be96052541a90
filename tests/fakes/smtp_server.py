"""A real SMTP server on loopback (aiosmtpd): records envelopes, refuses chosen recipients.

It speaks plain SMTP by default; with a server ``ssl.SSLContext`` it offers and requires
STARTTLS (``tls="starttls"``) or speaks TLS from the first byte (``tls="implicit"``).

``python -m tests.fakes.smtp_server --port N [--spool DIR] [--username U --password P]``
runs it standalone.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ARRIVALS = "arrivals.tsv"  # in a spool: one line per mail, number, instant and recipients
# recipient -> the SMTP answer to RCPT TO
RECIPIENTS: dict[str, str] = {
    "nobody@example.com": "550 5.1.1 <nobody@example.com>: Recipient address rejected",
    "full@example.com": "452 4.2.2 Mailbox full, try again later",
    "greylist@example.com": "451 4.7.1 Greylisted, try again later",
    "throttled@example.com": "451 4.7.1 Rate limit exceeded, try again in 30 seconds",
}


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    encrypted: bool = False  # the message came over a TLS connection
    # When its transaction began (time.monotonic() at MAIL FROM, the first command a
    # pooled connection sends for it; the end of DATA if the client skipped the hook).
    arrived: float = field(default_factory=time.monotonic)

    def parsed(self) -> EmailMessage:
        """Return the message parsed with the modern email policy."""
        message = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class SmtpFake:
    """aiosmtpd in a background thread; AUTH LOGIN/PLAIN when a username is set.

    ``tls`` other than ``"none"`` needs ``server_context`` (a server-side SSLContext
    holding the certificate); ``auth_require_tls`` then refuses AUTH before TLS.
    """

    username: str | None = None
    password: str | None = None
    spool: Path | None = None
    recipients: dict[str, str] = field(default_factory=lambda: dict(RECIPIENTS))
    received: list[Received] = field(default_factory=list)
    logins: int = 0
    connections: int = 0
    # Every ``throttle_every``th RCPT is refused as a relay over its rate does (0: never).
    throttle_every: int = 0
    throttled: int = 0
    _rcpts: int = 0
    port: int = 0
    tls: Literal["none", "starttls", "implicit"] = "none"
    server_context: ssl.SSLContext | None = None
    auth_require_tls: bool = False
    _controller: Controller | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd calls these hooks by name.
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        # Stamped here rather than at the end of DATA: a relay counts a message when its
        # transaction starts, and three more round trips through this busy process's
        # thread would add their delays to the instant.
        envelope.began = time.monotonic()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        answer = self.recipients.get(address.lower())
        if answer is not None:
            return answer
        with self._lock:
            self._rcpts += 1
            if self.throttle_every and self._rcpts % self.throttle_every == 0:
                self.throttled += 1
                return "451 4.7.1 Too many messages, slow down and try again in 1 second"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else content.encode()
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        message = Received(envelope.mail_from, list(envelope.rcpt_tos), raw, encrypted)
        message.arrived = getattr(envelope, "began", message.arrived)
        with self._lock:
            self.received.append(message)
            number = len(self.received)
        if self.spool is not None:
            self.spool.mkdir(parents=True, exist_ok=True)
            (self.spool / f"{number:06d}.eml").write_bytes(raw)
            with (self.spool / ARRIVALS).open("a") as log:  # after the .eml: read_spool
                log.write(f"{number:06d}\t{message.arrived!r}\t{','.join(message.rcpt_tos)}\n")
        return "250 2.0.0 Message accepted for delivery"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # After STARTTLS the client greets again on the same connection: count it once.
        if session.ssl is None:
            with self._lock:
                self.connections += 1
        session.host_name = hostname
        return responses

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        ok = (
            (encrypted or not self.auth_require_tls)
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            with self._lock:
                self.logins += 1
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=ok, handled=False)

    def start(self, port: int = 0) -> int:
        """Serve on 127.0.0.1 (``port`` 0 picks a free one) and return the port."""
        self.port = port or free_port()
        options: dict[str, Any] = {}
        if self.username is not None:
            # Loopback only: plaintext AUTH is fine here unless the test asks for TLS first.
            options = {
                "authenticator": self._authenticate,
                "auth_required": True,
                # aiosmtpd counts only STARTTLS as TLS and would hide AUTH on an implicit
                # TLS port; _authenticate checks the connection itself instead.
                "auth_require_tls": self.auth_require_tls and self.tls == "starttls",
            }
        if self.tls != "none" and self.server_context is None:
            raise ValueError(f"tls={self.tls!r} needs a server_context with a certificate")
        if self.tls == "starttls":
            options |= {"tls_context": self.server_context, "require_starttls": True}
        elif self.tls == "implicit":
            options["ssl_context"] = self.server_context
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self.port

    def stop(self) -> None:
        """Stop serving."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        """Forget what was received."""
        with self._lock:
            self.received.clear()
            self.logins = 0
            self.connections = 0


def read_spool(spool: Path) -> list[Received]:
    """The mails a fake spooled to ``spool``, in arrival order, with their instants.

    A standalone fake (``--spool``) in its own process stamps its arrivals free of the
    test process's event loop and GIL; ``arrived`` is its ``time.monotonic()``, the same
    clock as this process's on Linux.
    """
    log = spool / ARRIVALS
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        number, arrived, rcpts = line.split("\t")
        raw = (spool / f"{number}.eml").read_bytes()
        found.append(Received("", rcpts.split(","), raw, arrived=float(arrived)))
    return found


def spooled(spool: Path) -> int:
    """How many mails a fake has spooled to ``spool`` so far (cheap: for polling)."""
    log = spool / ARRIVALS
    return log.read_bytes().count(b"\n") if log.exists() else 0


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    """Run the fake standalone until interrupted."""
    parser = argparse.ArgumentParser(description="A local SMTP server that records mail")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", type=Path)
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--latency-ms", type=int, default=0, help="accepted, not used")
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    fake = SmtpFake(username=args.username, password=args.password, spool=args.spool)
    port = fake.start(args.port)
    print(f"listening on 127.0.0.1:{port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    fake.stop()


if __name__ == "__main__":
    main()
