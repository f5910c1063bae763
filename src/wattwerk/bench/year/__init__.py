"""The parts of ``wattwerk bench control``: the year's data and setup (``world``), an independent
meter and limit check (``meter``), the strategies (``laws``) and the EMHASS runner (``emhass``)."""
