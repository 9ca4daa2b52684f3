"""Access policy: the decision table, the override layers, admins, and the config it reads."""

from __future__ import annotations

from typing import Any

import pytest

from bot.access import AccessRules, Verdict, evaluate
from channels.base import Author, InboundMessage, SessionKey
from config import AccessSettings, ConfigError
from config.settings import parse_settings


def message(
    *,
    direct: bool = True,
    mentioned: bool = True,
    user: str = "u1",
    platform: str = "telegram",
    scope: str = "W1",
    chat: str = "C1",
) -> InboundMessage:
    return InboundMessage(
        key=SessionKey(platform, scope, chat),
        message_id="1",
        author=Author(user, f"name of {user}"),
        text="hi",
        received_ns=0,
        is_direct=direct,
        mentioned=mentioned,
    )


DM_CASES: list[tuple[dict[str, Any], str, bool, bool | None, Verdict]] = [
    # (access, user, admin, approved, verdict)
    ({"dm": "open"}, "u1", False, None, Verdict.PASS),
    ({"dm": "allowlist", "allow_users": ["u1"]}, "u1", False, None, Verdict.PASS),
    ({"dm": "allowlist", "allow_users": ["u1"]}, "u2", False, None, Verdict.ASK),
    ({"dm": "allowlist", "allow_users": ["u1"]}, "u2", False, False, Verdict.DENY_USER),
    ({"dm": "allowlist"}, "u2", False, True, Verdict.PASS),  # paired earlier, then tightened
    ({"dm": "allowlist"}, "u2", True, None, Verdict.PASS),  # admins always pass
    ({"dm": "pairing"}, "u2", False, None, Verdict.ASK),
    ({"dm": "pairing"}, "u2", False, False, Verdict.PAIR),
    ({"dm": "pairing"}, "u2", False, True, Verdict.PASS),
    ({"dm": "pairing", "allow_users": ["u2"]}, "u2", False, None, Verdict.PASS),  # pre-approved
    (
        {"dm": "pairing", "group": "off"},
        "u2",
        True,
        None,
        Verdict.PASS,
    ),  # group policy: groups only
]


@pytest.mark.parametrize(("access", "user", "admin", "approved", "verdict"), DM_CASES)
def test_direct_messages(
    access: dict[str, Any], user: str, admin: bool, approved: bool | None, verdict: Verdict
) -> None:
    settings = AccessSettings.model_validate(access)
    assert evaluate(settings, message(user=user), admin=admin, approved=approved) is verdict


GROUP_CASES: list[tuple[dict[str, Any], dict[str, Any], bool, bool | None, Verdict]] = [
    # (access, message options, admin, approved, verdict)
    ({"group": "mention"}, {"mentioned": True}, False, None, Verdict.PASS),
    ({"group": "mention"}, {"mentioned": False}, False, None, Verdict.IGNORE),
    ({"group": "mention"}, {"mentioned": False}, True, None, Verdict.IGNORE),
    ({"group": "open"}, {"mentioned": False}, False, None, Verdict.PASS),
    ({"group": "off"}, {"mentioned": True}, True, None, Verdict.IGNORE),
    ({"allow_workspaces": ["W1"]}, {}, False, None, Verdict.PASS),
    ({"allow_workspaces": ["W2"]}, {}, False, None, Verdict.DENY_WORKSPACE),
    ({"allow_workspaces": ["W2"]}, {}, True, None, Verdict.DENY_WORKSPACE),  # where, not who
    ({"allow_workspaces": ["W2"]}, {"mentioned": False}, False, None, Verdict.IGNORE),  # silent
    ({"allow_chats": ["C1"]}, {}, False, None, Verdict.PASS),
    ({"allow_chats": ["C2"]}, {}, False, None, Verdict.DENY_CHAT),
    ({"allow_users": ["u1"]}, {"user": "u1"}, False, None, Verdict.PASS),
    ({"allow_users": ["u1"]}, {"user": "u2"}, False, None, Verdict.ASK),
    ({"allow_users": ["u1"]}, {"user": "u2"}, False, False, Verdict.DENY_USER),
    ({"allow_users": ["u1"]}, {"user": "u2"}, False, True, Verdict.PASS),
    ({"allow_users": ["u1"]}, {"user": "u2"}, True, None, Verdict.PASS),
    ({"dm": "allowlist"}, {"user": "u2"}, False, None, Verdict.PASS),  # dm policy: DMs only
]


