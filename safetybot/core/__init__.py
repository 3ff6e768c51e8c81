"""The conversation core: no messenger, no database, no clock; only events and replies."""
