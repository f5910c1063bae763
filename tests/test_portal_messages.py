"""The portal's messages in the pages' languages (issue 14, polish): every server message the pages
can show has a code (portal/messages.py) and a string in de, en and fr; error answers carry the
code; the 422 answers keep pydantic's limits but never the submitted values; the catalogues have
every key the pages' scripts ask for and a label for every device role."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from ast_scan import parse
from wattwerk.portal import hardening, i18n, messages, pages
from wattwerk.vocabulary import Role

PORTAL = Path(messages.__file__).resolve().parent
SCRIPTS = Path(pages.STATIC) / "portal"
# name -> index of the message
RAISERS = {"HTTPException": 1, "AccountError": 0, "PairingRefused": 1, "LoggerError": 0}


def test_every_key_in_english_is_in_german_and_french_with_the_same_variables() -> None:
    en = i18n.catalog("en")
    for lang in ("de", "fr"):
        other = i18n.catalog(lang)
        assert sorted(set(en) - set(other)) == [], lang
        for key, text in en.items():
            assert sorted(messages.variables(other[key])) == sorted(messages.variables(text)), (lang, key)


def test_every_message_code_has_a_string_in_every_language() -> None:
    for lang in i18n.LANGS:
        cat = i18n.catalog(lang)
        for code, english in messages.MESSAGES.items():
            text = cat.get(f"err.{code}")
            assert text and text.strip(), (lang, code)
            assert sorted(messages.variables(text)) == sorted(messages.variables(english)), (lang, code)
        for kind, english in messages.VALIDATION.items():
            assert cat.get(f"err.v.{kind}"), (lang, kind)
            assert sorted(messages.variables(cat[f"err.v.{kind}"])) == sorted(messages.variables(english))
    en = i18n.catalog("en")
    assert {
        c: en[f"err.{c}"] for c in messages.MESSAGES
    } == messages.MESSAGES  # English as the server says it


def _message_nodes() -> list[tuple[str, ast.expr]]:
    """Every message the portal's code raises: HTTPException details, AccountError and
    PairingRefused texts (constants and f-strings)."""
    found = []
    for path in sorted(PORTAL.glob("*.py")):
        for node in ast.walk(parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in RAISERS:
                continue
            args = [*node.args, *(k.value for k in node.keywords if k.arg == "detail")]
            index = RAISERS[name] if len(node.args) > RAISERS[name] else -1
            if args and isinstance(args[index], ast.Constant | ast.JoinedStr):
                found.append((f"{path.name}:{node.lineno}", args[index]))
    return found


def test_every_message_the_portal_raises_has_a_code() -> None:
    nodes = _message_nodes()
    assert len(nodes) > 40  # the scan sees the portal's messages
    samples = [t.replace("{", "<").replace("}", ">") for t in messages.MESSAGES.values()]
    unknown = []
    for where, node in nodes:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and messages.identify(node.value) is None:
                unknown.append((where, node.value))
            continue
        # an f-string: its literal parts in order, anything between them (a variable part may be "")
        parts = [re.escape(v.value) if isinstance(v, ast.Constant) else ".*" for v in node.values]
        pattern = re.compile("".join(parts), re.S)
        if not any(pattern.fullmatch(s) for s in samples):
            unknown.append((where, ast.unparse(node)))
    assert unknown == [], "add these to portal/messages.py and the catalogues"


def test_identify_finds_the_code_and_the_variable_parts() -> None:
    assert messages.identify("no account 'anna'") == ("grant.no_account", {"alias": "'anna'"})
    assert messages.identify("no other account 'bob'") == ("maint.no_account", {"alias": "'bob'"})
    since = "the edge is offline (last contact 2026-12-06T10:00:00Z): nothing was sent; try again"
    code, found = messages.identify(since + " when it is back (it connects by itself)") or ("", {})
    assert (code, found) == ("owner.offline_since", {"since": "2026-12-06T10:00:00Z"})
    assert messages.identify("something nobody wrote") is None


class Body(BaseModel):
    price: float = Field(ge=0, le=100)
    secret: str = Field(min_length=10)


def _app() -> FastAPI:
    app = FastAPI()
    hardening.install(app)
    messages.install(app)

    @app.get("/known")
    async def known() -> None:
        raise HTTPException(400, "no account 'anna'")

    @app.get("/other")
    async def other() -> None:
        raise HTTPException(418, "a message nobody listed")

    @app.post("/body")
    async def body(b: Body) -> dict[str, float]:
        return {"price": b.price}

    return app


def test_error_answers_carry_the_code_and_422s_the_limits_without_the_values() -> None:
    with TestClient(_app()) as client:
        r = client.get("/known")
        assert r.status_code == 400
        assert r.json() == {
            "detail": "no account 'anna'",
            "code": "grant.no_account",
            "vars": {"alias": "'anna'"},
        }
        r = client.get("/other")
        assert (r.status_code, r.json()) == (418, {"detail": "a message nobody listed"})
        assert client.get("/nowhere").json() == {"detail": "Not Found"}  # FastAPI's own, unchanged
        r = client.post("/body", json={"price": -1, "secret": "hunter2"})
        assert r.status_code == 422
        errors = {e["loc"][-1]: e for e in r.json()["detail"]}
        assert errors["price"]["type"] == "greater_than_equal" and errors["price"]["ctx"] == {"ge": 0}
        assert errors["secret"]["ctx"] == {"min_length": 10}
        assert "hunter2" not in r.text and "input" not in errors["secret"]


def test_the_pages_scripts_ask_only_for_keys_the_catalogues_have() -> None:
    en = i18n.catalog("en")
    asked: set[str] = set()
    for path in [SCRIPTS / "portal.js", *sorted((SCRIPTS / "widgets").glob("*.js"))]:
        text = path.read_text(encoding="utf-8")
        asked |= set(re.findall(r"\bt\(\s*\"([a-z_]+\.[a-z0-9_.]*[a-z0-9_])\"\s*[,)]", text))
    assert len(asked) > 50
    assert sorted(asked - set(en)) == []
    for role in Role:  # every device role has its label ("Heat pump", never "hp")
        assert en.get(f"role.{role.value}"), role
