//! `GET /api/v1/events`: the live event stream as server-sent events (viewer role).
//!
//! Each [`LiveEvent`] goes out as it is published, as `id: <seq>`, `event: <kind>`,
//! `data: <json>` (one line: the JSON was built by `serde_json`, which escapes every
//! caller-controlled string). The stream begins with `retry:` (how long the browser's
//! `EventSource` waits before it reconnects), and a comment keeps the connection alive
//! every [`KEEP_ALIVE`] through quiet hours (proxies close idle connections).
//!
//! A client that falls behind the broadcast channel's [`CHANNEL_CAPACITY`](super::events::CHANNEL_CAPACITY)
//! events loses the oldest; it gets a `lagged` event saying how many (`{"missed": n}`)
//! and should refetch its state (the wallboard does). The channel keeps no history for
//! a new subscriber, so `Last-Event-ID` is honoured as far as that allows: a client
//! that reconnects with it is told, by a `lagged` event before the next event, how many
//! it missed in between (events are numbered without gaps since the gateway started;
//! after a restart, every one since).
//!
//! **Coalesced**, for screens that only need to know that something changed (the
//! wallboard): `?coalesce=MS` (250 to 10,000) sends, instead of every event, at most one
//! `changed` event per `MS` (`{"seq": <last>, "events": <how many since the last>}`).
//! At W1's 3,000 calls/s the full stream is about 25,000 events a second per client;
//! twenty wallboards on it cost the gateway a third of its highest rate (README,
//! "Watched"), whereas a coalesced stream is at most one write per period. It does not
//! subscribe to the events at all: it reads the count of events published
//! ([`Published`](super::events::Published)) once per period, so the signalling thread
//! never wakes it.
//!
//! At most [`MAX_CLIENTS`] streams at once (each holds one of the server's
//! connections); past that, 503 with `Retry-After`. A stream ends after
//! [`STREAM_LIFETIME`] (the client reconnects), or when the engine has stopped.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{middleware, Extension, Router};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::auth;
use super::conn::{Conn, STREAM_LIFETIME};
use super::{Live, LiveEvent, Shared};
use crate::config::Role;

/// Event streams open at once.
pub(super) const MAX_CLIENTS: usize = 64;
/// A comment line this often keeps an idle stream open.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// What the browser waits before reconnecting (`retry:`).
const RETRY: Duration = Duration::from_secs(2);
/// The bounds of `?coalesce=MS`.
const COALESCE_MIN: Duration = Duration::from_millis(250);
const COALESCE_MAX: Duration = Duration::from_secs(10);

/// The stream's query: `coalesce` in milliseconds, for a `changed` event at most that
/// often instead of every event.
#[derive(Debug, Default, serde::Deserialize)]
struct Params {
    coalesce: Option<u64>,
}

/// `/api/v1/events`, viewer role or better (its own state; merged into the main router).
pub(super) fn router<S: Clone + Send + Sync + 'static>(shared: Shared) -> Router<S> {
    Router::new()
        .route("/api/v1/events", get(events))
        .route_layer(middleware::from_fn_with_state(shared.clone(), |s, r, n| auth::require(Role::Viewer, s, r, n)))
        .with_state((shared, Streams::new()))
}

/// The streams' slots (one per open stream).
#[derive(Clone)]
pub(super) struct Streams {
    slots: Arc<Semaphore>,
}

impl Streams {
    /// Room for [`MAX_CLIENTS`] streams.
    pub fn new() -> Streams {
        Streams { slots: Arc::new(Semaphore::new(MAX_CLIENTS)) }
    }
}

/// One client's stream.
struct Feed {
    /// A full stream's subscription; `None` for a coalesced one.
    rx: Option<broadcast::Receiver<Arc<LiveEvent>>>,
    /// The count of events published (a coalesced stream reads it).
    published: super::events::Published,
    live: watch::Receiver<Option<Arc<Live>>>,
    ends: Instant,
    /// What to say first: `retry:`.
    greeted: bool,
    /// The `Last-Event-ID` the client reconnected with, until the first event.
    last_id: Option<u64>,
    /// An event held back behind the `lagged` event that announces the gap before it.
    held: Option<Arc<LiveEvent>>,
    /// `?coalesce`: one `changed` event at most this often, and the count of events
    /// published when the last went (or the stream began).
    coalesce: Option<(Duration, u64)>,
    _slot: OwnedSemaphorePermit,
}

