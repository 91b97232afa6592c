//! The gateway's life as a process: start it (then `READY=1` to a supervisor), reload
//! its config file on SIGHUP and when the file's content changes (all or nothing), drain
//! it on SIGINT or SIGTERM (a second one hurries the drain) or `cc112 drain`, and exit
//! once the drain is over and the records are flushed.

use std::path::PathBuf;
use std::time::Duration;

use tracing::{error, info, warn};

use super::error::RuntimeError;
use super::gateway::Gateway;
use super::prompts;
use crate::config::Config;

/// How often the config file is looked at for changes.
const CONFIG_POLL: Duration = Duration::from_millis(500);

/// Run the gateway until its drain is over. The `config_path` file (if any) is
/// reloaded on SIGHUP and when its content changes. An engine that ends without a
/// drain is an error (a supervisor restarts the gateway).
pub async fn run(config: Config, config_path: Option<PathBuf>) -> Result<(), RuntimeError> {
    // The signals are taken before the sockets open: a SIGHUP or SIGTERM that comes as
    // soon as the gateway listens must reload or drain it, not kill it (their default).
    #[cfg(unix)]
    let (mut hup, mut term, mut int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (signal(SignalKind::hangup()).ok(), signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok())
    };
    let gw = Gateway::start(config.clone(), config_path.as_deref()).await?;
    gw.notify_ready();
    let mut current = config;
    #[cfg(unix)]
    {
        let mut watch = FileWatch::new(config_path.as_deref());
        let mut poll = tokio::time::interval(CONFIG_POLL);
        loop {
            tokio::select! {
                _ = recv(&mut int) => gw.stop("SIGINT").await,
                _ = recv(&mut term) => gw.stop("SIGTERM").await,
                _ = gw.engine_stopped() => break,
                _ = recv(&mut hup) => {
                    reload_from(&gw, &mut current, config_path.as_deref()).await;
                    watch.settle(config_path.as_deref());
                }
                _ = poll.tick(), if config_path.is_some() => {
                    if watch.changed(config_path.as_deref()) {
                        info!("config file changed");
                        reload_from(&gw, &mut current, config_path.as_deref()).await;
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        gw.stop("Ctrl-C").await;
        gw.engine_stopped().await;
    }
    let drained = gw.draining();
    gw.shutdown().await;
    if !drained {
        error!("the engine stopped without a drain");
        return Err(RuntimeError::EngineStopped);
    }
    info!("stopped");
    Ok(())
}

/// The next signal of a kind (never, if it could not be listened for).
#[cfg(unix)]
async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
    match s.as_mut() {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Notices when the config file's content changes, debounced: editors save by writing
/// a new file and renaming it, sometimes in several steps, so a change counts once two
/// consecutive looks ([`CONFIG_POLL`] apart) read the same new content. Content, not
/// modification time, is compared, so a rename or a touch without a change does nothing.
struct FileWatch {
    applied: Option<u64>,
    pending: Option<u64>,
}

impl FileWatch {
    fn new(path: Option<&std::path::Path>) -> FileWatch {
        FileWatch { applied: path.and_then(content_hash), pending: None }
    }

    fn changed(&mut self, path: Option<&std::path::Path>) -> bool {
        let now = path.and_then(content_hash);
        if now == self.applied {
            self.pending = None;
            return false;
        }
        if now.is_some() && now == self.pending {
            self.applied = now;
            self.pending = None;
            return true;
        }
        self.pending = now;
        false
    }

    /// After a SIGHUP reload: what is on disk now has been looked at.
    fn settle(&mut self, path: Option<&std::path::Path>) {
        self.applied = path.and_then(content_hash);
        self.pending = None;
    }
}

fn content_hash(path: &std::path::Path) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let bytes = std::fs::read(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

/// All or nothing: a file with errors is refused and the running plan stays.
async fn reload_from(gw: &Gateway, current: &mut Config, path: Option<&std::path::Path>) {
    let Some(path) = path else {
        warn!("SIGHUP ignored: running on the embedded default config (start with --config FILE to reload)");
        return;
    };
    match Config::load(path) {
        Ok(new) => {
            if new.version == current.version {
                info!(version = %new.version, "config unchanged");
                return;
            }
            if new.sip.listen_udp != current.sip.listen_udp || new.sip.listen_tcp != current.sip.listen_tcp || new.http.listen != current.http.listen {
                warn!("listen addresses changed: they take effect after a restart");
            }
            // Encoding every prompt in four codecs takes a second or so of CPU (Opus):
            // on a blocking thread, not on a worker the SIP tasks need.
            let (cfg, dir) = (new.clone(), prompts::prompts_dir(Some(path)));
            let store = match tokio::task::spawn_blocking(move || prompts::load(&cfg, dir.as_deref())).await {
                Ok(store) => store,
                Err(e) => {
                    error!(error = %e, "prompts could not be loaded; the running config stays");
                    return;
                }
            };
            info!(old = %current.version, new = %new.version, "config reloaded; new calls use it");
            *current = new.clone();
            gw.reload(new, store).await;
        }
        Err(errors) => {
            for e in &errors.errors {
                error!(file = %errors.origin, path = %e.path, line = ?e.line, "{}", e.message);
            }
            error!(count = errors.errors.len(), version = %current.version, "config refused; the running config stays");
        }
    }
}
