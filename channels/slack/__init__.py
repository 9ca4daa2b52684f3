"""Slack: threads and DMs through slack-bolt, Socket Mode or HTTP events, native streaming."""

from channels.slack.channel import SlackChannel

__all__ = ["SlackChannel"]
