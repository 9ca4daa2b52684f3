"""The terminal channel behind ``hearth chat``."""

from channels.console.channel import ConsoleChannel, stdin_lines

__all__ = ["ConsoleChannel", "stdin_lines"]
