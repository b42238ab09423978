"""Configuration: one pydantic-settings object for the whole application."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