/// The handler: the stream, or 503 when [`MAX_CLIENTS`] are open.
async fn events(State((shared, streams)): State<(Shared, Streams)>, conn: Option<Extension<Conn>>, headers: HeaderMap, params: Result<Query<Params>, QueryRejection>) -> Response {
    let coalesce = match params.ok().map(|Query(p)| p.coalesce) {
        None => return (StatusCode::BAD_REQUEST, "expected ?coalesce=MS (250 to 10000) or nothing\n").into_response(),
        Some(None) => None,
        Some(Some(ms)) => {
            let d = Duration::from_millis(ms);
            if !(COALESCE_MIN..=COALESCE_MAX).contains(&d) {
                return (StatusCode::BAD_REQUEST, "coalesce: expected 250 to 10000 milliseconds\n").into_response();
            }
            Some((d, shared.published.load(Ordering::Acquire)))
        }
    };
    let Ok(slot) = streams.slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "10")], "too many event streams open\n").into_response();
    };
    if let Some(Extension(c)) = conn {
        c.set_streaming();
    }
    let last_id = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let feed = Feed {
        rx: coalesce.is_none().then(|| shared.events.subscribe()),
        published: shared.published.clone(),
        live: shared.live.clone(),
        ends: Instant::now() + STREAM_LIFETIME,
        greeted: false,
        last_id,
        held: None,
        coalesce,
        _slot: slot,
    };
    let body = stream::unfold(feed, |mut f| async move { next(&mut f).await.map(|e| (Ok::<_, Infallible>(e), f)) });
    let mut resp = Sse::new(body).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response();
    // No proxy may buffer or transform it (nginx reads the last one).
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache, no-transform"));
    resp.headers_mut().insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    resp
}

/// The next event of the stream; `None` ends it.
async fn next(f: &mut Feed) -> Option<Event> {
    if !f.greeted {
        f.greeted = true;
        return Some(Event::default().retry(RETRY).comment("cc112 events"));
    }
    if let Some(ev) = f.held.take() {
        return Some(event(&ev));
    }
    let Some(rx) = f.rx.as_mut() else {
        return next_change(f).await;
    };
    loop {
        tokio::select! {
            r = rx.recv() => return match r {
                Ok(ev) => Some(match f.last_id.take().and_then(|last| missed_since(last, ev.seq)) {
                    Some(missed) => {
                        f.held = Some(ev);
                        lagged(missed)
                    }
                    None => event(&ev),
                }),
                Err(RecvError::Lagged(n)) => Some(lagged(n)),
                Err(RecvError::Closed) => None,
            },
            _ = tokio::time::sleep_until(f.ends) => return None,
            changed = f.live.changed() => {
                // Err: the engine task has ended (the gateway stops): so does the stream.
                if changed.is_err() {
                    return None;
                }
            }
        }
    }
}

/// The coalesced stream's next `changed` event: once per period, if events were
/// published since the last one, how many and the last `seq`.
async fn next_change(f: &mut Feed) -> Option<Event> {
    let (period, mut seen) = f.coalesce?;
    let mut due = Instant::now() + period;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(due) => due += period,
            _ = tokio::time::sleep_until(f.ends) => return None,
            changed = f.live.changed() => {
                // Err: the engine task has ended (the gateway stops): so does the stream.
                if changed.is_err() {
                    return None;
                }
                continue;
            }
        }
        let seq = f.published.load(Ordering::Acquire);
        if seq != seen {
            // A restarted count (it never is within one gateway) counts as all new.
            let events = seq.checked_sub(seen).unwrap_or(seq);
            seen = seq;
            f.coalesce = Some((period, seen));
            return Some(Event::default().event("changed").data(format!("{{\"seq\":{seq},\"events\":{events}}}")));
        }
    }
}

/// Events between `last` (the client's `Last-Event-ID`) and `seq` (the next one it
/// gets), when there are any; a gateway restarted since numbers from 1 again.
fn missed_since(last: u64, seq: u64) -> Option<u64> {
    let missed = if seq > last { seq - last - 1 } else { seq.saturating_sub(1) };
    (missed > 0).then_some(missed)
}

fn event(ev: &LiveEvent) -> Event {
    Event::default().id(ev.seq.to_string()).event(ev.kind).data(&ev.json)
}

fn lagged(missed: u64) -> Event {
    Event::default().event("lagged").data(format!("{{\"missed\":{missed}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_since_the_last_event_id_is_counted() {
        assert_eq!(missed_since(10, 11), None);
        assert_eq!(missed_since(10, 14), Some(3));
        // The gateway restarted: events numbered from 1 again.
        assert_eq!(missed_since(500, 1), None);
        assert_eq!(missed_since(500, 4), Some(3));
    }
}
