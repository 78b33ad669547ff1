"""Settings, validated at start (env ``QUANTDESK_*``, ``.env``, TOML)."""

from quantdesk.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
