"""The app manifest in the README stays ready to paste: valid YAML with what Hearth needs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml

README = Path(__file__).parents[4] / "README.md"


def test_the_readme_manifest_asks_for_the_scopes_and_events_hearth_uses() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Connect Slack") : text.index("## Connect Discord")]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block is not None

    manifest = yaml.safe_load(textwrap.dedent(block.group(1)))

    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "channels:history", "groups:history",
            "im:history", "mpim:history", "assistant:write"} <= scopes  # fmt: skip
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_mention", "message.channels", "message.groups", "message.im",
                      "message.mpim"}  # fmt: skip
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "agent_view" in manifest["features"]  # assistant:write needs an agent feature
