//! The SDK's recorded AWS exchanges ([`ReplayEvent`]s, the same ones the in-process replay
//! tests use) served over HTTP on loopback, for the binary: `serve --dry-run` with
//! `AWS_ENDPOINT_URL` pointing here gets each recorded answer in turn, and every request it
//! sent is kept, to compare with the recorded ones. For the services moto does not emulate
//! (AppConfig deployments, ECS service deployments). A request beyond the recording is
//! answered 500 and kept, so the comparison names it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_smithy_http_client::test_util::ReplayEvent;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};

/// One request the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The `x-amz-target` header of a JSON 1.1 protocol call (ECS), if any.
    pub target: Option<String>,
    /// The body as JSON (`null` when empty or not JSON).
    pub body: Value,
}

/// A recorded answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Bytes);

#[derive(Default)]
struct Shared {
    answers: Mutex<VecDeque<Answer>>,
    sent: Mutex<Vec<Sent>>,
}

/// The replay server: answers in order, keeps what it was sent.
pub struct ReplayServer {
    url: String,
    expected: Vec<Sent>,
    shared: Arc<Shared>,
    accept: AbortHandle,
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ReplayServer {
    /// Serves `events`' responses, in order, on a free loopback port.
    pub async fn start(events: Vec<ReplayEvent>) -> Self {
        let expected = events.iter().map(recorded_request).collect();
        let answers = events.iter().map(recorded_answer).collect();
        let shared = Arc::new(Shared {
            answers: Mutex::new(answers),
            sent: Mutex::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&accepting);
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&shared), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                while connections.try_join_next().is_some() {}
            }
        });
        Self {
            url,
            expected,
            shared,
            accept: task.abort_handle(),
        }
    }

    /// `http://127.0.0.1:<port>`, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.sent.lock().unwrap().clone()
    }

    /// Fails unless the requests received are the recorded ones: same operations, paths and
    /// bodies, in the same order, none missing, none more. The method is compared for REST
    /// calls (AppConfig's `GET` and `DELETE` of one deployment differ only by it); a JSON 1.1
    /// call is always a `POST` naming its operation in `x-amz-target`, which recordings leave
    /// out.
    pub fn assert_requests_match(&self) {
        let comparable = |sent: &[Sent]| -> Vec<Sent> {
            let mut sent = sent.to_vec();
            for request in sent.iter_mut().filter(|r| r.target.is_some()) {
                request.method = "POST".to_owned();
            }
            sent
        };
        assert_eq!(
            comparable(&self.sent()),
            comparable(&self.expected),
            "requests sent vs recorded"
        );
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let target = parts.headers.get("x-amz-target");
    shared.sent.lock().unwrap().push(Sent {
        method: parts.method.to_string(),
        path: path.to_owned(),
        target: target.and_then(|t| t.to_str().ok()).map(str::to_owned),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    let next = shared.answers.lock().unwrap().pop_front();
    let (status, headers, body) =
        next.unwrap_or_else(|| (500, Vec::new(), Bytes::from_static(b"beyond the recording")));
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(body)).unwrap())
}

fn recorded_request(event: &ReplayEvent) -> Sent {
    let request = event.request();
    let uri: http::Uri = request.uri().parse().unwrap();
    let bytes = request.body().bytes().unwrap_or_default();
    Sent {
        method: request.method().to_string(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        target: request.headers().get("x-amz-target").map(str::to_owned),
        body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
    }
}

fn recorded_answer(event: &ReplayEvent) -> Answer {
    let response = event.response();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let body = Bytes::copy_from_slice(response.body().bytes().unwrap_or_default());
    (response.status().as_u16(), headers, body)
}
