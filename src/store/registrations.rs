//! Operators' registrations kept across a restart (migration 0006): the registrar's
//! live contacts, written as they change, read once at start.
//!
//! Why: the registrar lives in memory. Without this, a node that restarts (an upgrade,
//! a crash) knows no operator's phone until each registers again, up to
//! `[registrar] max_expires` later, and its callers wait in the queue meanwhile. The
//! rows are what the registrar held, in wall-clock time; the registrar itself decides
//! what it takes back (`call::registrar::Registrar::restore`).
//!
//! Each change is one statement: an upsert by (operator, contact) for a new contact or
//! a refresh, a delete for a removal or an expiry. Rows are bounded like the bindings
//! (configured operators × 8 contacts): a contact that expired while no process ran
//! (its delete never came) is purged at the next save, and [`live`] skips it.

use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::clock::UtcMs;

/// Most rows read back at start (configured operators × 8 contacts is far fewer).
pub const MAX_LOADED: usize = 100_000;

/// One contact of an operator, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedBinding {
    /// The operator's id.
    pub operator: String,
    /// The Contact URI.
    pub contact: String,
    /// Where the REGISTER came from (`IP:port`).
    pub source: String,
    /// Where INVITEs to the contact go (`IP:port`).
    pub next_hop: String,
    /// The REGISTER's Path values, in order.
    pub path: Vec<String>,
    /// `UDP` or `TCP`.
    pub transport: String,
    /// The first REGISTER of the contact.
    pub registered_at: UtcMs,
    /// When it ends without a refresh.
    pub expires_at: UtcMs,
    /// The Call-ID of the REGISTER that last wrote it.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
}

/// A new contact or a refresh; rows expired before `now` go.
pub(super) fn save(conn: &Connection, b: &SavedBinding, now: UtcMs) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("DELETE FROM registrations WHERE expires_at <= ?1")?.execute(params![now.millis()])?;
    let path = serde_json::to_string(&b.path).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached(
        "INSERT INTO registrations (operator_id, contact, source, next_hop, path, transport, registered_at, expires_at, call_id, cseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (operator_id, contact) DO UPDATE SET source = excluded.source, next_hop = excluded.next_hop,
            path = excluded.path, transport = excluded.transport, expires_at = excluded.expires_at,
            call_id = excluded.call_id, cseq = excluded.cseq",
    )?
    .execute(params![b.operator, b.contact, b.source, b.next_hop, path, b.transport, b.registered_at.millis(), b.expires_at.millis(), b.call_id, b.cseq])?;
    Ok(())
}

/// A contact removed (by its phone, by expiry, or replaced).
pub(super) fn remove(conn: &Connection, operator: &str, contact: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("DELETE FROM registrations WHERE operator_id = ?1 AND contact = ?2")?.execute(params![operator, contact])?;
    Ok(())
}

/// The contacts not expired at `now`, soonest expiry last (at most [`MAX_LOADED`]).
pub fn live(conn: &Connection, now: UtcMs) -> Result<Vec<SavedBinding>, StoreError> {
    let mut st = conn.prepare(
        "SELECT operator_id, contact, source, next_hop, path, transport, registered_at, expires_at, call_id, cseq
         FROM registrations WHERE expires_at > ?1 ORDER BY expires_at DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![now.millis(), MAX_LOADED as i64], |r| {
        let path: String = r.get(4)?;
        Ok(SavedBinding {
            operator: r.get(0)?,
            contact: r.get(1)?,
            source: r.get(2)?,
            next_hop: r.get(3)?,
            path: serde_json::from_str(&path).unwrap_or_default(),
            transport: r.get(5)?,
            registered_at: UtcMs(r.get(6)?),
            expires_at: UtcMs(r.get(7)?),
            call_id: r.get(8)?,
            cseq: r.get(9)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    fn binding(contact: &str, expires_at: i64, cseq: u32) -> SavedBinding {
        SavedBinding {
            operator: "op-budi".into(),
            contact: contact.into(),
            source: "127.0.0.1:5070".into(),
            next_hop: "127.0.0.1:5060".into(),
            path: vec!["<sip:127.0.0.1:5060;lr>".into()],
            transport: "UDP".into(),
            registered_at: UtcMs(1_000),
            expires_at: UtcMs(expires_at),
            call_id: "reg-1".into(),
            cseq,
        }
    }

    #[test]
    fn saved_refreshed_removed_and_only_live_ones_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let conn = schema::open_writer_connection(&dir.path().join("r.db")).unwrap();
        save(&conn, &binding("sip:budi@10.0.0.1", 50_000, 1), UtcMs(2_000)).unwrap();
        save(&conn, &binding("sip:budi@10.0.0.2", 9_000, 1), UtcMs(2_000)).unwrap();
        // A refresh moves the expiry and keeps the first registration time.
        let mut refreshed = binding("sip:budi@10.0.0.1", 90_000, 2);
        refreshed.registered_at = UtcMs(5_000);
        save(&conn, &refreshed, UtcMs(3_000)).unwrap();
        let got = live(&conn, UtcMs(10_000)).unwrap();
        assert_eq!(got.len(), 1, "the one expired at 9 s is not read back: {got:?}");
        assert_eq!((got[0].expires_at, got[0].registered_at, got[0].cseq), (UtcMs(90_000), UtcMs(1_000), 2));
        assert_eq!(got[0].path, ["<sip:127.0.0.1:5060;lr>"]);
        remove(&conn, "op-budi", "sip:budi@10.0.0.1").unwrap();
        assert!(live(&conn, UtcMs(10_000)).unwrap().is_empty());
        // The expired row left behind goes at the next save after its expiry.
        let rows = |c: &Connection| c.query_row("SELECT COUNT(*) FROM registrations", [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(rows(&conn), 1);
        save(&conn, &binding("sip:budi@10.0.0.3", 90_000, 1), UtcMs(10_000)).unwrap();
        assert_eq!(rows(&conn), 1, "only the new one");
    }
}
