//! A local HTTP server for `serve`: the same handler as on Lambda, without AWS, so anyone can
//! run the responder and curl it. HTTP/1.1 only; bodies are read up to the limit, so oversized
//! ones get 413 without being read whole. It stays up under abuse: a failed `accept` (out of
//! file descriptors) is retried, a client has a few seconds to send a request's headers (an
//! idle connection too), and at most [`Limits::max_connections`] are served at once, so idle
//! sockets cannot exhaust the process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Responder;
use crate::front_door::{BodyError, Inbound, MAX_BODY_BYTES};

/// What the server allows each client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// How long a client has to send a request's headers, on a new or an idle connection,
    /// before the connection is closed.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// How long to wait before accepting again after `accept` failed (typically out of file
/// descriptors, which closing connections gives back).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` until the process stops, within `limits`.
pub async fn serve(
    responder: Arc<Responder>,
    listener: TcpListener,
    limits: Limits,
) -> std::io::Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    let started = jiff::Timestamp::now().as_millisecond();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // Never closed, so acquiring cannot fail; a connection gives its slot back on close.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return Ok(());
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "could not accept a connection; trying again");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let responder = Arc::clone(&responder);
        let counter = Arc::clone(&counter);
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |request| {
                let responder = Arc::clone(&responder);
                let n = counter.fetch_add(1, Ordering::Relaxed);
                async move {
                    let request_id = format!("local-{started}-{n}");
                    Ok::<_, std::convert::Infallible>(
                        answer(&responder, request, peer, &request_id).await,
                    )
                }
            });
            if let Err(err) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%err, %peer, "connection ended with an error");
            }
        });
    }
}

async fn answer(
    responder: &Responder,
    request: hyper::Request<Incoming>,
    peer: SocketAddr,
    request_id: &str,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    // Read at most one byte past the limit: enough for the handler to answer 413.
    let (body, body_error) = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => (collected.to_bytes(), None),
        Err(err) if err.is::<LengthLimitError>() => (Bytes::new(), Some(BodyError::TooLarge)),
        Err(err) => {
            tracing::debug!(%err, %peer, "could not read a request body");
            (Bytes::new(), Some(BodyError::Unreadable))
        }
    };
    let ip = peer.ip().to_string();
    responder
        .handle(Inbound {
            method: &parts.method,
            headers: &parts.headers,
            body: &body,
            request_id,
            source_ip: Some(&ip),
            received_at: jiff::Timestamp::now(),
            body_error,
            time_left: None,
            function_arn: None,
        })
        .await
        .map(|text| Full::new(Bytes::from(text)))
}
