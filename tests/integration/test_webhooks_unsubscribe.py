"""``/unsubscribe/{token}``: the page for people, RFC 8058 one-click for mail clients, forgeries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from notifier.channels.unsubscribe import link_token, unsubscribe_token, unsubscribe_url
from tests.integration.rig import Rig
from tests.webhooks_fixtures import PUBLIC_URL, SECRET_KEY, Hooks, hooks, serve, webhook_settings

__all__ = ["hooks"]  # the fixture, imported for pytest

ONE_CLICK = {"List-Unsubscribe": "One-Click"}
ISSUED = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # an hour before the fake clock starts
KEY = SECRET_KEY.encode()


def link(customer_id: str, channel: str = "email", issued: datetime = ISSUED) -> str:
    """Return the path of the link the notifier puts in its emails."""
    url = unsubscribe_url(PUBLIC_URL, KEY, customer_id, channel, issued)
    assert url.startswith(PUBLIC_URL + "/unsubscribe/")
    return url.removeprefix(PUBLIC_URL)


def old_link(customer_id: str, channel: str = "email") -> str:
    """Return the path of a link in the first format, as emails sent before carry."""
    return f"/unsubscribe/{unsubscribe_token(KEY, customer_id, channel)}"


PAGES = [
    pytest.param(
        "es-AR", "¿Quieres dejar de recibir correos de Acme?", "Sí, darme de baja", id="es"
    ),
    pytest.param("pt-BR", "Deseja deixar de receber e-mails da Acme?", "Sim, cancelar", id="pt"),
    pytest.param("en", "Stop receiving emails from Acme?", "Yes, unsubscribe me", id="en"),
]


@pytest.mark.parametrize(("locale", "question", "button"), PAGES)
async def test_get_shows_a_page_in_the_customers_language_and_changes_nothing(
    hooks: Hooks, locale: str, question: str, button: str
) -> None:
    await hooks.customer("c-1", locale=locale)
    page = await hooks.client.get(link("c-1"))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'<html lang="{locale[:2]}">' in page.text
    assert question in page.text and button in page.text
    assert '<form method="post">' in page.text
    assert page.headers["cache-control"] == "no-store"
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()


async def test_one_click_post_opts_out_of_email_only(hooks: Hooks) -> None:
    await hooks.customer("c-1", locale="pt-BR")
    answer = await hooks.client.post(link("c-1"), data=ONE_CLICK)
    assert answer.status_code == 200
    assert "Pronto: você não receberá mais e-mails da Acme." in answer.text
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}

    again = await hooks.client.get(link("c-1"))
    assert "Sua inscrição já está cancelada" in again.text and "<form" not in again.text
    twice = await hooks.client.post(link("c-1"), data=ONE_CLICK)
    assert twice.status_code == 200
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}


async def test_the_pages_button_posts_back_to_the_same_link(hooks: Hooks) -> None:
    await hooks.customer("c-1", locale="es")
    path = link("c-1", "sms")
    page = await hooks.client.get(path)
    assert "¿Quieres dejar de recibir SMS de Acme?" in page.text
    # The form has no action: a browser posts it to the page's own URL, with its field.
    answer = await hooks.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert "Listo: no te enviaremos más SMS de Acme." in answer.text
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"sms"}


def _flip(token: str) -> str:
    payload, signature = token.split(".")
    return f"{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


def _flip_byte(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[at] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def _new(cid: str = "c-1", key: bytes = KEY) -> str:
    return link_token(key, cid, "email", ISSUED)


FORGED = [
    pytest.param(lambda: _flip_byte(_new(), 20), id="ciphertext-altered"),
    pytest.param(lambda: _flip_byte(_new(), 3), id="nonce-altered"),
    pytest.param(lambda: _new(key=b"someone else's key, 32 chars long"), id="other-key"),
    pytest.param(lambda: _new()[:-4], id="truncated"),
    pytest.param(lambda: _flip(unsubscribe_token(SECRET_KEY.encode(), "c-1", "email")),
                 id="signature-altered"),
    pytest.param(lambda: unsubscribe_token(b"someone else's key", "c-1", "email"),
                 id="signed-with-another-key"),
    pytest.param(lambda: unsubscribe_token(SECRET_KEY.encode(), "c-1", "email").split(".")[0],
                 id="signature-removed"),
    pytest.param(lambda: unsubscribe_token(SECRET_KEY.encode(), "c-2", "email").split(".")[0]
                 + "." + unsubscribe_token(SECRET_KEY.encode(), "c-1", "email").split(".")[1],
                 id="other-customers-payload"),
    pytest.param(lambda: "c-1", id="guessed"),
    pytest.param(lambda: "%%%.@@@", id="garbage"),
]  # fmt: skip


@pytest.mark.parametrize("forge", FORGED)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_forged_token_is_404_and_opts_nobody_out(
    hooks: Hooks, forge: object, method: str
) -> None:
    await hooks.customer("c-1")
    await hooks.customer("c-2")
    token = forge()  # type: ignore[operator]  # the table's lambdas
    answer = await hooks.client.request(method, f"/unsubscribe/{token}", data=ONE_CLICK)
    assert answer.status_code == 404
    assert "Este enlace no es válido." in answer.text
    for cid in ("c-1", "c-2"):
        customer = await hooks.store.get_customer(cid)
        assert customer is not None and customer.opted_out == frozenset()


async def test_a_genuine_token_for_an_unknown_customer_is_404(hooks: Hooks) -> None:
    answer = await hooks.client.post(link("nobody"), data=ONE_CLICK)
    assert answer.status_code == 404


async def test_without_a_secret_key_no_token_is_genuine(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    path = link("c-1")
    hooks.settings.secret_key = None
    answer = await hooks.client.post(path, data=ONE_CLICK)
    assert answer.status_code == 404
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()


async def test_the_company_name_is_escaped(hooks: Hooks) -> None:
    hooks.settings.company_name = "<script>alert(1)</script>"
    await hooks.customer("c-1", locale="en")
    page = await hooks.client.get(link("c-1"))
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text


# -- opaque, revocable, and the first format still honoured ---------------------------------


def test_a_link_names_no_customer_readably() -> None:
    cid = "customer-4711"
    tokens = {link_token(KEY, cid, "email", ISSUED) for _ in range(3)}
    assert len(tokens) == 3  # a fresh nonce each time: two links cannot be told to match
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert cid not in token and cid.encode() not in raw and b"email" not in raw
        assert "4711" not in token


async def test_a_link_in_the_first_format_still_works(hooks: Hooks) -> None:
    await hooks.customer("c-1", locale="en")
    page = await hooks.client.get(old_link("c-1"))
    assert page.status_code == 200 and "Stop receiving emails from Acme?" in page.text
    answer = await hooks.client.post(old_link("c-1"), data=ONE_CLICK)
    assert answer.status_code == 200
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}


async def test_revoked_links_are_gone_and_later_ones_work(hooks: Hooks) -> None:
    await hooks.customer("c-1")
    await hooks.customer("c-2")
    before = link("c-1", issued=hooks.clock.now() - timedelta(minutes=1))
    hooks.settings.api_token = SecretStr("ops-token")
    revoked = await hooks.client.post(
        "/v1/customers/c-1/unsubscribe-links/revoke",
        headers={"Authorization": "Bearer ops-token"},
    )
    assert revoked.status_code == 200 and revoked.json()["customer_id"] == "c-1"
    unknown = await hooks.client.post(
        "/v1/customers/nobody/unsubscribe-links/revoke",
        headers={"Authorization": "Bearer ops-token"},
    )
    assert unknown.status_code == 404
    assert (
        await hooks.client.post("/v1/customers/c-1/unsubscribe-links/revoke")
    ).status_code == 401

    for path in (before, old_link("c-1")):
        for method in ("GET", "POST"):
            answer = await hooks.client.request(method, path, data=ONE_CLICK)
            assert answer.status_code == 410, (method, path)
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == frozenset()
    # Other customers' links, and this customer's next ones, are untouched.
    assert (await hooks.client.post(link("c-2"), data=ONE_CLICK)).status_code == 200
    hooks.clock.advance(timedelta(seconds=1))
    after = link("c-1", issued=hooks.clock.now())
    assert (await hooks.client.post(after, data=ONE_CLICK)).status_code == 200
    customer = await hooks.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}


# -- from a real email ----------------------------------------------------------------------


async def test_the_link_in_a_sent_email_unsubscribes_with_one_click(rig: Rig) -> None:
    # The dispatcher's composer takes these settings: its emails now carry the link.
    rig.settings.public_url = PUBLIC_URL
    rig.settings.secret_key = SecretStr(SECRET_KEY)
    rig.reconfigure()
    await rig.customer("c-1", last_used="email", phone=None)
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    (sent,) = rig.smtp.received
    email = sent.parsed()
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(email["List-Unsubscribe"]).strip("<>")
    assert url.startswith(PUBLIC_URL + "/unsubscribe/")

    client, _ = await serve(webhook_settings(rig.smtp.port), rig.store, rig.clock, [])
    async with client:
        # What a mail client does (RFC 8058 section 3.2): POST the body, no cookies, no page.
        answer = await client.post(url.removeprefix(PUBLIC_URL), data=ONE_CLICK)
    assert answer.status_code == 200
    customer = await rig.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}

    # The next broken promise finds no channel left for this customer: nothing is emailed.
    await rig.promise("c-1", "order-2", timedelta(hours=-1))
    rig.clock.advance(timedelta(hours=2))
    await rig.tick()
    assert len(rig.smtp.received) == 1
    stats = await rig.store.queue_stats()
    assert stats.counts.get("suppressed") == 1


def _emailed_link(received: object) -> str:
    email = received.parsed()  # type: ignore[attr-defined]  # the SMTP fake's Received
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(email["List-Unsubscribe"]).strip("<>")
    assert url.startswith(PUBLIC_URL + "/unsubscribe/")
    return url.removeprefix(PUBLIC_URL)


async def test_an_emailed_link_revoked_is_gone_and_the_next_email_brings_one_that_works(
    rig: Rig,
) -> None:
    rig.settings.public_url = PUBLIC_URL
    rig.settings.secret_key = SecretStr(SECRET_KEY)
    rig.reconfigure()
    await rig.customer("c-1", last_used="email", phone=None, locale="en")
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    first = _emailed_link(rig.smtp.received[0])
    assert "c-1" not in first

    client, _ = await serve(webhook_settings(rig.smtp.port), rig.store, rig.clock, [])
    async with client:
        page = await client.get(first)
        assert page.status_code == 200 and '<form method="post">' in page.text

        rig.clock.advance(timedelta(minutes=1))
        await rig.ledger.revoke_links("c-1")
        for method in ("GET", "POST"):
            gone = await client.request(method, first, data=ONE_CLICK)
            assert gone.status_code == 410
        customer = await rig.store.get_customer("c-1")
        assert customer is not None and customer.opted_out == frozenset()

        await rig.promise("c-1", "order-2", timedelta(hours=-1))
        rig.clock.advance(timedelta(hours=2))
        await rig.tick()
        assert len(rig.smtp.received) == 2
        second = _emailed_link(rig.smtp.received[1])
        assert second != first
        answer = await client.post(second, data=ONE_CLICK)
        assert (
            answer.status_code == 200 and "Done: Acme will send you no more emails." in answer.text
        )
    customer = await rig.store.get_customer("c-1")
    assert customer is not None and customer.opted_out == {"email"}
