//! `cc112 callbacks`: the callback worklist on the command line (issue 16). `list`
//! reads; `claim` and `done` write one short transaction each to the record database,
//! beside the running gateway (SQLite's WAL and busy timeout let both write). `call`
//! asks the running gateway, through its control socket, to ring the operator and then
//! the number, and bridge them (the engine checks the number and the operator again).

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
    /// Click to call back: ring the operator's phone, then call the number through
    /// `[callbacks] trunk` and bridge them (the operator must be available).
    Call {
        /// The item's id.
        id: String,
        #[arg(long)]
        operator: String,
        #[command(flatten)]
        db: DbArgs,
        /// The gateway's control socket; default: next to the database.
        #[arg(long)]
        socket: Option<std::path::PathBuf>,
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
        CallbacksCommand::Call { id, operator, db, socket } => call(&id, &operator, &db, socket),
    }
}

/// `callbacks call`: the item must be open (or claimed by this operator); the gateway
/// places the call and says so at once (the call itself is in its log and records).
fn call(id: &str, operator: &str, db: &DbArgs, socket: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    use cc112::engine::control::{Command, Reply};
    let (reader, cfg) = crate::open_reader(db)?;
    let Some(item) = callbacks::get(reader.connection(), id)? else { anyhow::bail!("no callback item {id}") };
    let mine = item.state == "claimed" && item.operator.as_deref() == Some(operator);
    if item.state != "open" && !mine {
        anyhow::bail!("{}", callbacks::WorklistError::NotOpen { id: item.id, state: item.state, by: item.operator });
    }
    let path = socket.unwrap_or_else(|| cc112::runtime::control::socket_path(&db.db.clone().unwrap_or_else(|| cfg.store.path.clone())));
    let cmd = Command::CallBack { item: item.id, number: item.caller, operator: operator.to_string(), by: Some(crate::CLI.into()) };
    match cc112::runtime::control::send(&path, &cmd).with_context(|| format!("no running gateway on {}", path.display()))? {
        Reply::CallingBack { record, operator } => {
            println!("{id}: calling back; ringing {operator} first (call record {record})");
            Ok(ExitCode::SUCCESS)
        }
        Reply::Error { message } => anyhow::bail!("{}", printable(&message)),
        _ => anyhow::bail!("unexpected reply from the gateway"),
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
