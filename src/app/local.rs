//! A local HTTP server for `serve`: the same handler as on Lambda, without AWS, so anyone can
//! run the responder and curl it. HTTP/1.1 only; bodies are read up to the limit, so oversized
//! ones get 413 without being read whole.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Responder;
use crate::front_door::{BodyError, Inbound, MAX_BODY_BYTES};

/// Accepts connections on `listener` until the process stops.
pub async fn serve(responder: Arc<Responder>, listener: TcpListener) -> std::io::Result<()> {
    let counter = Arc::new(AtomicU64::new(0));
    let started = jiff::Timestamp::now().as_millisecond();
    loop {
        let (stream, peer) = listener.accept().await?;
        let responder = Arc::clone(&responder);
        let counter = Arc::clone(&counter);
        tokio::spawn(async move {
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
        })
        .await
        .map(|text| Full::new(Bytes::from(text)))
}
