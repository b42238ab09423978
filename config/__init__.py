"""Configuration: one pydantic-settings object for the whole application."""

from config.settings import Settings, default, get_settings

__all__ = ["Settings", "default", "get_settings"]
