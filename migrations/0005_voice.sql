-- cc112 call records, schema version 5: what the caller's audio held (issue 16).

-- What the voice-activity detector heard of the caller between the answer and the
-- bridge (or the end): 'speech', 'noise', 'silence' or 'no_audio' (their phone sent
-- none); when they first spoke (ms of audio into the call; NULL: never); and the
-- milliseconds of noise and of silence heard until then. NULL for a call never
-- answered, or recorded before this migration.
ALTER TABLE calls ADD COLUMN voice TEXT;
ALTER TABLE calls ADD COLUMN voice_first_speech_ms INTEGER;
ALTER TABLE calls ADD COLUMN voice_noise_ms INTEGER;
ALTER TABLE calls ADD COLUMN voice_silence_ms INTEGER;
