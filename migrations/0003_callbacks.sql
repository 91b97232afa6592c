-- cc112 call records, schema version 3: flags, the caller's history, the callback
-- worklist (issue 16).

-- Flags of the call (comma-separated: silent_55, silent, callback) and the summary of
-- the caller's recent calls that the operator's phone was shown (X-CC112-History).
ALTER TABLE calls ADD COLUMN flags TEXT;
ALTER TABLE calls ADD COLUMN history TEXT;

-- The caller's recent calls, looked up when the gateway starts.
CREATE INDEX calls_caller ON calls (caller, started_at);

-- The callback worklist: one item per call abandoned in the IVR or the queue (a silent
-- call that hung up before an operator answered is one of those), keyed by the call's
-- record id, so writing it twice is harmless. An item is closed as `reached` when the
-- same number reaches an operator, `done` by an operator with a note, `expired` after
-- [callbacks] keep.
CREATE TABLE callbacks (
    call_id    TEXT PRIMARY KEY,  -- the abandoned call's record id
    caller     TEXT NOT NULL,
    created_at BIGINT NOT NULL,   -- when the abandoned call ended
    department TEXT,
    flags      TEXT,
    waited_ms  BIGINT NOT NULL,   -- from the INVITE to the caller's hang-up
    outcome    TEXT NOT NULL,     -- abandoned_ivr, abandoned_queue
    state      TEXT NOT NULL,     -- open, claimed, done, reached, expired
    operator   TEXT,              -- who claimed it
    claimed_at BIGINT,
    note       TEXT,
    closed_at  BIGINT
);

CREATE INDEX callbacks_state ON callbacks (state, created_at);
CREATE INDEX callbacks_caller ON callbacks (caller, state);
