"""Whatever a hand-made row holds, the real scan and dispatcher still serve everyone else.

Each example writes one customer and one promise straight into a fresh SQLite store, as
an older version or a hand-made INSERT could have (no validation: extreme dates, huge or
NaN amounts, odd locales and zones, odd attributes), next to a normal customer with a
late delivery. One tick later the normal customer has their notice and no row is left
``sending``.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from notifier.channels.registry import build_channels
from notifier.config import Settings
from notifier.domain.models import PromiseStatus
from notifier.domain.rules.model import RuleSet
from notifier.engine.delivery.compose import Composer
from notifier.engine.delivery.dispatcher import Dispatcher
from notifier.engine.ingest.ledger_service import Ledger
from notifier.store.store import Store
from notifier.templates import Company, Renderer
from tests.conftest import FakeClock
from tests.fakes.smtp_server import SmtpFake
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, TwilioFake
from tests.integration.poison import (
    insert_customer,
    insert_promise,
    notification_rows,
    promise_row,
    sending,
)
from tests.integration.rig import ROOT, Rig

# 19:00 in Buenos Aires: before quiet hours, and a refund due 26 h ago is a business day late
# (Monday 23 November 2026 is a public holiday).
NOW = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
ANA_PHONE = "+5491155550101"
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
_examples = itertools.count()

instants = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    st.sampled_from([FAR, datetime(1, 1, 1, 1, tzinfo=UTC), NOW - timedelta(hours=2)]),
    st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)).map(
        lambda d: NOW + d
    ),
)
odd_text = st.text(max_size=40)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), odd_text,
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(odd_text, inner, max_size=3),
    max_leaves=8,
)
attributes = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.sampled_from([1e27, 1e300, float("nan"), float("inf"), 10**40, -1, 0.5])
        | json_values,
        "currency": st.sampled_from(["ARS", "USD", "", "XXX"]) | odd_text,
        "order_id": json_values, "carrier": json_values, "reference": json_values,
        "region": json_values,
    },
).flatmap(lambda fixed: st.dictionaries(odd_text, json_values, max_size=3).map(
    lambda extra: {**extra, **fixed}
))  # fmt: skip
customers = st.fixed_dictionaries(
    {
        "name": st.none() | odd_text,
        "locale": st.sampled_from(["es", "es-AR", "en", "pt-BR", "root", "", "xx", "es_AR@euro"])
        | st.text(max_size=12),
        "timezone": st.sampled_from(
            ["UTC", "Factory", "localtime", "Nowhere/City", "", "Pacific/Kiritimati",
             "Etc/GMT+12", "America/Argentina/Buenos_Aires"]
        ) | st.text(max_size=20),
        "phone": st.sampled_from([None, "+5491155550199", "", "not a number", "+1"]) | odd_text,
        "email": st.sampled_from([None, "zed@example.com", "", "no-at-sign", "a@b@c"]) | odd_text,
        "last_used_channel": st.sampled_from([None, "sms", "email", "whatsapp", "x", "fax"]),
        "preferred_channel": st.sampled_from([None, "sms", "email", "pigeon"]),
    }
)  # fmt: skip
promises = st.fixed_dictionaries(
    {
        # Mostly promises the shipped rules speak about now: the poison must reach dispatch.
        "kind": st.sampled_from(["delivery", "delivery", "refund", "refund", "callback"])
        | odd_text,
        "status": st.sampled_from(["open", "open", "broken", *(s.value for s in PromiseStatus)]),
        "due_at": st.sampled_from([NOW - timedelta(hours=2), NOW - timedelta(hours=26)]) | instants,
        "window_start": st.none() | instants,
        "estimate_at": st.none() | instants,
        "attributes": attributes,
        "deadline_version": st.integers(min_value=1, max_value=3),
        "times_broken": st.integers(min_value=0, max_value=3),
        "status_changed_at": instants,
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(customer=customers, promise=promises)
def test_a_poisoned_row_never_silences_the_normal_customer(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    shipped: tuple[Renderer, RuleSet],
    customer: dict[str, Any],
    promise: dict[str, Any],
) -> None:
    target = tmp_path_factory.mktemp("poison") / f"e{next(_examples)}.db"
    shutil.copyfile(sqlite_template, target)
    asyncio.run(_one_tick(f"sqlite+aiosqlite:///{target}", shipped, customer, promise))


async def _one_tick(
    url: str, shipped: tuple[Renderer, RuleSet], customer: dict[str, Any], promise: dict[str, Any]
) -> None:
    store = Store.open(url)
    smtp, twilio = SmtpFake(), TwilioFake()
    smtp.start()
    await twilio.start()
    renderer, rules = shipped
    s = Settings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_tls="none",
        email_from="Acme <avisos@acme.example>", twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN), twilio_from="+15017122661",
        twilio_base_url=twilio.url, ops_email="ops@acme.example",
        rules_dir=str(ROOT / "rules"), templates_dir=str(ROOT / "templates"), max_attempts=3,
    )  # fmt: skip
    channels = build_channels(s.providers, demo=False)
    clock = FakeClock(NOW)
    composer = Composer(renderer, Company.from_settings(s.messages), s.messages, s.links)
    dispatcher = Dispatcher(store, channels, composer, clock, s.dispatch, s.scan)
    rig = Rig(store, clock, Ledger(store, clock), rules, dispatcher, s, smtp, twilio)
    try:
        await rig.customer("ana", phone=ANA_PHONE)
        await rig.promise("ana", "order-ana", timedelta(hours=-2))
        await insert_customer(store, "zed", NOW, **customer)
        values = {k: v for k, v in promise.items() if k != "due_at"}
        pid = await insert_promise(store, "zed", "order-zed", promise["due_at"], NOW, **values)
        await rig.tick()

        assert await sending(store) == []
        to_ana = [f for f in twilio.forms() if f["To"] == ANA_PHONE and "order-ana" in f["Body"]]
        assert len(to_ana) == 1, twilio.forms()
        # What became of the poisoned row (see --hypothesis-show-statistics).
        zed = sorted(
            {r["error_code"] or r["status"] for r in await notification_rows(store, "zed")}
        )
        event(f"zed's notifications: {zed or 'none'}")
        event(f"zed's promise in plan error: {(await promise_row(store, pid))['plan_errors'] > 0}")
    finally:
        await channels.aclose()
        await twilio.stop()
        smtp.stop()
        await store.close()
