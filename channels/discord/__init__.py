"""The Discord channel (discord.py): DMs, @mentions with a thread per conversation, streamed edits."""

import warnings

with warnings.catch_warnings():
    # discord.py imports the stdlib ``audioop`` for voice, which Python 3.11 deprecates (PEP 594)
    # and 3.13 removes; we use no voice. Imported here, first, so no module of ours warns.
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from channels.discord.channel import DiscordChannel

__all__ = ["DiscordChannel"]
