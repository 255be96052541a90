"""Email over real TLS: STARTTLS and implicit TLS against aiosmtpd with a throwaway CA."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
import trustme

from notifier.channels.base import ChannelDownError, SendError, TransientError
from notifier.channels.email_message import message_id
from notifier.channels.smtp import SmtpEmail, SmtpSettings
from notifier.cli import main
from tests.fakes.smtp_server import SmtpFake
from tests.integration.channels.test_channels_smtp import FROM, mail

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

Tls = Literal["none", "starttls", "implicit"]
USER, PASSWORD = "relay-user", "s3cret"
MODES = [pytest.param("starttls", id="starttls"), pytest.param("implicit", id="implicit")]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """Return a server context holding a certificate for 127.0.0.1 signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def serve() -> Iterator[list[SmtpFake]]:
    """Fakes appended here are stopped after the test."""
    fakes: list[SmtpFake] = []
    yield fakes
    for fake in fakes:
        fake.stop()


def started(serve: list[SmtpFake], fake: SmtpFake) -> SmtpFake:
    fake.start()
    serve.append(fake)
    return fake


def channel(fake: SmtpFake, tls: Tls, ca_file: Path | None, **changes: object) -> SmtpEmail:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": fake.port,
        "email_from": FROM,
        "tls": tls,
        "ca_file": str(ca_file) if ca_file else None,
        "timeout": timedelta(seconds=5),
    }
    base.update(changes)
    return SmtpEmail(SmtpSettings(**base))  # type: ignore[arg-type]  # tests pass valid fields


def with_auth(serve: list[SmtpFake], ca: trustme.CA, tls: Tls) -> SmtpFake:
    """Start a fake that wants AUTH, and refuses it until the connection is encrypted."""
    fake = SmtpFake(username=USER, password=PASSWORD, tls=tls, auth_require_tls=True)
    fake.server_context = server_context(ca) if tls != "none" else None
    return started(serve, fake)


async def failure(email: SmtpEmail) -> SendError:
    """Send one message that must fail; return the error, with the channel closed."""
    try:
        with pytest.raises(SendError) as caught:
            await email.send(mail())
    finally:
        await email.aclose()
    return caught.value


