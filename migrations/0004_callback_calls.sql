-- cc112 call records, schema version 4: click-to-call-back (issue 16).

-- A call the gateway placed to call a number back: direction 'callback' (NULL: a call
-- that came in), and the worklist item it calls back.
ALTER TABLE calls ADD COLUMN direction TEXT;
ALTER TABLE calls ADD COLUMN callback_item TEXT;

-- Each call back tried for an item, and how the last one went ('answered', 'busy 486',
-- 'no answer', 'operator did not answer'); an item not reached stays open.
ALTER TABLE callbacks ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callbacks ADD COLUMN last_attempt TEXT;
