"""Versioned schema migrations, applied in order and recorded in ``PRAGMA user_version``."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: sessions, messages, turns
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        closed_at TEXT,
        model_override TEXT,
        summary TEXT NOT NULL DEFAULT ''
    ) STRICT;
    CREATE UNIQUE INDEX sessions_open_key ON sessions(key) WHERE closed_at IS NULL;

    CREATE TABLE messages (
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        turn_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) STRICT;

    CREATE TABLE turns (
        id TEXT PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        platform TEXT NOT NULL,
        profile TEXT NOT NULL,
        model TEXT NOT NULL,
        warm INTEGER NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        created_at TEXT NOT NULL,
        queue_ns INTEGER,
        session_ns INTEGER,
        prepare_ns INTEGER,
        model_ns INTEGER,
        deliver_ns INTEGER,
        ttft_ns INTEGER,
        total_ns INTEGER NOT NULL,
        ingress_lag_ms REAL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        cache_read_tokens INTEGER NOT NULL,
        cache_write_tokens INTEGER NOT NULL,
        tools TEXT NOT NULL DEFAULT '[]'
    ) STRICT;
    CREATE INDEX turns_created ON turns(created_at);
    CREATE INDEX turns_session ON turns(session_id, ordinal);
    """,
    # 2: inbound dedupe, so a replayed or re-delivered platform event never gets a second reply
    """
    CREATE TABLE inbound (
        platform TEXT NOT NULL,
        chat TEXT NOT NULL,
        message_id TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (platform, chat, message_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX inbound_received ON inbound(received_at);
    """,
    # 3: cost per turn; compaction point per session
    """
    ALTER TABLE turns ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE turns ADD COLUMN cache_savings_usd REAL NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN compacted_seq INTEGER NOT NULL DEFAULT 0;
    """,
)