@pytest.mark.parametrize("tls", MODES)
async def test_a_message_arrives_over_tls(
    tls: Tls, ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    fake = started(serve, SmtpFake(tls=tls, server_context=server_context(ca)))
    email = channel(fake, tls, ca_file)
    try:
        receipt = await email.send(mail())
    finally:
        await email.aclose()

    [received] = fake.received
    assert received.encrypted
    assert received.mail_from == "avisos@acme.example"
    assert received.rcpt_tos == ["ana@example.com"]
    parsed = received.parsed()
    assert parsed["Message-ID"] == message_id("rule:7:1:0", FROM) == receipt.provider_id
    assert parsed["Subject"] == "Tu pedido se retrasa — lo sentimos"
    text = parsed.get_body(("plain",))
    assert text is not None and "tu pedido 1234" in text.get_content()


@pytest.mark.parametrize("tls", MODES)
async def test_auth_over_tls(
    tls: Tls, ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    fake = with_auth(serve, ca, tls)
    email = channel(fake, tls, ca_file, username=USER, password=PASSWORD)
    try:
        await email.send(mail())
    finally:
        await email.aclose()
    assert fake.logins == 1
    assert [r.encrypted for r in fake.received] == [True]


@pytest.mark.parametrize("tls", MODES)
async def test_wrong_password_over_tls_means_channel_down(
    tls: Tls, ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    fake = with_auth(serve, ca, tls)
    error = await failure(channel(fake, tls, ca_file, username=USER, password="wrong"))
    assert isinstance(error, ChannelDownError)
    assert error.reason == "auth_failed"
    assert "wrong" not in str(error)
    assert fake.received == []


@pytest.mark.parametrize("tls", MODES)
async def test_connections_are_reused_over_tls(
    tls: Tls, ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    fake = with_auth(serve, ca, tls)
    email = channel(fake, tls, ca_file, username=USER, password=PASSWORD)
    try:
        for n in range(5):
            await email.send(mail(key=f"rule:7:1:{n}"))
    finally:
        await email.aclose()
    assert len(fake.received) == 5
    assert all(r.encrypted for r in fake.received)
    # One handshake and one login carried all five messages.
    assert fake.connections == 1
    assert fake.logins == 1


@pytest.mark.parametrize("tls", MODES)
async def test_a_certificate_from_another_ca_means_channel_down(
    tls: Tls, ca_file: Path, serve: list[SmtpFake]
) -> None:
    stranger = trustme.CA()
    fake = started(serve, SmtpFake(tls=tls, server_context=server_context(stranger)))
    error = await failure(channel(fake, tls, ca_file))
    assert isinstance(error, ChannelDownError)
    assert error.reason == "misconfigured"
    assert "certificate is not trusted" in str(error)
    assert "NOTIFIER_SMTP_CA_FILE" in str(error)
    assert fake.received == []


@pytest.mark.parametrize("tls", MODES)
async def test_the_system_store_does_not_trust_a_private_ca(
    tls: Tls, ca: trustme.CA, serve: list[SmtpFake]
) -> None:
    # Without NOTIFIER_SMTP_CA_FILE the system store decides; verification stays on.
    fake = started(serve, SmtpFake(tls=tls, server_context=server_context(ca)))
    error = await failure(channel(fake, tls, None))
    assert isinstance(error, ChannelDownError)
    assert "certificate is not trusted" in str(error)
    assert fake.received == []


async def test_a_certificate_for_another_host_means_channel_down(
    ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("smtp.elsewhere.example").configure_cert(context)
    fake = started(serve, SmtpFake(tls="implicit", server_context=context))
    error = await failure(channel(fake, "implicit", ca_file))
    assert isinstance(error, ChannelDownError)
    assert "certificate is not trusted" in str(error)
    assert fake.received == []


async def test_an_unreadable_ca_file_means_channel_down(
    ca: trustme.CA, tmp_path: Path, serve: list[SmtpFake]
) -> None:
    fake = started(serve, SmtpFake(tls="implicit", server_context=server_context(ca)))
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for path in (tmp_path / "missing.pem", not_pem):
        email = channel(fake, "implicit", path)
        try:
            with pytest.raises(ChannelDownError, match="cannot load NOTIFIER_SMTP_CA_FILE"):
                await email.send(mail())
        finally:
            await email.aclose()
    assert fake.connections == 0


async def test_starttls_against_a_server_without_it_means_channel_down(
    ca_file: Path, serve: list[SmtpFake]
) -> None:
    fake = started(serve, SmtpFake())
    error = await failure(channel(fake, "starttls", ca_file))
    assert isinstance(error, ChannelDownError)
    assert error.reason == "misconfigured"
    assert f"127.0.0.1:{fake.port} does not offer STARTTLS" in str(error)
    assert fake.received == []


async def test_implicit_tls_against_a_plaintext_server_fails_cleanly(
    ca_file: Path, serve: list[SmtpFake]
) -> None:
    # The plaintext greeting is not a TLS record: the handshake fails at once, no hang.
    fake = started(serve, SmtpFake())
    error = await failure(channel(fake, "implicit", ca_file))
    assert isinstance(error, ChannelDownError)
    assert error.reason == "misconfigured"
    assert "does not speak TLS" in str(error)
    assert fake.received == []


async def test_starttls_against_an_implicit_tls_server_is_bounded_by_the_timeout(
    ca: trustme.CA, ca_file: Path, serve: list[SmtpFake]
) -> None:
    # Each side waits for the other to speak first; the adapter's timeout ends it.
    fake = started(serve, SmtpFake(tls="implicit", server_context=server_context(ca)))
    error = await failure(channel(fake, "starttls", ca_file, timeout=timedelta(milliseconds=300)))
    assert isinstance(error, TransientError)
    assert error.reason == "timeout"
    assert fake.received == []


def with_links(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set what ``channels send email`` requires for the unsubscribe link."""
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://notifier.acme.example")
    monkeypatch.setenv("NOTIFIER_SECRET_KEY", "unsubscribe-secret-for-tls-tests-32")


def test_cli_sends_email_over_starttls_with_the_ca_file(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ca: trustme.CA,
    ca_file: Path,
    serve: list[SmtpFake],
) -> None:
    fake = with_auth(serve, ca, "starttls")
    with_links(monkeypatch)
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFIER_SMTP_PORT", str(fake.port))
    monkeypatch.setenv("NOTIFIER_SMTP_TLS", "starttls")
    monkeypatch.setenv("NOTIFIER_SMTP_CA_FILE", str(ca_file))
    monkeypatch.setenv("NOTIFIER_SMTP_USERNAME", USER)
    monkeypatch.setenv("NOTIFIER_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("NOTIFIER_EMAIL_FROM", "Acme <avisos@acme.example>")

    assert main(["channels", "send", "email", "ops@acme.example", "--json"]) == 0

    answer = json.loads(capsys.readouterr().out)
    [received] = fake.received
    assert received.encrypted
    assert received.rcpt_tos == ["ops@acme.example"]
    assert answer["provider_id"] == received.parsed()["Message-ID"]
    assert fake.logins == 1


def test_cli_names_an_untrusted_certificate(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ca_file: Path,
    serve: list[SmtpFake],
) -> None:
    fake = started(serve, SmtpFake(tls="implicit", server_context=server_context(trustme.CA())))
    with_links(monkeypatch)
    monkeypatch.setenv("NOTIFIER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFIER_SMTP_PORT", str(fake.port))
    monkeypatch.setenv("NOTIFIER_SMTP_TLS", "implicit")
    monkeypatch.setenv("NOTIFIER_SMTP_CA_FILE", str(ca_file))
    monkeypatch.setenv("NOTIFIER_EMAIL_FROM", "Acme <avisos@acme.example>")

    assert main(["channels", "send", "email", "ops@acme.example"]) == 1

    captured = capsys.readouterr()
    assert "certificate is not trusted" in captured.out + captured.err
    assert fake.received == []


async def test_the_fake_refuses_auth_in_the_clear(serve: list[SmtpFake]) -> None:
    # What makes the AUTH tests above mean "over TLS": the same fake refuses plaintext AUTH.
    fake = with_auth(serve, trustme.CA(), "none")
    error = await failure(channel(fake, "none", None, username=USER, password=PASSWORD))
    assert isinstance(error, ChannelDownError)
    assert fake.logins == 0
    assert fake.received == []
