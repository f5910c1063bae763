"""Shelly meters and plugs over their local HTTP API, Gen1 (``/status``) and Gen2+ (RPC).

Profiles are data: which paths to poll and where each value sits in the answers. Units as
the devices send them, with these quirks (see docs/meters.md):

* Gen1 ``emeters[].total``/``total_returned`` are Wh, but plug/relay ``meters[].total`` is
  in watt-minutes (``scale`` 1/60).
* Gen1 ``emeters[].is_valid`` false means the channel's numbers are not to be trusted: dropped.
* The 3EM counts energy per phase without netting the phases; its totals here are the
  sums of the phase counters, as Shelly's own app shows them.
* Power is signed the way we need it: negative when feeding in (EM, 3EM) or returning
  (plugs behind micro inverters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from wattwerk.protocols.base import Value
from wattwerk.protocols.http import HttpPoller
from wattwerk.protocols.jsonmap import FieldMap, JsonDecoder, resolve


@dataclass(frozen=True)
class ShellyProfile:
    name: str
    generation: int
    paths: dict[str, str]
    fields: tuple[FieldMap, ...]
    models: str
    phase_totals: bool = False  # energy totals are the sums of per-phase counters


def _opt(path: str, quantity: str, scale: float = 1.0) -> FieldMap:
    return FieldMap(path, quantity, scale, optional=True)


def _gen1_em(ch: int) -> ShellyProfile:
    e = f"status.emeters[{ch}]"
    return ShellyProfile(
        "gen1_em",
        1,
        {"status": "/status"},
        (
            FieldMap(f"{e}.power", "power"),
            FieldMap(f"{e}.total", "energy_import"),
            FieldMap(f"{e}.total_returned", "energy_export"),
            FieldMap(f"{e}.voltage", "voltage"),
            _opt(f"{e}.reactive", "reactive_power"),
            _opt(f"{e}.pf", "power_factor"),
        ),
        "Shelly EM (Gen1), one of its two CT channels",
    )


def _gen1_3em(_: int) -> ShellyProfile:
    fields = [FieldMap("status.total_power", "power")]
    for i in range(3):
        e, n = f"status.emeters[{i}]", i + 1
        fields += [
            FieldMap(f"{e}.power", f"power_l{n}"),
            FieldMap(f"{e}.voltage", f"voltage_l{n}"),
            FieldMap(f"{e}.current", f"current_l{n}"),
            _opt(f"{e}.pf", f"power_factor_l{n}"),
            FieldMap(f"{e}.total", f"energy_import_l{n}"),
            FieldMap(f"{e}.total_returned", f"energy_export_l{n}"),
        ]
    return ShellyProfile(
        "gen1_3em", 1, {"status": "/status"}, tuple(fields), "Shelly 3EM (Gen1)", phase_totals=True
    )


def _gen1_plug(ch: int) -> ShellyProfile:
    m = f"status.meters[{ch}]"
    return ShellyProfile(
        "gen1_plug",
        1,
        {"status": "/status"},
        (FieldMap(f"{m}.power", "power"), FieldMap(f"{m}.total", "energy_import", 1 / 60)),
        "Shelly Plug, Plug S, 1PM, 2.5 (Gen1): relay meters in W and watt-minutes",
    )


def _gen2_em(ch: int) -> ShellyProfile:
    fields = [
        FieldMap("em.total_act_power", "power"),
        _opt("em.total_aprt_power", "apparent_power"),
        _opt("em.n_current", "current_n"),
        FieldMap("emdata.total_act", "energy_import"),
        FieldMap("emdata.total_act_ret", "energy_export"),
    ]
    for p, n in (("a", 1), ("b", 2), ("c", 3)):
        fields += [
            FieldMap(f"em.{p}_act_power", f"power_l{n}"),
            _opt(f"em.{p}_aprt_power", f"apparent_power_l{n}"),
            FieldMap(f"em.{p}_voltage", f"voltage_l{n}"),
            FieldMap(f"em.{p}_current", f"current_l{n}"),
            _opt(f"em.{p}_pf", f"power_factor_l{n}"),
            _opt(f"emdata.{p}_total_act_energy", f"energy_import_l{n}"),
            _opt(f"emdata.{p}_total_act_ret_energy", f"energy_export_l{n}"),
        ]
    fields.append(_opt("em.a_freq", "frequency"))
    return ShellyProfile(
        "gen2_em",
        2,
        {"em": f"/rpc/EM.GetStatus?id={ch}", "emdata": f"/rpc/EMData.GetStatus?id={ch}"},
        tuple(fields),
        "Shelly Pro 3EM, 3EM (Gen3), Plus/Pro 3EM-63: three phases",
    )


def _gen2_em1(ch: int) -> ShellyProfile:
    return ShellyProfile(
        "gen2_em1",
        2,
        {"em1": f"/rpc/EM1.GetStatus?id={ch}", "em1data": f"/rpc/EM1Data.GetStatus?id={ch}"},
        (
            FieldMap("em1.act_power", "power"),
            FieldMap("em1.voltage", "voltage"),
            FieldMap("em1.current", "current"),
            _opt("em1.pf", "power_factor"),
            _opt("em1.freq", "frequency"),
            FieldMap("em1data.total_act_energy", "energy_import"),
            FieldMap("em1data.total_act_ret_energy", "energy_export"),
        ),
        "Shelly Pro EM-50, EM (Gen3): one CT channel",
    )


def _gen2_switch(ch: int) -> ShellyProfile:
    return ShellyProfile(
        "gen2_switch",
        2,
        {"switch": f"/rpc/Switch.GetStatus?id={ch}"},
        (
            FieldMap("switch.apower", "power"),
            FieldMap("switch.aenergy.total", "energy_import"),
            _opt("switch.ret_aenergy.total", "energy_export"),
            _opt("switch.voltage", "voltage"),
            _opt("switch.current", "current"),
            _opt("switch.freq", "frequency"),
            _opt("switch.pf", "power_factor"),
        ),
        "Shelly Plus Plug S, Plus/Pro 1PM, 2PM, 4PM (Gen2+), one switch channel",
    )


def _gen2_pm1(ch: int) -> ShellyProfile:
    return ShellyProfile(
        "gen2_pm1",
        2,
        {"pm1": f"/rpc/PM1.GetStatus?id={ch}"},
        (
            FieldMap("pm1.apower", "power"),
            FieldMap("pm1.aenergy.total", "energy_import"),
            _opt("pm1.ret_aenergy.total", "energy_export"),
            _opt("pm1.voltage", "voltage"),
            _opt("pm1.current", "current"),
            _opt("pm1.freq", "frequency"),
            _opt("pm1.pf", "power_factor"),
        ),
        "Shelly Plus PM Mini, PM Mini Gen3: a meter without relay (PM1 component)",
    )


PROFILES = {
    "gen1_em": _gen1_em,
    "gen1_3em": _gen1_3em,
    "gen1_plug": _gen1_plug,
    "gen2_em": _gen2_em,
    "gen2_em1": _gen2_em1,
    "gen2_switch": _gen2_switch,
    "gen2_pm1": _gen2_pm1,
}


# The names a site file may use for a profile (``profile: pro3em``), besides the profiles' own.
ALIASES = {
    "em": "gen1_em",
    "3em": "gen1_3em",
    "pro3em": "gen2_em",
    "3em-63": "gen2_em",
    "pro_em": "gen2_em1",
    "plug": "gen1_plug",
    "plus_plug": "gen2_switch",
    "pm_mini": "gen2_pm1",
}


def profile(name: str, channel: int = 0) -> ShellyProfile:
    try:
        return PROFILES[ALIASES.get(name, name)](channel)
    except KeyError:
        have = ", ".join([*ALIASES, *PROFILES])
        raise ValueError(f"unknown Shelly profile {name!r}; have {have}") from None


def _check(prof: ShellyProfile) -> Any:
    """Post-processing: drop Gen1 channels marked invalid; sum phase counters into totals."""

    def post(doc: Any, values: list[Value]) -> tuple[list[Value], list[tuple[str, str]]]:
        notes: list[tuple[str, str]] = []
        if prof.generation == 1:
            emeters = resolve(doc, "status.emeters")
            if isinstance(emeters, list):
                bad = {i for i, e in enumerate(emeters) if isinstance(e, dict) and e.get("is_valid") is False}
                if bad:
                    notes.append(("invalid", f"emeters {sorted(bad)} report is_valid=false"))
                    paths = {f"status.emeters[{i}]." for i in bad}
                    keep = {f.quantity for f in prof.fields if not any(f.path.startswith(p) for p in paths)}
                    values = [v for v in values if v.quantity in keep]
                    if prof.phase_totals:  # the 3EM's total power includes the invalid phase
                        values = [v for v in values if v.quantity != "power"]
        if prof.phase_totals:
            have = {v.quantity: v.value for v in values}
            for direction in ("import", "export"):
                phases = [have.get(f"energy_{direction}_l{n}") for n in (1, 2, 3)]
                if all(p is not None for p in phases):
                    values.append(Value(None, f"energy_{direction}", float(sum(phases)), "Wh"))  # type: ignore[arg-type]
        return values, notes

    return post


def decoder_for(prof: ShellyProfile) -> JsonDecoder:
    """The decoder for the combined documents a ``poller_for`` yields."""
    return JsonDecoder(list(prof.fields), messages=True, post=_check(prof))


def poller_for(
    prof: ShellyProfile,
    base_url: str,
    *,
    interval: float = 2.0,
    timeout: float = 3.0,
    password: str | None = None,
    **kwargs: Any,
) -> HttpPoller:
    """The poller for a device; Gen2 with a password uses digest auth (user ``admin``), Gen1 basic."""
    auth: tuple[str, str] | httpx.Auth | None = None
    if password:
        auth = httpx.DigestAuth("admin", password) if prof.generation >= 2 else ("admin", password)
    return HttpPoller(base_url, prof.paths, interval=interval, timeout=timeout, auth=auth, **kwargs)


# Gen1 ``/shelly`` "type" and Gen2+ ``/shelly`` "app" -> profile
DEVICE_TYPES = {
    "SHEM": "gen1_em",
    "SHEM-3": "gen1_3em",
    "SHPLG-S": "gen1_plug",
    "SHPLG-1": "gen1_plug",
    "SHPLG2-1": "gen1_plug",
    "SHSW-PM": "gen1_plug",
    "SHSW-25": "gen1_plug",
    "Pro3EM": "gen2_em",
    "ProEM": "gen2_em1",
    "PlusPlugS": "gen2_switch",
    "PlugSG3": "gen2_switch",
    "Plus1PM": "gen2_switch",
    "Plus1PMMini": "gen2_switch",
    "Mini1PMG3": "gen2_switch",
    "Plus2PM": "gen2_switch",
    "Pro1PM": "gen2_switch",
    "Pro2PM": "gen2_switch",
    "Pro4PM": "gen2_switch",
    "PlusPMMini": "gen2_pm1",
    "MiniPMG3": "gen2_pm1",
}
# a Gen2+ device's "profile" changes its components: a Pro 3EM set to "monophase" has three
# EM1 channels instead of one three-phase EM; a 2PM set to "cover" has no Switch to read
PROFILE_CHANGES = {"monophase": {"gen2_em": "gen2_em1"}, "cover": {"gen2_switch": None}}


async def detect(base_url: str, timeout: float = 3.0) -> str | None:
    """The profile name for the device at ``base_url`` from its ``/shelly`` identity, or None."""
    async with httpx.AsyncClient(timeout=timeout) as client:
        response = await client.get(base_url.rstrip("/") + "/shelly")
        response.raise_for_status()
        info = response.json()
    if not isinstance(info, dict):
        return None
    name = DEVICE_TYPES.get(str(info.get("app") or info.get("type") or ""))
    changes = PROFILE_CHANGES.get(str(info.get("profile") or ""), {})
    return changes.get(name, name) if name is not None else None
