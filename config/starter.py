"""The commented starter config that ``hearth init`` writes."""

from __future__ import annotations

_STARTER = """\
# Hearth configuration. `hearth check` validates this file and prints the effective settings
# (secrets masked). Values may reference the environment as ${VAR} or ${VAR:-default}; secrets
# may also be read from a file as "file:/run/secrets/name". Durations: 250ms, 30s, 5m, 1h, 90d.

data_dir: ./data                      # SQLite database and other state

models:
  providers:                          # named provider instances, referenced by the tiers below
    anthropic: {kind: anthropic, api_key: "${ANTHROPIC_API_KEY}"}   # base_url: optional
    # openai:  {kind: openai, api_key: "${OPENAI_API_KEY}"}
    # A local OpenAI-compatible server (Ollama, vLLM):
    # local:   {kind: openai, base_url: "http://localhost:11434/v1", api_key: ollama}
  tiers:                              # ordered fallback chains of provider:model
    fast: ["anthropic:claude-haiku-4-5"]            # add "openai:gpt-5-mini" to fall back to OpenAI
    default: ["anthropic:claude-sonnet-4-5"]        # add "openai:gpt-5", or use "local:llama3.2"
  cache_ttl: 5m                       # 5m | 1h (Anthropic prompt cache)

agent:
  profiles:
    default:
      instructions: "You are Hearth, a helpful assistant."
      tier: default
      tools: [time]
  routes: []                          # first match wins; no match -> profile "default"
  #  - {match: {platform: slack, workspace: T0123}, profile: default}

sessions:
  idle_ttl: 1h                        # an idle session leaves memory (it stays in the database)
  max_warm: 10000                     # sessions kept in memory at most
  retention: 90d                      # history older than this is deleted
  lane_mode: collect                  # message during a reply: queue | collect | interrupt

reply: {footer: ttft}                 # off | ttft | full

channels: {}                          # a channel is enabled when its section is present
#  telegram: {token: "${TELEGRAM_BOT_TOKEN}", mode: polling}
#  slack:    {bot_token: "${SLACK_BOT_TOKEN}", app_token: "${SLACK_APP_TOKEN}", mode: socket}
#  discord:  {token: "${DISCORD_BOT_TOKEN}",
#             message_content: true}  # privileged intent: follow-ups in a thread without a mention
# Every base URL can be changed, e.g. telegram api_base_url / file_base_url, slack api_base_url,
# discord api_base_url / gateway_url (self-hosted servers, proxies).

server: {host: 127.0.0.1, port: 8780}  # /healthz /readyz /metrics, Slack events, Telegram webhook

access:                               # defaults; a channel may override under channels.<p>.access
  dm: pairing                         # open | allowlist | pairing
  group: mention                      # mention | open | off
  allow_users: []                     # platform user ids, e.g. "123456" (Telegram), "U0123" (Slack)
  allow_chats: []                     # chat / channel ids
  allow_workspaces: []                # Slack team ids, Discord guild ids
  admins: []                          # "telegram:123456", "slack:U0123", "discord:42"

limits: {user_messages_per_minute: 20, user_daily_tokens: 200000, workspace_daily_tokens: 2000000}
"""


def starter_config() -> str:
    """A commented starter ``hearth.yaml``: Anthropic via ``${ANTHROPIC_API_KEY}``, with
    commented-out examples for OpenAI, a local Ollama server, routes and channels."""
    return _STARTER
