//! One connection's life: schema, registration, cursor, then rounds of shipping, the
//! heartbeat and the takeover of silent peers until the connection fails or the
//! gateway stops.

use std::time::{Duration, Instant};

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use tracing::{info, warn};

use super::local::{Batch, Cursor, Local, Watch};
use super::pg_schema::{DDL, DDL_LOCK};
use super::tables::{Table, CALLS, CALL_EVENTS, OPERATOR_EVENTS, REFUSALS};
use super::error::CentralError;

/// Rows of each table one round takes at most.
const BATCH: usize = 1_000;
/// How long a round may take before the connection is taken for dead.
pub(super) const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
/// The heartbeat's period.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(1);
/// A peer whose heartbeat is older than this is taken for dead: its open calls are
/// closed as `interrupted` in the central view. A node judges peers only once it has
/// itself been connected this long (after an outage of PostgreSQL every node is
/// "silent"; none must close the others' calls before they could reconnect).
pub const TAKEOVER_AFTER: Duration = Duration::from_secs(5);

/// This node's side of one connection.
pub(super) struct Session<'a> {
    pub client: &'a mut Client,
    pub node: &'a str,
    pub local: &'a Local,
    pub watch: &'a mut Watch,
    pub cursor: Cursor,
    pub connected: Instant,
    pub last_beat: Instant,
    pub last_takeover: Instant,
}

/// Creates the tables (once, under a lock), registers the node and returns its cursor.
pub(super) async fn open(client: &mut Client, node: &str) -> Result<Cursor, CentralError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK]).await?;
    tx.batch_execute(DDL).await?;
    tx.execute(
        "INSERT INTO nodes (name, version) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET last_seen = now(), started_at = now(), version = EXCLUDED.version",
        &[&node, &env!("CARGO_PKG_VERSION")],
    )
    .await?;
    let row = tx
        .query_one("SELECT calls_rowid, call_events_rowid, operator_events_rowid, refusals_rowid FROM nodes WHERE name = $1", &[&node])
        .await?;
    tx.commit().await?;
    Ok(Cursor { calls: row.try_get(0)?, call_events: row.try_get(1)?, operator_events: row.try_get(2)?, refusals: row.try_get(3)? })
}

impl Session<'_> {
    /// Ships batches until the journal has nothing more; returns the rows shipped.
    pub async fn ship_all(&mut self) -> Result<usize, CentralError> {
        let mut total = 0;
        loop {
            let batch = self.local.batch(self.cursor, self.watch, BATCH)?;
            if batch.is_empty() && batch.next == self.cursor {
                return Ok(total);
            }
            total += batch.rows();
            self.commit(&batch).await?;
            self.cursor = batch.next;
            self.watch.shipped(&batch.calls, Instant::now());
            if !batch.full {
                return Ok(total);
            }
        }
    }

    /// One batch and the cursor after it, in one transaction (the heartbeat with it).
    async fn commit(&mut self, b: &Batch) -> Result<(), CentralError> {
        let tx = self.client.transaction().await?;
        let calls: Vec<_> = b.calls.values().cloned().collect();
        for (t, rows) in [(&CALLS, &calls), (&CALL_EVENTS, &b.call_events), (&OPERATOR_EVENTS, &b.operator_events), (&REFUSALS, &b.refusals)] {
            if !rows.is_empty() {
                insert(&tx, t, self.node, rows).await?;
            }
        }
        let c = b.next;
        tx.execute(
            "UPDATE nodes SET calls_rowid = $2, call_events_rowid = $3, operator_events_rowid = $4, refusals_rowid = $5, last_seen = now() WHERE name = $1",
            &[&self.node, &c.calls, &c.call_events, &c.operator_events, &c.refusals],
        )
        .await?;
        tx.commit().await?;
        self.last_beat = Instant::now();
        Ok(())
    }

    /// The heartbeat, when none went with a batch for a second.
    pub async fn beat(&mut self) -> Result<(), CentralError> {
        if self.last_beat.elapsed() >= HEARTBEAT {
            self.client.execute("UPDATE nodes SET last_seen = now() WHERE name = $1", &[&self.node]).await?;
            self.last_beat = Instant::now();
        }
        Ok(())
    }

    /// Closes, in the central view, the open calls of peers silent for longer than
    /// [`TAKEOVER_AFTER`] (PostgreSQL's clock on both sides of the comparison, so the
    /// nodes' clocks do not matter). Idempotent: only calls still open are touched; the
    /// silent node's own close, shipped when it is back, replaces this one.
    pub async fn take_over(&mut self) -> Result<(), CentralError> {
        if self.connected.elapsed() < TAKEOVER_AFTER || self.last_takeover.elapsed() < HEARTBEAT {
            return Ok(());
        }
        self.last_takeover = Instant::now();
        let silent = TAKEOVER_AFTER.as_secs_f64();
        let rows = self
            .client
            .query(
                "UPDATE calls c SET
                    ended_at = COALESCE((SELECT MAX(e.at) FROM call_events e WHERE e.call_id = c.id), c.started_at),
                    outcome = 'interrupted',
                    end_reason = 'node ' || c.node || ' went silent; closed by ' || $1::text,
                    taken_over_by = $1::text,
                    taken_over_at = (EXTRACT(EPOCH FROM now()) * 1000)::bigint
                 WHERE c.ended_at IS NULL
                   AND c.node IN (SELECT name FROM nodes WHERE name <> $1::text AND last_seen < now() - make_interval(secs => $2::float8))
                 RETURNING c.node",
                &[&self.node, &silent],
            )
            .await?;
        if !rows.is_empty() {
            let mut peers: Vec<String> = rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect();
            peers.sort();
            peers.dedup();
            warn!(calls = rows.len(), peers = ?peers, "central view: open calls of silent nodes closed as interrupted (takeover)");
        }
        Ok(())
    }
}

async fn insert(tx: &tokio_postgres::Transaction<'_>, t: &Table, node: &str, rows: &[Vec<rusqlite::types::Value>]) -> Result<(), CentralError> {
    let arrays = t.arrays(rows);
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&node];
    params.extend(arrays.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)));
    tx.execute(&t.insert_unnest(), &params).await?;
    Ok(())
}

/// After (re)connecting: a cursor past the journal's end means the journal was
/// replaced under the same node name; shipping starts again from its beginning (the
/// keys make the rows already there harmless).
pub(super) fn check_cursor(cursor: Cursor, local: &Local) -> Result<Cursor, CentralError> {
    let top = local.tops()?;
    let behind = top.calls < cursor.calls || top.call_events < cursor.call_events || top.operator_events < cursor.operator_events || top.refusals < cursor.refusals;
    if behind {
        warn!(?cursor, ?top, "central view: its cursor is past this node's journal (a new database?); shipping it from the start");
        return Ok(Cursor::default());
    }
    info!(?cursor, "central view: shipping from the cursor");
    Ok(cursor)
}
