//! A local Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`): hands out events to
//! `GET /2018-06-01/runtime/invocation/next` in order, then holds every further `next` open as
//! Lambda does while idle, and reports each request it sees with the time it arrived. Used by
//! the `lambda_runtime` tests and by the cold-start benchmark (`benches/lambda_runtime.rs`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The request id of every invocation handed out.
pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// What the runtime asked or said, in order. (The tests read what was posted; the benchmark
/// reads the times too.)
#[derive(Debug)]
#[allow(dead_code)]
pub enum Seen {
    /// A `next` arrived (answered at once while events remain).
    Next { at: Instant },
    /// An event was handed out.
    Handed { at: Instant },
    /// A response or error was posted: `.../invocation/{id}/response`, `.../error`,
    /// `.../init/error`.
    Posted {
        path: String,
        body: String,
        at: Instant,
    },
}

pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl RuntimeApi {
    pub async fn start(events: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let events = Arc::new(Mutex::new(VecDeque::from(events)));
        let (sender, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let events = Arc::clone(&events);
                let sender = sender.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let events = Arc::clone(&events);
                        let sender = sender.clone();
                        async move { Ok::<_, Infallible>(answer(request, &events, &sender).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { address, seen }
    }

    /// The next response or error posted, skipping `next` requests and hand-outs.
    pub async fn posted(&mut self) -> Option<(String, String)> {
        while let Some(seen) = self.seen.recv().await {
            if let Seen::Posted { path, body, .. } = seen {
                return Some((path, body));
            }
        }
        None
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    events: &Mutex<VecDeque<String>>,
    seen: &mpsc::UnboundedSender<Seen>,
) -> hyper::Response<Full<Bytes>> {
    let arrived = Instant::now();
    let path = request.uri().path().to_owned();
    if request.method() == http::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        let _ = seen.send(Seen::Next { at: arrived });
        let next = events.lock().unwrap().pop_front();
        let Some(event) = next else {
            std::future::pending::<()>().await;
            unreachable!();
        };
        let deadline = jiff::Timestamp::now().as_millisecond() + 30_000;
        let response = hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", REQUEST_ID)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:wavefront-responder-responder",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            )
            .body(Full::new(Bytes::from(event)))
            .unwrap();
        let _ = seen.send(Seen::Handed { at: Instant::now() });
        return response;
    }
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let _ = seen.send(Seen::Posted {
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    hyper::Response::builder()
        .status(202)
        .body(Full::new(Bytes::from_static(b"{\"status\":\"OK\"}")))
        .unwrap()
}

/// The binary, started as Lambda starts it: in `dir` (as `LAMBDA_TASK_ROOT`), with the
/// Lambda environment only, the Runtime API at `api`, and AWS at `endpoint`. The binary is
/// this build's unless `RESPONDER_LAMBDA_BINARY` names another, run by the command in
/// `RESPONDER_LAMBDA_RUNNER` if set (`scripts/test` runs the packaged arm64 one under qemu).
pub fn lambda_process(api: &str, dir: &Path, endpoint: &str) -> Command {
    let binary = std::env::var("RESPONDER_LAMBDA_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wavefront-responder").to_owned());
    let runner = std::env::var("RESPONDER_LAMBDA_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(&binary);
            command
        }
        None => Command::new(&binary),
    };
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "wavefront-responder")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "/aws/lambda/wavefront-responder",
        )
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/25/[$LATEST]0123456789abcdef",
        )
        .env("LAMBDA_TASK_ROOT", dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}
