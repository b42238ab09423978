"""The one exception the CLI turns into a single stderr line and exit code 2."""


class UserError(Exception):
    """Something the user can fix (a bad path, an empty question); no traceback is shown."""
