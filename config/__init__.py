"""Configuration: one pydantic-settings object for the whole application."""

from config.settings import Settings, default, describe_error, get_settings
from config.version import paperbot_version

__all__ = ["Settings", "default", "describe_error", "get_settings", "paperbot_version"]
