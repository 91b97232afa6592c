//! `cc112 calls` and `cc112 report --central`: the central rows a command needs, loaded
//! into an in-memory SQLite database with the local schema, then read by the same
//! [`Reader`] queries as a node's own file, so the output cannot drift between the two.

use rusqlite::types::Value;
use rusqlite::Connection;
use tokio_postgres::types::ToSql;

use super::tables::{Kind, Table, CALLS, CALL_EVENTS, OPERATOR_EVENTS, REFUSALS};
use super::error::{within, CentralError, CONNECT_TIMEOUT};
use crate::store::query::TimeRange;
use crate::store::{schema, Reader};

/// How long the whole load may take.
const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Which central rows a command reads.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Calls that started in it (and refusals and operator events in it).
    pub range: TimeRange,
    /// Only this node's rows.
    pub node: Option<String>,
    /// Only this call (record id or SIP Call-ID), with its timeline, whatever the range.
    pub call: Option<String>,
}

/// A [`Reader`] over the central rows of `scope`, read from the PostgreSQL at `url`.
/// Blocking (its own small runtime): for the CLI.
pub fn reader(url: &str, scope: &Scope) -> Result<Reader, CentralError> {
    let conn = Connection::open_in_memory()?;
    schema::migrate(&conn)?;
    // Operator ids are the same on every node: the central key has the node in it,
    // which the local table's key has not.
    conn.execute_batch(
        "DROP TABLE operator_events;
         CREATE TABLE operator_events (operator_id TEXT NOT NULL, seq INTEGER NOT NULL, at BIGINT NOT NULL, kind TEXT NOT NULL, reason TEXT);
         CREATE INDEX operator_events_at ON operator_events (at);",
    )?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(within(LOAD_TIMEOUT, load(url, scope, &conn)))??;
    Ok(Reader::from_connection(conn))
}

async fn load(url: &str, scope: &Scope, conn: &Connection) -> Result<(), CentralError> {
    let (client, connection) = within(CONNECT_TIMEOUT, tokio_postgres::connect(url, tokio_postgres::NoTls)).await??;
    let task = tokio::spawn(connection);
    let since = scope.range.since.map(|t| t.millis());
    let until = scope.range.until.map(|t| t.millis());
    let calls_where = "($1::text IS NULL OR node = $1) AND ($4::text IS NULL OR id = $4 OR sip_call_id = $4) \
        AND ($4::text IS NOT NULL OR (($2::int8 IS NULL OR started_at >= $2) AND ($3::int8 IS NULL OR started_at < $3)))";
    let params: [&(dyn ToSql + Sync); 4] = [&scope.node, &since, &until, &scope.call];
    let tx = conn.unchecked_transaction()?;
    copy(&client, &tx, &CALLS, &format!("WHERE {calls_where}"), &params).await?;
    copy(&client, &tx, &CALL_EVENTS, &format!("WHERE call_id IN (SELECT id FROM calls WHERE {calls_where})"), &params).await?;
    if scope.call.is_none() {
        let params: [&(dyn ToSql + Sync); 3] = [&scope.node, &since, &until];
        let range = |col: &str| format!("WHERE ($1::text IS NULL OR node = $1) AND ($2::int8 IS NULL OR {col} >= $2) AND ($3::int8 IS NULL OR {col} < $3)");
        copy(&client, &tx, &REFUSALS, &range("since"), &params).await?;
        copy(&client, &tx, &OPERATOR_EVENTS, &range("at"), &params).await?;
    }
    tx.commit()?;
    task.abort();
    Ok(())
}

/// The rows of `t` that `filter` selects, into the same table of `conn`.
async fn copy(client: &tokio_postgres::Client, conn: &Connection, t: &Table, filter: &str, params: &[&(dyn ToSql + Sync)]) -> Result<(), CentralError> {
    let cols = t.col_list();
    let rows = client.query(&format!("SELECT {cols} FROM {} {filter}", t.name), params).await?;
    let marks = (1..=t.cols.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let mut st = conn.prepare(&format!("INSERT INTO {} ({cols}) VALUES ({marks})", t.name))?;
    for row in rows {
        let mut values = Vec::with_capacity(t.cols.len());
        for (i, (c, k)) in t.cols.iter().enumerate() {
            let bad = |e: tokio_postgres::Error| CentralError::Bad(format!("{}.{c}: {e}", t.name));
            values.push(match k {
                Kind::Int => row.try_get::<_, Option<i64>>(i).map_err(bad)?.map_or(Value::Null, Value::Integer),
                Kind::Text => row.try_get::<_, Option<String>>(i).map_err(bad)?.map_or(Value::Null, Value::Text),
            });
        }
        st.execute(rusqlite::params_from_iter(values))?;
    }
    Ok(())
}
