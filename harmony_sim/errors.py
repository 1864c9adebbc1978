"""The one exception type for bad user input: the CLI prints it as one line and exits 2."""


class UserInputError(Exception):
    """Bad scenario, profile, name or override; the message names the field and the fix."""

    exit_code = 2


class RunFailure(Exception):
    """The run cannot go on (e.g. a Ray actor died beyond its restarts); printed as one line,
    exit 1. The last checkpoint stays, so `--resume DIR` continues from it."""

    exit_code = 1
