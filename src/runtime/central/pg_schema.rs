//! The central view's tables in PostgreSQL, created by the first shipper that connects
//! (under an advisory lock, so two nodes starting together do not race).
//!
//! The record tables are the local ones plus `node`; `nodes` holds each node's
//! heartbeat and its shipping cursor (the last local rowid shipped of each table),
//! which the shipper advances in the same transaction as the rows, so a restart of
//! either side resumes exactly where the last commit left off.

/// The DDL, idempotent (`IF NOT EXISTS`). Shown in the README.
pub const DDL: &str = "
CREATE TABLE IF NOT EXISTS nodes (
    name                  TEXT PRIMARY KEY,
    last_seen             TIMESTAMPTZ NOT NULL DEFAULT now(),  -- heartbeat, PostgreSQL's clock
    started_at            TIMESTAMPTZ NOT NULL DEFAULT now(),  -- the shipper's last (re)connection
    version               TEXT,                                -- cc112 version
    calls_rowid           BIGINT NOT NULL DEFAULT 0,           -- cursors: last local rowid shipped
    call_events_rowid     BIGINT NOT NULL DEFAULT 0,
    operator_events_rowid BIGINT NOT NULL DEFAULT 0,
    refusals_rowid        BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS calls (
    node TEXT NOT NULL,
    id TEXT PRIMARY KEY, sip_call_id TEXT NOT NULL, caller TEXT NOT NULL, caller_name TEXT,
    dialed TEXT NOT NULL, identity TEXT NOT NULL, started_at BIGINT NOT NULL, answered_at BIGINT,
    language TEXT, ivr_digits TEXT, ivr_path TEXT, department TEXT, queue_entered_at BIGINT,
    operator TEXT, operator_answered_at BIGINT, ended_at BIGINT, outcome TEXT, hangup_by TEXT,
    end_reason TEXT, config_version TEXT, flags TEXT, history TEXT,
    direction TEXT, callback_item TEXT,
    voice TEXT, voice_first_speech_ms BIGINT, voice_noise_ms BIGINT, voice_silence_ms BIGINT,
    taken_over_by TEXT,    -- the node that closed this call when its own node went silent
    taken_over_at BIGINT   -- when (ms since the epoch)
);
-- Added by migration 0004 (click to call back): a central view made before has them added.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS direction TEXT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS callback_item TEXT;
-- Added by migration 0005 (what the caller's audio held).
ALTER TABLE calls ADD COLUMN IF NOT EXISTS voice TEXT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS voice_first_speech_ms BIGINT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS voice_noise_ms BIGINT;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS voice_silence_ms BIGINT;
CREATE INDEX IF NOT EXISTS calls_started_at ON calls (started_at);
CREATE INDEX IF NOT EXISTS calls_node_open ON calls (node) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS calls_sip_call_id ON calls (sip_call_id);
CREATE TABLE IF NOT EXISTS call_events (
    node TEXT NOT NULL, call_id TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL,
    kind TEXT NOT NULL, details TEXT,
    PRIMARY KEY (call_id, seq)
);
CREATE TABLE IF NOT EXISTS operator_events (
    node TEXT NOT NULL, operator_id TEXT NOT NULL, seq BIGINT NOT NULL, at BIGINT NOT NULL,
    kind TEXT NOT NULL, reason TEXT,
    PRIMARY KEY (node, operator_id, seq)
);
CREATE INDEX IF NOT EXISTS operator_events_at ON operator_events (at);
CREATE TABLE IF NOT EXISTS refusals (
    node TEXT NOT NULL, local_rowid BIGINT NOT NULL, since BIGINT NOT NULL, source TEXT NOT NULL,
    reason TEXT NOT NULL, count BIGINT NOT NULL, callers TEXT NOT NULL,
    PRIMARY KEY (node, local_rowid)
);
CREATE INDEX IF NOT EXISTS refusals_since ON refusals (since);
";

/// The advisory lock key the DDL runs under ("112" in ASCII, as a number).
pub const DDL_LOCK: i64 = 0x0031_3132;

#[cfg(test)]
mod tests {
    use super::super::tables::ALL;
    use super::DDL;

    #[test]
    fn every_shipped_column_has_its_ddl() {
        for t in ALL {
            let start = DDL.find(&format!("CREATE TABLE IF NOT EXISTS {} (", t.name)).unwrap();
            let body = &DDL[start..start + DDL[start..].find(");").unwrap()];
            for (c, _) in t.cols {
                assert!(body.contains(&format!(" {c} ")), "{}.{c} missing from the DDL", t.name);
            }
        }
    }
}
