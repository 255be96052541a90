"""Email over SMTP with aiosmtplib: a small pool of reused connections, one error table."""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib

from notifier.channels.base import (
    ChannelDownError,
    OutboundMessage,
    PermanentError,
    Reason,
    Receipt,
    SendError,
    ThrottledError,
    TransientError,
)
from notifier.channels.email_message import build_email, envelope_sender, message_id
from notifier.config import SmtpTls
from notifier.domain.models import ChannelName


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    email_from: str
    tls: SmtpTls = "starttls"
    username: str | None = None
    password: str | None = None
    reply_to: str | None = None
    timeout: timedelta = timedelta(seconds=30)
    pool_size: int = 8
    ca_file: str | None = None  # PEM CAs trusted instead of the system store


def classify(exc: Exception) -> SendError:
    """Return the error an aiosmtplib failure means for us."""
    tls = _tls_failure(exc)
    if tls is not None:
        return tls
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        first = exc.recipients[0] if exc.recipients else None
        if first is None:
            return PermanentError(Reason.RECIPIENT_REFUSED, "every recipient refused")
        return _at_rcpt(first.code, first.message)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _at_rcpt(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ChannelDownError(Reason.AUTH_FAILED, exc.message, str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return TransientError(Reason.TIMEOUT, str(exc))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code = str(exc.code)
        if 400 <= exc.code < 500:
            return _temporary(exc.code, exc.message)
        # 530: the server wants authentication we did not give; a refused sender or a
        # refused greeting is about us too, never about the recipient.
        if exc.code == 530 or isinstance(
            exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPHeloError
        ):
            return ChannelDownError(Reason.MISCONFIGURED, exc.message, code)
        if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
            return TransientError(Reason.CONNECTION, exc.message, code)
        return PermanentError(Reason.REJECTED, exc.message, code)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return ChannelDownError(Reason.MISCONFIGURED, str(exc))
    if isinstance(exc, aiosmtplib.SMTPException | OSError):
        return TransientError(Reason.CONNECTION, f"{type(exc).__name__}: {exc}")
    return TransientError(Reason.PROVIDER_ERROR, f"{type(exc).__name__}: {exc}")


def _tls_failure(exc: BaseException) -> SendError | None:
    # aiosmtplib wraps a handshake failure at connect in SMTPConnectError; STARTTLS raises it bare.
    cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        # Retrying cannot make the certificate trusted: our trust store or the relay is wrong.
        return ChannelDownError(
            Reason.MISCONFIGURED,
            f"the relay's certificate is not trusted (NOTIFIER_SMTP_CA_FILE): {cause}",
        )
    if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
        return ChannelDownError(
            Reason.MISCONFIGURED,
            f"the relay does not speak TLS on this port (NOTIFIER_SMTP_TLS): {cause}",
        )
    return None


# A 4xx that says the relay throttles us, not that this message or mailbox has a problem
# (greylisting, a full mailbox and the rest stay plain transient failures).
_THROTTLING = re.compile(
    r"\brate[- ]?limit|\bthrottl|\btoo many (messages|mails|emails|connections|requests)"
    r"|\bsending rate|\bslow down",
    re.IGNORECASE,
)
# A rate answer about one mailbox ("the recipient is receiving mail too fast"): that row
# waits like any transient failure; pausing email for everyone would stop every other
# customer's mail for one busy inbox.
_ONE_MAILBOX = re.compile(r"\b(recipient|mailbox|user)\b", re.IGNORECASE)
_WAIT = re.compile(r"\b(\d{1,5})\s*(s|secs?|seconds?|m|mins?|minutes?)\b", re.IGNORECASE)


def _temporary(code: int, text: str) -> SendError:
    """Return the error a 4xx answer means: throttling when its words say so, else transient."""
    if _THROTTLING.search(text) is None:
        return TransientError(Reason.TEMPORARY_FAILURE, text, str(code))
    wait = _WAIT.search(text)
    retry = None
    if wait is not None:
        unit = 60 if wait.group(2).lower().startswith("m") else 1
        retry = timedelta(seconds=int(wait.group(1)) * unit)
    return ThrottledError(Reason.RATE_LIMITED, text, str(code), retry)


def _at_rcpt(code: int, text: str) -> SendError:
    if 400 <= code < 500:
        if _ONE_MAILBOX.search(text):
            return TransientError(Reason.TEMPORARY_FAILURE, text, str(code))
        return _temporary(code, text)
    # 5xx at RCPT: the server says this mailbox does not exist or takes no mail.
    return PermanentError(Reason.RECIPIENT_REFUSED, text, str(code), address_failed=True)


class SmtpEmail:
    """Sends email; up to ``pool_size`` connections stay open and are reused."""

    name: ChannelName = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._tls_context: ssl.SSLContext | None = None

    async def send(self, message: OutboundMessage) -> Receipt:
        """Deliver ``message`` to the SMTP server; raise a SendError subclass on failure."""
        s = self.settings
        try:
            email = build_email(message, s.email_from, s.reply_to, datetime.now(UTC))
        except (ValueError, IndexError) as exc:
            # The address cannot even be written into a header: no server will take it.
            raise PermanentError(
                Reason.INVALID_ADDRESS, f"cannot address {message.to!r}: {exc}", None, True
            ) from None
        envelope = (envelope_sender(s.email_from), [message.to])
        async with self._slots:
            try:
                response = await self._deliver(email, envelope)
            except SendError:
                raise
            except Exception as exc:
                raise classify(exc) from None
        return Receipt(
            provider_id=message_id(message.dedupe_key, s.email_from),
            status="accepted",
            detail={"response": response},
        )

    async def _deliver(self, content: EmailMessage | bytes, envelope: tuple[str, list[str]]) -> str:
        reused = bool(self._idle)
        smtp = self._idle.pop() if reused else await self._connect()
        try:
            response = await _transmit(smtp, content, envelope)
        except aiosmtplib.SMTPServerDisconnected:
            await _close(smtp)
            if not reused:
                raise
            # An idle connection the server closed meanwhile: once more on a fresh one.
            smtp = await self._connect()
            try:
                response = await _transmit(smtp, content, envelope)
            except Exception:
                await _close(smtp)
                raise
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # The client sent RSET: the connection is still good for the next message.
            self._idle.append(smtp)
            raise
        except Exception:
            await _close(smtp)
            raise
        self._idle.append(smtp)
        return response

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.tls == "implicit",
            start_tls=False,  # upgraded below, so a server without STARTTLS is named as such
            tls_context=self._tls() if s.tls != "none" else None,
            timeout=s.timeout.total_seconds(),
        )
        await smtp.connect()
        try:
            if s.tls == "starttls":
                # connect() does not greet: without EHLO no extension is known yet.
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    raise ChannelDownError(
                        Reason.MISCONFIGURED,
                        f"{s.host}:{s.port} does not offer STARTTLS (NOTIFIER_SMTP_TLS)",
                    )
                await smtp.starttls()
            if s.username and s.password is not None:
                await smtp.login(s.username, s.password)
        except Exception:
            await _close(smtp)
            raise
        return smtp

    def _tls(self) -> ssl.SSLContext:
        # Built once: loading a trust store per connection would cost more than the send.
        if self._tls_context is None:
            ca_file = self.settings.ca_file
            try:
                self._tls_context = ssl.create_default_context(cafile=ca_file)
            except OSError as exc:  # ssl.SSLError too: a file that holds no PEM certificate
                raise ChannelDownError(
                    Reason.MISCONFIGURED, f"cannot load NOTIFIER_SMTP_CA_FILE {ca_file}: {exc}"
                ) from None
        return self._tls_context

    async def aclose(self) -> None:
        """Say QUIT on every pooled connection."""
        idle, self._idle = self._idle, []
        for smtp in idle:
            await _close(smtp, polite=True)


async def _transmit(
    smtp: aiosmtplib.SMTP, content: EmailMessage | bytes, envelope: tuple[str, list[str]]
) -> str:
    # The envelope is explicit: never let headers decide who gets the message. Bytes are
    # ready for DATA; an EmailMessage (an internationalized address) is flattened by
    # aiosmtplib, which asks for SMTPUTF8.
    sender, recipients = envelope
    if isinstance(content, bytes):
        _errors, response = await smtp.sendmail(sender, recipients, content)
    else:
        _errors, response = await smtp.send_message(content, sender=sender, recipients=recipients)
    return response


async def _close(smtp: aiosmtplib.SMTP, polite: bool = False) -> None:
    if polite and smtp.is_connected:
        try:
            await smtp.quit()
            return
        except aiosmtplib.SMTPException:
            pass
    smtp.close()
