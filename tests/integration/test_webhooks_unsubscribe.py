"""``/unsubscribe/{token}``: the page for people, RFC 8058 one-click for mail clients, forgeries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from notifier.channels.unsubscribe import unsubscribe_token, unsubscribe_url
from tests.integration.rig import Rig
from tests.webhooks_fixtures import PUBLIC_URL, SECRET_KEY, Hooks, hooks, serve, webhook_settings

__all__ = ["hooks"]  # the fixture, imported for pytest

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def link(customer_id: str, channel: str = "email") -> str:
    """Return the path of the link the notifier puts in its emails."""
    url = unsubscribe_url(PUBLIC_URL, SECRET_KEY.encode(), customer_id, channel)
    assert url.startswith(PUBLIC_URL + "/unsubscribe/")
    return url.removeprefix(PUBLIC_URL)


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


FORGED = [
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


# -- from a real email ----------------------------------------------------------------------


async def test_the_link_in_a_sent_email_unsubscribes_with_one_click(rig: Rig) -> None:
    # The dispatcher's composer reads these settings: its emails now carry the link.
    rig.settings.public_url = PUBLIC_URL
    rig.settings.secret_key = SecretStr(SECRET_KEY)
    await rig.customer("c-1", last_used="email", phone=None)
    await rig.promise("c-1", "order-1", timedelta(hours=-2))
    await rig.tick()
    (sent,) = rig.smtp.received
    email = sent.parsed()
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(email["List-Unsubscribe"]).strip("<>")
    assert url.startswith(PUBLIC_URL + "/unsubscribe/")

    client, _ = await serve(webhook_settings(rig.smtp.port), rig.store, rig.clock, None, [])
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
    assert stats["counts"].get("suppressed") == 1
