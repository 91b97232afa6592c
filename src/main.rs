//! The `cc112` command: thin on purpose. Arguments become validated types here, errors
//! become exit codes; everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

mod callbacks_cli;
use cc112::runtime::central::Scope;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use cc112::config::Config;
use cc112::runtime::control::{NodeCommand, NodeReply};

/// mimalloc instead of glibc's malloc. Measured in the overload benchmark (perf on the
/// signalling thread during a surge of 4,800 calls/s): a third of that thread's time
/// was in glibc's malloc and free (`_int_malloc`, `malloc_consolidate`,
/// `unlink_chunk`: its free lists fragmented by buffers allocated on one thread and
/// freed on another), and its RSS stayed up after the surge.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "cc112", version, about = "Call-intake gateway for the 112 emergency number")]
struct Cli {
    /// Log format: readable text for people, JSON lines for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info", global = true)]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (on the embedded default config unless --config is given).
    Run {
        /// Configuration file; SIGHUP reloads it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file without touching a running gateway.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Compute an operator's stored credentials (HA1 for MD5 and SHA-256) for
    /// [[operators]]; the password itself is never written anywhere.
    OperatorHash {
        /// The operator's SIP user name (the `id` in [[operators]]).
        user: String,
        /// Realm; default: registrar.realm of the embedded configuration.
        #[arg(long)]
        realm: Option<String>,
        /// Read the password from this environment variable instead of the terminal
        /// (for scripts; never pass a password as an argument).
        #[arg(long)]
        password_env: Option<String>,
    },
    /// A new random API token for [[http.tokens]]: printed once with the entry to paste
    /// (which holds only its SHA-256).
    HttpToken {
        /// Who holds it (a person or a wallboard), as the log will name it.
        name: String,
        /// What it may do: viewer reads, supervisor also acts on operators.
        #[arg(long, value_enum, default_value_t = RoleArg::Viewer)]
        role: RoleArg,
    },
    /// Supervisor control of operators on the running gateway.
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Drain the running gateway, as SIGTERM does: new calls and OPTIONS get 503, calls
    /// in progress go on until they end or [shutdown] grace runs out, then it exits.
    Drain {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// Whether the running gateway takes calls: exit 0 if it does, 1 if it is draining,
    /// stalled or not running, with a one-line reason.
    Health {
        #[command(flatten)]
        socket: SocketArgs,
    },
    /// The call records, for the shift (read-only; works while the gateway runs).
    Calls {
        #[command(subcommand)]
        command: CallsCommand,
    },
    /// The callback worklist: calls abandoned in the IVR or the queue, to call back.
    Callbacks {
        #[command(subcommand)]
        command: callbacks_cli::CallbacksCommand,
    },
    /// Shift report: calls per department and outcome, answer times, abandoned calls,
    /// busiest hour, calls per operator.
    Report {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        range: RangeArgs,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Viewer,
    Supervisor,
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Every operator: state, registration, current call.
    List {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop offering calls to an operator, with a reason for the history.
    Pause {
        operator: String,
        #[arg(long, default_value = "supervisor")]
        reason: String,
    },
    /// Offer calls to a paused operator again.
    Resume { operator: String },
    /// Take an operator out of service until their phone registers again.
    Logout { operator: String },
    /// The operators' history from the call records (logins, pauses with their reasons,
    /// supervisor actions naming who asked): the current shift unless told otherwise.
    History {
        /// Only this operator.
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        range: RangeArgs,
        /// Database file; default: store.path of the configuration.
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CallsCommand {
    /// List calls: the current shift unless told otherwise, oldest first.
    List {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        range: RangeArgs,
        /// Only calls routed to this department (queue id, e.g. medical).
        #[arg(long)]
        department: Option<String>,
        /// Only calls with this outcome: answered, abandoned_ivr, abandoned_queue, rejected, failed, interrupted.
        #[arg(long)]
        outcome: Option<String>,
        /// Only calls from this caller number, as recorded.
        #[arg(long)]
        caller: Option<String>,
        /// Only calls this operator answered.
        #[arg(long)]
        operator: Option<String>,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One call's whole timeline (by record id or SIP Call-ID).
    Show {
        id: String,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        view: ViewArgs,
    },
}

/// Where the running gateway's control socket is.
#[derive(Args)]
struct SocketArgs {
    /// Configuration file (its store.path locates the control socket).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The control socket; default: store.path with the extension .sock.
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
}

impl SocketArgs {
    fn path(&self) -> anyhow::Result<PathBuf> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        let cfg = match &self.config {
            Some(p) => Config::load(p).map_err(|e| anyhow::anyhow!("{e}"))?,
            None => Config::embedded_default().map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        Ok(cc112::runtime::control::socket_path(&cfg.store.path))
    }
}

/// Which database, and which config gives its shifts and local time.
#[derive(Args)]
pub(crate) struct DbArgs {
    /// Configuration file (shifts, local time, database path); default: the embedded one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database file; default: store.path of the configuration.
    #[arg(long)]
    pub(crate) db: Option<PathBuf>,
}

/// The central view instead of one node's file.
#[derive(Args)]
struct ViewArgs {
    /// Read the central view in PostgreSQL (every node's calls): at this URL, or
    /// without one at [store] central of the configuration.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "URL")]
    central: Option<String>,
    /// With --central: only this node's calls ([node] name).
    #[arg(long, requires = "central")]
    node: Option<String>,
}

#[derive(Args)]
struct RangeArgs {
    /// current, previous, or YYYY-MM-DD/N (the N-th shift of that date, from 1).
    #[arg(long)]
    shift: Option<String>,
    /// From this local time (YYYY-MM-DD HH:MM[:SS] or RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Until this local time.
    #[arg(long)]
    until: Option<String>,
}

/// Who the operator history names for a command given with `cc112 operators`.
const CLI: &str = "cli";

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format, &cli.log_level);
    match run(cli.command) {
        Ok(code) => code,
        // `cc112 calls list | head`: the reader went away; not an error of ours.
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cc112: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(cfg) => {
                println!("{}: OK", file.display());
                println!("{}", cfg.summary());
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                eprintln!("{errors}");
                eprintln!("{} problem(s) found; the file was not applied anywhere", errors.errors.len());
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Drain { socket } => node_command(&socket, NodeCommand::Drain),
        Command::Health { socket } => node_command(&socket, NodeCommand::Health),
        Command::Operators { command, socket } => {
            use cc112::engine::control::{Command as C, Reply};
            let path = socket.path()?;
            let (cmd, json) = match command {
                OperatorsCommand::List { json } => (C::ListOperators, json),
                OperatorsCommand::Pause { operator, reason } => (C::Pause { operator, reason, by: Some(CLI.into()) }, false),
                OperatorsCommand::Resume { operator } => (C::Resume { operator, by: Some(CLI.into()) }, false),
                OperatorsCommand::Logout { operator } => (C::Logout { operator, by: Some(CLI.into()) }, false),
                OperatorsCommand::History { operator, range, db } => return operators_history(DbArgs { config: socket.config, db }, &range, operator.as_deref()),
            };
            let reply = cc112::runtime::control::send(&path, &cmd)
                .with_context(|| format!("no running gateway on {}", path.display()))?;
            match reply {
                Reply::Operators { operators } if json => println!("{}", serde_json::to_string(&operators)?),
                Reply::Operators { operators } => {
                    println!("{:<14} {:<22} {:<10} {:<10} {:<24} REASON / CALL", "OPERATOR", "NAME", "STATE", "PHONE", "DEPARTMENTS");
                    for o in operators {
                        println!(
                            "{:<14} {:<22} {:<10} {:<10} {:<24} {}",
                            o.id,
                            o.name,
                            o.state,
                            if o.registered { "registered" } else { "-" },
                            o.departments.join(","),
                            o.reason.or(o.call).unwrap_or_default()
                        );
                    }
                }
                Reply::State { operator, state } => println!("{operator}: {state}"),
                Reply::CallingBack { .. } => anyhow::bail!("unexpected reply"),
                Reply::Error { message } => anyhow::bail!("{message}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::OperatorHash { user, realm, password_env } => {
            let realm = match realm {
                Some(r) => r,
                None => Config::embedded_default().map_err(|e| anyhow::anyhow!("{e}"))?.registrar.realm,
            };
            let password = match password_env {
                Some(var) => std::env::var(&var).with_context(|| format!("environment variable {var}"))?,
                None => {
                    eprint!("password for {user}@{realm}: ");
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                        // Typed at a terminal: not echoed, so not left on the screen.
                        rpassword::read_password()?
                    } else {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        line.trim_end_matches(['\r', '\n']).to_string()
                    }
                }
            };
            anyhow::ensure!(!password.is_empty(), "empty password");
            let (md5, sha256) = cc112::config::operator_hash(&user, &realm, &password);
            println!("# realm \"{realm}\"\n[[operators]]\nid = \"{user}\"\nname = \"...\"\ndepartments = [\"general\"]\nha1_md5 = \"{md5}\"\nha1_sha256 = \"{sha256}\"");
            Ok(ExitCode::SUCCESS)
        }
        Command::HttpToken { name, role } => {
            let role = match role {
                RoleArg::Viewer => cc112::config::Role::Viewer,
                RoleArg::Supervisor => cc112::config::Role::Supervisor,
            };
            let (token, entry) = cc112::config::new_token(&name, role, &mut rand::rngs::OsRng).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("# the token, shown this once (send it as \"Authorization: Bearer TOKEN\"):\n# {token}\n{entry}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Calls { command: CallsCommand::List { db, view, range, department, outcome, caller, operator, limit, json } } => {
            let cfg = load_config(&db)?;
            let offset = cfg.routing.utc_offset;
            let range = time_range(&cfg, &range)?;
            let reader = open_view(&db, &cfg, &view, Scope { range, node: view.node.clone(), call: None })?;
            let outcome = outcome.map(|o| o.parse::<cc112::store::record::Outcome>()).transpose().map_err(|e| anyhow::anyhow!("--outcome: {e}"))?;
            let filter = cc112::store::query::CallFilter { range, department, outcome, limit, caller, operator, after: None };
            let rows = reader.list_calls(&filter)?;
            if json {
                cc112::store::format::write_calls_json_lines(&rows, offset, std::io::stdout().lock())?;
            } else {
                print!("{}", cc112::store::format::calls_table(&rows, offset));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calls { command: CallsCommand::Show { id, db, view } } => {
            let cfg = load_config(&db)?;
            let reader = open_view(&db, &cfg, &view, Scope { node: view.node.clone(), call: Some(id.clone()), ..Scope::default() })?;
            let (call, events) = reader.call_timeline(&id)?;
            print!("{}", cc112::store::format::timeline(&call, &events, cfg.routing.utc_offset));
            Ok(ExitCode::SUCCESS)
        }
        Command::Callbacks { command } => callbacks_cli::run(command),
        Command::Report { db, view, range, json } => {
            let cfg = load_config(&db)?;
            let offset = cfg.routing.utc_offset;
            let range = time_range(&cfg, &range)?;
            let reader = open_view(&db, &cfg, &view, Scope { range, node: view.node.clone(), call: None })?;
            let report = reader.report(range, offset)?;
            if json {
                println!("{}", cc112::store::format::report_json(&report)?);
            } else {
                print!("{}", cc112::store::format::report_text(&report, offset));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config } => {
            let cfg = match &config {
                Some(path) => Config::load(path),
                None => Config::embedded_default(),
            };
            let cfg = match cfg {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
            rt.block_on(cc112::runtime::run(cfg, config)).context("running the gateway")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `cc112 health` and `cc112 drain`: the node's state in one line on stdout. Health
/// exits 0 when the node takes calls, 1 when it drains, is stalled or does not answer;
/// drain exits 0 once the gateway has the request.
fn node_command(socket: &SocketArgs, cmd: NodeCommand) -> anyhow::Result<ExitCode> {
    let path = socket.path()?;
    let drain = cmd == NodeCommand::Drain;
    match cc112::runtime::control::ask(&path, &cmd) {
        Ok(NodeReply::State { takes_calls, line, .. }) => {
            println!("{line}");
            Ok(if takes_calls || drain { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Ok(NodeReply::Error { message }) => anyhow::bail!("{message}"),
        Err(e) => {
            println!("stopped: no gateway answers on {} ({e})", path.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `cc112 operators history`: one line per entry, local time, caller-free but escaped
/// all the same (a reason is typed by people).
fn operators_history(db: DbArgs, range: &RangeArgs, operator: Option<&str>) -> anyhow::Result<ExitCode> {
    use cc112::sink::printable;
    let (reader, cfg) = open_reader(&db)?;
    let offset = cfg.routing.utc_offset;
    let rows = reader.operator_events_limited(time_range(&cfg, range)?, operator, i64::MAX)?;
    println!("{:<23} {:<14} {:<15} REASON", "AT", "OPERATOR", "KIND");
    for e in rows {
        println!("{:<23} {:<14} {:<15} {}", e.at.display_local(offset), printable(&e.operator), e.kind, printable(e.reason.as_deref().unwrap_or("")));
    }
    Ok(ExitCode::SUCCESS)
}

/// The UTC range `--shift/--since/--until` name (the current shift by default).
fn time_range(cfg: &Config, r: &RangeArgs) -> anyhow::Result<cc112::store::query::TimeRange> {
    let shifts = cfg.store.shifts(cfg.routing.utc_offset);
    let now = cc112::store::UtcMs::now();
    Ok(cc112::store::query::cli_range(&shifts, r.shift.as_deref(), r.since.as_deref(), r.until.as_deref(), now)?)
}

/// The read-only record reader and the config that gives shifts and local time.
/// The configuration `--config` names, or the embedded one.
fn load_config(args: &DbArgs) -> anyhow::Result<Config> {
    match &args.config {
        Some(p) => Config::load(p).map_err(|e| anyhow::anyhow!("{e}")),
        None => Config::embedded_default().map_err(|e| anyhow::anyhow!("{e}")),
    }
}

fn open_reader(args: &DbArgs) -> anyhow::Result<(cc112::store::query::Reader, Config)> {
    let cfg = load_config(args)?;
    let path = args.db.clone().unwrap_or_else(|| cfg.store.path.clone());
    let reader = cc112::store::query::Reader::open(&path).with_context(|| format!("opening call records {}", path.display()))?;
    Ok((reader, cfg))
}

/// The records `view` names: the central view (the URL given, or [store] central), or
/// the node's own file.
fn open_view(db: &DbArgs, cfg: &Config, view: &ViewArgs, scope: Scope) -> anyhow::Result<cc112::store::query::Reader> {
    let Some(url) = &view.central else {
        let path = db.db.clone().unwrap_or_else(|| cfg.store.path.clone());
        return cc112::store::query::Reader::open(&path).with_context(|| format!("opening call records {}", path.display()));
    };
    let url = match (url.is_empty(), &cfg.store.central) {
        (false, _) => url.clone(),
        (true, Some(u)) => u.clone(),
        (true, None) => anyhow::bail!("--central without a URL needs [store] central in the configuration"),
    };
    cc112::runtime::central::reader(&url, &scope).context("reading the central view")
}

fn init_tracing(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}
