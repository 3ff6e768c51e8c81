"""safetybot: a private messaging bot for people facing sextortion or NCII."""

__version__ = "0.1.0"
