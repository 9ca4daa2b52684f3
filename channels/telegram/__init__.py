"""Telegram: DMs, groups and forum topics through python-telegram-bot, with draft streaming."""

from channels.telegram.channel import TelegramChannel

__all__ = ["TelegramChannel"]
