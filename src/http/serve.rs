//! The HTTP listeners and their connections, each bounded: at most
//! [`MAX_CONNECTIONS`] at once (more are closed at once), request headers within
//! [`HEADER_TIMEOUT`] and [`MAX_BUFFER`] bytes, a request answered within
//! `routes::REQUEST_TIMEOUT` (the router's own layer), and a connection closed after
//! [`CONNECTION_LIFETIME`] (an idle keep-alive connection cannot be held for ever).
//! A connection that carries an event stream (`/api/v1/events`) is the exception: it
//! may stay until its stream ends, at most [`STREAM_LIFETIME`] after it began (the
//! stream ends itself then, and the browser's `EventSource` reconnects); the number of
//! streams is bounded by the stream's handler.
//!
//! Every request gets a [`Conn`] extension: the peer's address and the streaming flag.
//!
//! **Its own thread.** The server runs on a thread of its own (`cc112-http`, a
//! current-thread tokio runtime) at a lower scheduling priority (nice
//! [`HTTP_NICE`]), never on the shared tokio workers that open calls' media and wait
//! for their first records: measured in `bench/run w1-watched`, 20 wallboards and a
//! scrape a second on the shared workers cost W1 a quarter of its highest rate and
//! setup p99 went from ~100 ms to ~1 s at 3,000 calls/s. When the machine is short of
//! CPU the wallboards update later; the calls do not wait for them. Its record reads
//! (`spawn_blocking`) run on its own blocking threads, which inherit the priority.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::conn::{Conn, STREAM_LIFETIME};
use super::routes::router;
use super::Shared;

/// Connections open at once, over all listeners.
pub const MAX_CONNECTIONS: usize = 256;
/// A request's headers must arrive within this (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection is closed (gracefully, after its request in progress) this long after
/// it opened.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The most a connection buffers: request line and headers must fit.
const MAX_BUFFER: usize = 16 * 1024;
/// What a connection closed by the lifetime or a shutdown gets to finish its request.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The HTTP thread's niceness (0 is the signalling and media threads'; 10 gives it
/// about a tenth of a core's share against one of them when both want the CPU).
pub const HTTP_NICE: i32 = 10;

/// The HTTP listeners, bound (non-blocking, not yet tied to a runtime: the HTTP
/// thread's runtime takes them).
pub struct Bound {
    listeners: Vec<(SocketAddr, std::net::TcpListener)>,
}

impl Bound {
    /// The addresses listened on (with the ports the system chose for port 0).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(a, _)| *a).collect()
    }
}

/// Binds every address; the first that cannot be bound fails it all (as a SIP
/// listener would), its error naming the address.
pub fn bind(addrs: &[SocketAddr]) -> Result<Bound, (SocketAddr, io::Error)> {
    let mut listeners = Vec::new();
    for addr in addrs {
        let l = std::net::TcpListener::bind(addr).map_err(|e| (*addr, e))?;
        l.set_nonblocking(true).map_err(|e| (*addr, e))?;
        let local = l.local_addr().map_err(|e| (*addr, e))?;
        listeners.push((local, l));
    }
    Ok(Bound { listeners })
}

/// Starts the HTTP thread (see the module doc), which serves `shared` on every bound
/// listener for as long as the engine publishes snapshots: through a shutdown's drain
/// (when `/healthz` says `stopping`, so a load balancer turns away) until the engine
/// task has ended, then lets its connections finish. `tracker` waits for the thread.
/// Fails only if the thread or its runtime cannot be started.
pub fn serve(bound: Bound, shared: Shared, tracker: &TaskTracker) -> io::Result<()> {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().thread_name("cc112-http-blocking").build()?;
    std::thread::Builder::new().name("cc112-http".into()).spawn(move || {
        lower_priority();
        let own = TaskTracker::new();
        rt.block_on(async {
            start(bound, shared, &own);
            own.close();
            own.wait().await;
        });
        let _ = done_tx.send(());
    })?;
    tracker.spawn(async move {
        let _ = done_rx.await;
    });
    Ok(())
}

/// This thread (and the threads it starts) at niceness [`HTTP_NICE`]; a failure is
/// logged and changes nothing else.
#[allow(unsafe_code)] // setpriority (the other unsafe code: src/runtime/memory.rs, src/media/opus.rs)
fn lower_priority() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id only
        // changes this thread's niceness (Linux keeps it per thread).
        let r = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, HTTP_NICE)
        };
        if r != 0 {
            warn!(error = %io::Error::last_os_error(), "the HTTP thread's priority could not be lowered");
        }
    }
}

/// The accept loops, on the HTTP thread's runtime.
fn start(bound: Bound, shared: Shared, tracker: &TaskTracker) {
    let shutdown = CancellationToken::new();
    let mut publisher = shared.live.clone();
    let stop = shutdown.clone();
    tracker.spawn(async move {
        // Err once the engine task (the sender) is gone.
        while publisher.changed().await.is_ok() {}
        stop.cancel();
    });
    let app = router(shared);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    for (local, listener) in bound.listeners {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                warn!(%local, error = %e, "HTTP listener lost");
                continue;
            }
        };
        info!(%local, "HTTP listening");
        let ctx = Ctx { app: app.clone(), slots: slots.clone(), shutdown: shutdown.clone(), tracker: tracker.clone() };
        tracker.spawn(accept(listener, ctx));
    }
}

#[derive(Clone)]
struct Ctx {
    app: axum::Router,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

async fn accept(listener: TcpListener, ctx: Ctx) {
    loop {
        let (stream, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, mostly: wait rather than spin.
                    debug!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = ctx.shutdown.cancelled() => break,
        };
        let Ok(slot) = ctx.slots.clone().try_acquire_owned() else {
            debug!(%remote, max = MAX_CONNECTIONS, "HTTP connection refused: too many open");
            continue;
        };
        // No Nagle: an event of the stream goes out at once, not after the client's
        // delayed ACK of the previous one (40 ms on Linux).
        let _ = stream.set_nodelay(true);
        let c = ctx.clone();
        ctx.tracker.spawn(async move {
            connection(stream, remote, c.app, c.shutdown).await;
            drop(slot);
        });
    }
}

/// One connection, HTTP/1.1 with keep-alive, within the limits above.
async fn connection(stream: TcpStream, remote: SocketAddr, app: axum::Router, shutdown: CancellationToken) {
    let info = Conn::new(remote);
    let service = hyper::service::service_fn({
        let info = info.clone();
        move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(info.clone());
            // The router is always ready (`poll_ready` is a no-op for it).
            let mut app = app.clone();
            tower_service::Service::call(&mut app, req)
        }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT).max_buf_size(MAX_BUFFER);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = tokio::time::sleep(CONNECTION_LIFETIME) => {}
        _ = shutdown.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    // An event stream in progress ends by itself (its lifetime, or the engine's end).
    let grace = if info.is_streaming() { STREAM_LIFETIME + CLOSE_GRACE } else { CLOSE_GRACE };
    let _ = tokio::time::timeout(grace, conn).await;
}
