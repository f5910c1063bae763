"""The owner's notifications by e-mail: conditions -> events -> mail (issue 14).

Per site the owner chooses (``GET``/``PUT /api/v1/sites/{site}/notifications``, notify_api.py)
mail about:

* ``pv``: PV under-performance, the edge's forecast monitor's verdict (``pv_alert`` of the plan
  it uploads, portal/plans.py);
* ``offline``: no upload from the site's edges for ``offline_min`` minutes (default 30);
* ``device``: a device the edge reports ``stale`` or ``error`` (``health`` with its uploads,
  notify_store.py) for ``device_grace`` (5 minutes: a device that recovers at once stays quiet);
* ``maintenance``: a maintenance window (grant) opened, and ended (by itself or by the owner).

One :class:`Notifier` task runs in each portal process. Every ``every_s`` it reads the facts of
all watched sites in a few queries, turns them into conditions (:func:`conditions`, pure), and
compares them with what the owner was told (``notify_state``): a condition that starts holding
sends one mail, one that ends sends one "resolved" mail. Each change is claimed in the database
before its mail goes (a second process finds it claimed; a restart finds it sent) and put back
when the SMTP server refuses, so the next round tries again. Mail goes to the site's own address
or else the owner account's; both are sealed at rest; without either nothing is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.portal import i18n, mail, notify_store
from wattwerk.portal.database import Database, utcnow
from wattwerk.portal.notify_store import Facts, Target
from wattwerk.portal.secretbox import SecretBox, SecretError

log = logging.getLogger(__name__)

EVERY_S = 60.0
DEVICE_GRACE = timedelta(minutes=5)
GRANTS_BACK = timedelta(days=1)  # maintenance grants that expired longer ago are not looked at
FORGET = timedelta(days=7)  # ended conditions are forgotten after this


@dataclass(frozen=True)
class Condition:
    """Whether ``subject`` holds now, and the mail's words either way: catalogue keys
    (``static/portal/i18n``, the owner's language) and their variables."""

    subject: str
    active: bool
    on: str  # the title when it starts holding (the mail's subject)
    text: str  # the details for that mail
    off: str  # the title when it ends
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    site_id: int
    subject: str
    active: bool  # True: started; False: resolved
    title: str  # catalogue key
    text: str | None  # catalogue key of the details (none for a resolved one)
    vars: dict[str, Any] = field(default_factory=dict)


def _pv(alert: dict | None) -> Condition:
    alert = alert or {}
    ratio = alert.get("ratio")
    return Condition(
        "pv",
        bool(alert.get("active")),
        "mail.pv.on",
        "mail.pv.text",
        "mail.pv.off",
        {
            "percent": round(ratio * 100) if isinstance(ratio, int | float) else "–",
            "measured_kwh": float(alert.get("measured_wh") or 0) / 1000,
            "expected_kwh": float(alert.get("expected_wh") or 0) / 1000,
        },
    )


def _offline(target: Target, seen: datetime | None, now: datetime) -> Condition | None:
    if seen is None:
        return None  # never uploaded: not an edge that went away
    minutes = target.prefs.offline_min
    late = now - seen > timedelta(minutes=minutes)
    return Condition(
        "offline",
        late,
        "mail.offline.on",
        "mail.offline.text",
        "mail.offline.off",
        {"minutes": minutes, "last": seen},
    )


def conditions(target: Target, facts: Facts, now: datetime, device_grace: timedelta) -> list[Condition]:
    """What holds now for one site, for the kinds its owner chose (pure: facts and a clock)."""
    kinds = target.kinds()
    sid = target.site_id
    out: list[Condition] = []
    if "pv" in kinds:
        out.append(_pv(facts.pv_alerts.get(sid)))
    if "offline" in kinds and (c := _offline(target, facts.last_seen.get(sid), now)) is not None:
        out.append(c)
    if "device" in kinds:
        for device, state, since in facts.bad_devices.get(sid, []):
            on = "mail.device.error" if state == "error" else "mail.device.stale"
            held = now - since >= device_grace
            out.append(
                Condition(
                    f"device:{device}",
                    held,
                    on,
                    "mail.device.text",
                    "mail.device.off",
                    {"device": device, "since": since},
                )
            )
    if "maintenance" in kinds:
        for grant, installer, starts, expires, revoked in facts.grants.get(sid, []):
            live = revoked is None and starts <= now < expires
            words = {"installer": installer, "until": expires}
            out.append(
                Condition(
                    f"maintenance:{grant}", live, "mail.maint.on", "mail.maint.text", "mail.maint.off", words
                )
            )
    return out


GONE = {
    "pv": ("mail.pv.off", "pv"),
    "offline": ("mail.offline.off", ""),
    "device": ("mail.device.off", "device"),
}


def events(target: Target, now_holds: list[Condition], told: dict[str, bool]) -> list[Event]:
    """Changes from what the owner was told (``told``: subject -> active) to what holds (pure). A
    told condition no longer in the facts (a device the edge stopped reporting as bad) ended."""
    out = []
    seen = set()
    kinds = target.kinds()
    for c in now_holds:
        seen.add(c.subject)
        if c.active and not told.get(c.subject, False):
            out.append(Event(target.site_id, c.subject, True, c.on, c.text, c.vars))
        elif not c.active and told.get(c.subject, False):
            out.append(Event(target.site_id, c.subject, False, c.off, None, c.vars))
    for subject, active in told.items():
        kind, _, name = subject.partition(":")
        if active and subject not in seen and kind in kinds:
            key, var = GONE.get(kind, ("mail.maint.gone", ""))
            out.append(Event(target.site_id, subject, False, key, None, {var: name} if var else {}))
    return out


def _shown(value: Any, lang: str, tz: str) -> str:
    """A variable as the owner reads it: times in the site's zone, decimals in the language's way."""
    if isinstance(value, datetime):
        try:
            zone = ZoneInfo(tz)
        except (ValueError, KeyError):
            zone = ZoneInfo("UTC")
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    if isinstance(value, float):
        text = f"{value:.1f}"
        return text.replace(".", ",") if lang in ("de", "fr") else text
    return str(value)


def message(
    config: mail.SmtpConfig, to: str, target: Target, event: Event, public_url: str | None
) -> EmailMessage:
    """The mail of one event, in the language the owner saved the choice in."""
    lang = target.prefs.lang
    words = {k: _shown(v, lang, target.tz) for k, v in event.vars.items()}
    base = public_url.rstrip("/") if public_url else None
    words |= {
        "alias": target.owner,
        "link": f"{base}/sites/{target.site}" if base else target.site,
        "manage": f"{base}/sites/{target.site}/access" if base else i18n.text(lang, "mail.access_page"),
    }

    def say(key: str) -> str:
        return i18n.text(lang, key).format(**words)

    name = target.label or target.site
    title = say(event.title) + ("" if event.active else f" ({say('mail.resolved')})")
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = to
    msg["Subject"] = f"wattwerk {name}: {title}"
    details = f"{say(event.text)}\n" if event.text else ""
    msg.set_content(
        f"{say('mail.hello')}\n\n{name}: {title}\n{details}\n{say('mail.see')}\n\n{say('mail.why')}\n"
    )
    return msg


ENV = "WATTWERK_PORTAL_NOTIFY"  # JSON {"every_s": 60, "device_grace_s": 300}: shorter for tests and demos


def timing(value: str | None) -> tuple[float, float]:
    """(every_s, device_grace_s) from ``WATTWERK_PORTAL_NOTIFY``; ValueError naming what is wrong."""
    try:
        doc = json.loads(value) if value else {}
        every = float(doc.get("every_s", EVERY_S))
        grace = float(doc.get("device_grace_s", DEVICE_GRACE.total_seconds()))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f'{ENV}: JSON such as {{"every_s": 60, "device_grace_s": 300}} ({exc})') from None
    if not (0 < every <= 86_400 and 0 <= grace <= 86_400):
        raise ValueError(f"{ENV}: every_s in (0, 86400], device_grace_s in [0, 86400]")
    return every, grace