@pytest.mark.parametrize(("access", "options", "admin", "approved", "verdict"), GROUP_CASES)
def test_group_messages(
    access: dict[str, Any],
    options: dict[str, Any],
    admin: bool,
    approved: bool | None,
    verdict: Verdict,
) -> None:
    settings = AccessSettings.model_validate(access)
    got = evaluate(settings, message(direct=False, **options), admin=admin, approved=approved)
    assert got is verdict


def rules(data: dict[str, Any]) -> AccessRules:
    return AccessRules(parse_settings(data))


def test_fresh_config_pairs_dms_and_gates_groups_by_mention() -> None:
    access = rules({"channels": {"telegram": {"token": "t"}}}).for_key(
        SessionKey("telegram", "b", "1")
    )
    assert access is not None
    assert (access.dm, access.group) == ("pairing", "mention")


def test_layers_override_key_by_key_from_top_level_to_chat() -> None:
    resolved = rules(
        {
            "access": {"dm": "open", "admins": ["discord:42"], "allow_users": ["a"]},
            "channels": {
                "discord": {
                    "token": "t",
                    "access": {
                        "group": "open",
                        "workspaces": {"G1": {"group": "off", "allow_users": ["b"]}},
                        "chats": {"C9": {"group": "mention", "admins": ["discord:7"]}},
                    },
                },
                "telegram": {"token": "t"},
            },
        }
    )
    channel = resolved.for_key(SessionKey("discord", "G2", "C1"))
    guild = resolved.for_key(SessionKey("discord", "G1", "C1"))
    chat = resolved.for_key(SessionKey("discord", "G1", "C9"))
    other = resolved.for_key(SessionKey("telegram", "b", "C9"))
    assert channel is not None and guild is not None and chat is not None and other is not None
    # The channel keeps the top-level keys it does not set.
    assert (channel.dm, channel.group, channel.allow_users) == ("open", "open", ["a"])
    assert (guild.group, guild.allow_users, guild.admins) == ("off", ["b"], ["discord:42"])
    assert (chat.group, chat.allow_users, chat.admins) == ("mention", ["b"], ["discord:7"])
    # Overrides of one channel never leak into another.
    assert (other.group, other.allow_users) == ("mention", ["a"])


def test_admins_are_platform_qualified_and_the_console_is_the_operator() -> None:
    resolved = rules(
        {"access": {"admins": ["telegram:42"]}, "channels": {"telegram": {"token": "t"}}}
    )
    assert resolved.is_admin(message(user="42", platform="telegram"))
    assert not resolved.is_admin(message(user="43", platform="telegram"))
    assert resolved.for_key(SessionKey("console", "local", "alice")) is None
    assert not resolved.policed("console") and resolved.policed("telegram")
    assert resolved.is_admin(message(user="alice", platform="console"))


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"access": {"admins": ["42"]}}, 'access.admins[0]: must be "platform:user_id"'),
        (
            {"access": {"chats": {"-100": {"admins": [":1"]}}}},
            'access.chats.-100.admins[0]: must be "platform:user_id"',
        ),
        (
            {"access": {"workspaces": {"T1": {"dm": "all"}}}},
            "access.workspaces.T1.dm: must be one of",
        ),
        (
            {"access": {"chats": {"C1": {"allow_chats": []}}}},
            "access.chats.C1.allow_chats: unknown key",
        ),
        ({"access": {"pairing": {"code_ttl": "0s"}}}, "access.pairing.code_ttl: must be longer"),
        (
            {"access": {"pairing": {"max_pending": 0}}},
            "access.pairing.max_pending: must be at least 1",
        ),
    ],
)
def test_invalid_access_config_names_the_key(data: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    assert str(caught.value).startswith(error), str(caught.value)


def test_chat_ids_from_yaml_integers_become_strings() -> None:
    settings = parse_settings({"access": {"chats": {-1001: {"group": "open"}}}})
    assert list(settings.access.chats) == ["-1001"]
