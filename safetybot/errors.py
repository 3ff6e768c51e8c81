"""The exception tree, translated at each boundary into a calm, localized message.

    SafetybotError
     ├── ConfigError      a setting is missing or malformed; the message names the setting
     ├── CryptoError      anything failed to open, unwrap or verify (one type, no detail)
     ├── StoreError       the database is unusable (wrong schema, newer version)
     ├── LocaleError      a catalog, guide or resource file is missing or malformed
     └── FrontEndError    a messenger refused an action in a way the caller must handle

Nothing here carries message text, names or raw user ids: messages name settings, files and
entries only, so an exception can always be logged.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CryptoError",
    "FrontEndError",
    "LocaleError",
    "SafetybotError",
    "StoreError",
]


class SafetybotError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SafetybotError):
    """Settings are missing or malformed; `problems` has one line for each, naming it."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


class CryptoError(SafetybotError):
    """Decryption, unwrapping or verification failed."""


class StoreError(SafetybotError):
    """The database cannot be used."""


class LocaleError(SafetybotError):
    """A text catalog, guide or resource file is missing or malformed."""


class FrontEndError(SafetybotError):
    """A messenger refused an action; `sent` holds ids of messages that did go out first."""

    def __init__(self, message: str, sent: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.sent = sent
