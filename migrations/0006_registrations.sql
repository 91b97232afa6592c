-- cc112 call records, schema version 6: operators' registrations kept across a restart.

-- Each live contact of an operator, as the registrar holds it, so that a node that
-- restarts (an upgrade, a crash, kill -9) can ring its operators at once instead of
-- waiting for every phone to register again. Written on every registration, refresh
-- and removal; read once at start, where only contacts not yet expired, over UDP, of
-- operators still configured are taken back.
CREATE TABLE registrations (
    operator_id   TEXT NOT NULL,
    contact       TEXT NOT NULL,   -- the Contact URI: the Request-URI of INVITEs to it
    source        TEXT NOT NULL,   -- where the REGISTER came from (IP:port)
    next_hop      TEXT NOT NULL,   -- where INVITEs go (the source, or the relaying proxy)
    path          TEXT NOT NULL,   -- JSON array: the REGISTER's Path (RFC 3327)
    transport     TEXT NOT NULL,   -- UDP, TCP
    registered_at INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    call_id       TEXT NOT NULL,   -- of the REGISTER that last wrote it (RFC 3261 §10.3 step 7)
    cseq          INTEGER NOT NULL,
    PRIMARY KEY (operator_id, contact)
);