class Notifier:
    """The portal's one notification task (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        smtp: mail.SmtpConfig,
        *,
        public_url: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        device_grace: timedelta = DEVICE_GRACE,
    ) -> None:
        self.db = db
        self.box = box
        self.smtp = smtp
        self.public_url = public_url
        self.clock = clock
        self.device_grace = device_grace
        self.sent = 0

    def _address(self, target: Target) -> str | None:
        try:
            return self.box.open(target.prefs.email) or self.box.open(target.account_email)
        except SecretError:
            log.error("site %s: its notification address does not open with this key", target.site)
            return None

    async def tick(self) -> int:
        """One round: the mails sent (resolved ones included)."""
        now = self.clock()
        async with self.db.connection(readonly=True) as conn:
            watched = await notify_store.targets(conn)
            facts = await notify_store.facts(conn, now - GRANTS_BACK) if watched else None
        sent = 0
        for target in watched:
            to = self._address(target)
            if to is None or facts is None:
                continue
            holds = conditions(target, facts, now, self.device_grace)
            for event in events(target, holds, facts.states.get(target.site_id, {})):
                sent += await self._send(target, to, event, now)
        async with self.db.connection() as conn:
            await notify_store.forget_resolved(conn, now - FORGET)
        self.sent += sent
        return sent

    async def _send(self, target: Target, to: str, event: Event, now: datetime) -> int:
        try:
            msg = message(self.smtp, to, target, event, self.public_url)  # before the claim: a mail to send
        except (KeyError, ValueError, IndexError):
            log.exception("site %s: no mail for %s (its text cannot be made)", target.site, event.subject)
            return 0
        async with self.db.connection() as conn:
            if not await notify_store.claim(conn, target.site_id, event.subject, event.active, now):
                return 0  # another process has it
        if await mail.send(self.smtp, msg):
            log.info("site %s: mailed %s %s", target.site, event.subject, "on" if event.active else "off")
            return 1
        async with self.db.connection() as conn:
            await notify_store.unclaim(conn, target.site_id, event.subject, event.active, now)
        return 0

    async def run(self, every_s: float = EVERY_S) -> None:
        """Every ``every_s`` until cancelled; a failed round is logged and tried again."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("notification round failed; trying again in %.0f s", every_s)
            await asyncio.sleep(every_s)
