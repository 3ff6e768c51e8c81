"""Load, erase, core and memory benchmarks for safetybot; run with `python -m benchmarks`.

The bot under test runs in its own process (`benchmarks.botproc`), so its peak memory is its
own and it has a core to itself; this process runs the fake Bot API (tests/fakebotapi.py) and
the simulated people, and measures each update from the moment it enters the fake's queue to
the bot's first answer call (sendMessage, editMessageText or sendDocument) for that chat.
"""
