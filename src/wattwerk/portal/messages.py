"""Codes for the portal's messages, so the pages show them in their own language.

The API answers in English (``{"detail": "wrong alias or password"}``); every message a page can
show is listed here with a stable code, and an error answer whose ``detail`` is one of them also
carries ``"code"`` and the message's variable parts in ``"vars"``::

    {"detail": "no account 'anna'", "code": "grant.no_account", "vars": {"alias": "'anna'"}}

The pages' catalogues (``static/portal/i18n/<lang>.json``) hold ``err.<code>`` in every language
(tests/test_portal_messages.py checks that each code has a string in de, en and fr with the same
``{vars}``, that the English one is the text here, and that every literal ``HTTPException`` detail
of the portal is known here). FastAPI's 422 answers keep pydantic's own ``type`` per field error
(``greater_than_equal``, ``missing`` ...) and its numeric or short limits in ``ctx``; the pages
translate them as ``err.v.<type>``. API clients get the same English ``detail`` as before.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

# code -> the English text as the portal's code writes it; {name} stands for a variable part
MESSAGES: dict[str, str] = {
    # sign-in, registration, password, TOTP (accounts_api.py, accounts.py, auth.py)
    "auth.wrong_login": "wrong alias or password",
    "auth.too_many": "too many failed sign-ins; try later",
    "auth.totp_wrong": "TOTP code missing or wrong",
    "auth.totp_once": "TOTP code missing or wrong (each code works once)",
    "auth.totp_token": "TOTP is set up from a signed-in browser session, not with a token",
    "auth.wrong_password": "wrong password",
    "auth.totp_on": "TOTP is on: give a current code to replace it",
    "auth.totp_used": "that TOTP code was used already; wait for the next one",
    "auth.totp_not_started": "wrong code, or TOTP not started",
    "auth.signed_out": "not signed in, or the session or token is unknown or expired",
    "auth.csrf": "missing or wrong X-CSRF-Token for a cookie-authenticated request",
    "auth.scope": "this token lacks the {scope} scope",
    "auth.admin_only": "portal administrators only (and tokens with the 'admin' scope)",
    "auth.token_admin": "a token cannot make admin tokens; sign in",
    "auth.edge_token": "missing, unknown or revoked edge token",
    "register.closed": "registration is closed on this portal; ask its operator for an account",
    "register.invite": "registration is by invitation: give a valid, unused invite code",
    "account.alias": "alias: 3-40 letters, digits, '.', '_' or '-', starting with a letter or digit",
    "account.alias_taken": "alias: already taken",
    "account.password": (
        "password: at least {min} characters besides leading and trailing blanks (at most 1024)"
    ),
    "account.email": "email: not an e-mail address (name@example.org)",
    "reset.off": (
        "password reset by e-mail is not set up on this portal; ask its operator to reset your password"
    ),
    "reset.token": "unknown, used or expired reset token",
    # sites, grants, tariff, time zone (sites_api.py, pages.py, series_api.py)
    "site.not_found": "not found",
    "site.owner_only": "only the site's owner may do this",
    "site.tz": "unknown timezone {tz}",
    "live.not_fanned": "live values are not fanned out on this portal; poll /live",
    "live.too_many": "too many live streams on this worker; poll /live",
    "grant.no_account": "no account {alias}",
    "grant.owner_role": "the owner's own role cannot change",
    "grant.none": "no such grant",
    # maintenance (maintenance_api.py)
    "maint.no_account": "no other account {alias}",
    "maint.no_grant": "no such live grant",
    "maint.not_yours": "no live maintenance grant for you on this site",
    "maint.no_command": "no such command",
    # the owner's controls (owner_commands.py)
    "owner.look_only": "a {role} may look, not control; the owner decides",
    "owner.offline": (
        "the edge is offline: nothing was sent; try again when it is back (it connects by itself)"
    ),
    "owner.offline_since": (
        "the edge is offline (last contact {since}): nothing was sent; try again when it is back "
        "(it connects by itself)"
    ),
    "owner.settings": 'send the settings to change as a small object, e.g. {"mode": "pv"}',
    # pairing (pairing.py)
    "pair.too_many": "too many wrong pairing codes from this address; try again later",
    "pair.unknown": "unknown pairing code: check it, or show a new one on the portal",
    "pair.used": "this pairing code was used already; show a new one on the portal",
    "pair.expired": "this pairing code has expired; show a new one on the portal",
    "pair.format": (
        "a pairing code is {length} letters and digits like ABCD-EFGH-JKMN; "
        "copy it from the portal's site list"
    ),
    # data ranges (series_api.py, admin_api.py, api.py)
    "range.zone": "times need a zone (e.g. 2026-01-01T00:00:00Z)",
    "range.date": "a period needs date=YYYY-MM-DD (a day in it; the first day for custom)",
    "range.until": "period=custom needs until=YYYY-MM-DD, the last day, not before date",
    "range.order": "from must be before to",
    "range.order_long": "from must be before to, and the range at most about ten years",
    "range.channels": "unknown channel(s) of this site: {channels}",
    # old Flukso/mySmartGrid loggers (loggers.py)
    "logger.device_id": "device id {id} is not 32 hex digits (a UUID with or without dashes)",
    "logger.sensor_id": "sensor id {id} is not 32 hex digits (a UUID with or without dashes)",
    "logger.channel": "channel {channel}: {reason}",
    "logger.sensors": "a logger has 1 to {n} sensors",
    "logger.same_id": "each sensor needs an id of its own",
    "logger.device_taken": "device {id} is registered to another site",
    "logger.sensor_taken": "sensor {id} is registered to another site",
}

# pydantic's error types the pages' forms can meet (FastAPI 422), with the limits they name
VALIDATION: dict[str, str] = {
    "missing": "Field required",
    "greater_than": "Input should be greater than {gt}",
    "greater_than_equal": "Input should be greater than or equal to {ge}",
    "less_than": "Input should be less than {lt}",
    "less_than_equal": "Input should be less than or equal to {le}",
    "string_too_short": "String should have at least {min_length} characters",
    "string_too_long": "String should have at most {max_length} characters",
    "string_pattern_mismatch": "String should match pattern '{pattern}'",
    "float_parsing": "Input should be a valid number, unable to parse string as a number",
    "float_type": "Input should be a valid number",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "finite_number": "Input should be a finite number",
    "literal_error": "Input should be {expected}",
    "json_invalid": "JSON decode error",
    "string_type": "Input should be a valid string",
    "bool_parsing": "Input should be a valid boolean, unable to interpret input",
}

VAR = re.compile(r"\{(\w+)\}")


def variables(template: str) -> list[str]:
    """The ``{names}`` a message has."""
    return VAR.findall(template)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for code, template in MESSAGES.items():
        parts, last = [], 0
        for m in VAR.finditer(template):
            parts += [re.escape(template[last : m.start()]), f"(?P<{m.group(1)}>.+?)"]
            last = m.end()
        parts.append(re.escape(template[last:]))
        out.append((code, re.compile("".join(parts), re.S)))
    return out


def identify(detail: str) -> tuple[str, dict[str, str]] | None:
    """The code and variable parts of a message, or None for one that is not listed."""
    for code, pattern in _patterns():
        m = pattern.fullmatch(detail)
        if m:
            return code, m.groupdict()
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    found = identify(exc.detail) if isinstance(exc.detail, str) else None
    if found is None:
        return await http_exception_handler(request, exc)
    body: dict[str, Any] = {"detail": exc.detail, "code": found[0], "vars": found[1]}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def install(app: FastAPI) -> None:
    """Error answers of listed messages carry their code (the default handler for the rest)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)


__all__ = ["MESSAGES", "VALIDATION", "identify", "install", "variables"]
