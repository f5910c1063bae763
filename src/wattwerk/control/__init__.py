"""Control: the laws that decide setpoints, the one limiter after them, and the planner.

* Laws (pure: snapshot, own state, surplus, signals -> setpoints, new state): ``ev.EvCharging``,
  ``battery.BatteryControl``, ``sgready.SgReadyControl``, ``heating_rod.HeatingRodControl``,
  ``switch.SwitchControl`` (relays, CHP, fuel cell, electrolyser).
* ``limiter.Limiter``: every limit in one place (grid, fuse, circuits, ripple control, §14a,
  feed-in limit, peak shaving, direct marketer, device envelopes and timing, fail-safe).
* ``cycle.ControlCycle`` runs them in priority order; ``site.build_cycle`` builds it from a site
  file; ``resend.Resender`` re-sends setpoints; ``checker.LimitChecker`` judges limits independently.
* ``planner``: optimisation over prices and forecasts (HiGHS).
"""
