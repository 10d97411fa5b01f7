"""One exception type for everything a user can fix.

The CLI turns an `EverymaskError` into one line on stderr and exit code 2; any other exception
is a bug and is reported as such (exit code 1).
"""


class EverymaskError(Exception):
    """Bad input, bad flags or a refused resume: the message says what is wrong and what to do."""
