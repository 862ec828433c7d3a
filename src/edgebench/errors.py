"""Errors a user can fix. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input (a file, a value, a folder), stated so it can be fixed."""

    exit_code = 2


class DataError(UserError):
    """A dataset file is missing, truncated, corrupt or inconsistent."""


class ConfigError(UserError):
    """A setting is out of range or unknown."""


class MachineBusy(UserError):
    """--require-quiet: other processes kept the machine busy past the time limit."""

    exit_code = 3
