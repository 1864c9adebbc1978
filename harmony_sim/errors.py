"""The one exception type for bad user input: the CLI prints it as one line and exits 2."""


class UserInputError(Exception):
    """Bad scenario, profile, name or override; the message names the field and the fix."""

    exit_code = 2
