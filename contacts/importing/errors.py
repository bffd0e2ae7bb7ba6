"""The one error a staff member sees when a whole file cannot be imported."""


class ImportFileError(Exception):
    """The file as a whole cannot be read; the message says why in the staff's words."""
