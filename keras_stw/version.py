"""The keras-stw version, which presets and exports record."""

__version__ = "0.1.0"
