//! Writing a call's row after its start: the patches of its columns and its end (first
//! end wins), with the callback worklist kept in step in the same transaction.

use rusqlite::{params, Connection};

use super::record::{CallEnd, CallPatch};
use super::schema;
use crate::clock::UtcMs;

pub(super) fn update_call(conn: &Connection, id: &str, p: &CallPatch) -> Result<(), rusqlite::Error> {
    let path = match &p.ivr_path {
        Some(v) => Some(
            serde_json::to_string(v)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?,
        ),
        None => None,
    };
    conn.prepare_cached(
        "UPDATE calls SET
            answered_at = COALESCE(?2, answered_at),
            language = COALESCE(?3, language),
            ivr_digits = COALESCE(?4, ivr_digits),
            ivr_path = COALESCE(?5, ivr_path),
            department = COALESCE(?6, department),
            queue_entered_at = COALESCE(?7, queue_entered_at),
            operator = COALESCE(?8, operator),
            operator_answered_at = COALESCE(?9, operator_answered_at),
            flags = COALESCE(?10, flags),
            history = COALESCE(?11, history),
            voice = COALESCE(?12, voice),
            voice_first_speech_ms = COALESCE(?13, voice_first_speech_ms),
            voice_noise_ms = COALESCE(?14, voice_noise_ms),
            voice_silence_ms = COALESCE(?15, voice_silence_ms)
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        p.answered_at.map(UtcMs::millis),
        p.language,
        p.ivr_digits,
        path,
        p.department,
        p.queue_entered_at.map(UtcMs::millis),
        p.operator,
        p.operator_answered_at.map(UtcMs::millis),
        p.flags,
        p.history,
        p.voice.as_ref().map(|v| v.verdict.as_str()),
        p.voice.as_ref().and_then(|v| v.first_speech_ms),
        p.voice.as_ref().map(|v| v.noise_ms),
        p.voice.as_ref().map(|v| v.silence_ms)
    ])?;
    if let Some(at) = p.operator_answered_at {
        super::callbacks::on_operator_answer(conn, id, at)?;
    }
    Ok(())
}

pub(super) fn end_call(conn: &Connection, e: &CallEnd) -> Result<(), rusqlite::Error> {
    // First end wins: a late duplicate (BYE after CANCEL) must not rewrite the outcome.
    let n = conn
        .prepare_cached(
            "UPDATE calls SET ended_at = ?2, outcome = ?3, hangup_by = ?4, end_reason = ?5
             WHERE id = ?1 AND ended_at IS NULL",
        )?
        .execute(params![
            e.id.as_str(),
            e.ended_at.millis(),
            e.outcome.as_str(),
            e.hangup_by.map(|h| h.as_str()),
            e.reason
        ])?;
    if n == 1 {
        let details = serde_json::json!({
            "outcome": e.outcome.as_str(),
            "hangup_by": e.hangup_by.map(|h| h.as_str()),
            "reason": e.reason,
        });
        schema::insert_event(
            conn,
            e.id.as_str(),
            e.ended_at.millis(),
            "ended",
            Some(&details.to_string()),
        )?;
        super::callbacks::on_call_end(conn, e)?;
    }
    Ok(())
}
