-- cc112 call records, schema version 1.
--
-- Portable on purpose (a PostgreSQL store may follow): plain types, no AUTOINCREMENT,
-- no SQLite-only functions. Times are BIGINT milliseconds since the Unix epoch, UTC
-- (see src/clock/utc.rs for why). Text enums hold snake_case names.

-- One row per call: the summary the shift reads.
CREATE TABLE calls (
    id                   TEXT PRIMARY KEY,  -- ULID, unique across restarts
    sip_call_id          TEXT NOT NULL,     -- Call-ID of the caller's leg
    caller               TEXT NOT NULL,     -- caller's number
    caller_name          TEXT,              -- From display name
    dialed               TEXT NOT NULL,     -- Request-URI as dialed
    identity             TEXT NOT NULL,     -- emergency identity matched: 112, urn:service:sos...
    started_at           BIGINT NOT NULL,   -- INVITE received
    answered_at          BIGINT,            -- our 200 OK (IVR picks up)
    language             TEXT,              -- IVR language chosen
    ivr_digits           TEXT,              -- digits pressed, in order
    ivr_path             TEXT,              -- JSON array of menus visited
    department           TEXT,              -- queue chosen
    queue_entered_at     BIGINT,
    operator             TEXT,              -- operator id who answered
    operator_answered_at BIGINT,            -- operator's 200 OK
    ended_at             BIGINT,            -- NULL while the call is in progress
    outcome              TEXT,              -- answered, abandoned_ivr, abandoned_queue, rejected, failed, interrupted
    hangup_by            TEXT,              -- caller, operator, gateway
    end_reason           TEXT,              -- free text
    config_version       TEXT               -- configuration the call ran under
);

CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_outcome ON calls (outcome, started_at);
CREATE INDEX calls_department ON calls (department, started_at);
CREATE INDEX calls_sip_call_id ON calls (sip_call_id);

-- Append-only timeline of each call; seq orders events of one call (1, 2, 3...).
CREATE TABLE call_events (
    call_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,   -- started, ivr_digit, queued, offered, operator_answered, ended...
    details TEXT,            -- JSON object, or NULL
    PRIMARY KEY (call_id, seq)
);

CREATE INDEX call_events_at ON call_events (at);

-- Operator state history: logins, pauses with reasons, wrap-ups.
CREATE TABLE operator_events (
    operator_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,   -- login, logout, pause, resume, wrapup, not_responding
    reason      TEXT,
    PRIMARY KEY (operator_id, seq)
);

CREATE INDEX operator_events_at ON operator_events (at);
