"""The one exception a user should ever see: a clear, one-line message and a non-zero exit.

Library code raises UserError for anything caused by the input (a missing file, a film with no video
stream, a checkpoint of another preset...). cli.py turns it into `error: <message>` and exit code 1.
"""


class UserError(Exception):
    """A problem with what the user gave us, told in one line."""
