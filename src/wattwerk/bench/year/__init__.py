"""The parts of ``wattwerk bench control``: the year's data and setup (``world``), an independent
meter and limit check (``meter``), the strategies (``laws``) and the EMHASS runner
(``emhass_runner``; a module named ``emhass`` here would shadow the library for the driver script,
which runs with this folder on its path)."""
