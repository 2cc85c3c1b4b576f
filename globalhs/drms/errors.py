"""The one exception of the record store."""

from __future__ import annotations

__all__ = ["DrmsError"]


class DrmsError(Exception):
    """Bad series definition, record-set query, keyword, segment or file; the message names what
    was wrong and what was expected. Nothing stored has been changed when it is raised."""
