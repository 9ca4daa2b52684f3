"""Which agent profile answers a conversation: `Settings.profile_for`."""

from __future__ import annotations

import pytest

from config import Settings, load_settings
from tests.unit.config.conftest import WriteConfig

_ROUTES = """\
agent:
  profiles:
    default: {}
    support: {instructions: "Help with the product."}
    ops: {tools: []}
  routes:
    - {match: {platform: slack, workspace: T1, chat: C9}, profile: ops}
    - {match: {platform: slack, workspace: T1}, profile: support}
    - {match: {user: "42"}, profile: ops}
    - {match: {platform: telegram, chat: -100123}, profile: support}
"""


_Conversation = tuple[str | None, str | None, str | None, str | None]


@pytest.mark.parametrize(
    ("conversation", "expected"),
    [
        (("slack", "T1", "C9", "U1"), "ops"),
        (("slack", "T1", "C2", "U1"), "support"),
        (("slack", "T1", "C2", "42"), "support"),
        (("slack", "T2", "C9", "42"), "ops"),
        (("discord", "G1", "C1", "42"), "ops"),
        (("telegram", None, "-100123", "7"), "support"),
        (("telegram", None, "555", "7"), "default"),
        (("slack", None, "C9", "U1"), "default"),
        ((None, None, None, None), "default"),
    ],
)
def test_first_matching_route_wins(
    write_config: WriteConfig, conversation: _Conversation, expected: str
) -> None:
    """A conversation is (platform, workspace, chat, user)."""
    settings = load_settings(write_config(_ROUTES), {})
    name, profile = settings.profile_for(*conversation)
    assert name == expected
    assert profile == settings.agent.profiles[expected]


def test_default_settings_route_to_the_default_profile() -> None:
    name, profile = Settings().profile_for("slack", "T1", "C1", "U1")
    assert name == "default"
    assert (profile.instructions, profile.tier, profile.tools) == (
        "You are Hearth, a helpful assistant.",
        "default",
        ["time", "memory", "reminders", "web"],
    )
