"""safetybot: a private messaging bot for people facing sextortion or NCII."""

# The one place the version is written: pyproject.toml reads it (setuptools' dynamic version),
# `safetybot --version` shows it, and CHANGELOG.md names each release by it.
__version__ = "0.1.0"
