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
    # access control: who wrote each turn (budgets, /reset @user), pairing codes, approved users,
    # and the one-time notices that keep denied users from getting reply storms
    """
    ALTER TABLE turns ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE turns ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
    ALTER TABLE turns ADD COLUMN workspace TEXT NOT NULL DEFAULT '';
    -- covering the budget sums, so a budget check reads the index only
    CREATE INDEX turns_user_day ON turns(
        platform, user_id, created_at, input_tokens, cache_read_tokens, output_tokens);
    CREATE INDEX turns_workspace_day ON turns(
        platform, workspace, created_at, input_tokens, cache_read_tokens, output_tokens);

    CREATE TABLE pairing_codes (
        code TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        chat_key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    ) STRICT;
    CREATE INDEX pairing_codes_user ON pairing_codes(platform, user_id);

    CREATE TABLE approved_users (
        platform TEXT NOT NULL,
        user_id TEXT NOT NULL,
        user_name TEXT NOT NULL,
        approved_at TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        PRIMARY KEY (platform, user_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE access_notices (
        subject TEXT NOT NULL,
        reason TEXT NOT NULL,
        noticed_at TEXT NOT NULL,
        PRIMARY KEY (subject, reason)
    ) STRICT, WITHOUT ROWID;
    """,
    # operations: the heartbeat's proof that the store takes writes; retention finds old messages
    """
    CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        beat_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_created ON messages(created_at);
    """,
    # tools: long-term memories with a keyword index (FTS5, BM25), and reminders
    """
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL CHECK (scope IN ('user', 'chat', 'workspace', 'global')),
        owner TEXT NOT NULL,
        content TEXT NOT NULL,
        source_session TEXT NOT NULL DEFAULT '',
        source_turn TEXT,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        importance REAL NOT NULL DEFAULT 0.5
    ) STRICT;
    CREATE UNIQUE INDEX memories_owner_content ON memories(scope, owner, content);
    CREATE VIRTUAL TABLE memories_fts USING fts5(
        content, content='memories', content_rowid='id', tokenize='porter unicode61'
    );
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO memories_fts(rowid, content) VALUES (new.id, new.content);
    END;

    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        session_key TEXT NOT NULL,
        user_id TEXT NOT NULL,
        text TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'fired', 'cancelled', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        fired_at TEXT,
        error TEXT
    ) STRICT;
    CREATE INDEX reminders_pending ON reminders(state, due_at);
    CREATE INDEX reminders_session ON reminders(session_key, state);
    """,
    # inbox and delivery ledger (exactly one reply): an accepted message keeps its payload until
    # its turn is stored; each turn's reply records the platform messages it created
    """
    ALTER TABLE inbound ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
    ALTER TABLE inbound ADD COLUMN session_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE inbound ADD COLUMN payload TEXT NOT NULL DEFAULT '';
    ALTER TABLE inbound ADD COLUMN accepted_ns INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE inbound ADD COLUMN turn_id TEXT;
    CREATE INDEX inbound_pending ON inbound(accepted_ns) WHERE state = 'pending';

    CREATE TABLE deliveries (
        turn_id TEXT PRIMARY KEY,
        session_key TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('streaming', 'finishing', 'final', 'failed')),
        message_ids TEXT NOT NULL DEFAULT '[]',
        text TEXT NOT NULL DEFAULT '',
        tail TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX deliveries_updated ON deliveries(updated_at);
    """,
    # long-term memory: each memory's content hash (the embedding cache key) and the person whose
    # conversation produced it; the embedding cache; how far extraction has read each session
    """
    ALTER TABLE memories ADD COLUMN content_hash TEXT;
    ALTER TABLE memories ADD COLUMN author TEXT NOT NULL DEFAULT '';
    CREATE INDEX memories_content_hash ON memories(content_hash);
    CREATE INDEX memories_author ON memories(author) WHERE author != '';

    CREATE TABLE embeddings (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        dims INTEGER NOT NULL,
        vector BLOB NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (model, content_hash)
    ) STRICT;

    CREATE TABLE memory_extraction (
        session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
        last_ordinal INTEGER NOT NULL,
        extracted_at TEXT NOT NULL
    ) STRICT;
    """,
)
