//! `cc112 callbacks`: the callback worklist on the command line (issue 16). `list`
//! reads; `claim` and `done` write one short transaction each to the record database,
//! beside the running gateway (SQLite's WAL and busy timeout let both write).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use cc112::clock::{UtcMs, UtcOffset};
use cc112::sink::printable;
use cc112::store::callbacks::{self, CallbackItem};

use crate::DbArgs;

#[derive(Subcommand)]
pub(crate) enum CallbacksCommand {
    /// The items to call back, oldest first (open and claimed; --all: every item).
    List {
        #[command(flatten)]
        db: DbArgs,
        /// Closed items too (done, reached, expired).
        #[arg(long)]
        all: bool,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Take an item: the operator who will call the number back.
    Claim {
        /// The item's id (the abandoned call's record id).
        id: String,
        #[arg(long)]
        operator: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Close an item with a note on what came of the call back.
    Done {
        /// The item's id.
        id: String,
        #[arg(long)]
        note: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub(crate) fn run(command: CallbacksCommand) -> anyhow::Result<ExitCode> {
    match command {
        CallbacksCommand::List { db, all, json } => {
            let (reader, cfg) = crate::open_reader(&db)?;
            let items = callbacks::list(reader.connection(), all)?;
            if json {
                for i in &items {
                    println!("{}", serde_json::to_string(i)?);
                }
            } else {
                print!("{}", table(&items, cfg.routing.utc_offset));
            }
            Ok(ExitCode::SUCCESS)
        }
        CallbacksCommand::Claim { id, operator, db } => write(&db, |conn, now| callbacks::claim(conn, &id, &operator, now)),
        CallbacksCommand::Done { id, note, db } => write(&db, |conn, now| callbacks::done(conn, &id, &note, now)),
    }
}

type Outcome = Result<Result<CallbackItem, callbacks::WorklistError>, cc112::store::StoreError>;

fn write(db: &DbArgs, act: impl FnOnce(&rusqlite::Connection, UtcMs) -> Outcome) -> anyhow::Result<ExitCode> {
    let cfg = crate::load_config(db)?;
    let path = db.db.clone().unwrap_or_else(|| cfg.store.path.clone());
    if !Path::new(&path).exists() {
        anyhow::bail!("no call records at {}", path.display());
    }
    let conn = cc112::store::schema::open_writer_connection(&path).with_context(|| format!("opening call records {}", path.display()))?;
    match act(&conn, UtcMs::now())? {
        Ok(item) => {
            println!("{} {}: {} ({})", item.id, item.state, printable(&item.caller), item.operator.as_deref().unwrap_or("-"));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The items as a table; what came from the network is made printable.
fn table(items: &[CallbackItem], offset: UtcOffset) -> String {
    let mut out = format!("{:<26}  {:<19}  {:<16}  {:<12}  {:<16}  {:>6}  {:<8}  {}\n", "ID", "ENDED", "CALLER", "DEPARTMENT", "FLAGS", "WAITED", "STATE", "OPERATOR");
    for i in items {
        let caller: String = printable(&i.caller).chars().take(16).collect();
        out += &format!(
            "{:<26}  {:<19}  {:<16}  {:<12}  {:<16}  {:>5}s  {:<8}  {}\n",
            i.id,
            i.created_at.display_local(offset),
            caller,
            i.department.as_deref().unwrap_or("-"),
            i.flags.as_deref().unwrap_or("-"),
            i.waited_ms / 1000,
            i.state,
            i.operator.as_deref().unwrap_or("-"),
        );
    }
    out += &format!("{} item(s)\n", items.len());
    out
}
