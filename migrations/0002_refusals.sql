-- cc112 call records, schema version 2: refused new calls, summed.
--
-- A new call refused with 503 (over capacity, over its source's fair share, no media
-- port) has no row in `calls`: in a flood most INVITEs are refused, and a record pair
-- each would make the disk the bottleneck of the refusals. Instead the refusals of
-- about one second, from one source, for one reason, are one row here.
CREATE TABLE refusals (
    since   BIGINT NOT NULL,   -- the first refusal of the row (ms since the epoch, UTC)
    source  TEXT NOT NULL,     -- "trunk 203.0.113.7", "198.51.100.0/24", "others"
    reason  TEXT NOT NULL,     -- max_calls, max_call_rate, behind, source_rate, source_calls, no_media_port
    count   BIGINT NOT NULL,   -- INVITEs refused
    callers TEXT NOT NULL      -- JSON array of the first few distinct caller numbers
);

CREATE INDEX refusals_since ON refusals (since);
