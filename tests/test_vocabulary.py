"""One device vocabulary: the enums keep the wire values the site file, the catalogue, channels and
MQTT already use, the per-kind table covers every controllable role, and the limiter's per-kind
rules send a kind only the commands its row names."""

from __future__ import annotations

import json
import math
import typing

import pytest

from wattwerk.config.devices import ROLES, EvLimits
from wattwerk.config.limits import ControlLimits
from wattwerk.config.schema import Strategy
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.kinds import RULES, FailSafe
from wattwerk.devices.profile import CAPABILITIES
from wattwerk.devices.profile import Command as CatalogueCommand
from wattwerk.vocabulary import (
    CAPABILITY_COMMAND,
    EV_DEFAULTS,
    KINDS,
    OWNER_EV_MODES,
    ROLE_KIND,
    Command,
    Kind,
    Role,
    kind_of,
)


def test_enums_are_their_wire_values() -> None:
    assert f"ev1.{Command.CURRENT_LIMIT}" == "ev1.current_limit"
    assert json.dumps({"mode": OWNER_EV_MODES[-1], "cmd": Command.RELAY}) == '{"mode": "pv", "cmd": "relay"}'
    assert {Command.ENABLE: 1.0}["enable"] == 1.0  # a plain string finds an enum key and back
    assert set(Role) == set(ROLES)  # the site file's roles, no more, no fewer
    assert set(OWNER_EV_MODES) == set(typing.get_args(Strategy.model_fields["ev_default_mode"].annotation))
    catalogue = set(typing.get_args(CatalogueCommand))
    assert set(CAPABILITY_COMMAND.values()) == catalogue
    assert {c: w for c, w in CAPABILITIES.items() if w is not None} == dict(CAPABILITY_COMMAND)


def test_every_controllable_role_has_one_kind() -> None:
    assert {r for r in Role if kind_of(r) is None} == {Role.GRID_METER, Role.SUBMETER}
    assert all(KINDS[kind_of(r)] is KINDS[ROLE_KIND[r]] for r in ROLE_KIND)  # type: ignore[index]
    assert kind_of("toaster") is None
    assert set(KINDS) == set(Kind) == set(RULES)


def test_ev_defaults_are_the_site_files() -> None:
    lim = EvLimits()
    assert (lim.min_current_a, lim.max_current_a, lim.phases) == (6.0, 16.0, 3)
    assert (EV_DEFAULTS.min_a, EV_DEFAULTS.max_a, EV_DEFAULTS.phases) == (6.0, 16.0, 3)
    assert KINDS[Kind.EV].defaults is EV_DEFAULTS
    assert KINDS[Kind.EV].capabilities == {"charge_current", "enable", "phases"}


SPECS = {
    Kind.EV: DeviceSpec("d", Kind.EV, phase_switching=True),
    Kind.BATTERY: DeviceSpec("d", Kind.BATTERY, max_charge_w=5000.0, max_discharge_w=5000.0),
    Kind.PV: DeviceSpec("d", Kind.PV, rated_w=8000.0),
    Kind.HEAT_PUMP: DeviceSpec("d", Kind.HEAT_PUMP, max_w=3000.0),
    Kind.ROD: DeviceSpec("d", Kind.ROD, max_w=3000.0),
    Kind.LOAD: DeviceSpec("d", Kind.LOAD, max_w=1000.0),
    Kind.GENERATOR: DeviceSpec("d", Kind.GENERATOR, max_w=5000.0),
}


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("fallback", ["min", "off"])
def test_the_limiters_rules_send_only_the_commands_of_the_kinds_row(kind: Kind, fallback: str) -> None:
    spec, rules, allowed = SPECS[kind], RULES[kind], set(KINDS[kind].commands)
    for battery in ("idle", "internal"):
        limits = ControlLimits(ev_fallback=fallback, battery_fallback=battery)  # type: ignore[arg-type]
        cmds: dict[str, float] = {}
        if rules.fail_safe(spec, cmds, FailSafe(limits, (3000.0,), 8000.0)):
            assert set(cmds) <= allowed, cmds
    for cmd in allowed - {Command.MODE}:  # mode: only the limiter's own fail-safe sends it
        cmds = {cmd: math.inf}
        rules.envelope(spec, cmds, 1000.0)
        assert set(cmds) <= allowed and all(math.isfinite(v) for v in cmds.values()), cmds
