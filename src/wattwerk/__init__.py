"""wattwerk: open-source energy manager (edge) and metering portal."""

__version__ = "0.1.0"
