//! A fault-injecting HTTP proxy in front of moto server. The SDK under test talks to it; it
//! forwards each request to moto and records which AWS operation it was, and, when told to,
//! answers some requests the way AWS does when things go wrong (throttling, 500, 503), stalls
//! them, delays them past the caller's patience, closes their connection, or disappears
//! altogether. It injects faults and never plays AWS itself: every answer that is not an
//! injected fault is moto's. [`Proxy::responder`] puts a responder behind it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::moto::Aws;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use wavefront_responder::app::ANSWER_MARGIN;
use wavefront_responder::config::Config;
use wavefront_responder::execute::Timing;
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::ledger::{Ledger, Store};

use crate::moto;
use crate::support::{LEDGER_CALLS, TestResponder};

/// Matches every operation in [`Proxy::inject`].
pub const ANY: &str = "*";

/// What the proxy does to a matching request instead of forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error, as AWS sends it: 400 `ProvisionedThroughputExceededException`
    /// (DynamoDB), 400 `ThrottlingException` (other JSON protocols), 429
    /// `TooManyRequestsException` (Lambda's REST API).
    Throttle,
    /// A 5xx answer (500 or 503) in the service's error shape.
    Status(u16),
    /// Accept the request and never answer it.
    Stall,
    /// Hold the request this long, then forward it, whether or not the caller still waits:
    /// a write that lands after the caller gave up on it.
    Delay(Duration),
    /// Close the connection without answering, before the request reaches moto.
    Close,
    /// The emulator disappears mid-request: the proxy stops listening and drops every
    /// connection, this one unanswered. Later calls are refused.
    Vanish,
}

/// Which of the matching requests get the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The first n; the ones after are forwarded.
    First(usize),
    /// Only the nth (1-based).
    Nth(usize),
    Always,
}

/// Which ledger a responder behind the proxy keeps: see [`Proxy::responder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerKind {
    Memory,
    /// A table on moto.
    DynamoDb,
}

struct Injection {
    operation: String,
    fault: Fault,
    times: Times,
    matched: usize,
}

#[derive(Default)]
struct Shared {
    upstream: String,
    operations: Mutex<Vec<String>>,
    injections: Mutex<Vec<Injection>>,
    gone: AtomicBool,
    accept: OnceLock<AbortHandle>,
}

impl Shared {
    /// Records the operation and picks the fault for it, if any: every injection counts the
    /// requests it matches, and the first (in the order added) that selects this one applies.
    fn arrive(&self, operation: &str) -> Option<Fault> {
        self.operations.lock().unwrap().push(operation.to_owned());
        let mut fault = None;
        let mut injections = self.injections.lock().unwrap();
        for injection in injections
            .iter_mut()
            .filter(|i| i.operation == ANY || i.operation == operation)
        {
            injection.matched += 1;
            let selected = match injection.times {
                Times::First(n) => injection.matched <= n,
                Times::Nth(n) => injection.matched == n,
                Times::Always => true,
            };
            if selected && fault.is_none() {
                fault = Some(injection.fault);
            }
        }
        fault
    }

    fn vanish(&self) {
        self.gone.store(true, Ordering::SeqCst);
        // Dropping the accept loop closes the port and aborts every connection task.
        if let Some(accept) = self.accept.get() {
            accept.abort();
        }
    }
}

/// The proxy. Dropping it closes its port.
pub struct Proxy {
    endpoint: String,
    shared: Arc<Shared>,
}

impl Proxy {
    /// A proxy on a free loopback port, forwarding to moto.
    pub async fn start() -> Self {
        let upstream = moto::endpoint().trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream,
            ..Shared::default()
        });
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                if accepting.gone.load(Ordering::SeqCst) {
                    break;
                }
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
        let _ = shared.accept.set(task.abort_handle());
        Self { endpoint, shared }
    }

    /// Where it listens: an endpoint for a client of a service the [`Aws`] bundle lacks.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// AWS clients that go through the proxy, with the responder's own retries and timeouts.
    pub async fn aws(&self) -> Aws {
        Aws::from_sdk_config(&moto::sdk_config(&self.endpoint).await)
    }

    /// A responder running `config` whose AWS calls, its ledger's included, all go through the
    /// proxy; and its ledger, for reading back without the proxy.
    pub async fn responder(&self, config: Config, kind: LedgerKind) -> (TestResponder, Ledger) {
        self.responder_timed(config, kind, Timing::default()).await
    }

    /// [`Proxy::responder`], its executor with `timing`.
    pub async fn responder_timed(
        &self,
        config: Config,
        kind: LedgerKind,
        timing: Timing,
    ) -> (TestResponder, Ledger) {
        self.responder_with_margins(config, kind, timing, ANSWER_MARGIN)
            .await
    }

    /// [`Proxy::responder_timed`], keeping `answer_margin` back from Lambda's deadline to answer.
    pub async fn responder_with_margins(
        &self,
        config: Config,
        kind: LedgerKind,
        timing: Timing,
        answer_margin: Duration,
    ) -> (TestResponder, Ledger) {
        let proxied = self.aws().await;
        let (responder_ledger, ledger) = match kind {
            LedgerKind::Memory => {
                let ledger = Ledger::in_memory(config.circuit_breaker);
                (ledger.clone(), ledger)
            }
            LedgerKind::DynamoDb => {
                let moto = moto::aws().await;
                let table = moto::ledger_table(&moto).await;
                let on = |client: &aws_sdk_dynamodb::Client| {
                    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(client.clone(), &table));
                    Ledger::new(store, config.ledger.retention, config.circuit_breaker)
                };
                (on(&proxied.dynamodb), on(&moto.dynamodb))
            }
        };
        let t = TestResponder::live_with_margins(
            config,
            proxied,
            responder_ledger,
            timing,
            answer_margin,
        )
        .await;
        (t, ledger)
    }

    /// From now on, `fault` for the requests of `operation` (`"GetAlias"`, or [`ANY`]) that
    /// `times` selects. Injections are tried in the order they were added.
    pub fn inject(&self, operation: &str, fault: Fault, times: Times) {
        self.shared.injections.lock().unwrap().push(Injection {
            operation: operation.to_owned(),
            fault,
            times,
            matched: 0,
        });
    }

    /// From now on, no faults: every request is forwarded again, as when the service recovers.
    pub fn clear(&self) {
        self.shared.injections.lock().unwrap().clear();
    }

    /// Every operation requested so far, in order of arrival, retries included.
    pub fn operations(&self) -> Vec<String> {
        self.shared.operations.lock().unwrap().clone()
    }

    /// The operations requested so far, forgetting them.
    pub fn take_operations(&self) -> Vec<String> {
        std::mem::take(&mut *self.shared.operations.lock().unwrap())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.vanish();
    }
}

/// Why a connection was dropped without an answer: hyper closes it when the service fails.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault injector")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    if shared.gone.load(Ordering::SeqCst) {
        return Err(Dropped);
    }
    let operation = operation(request.method(), request.uri(), request.headers());
    match shared.arrive(&operation) {
        None => {}
        Some(Fault::Throttle) => return Ok(throttled(request.headers())),
        Some(Fault::Status(status)) => return Ok(server_error(request.headers(), status)),
        Some(Fault::Stall) => return std::future::pending::<Result<_, Dropped>>().await,
        Some(Fault::Delay(delay)) => {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
            let upstream = shared.upstream.clone();
            // A task of its own: the caller hanging up does not cancel it.
            let late = tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                forward_bytes(&upstream, parts, body).await
            });
            return late.await.map_err(|_| Dropped)?.map_err(|_| Dropped);
        }
        Some(Fault::Close) => return Err(Dropped),
        Some(Fault::Vanish) => {
            shared.vanish();
            return Err(Dropped);
        }
    }
    forward(&shared.upstream, request)
        .await
        .map_err(|_| Dropped)
}

async fn forward(
    upstream: &str,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    forward_bytes(upstream, parts, body).await
}

async fn forward_bytes(
    upstream: &str,
    mut parts: http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    parts.headers.remove(header::TRANSFER_ENCODING);
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (mut parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    parts.headers.remove(header::TRANSFER_ENCODING);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The ledger's reads.
const LEDGER_READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "Scan"];

/// The operations by which an action changes something.
const ACTION_WRITES: &[&str] = &["UpdateAlias", "StopDeployment", "CreateDeployment"];

/// Checks `seen` (the operations the proxy recorded, in order of arrival) against `expected`,
/// operation names separated by spaces, as far as the order does not depend on timing: the
/// actions' calls (Lambda, CodeDeploy) in the order written, each action's calls following one
/// another; and the ledger's (DynamoDB) calls in the order written too, in runs between the
/// actions' writes (every claim comes before the write it admits, and the delivery is confirmed
/// after it), but apart from the actions' reads. Reads of the ledger next to each other
/// (a dry run's latch, cooldown and breaker, read at once) are compared as counts.
#[track_caller]
pub fn assert_calls(seen: &[String], expected: &str) {
    let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
    let expected: Vec<&str> = expected.split_whitespace().collect();
    assert_eq!(
        untimed(&seen),
        untimed(&expected),
        "the calls made, {seen:?}, do not fit {expected:?}"
    );
}

/// The actions' calls in order, and the ledger's in runs between two of the actions' writes,
/// each group of ledger reads next to each other sorted.
fn untimed<'a>(calls: &[&'a str]) -> (Vec<&'a str>, Vec<Vec<&'a str>>) {
    let mut actions = Vec::new();
    let mut ledger = vec![Vec::new()];
    for &call in calls {
        if LEDGER_CALLS.contains(&call) {
            if let Some(run) = ledger.last_mut() {
                run.push(call);
            }
        } else {
            if ACTION_WRITES.contains(&call) {
                ledger.push(Vec::new());
            }
            actions.push(call);
        }
    }
    for run in &mut ledger {
        for reads in run.chunk_by_mut(|a, b| LEDGER_READS.contains(a) && LEDGER_READS.contains(b)) {
            reads.sort_unstable();
        }
    }
    (actions, ledger)
}

/// The AWS operation a request calls: the `X-Amz-Target` of the JSON protocols (DynamoDB,
/// CodeDeploy, Secrets Manager), the method and path of Lambda's REST API, or `AwsQuery` for
/// a form POST of the awsQuery protocol (SNS's `Publish`). Anything else is `METHOD /path`.
pub fn operation(method: &Method, uri: &Uri, headers: &HeaderMap) -> String {
    if let Some(target) = json_target(headers) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let name = match (method.as_str(), segments.as_slice()) {
        ("GET", [_, "functions", _, "aliases", _]) => "GetAlias",
        ("PUT", [_, "functions", _, "aliases", _]) => "UpdateAlias",
        ("POST", [_, "functions", _, "aliases"]) => "CreateAlias",
        ("GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", [_, "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("POST", [_, "functions", _, "versions"]) => "PublishVersion",
        ("POST", [_, "functions"]) => "CreateFunction",
        // The awsQuery protocol (SNS): the action is in the form body, which is not read here.
        ("POST", [""]) if is_form(headers) => "AwsQuery",
        _ => return format!("{method} {}", uri.path()),
    };
    name.to_owned()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn json_target(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok())
}

fn throttled(headers: &HeaderMap) -> Response<Full<Bytes>> {
    match json_target(headers) {
        Some(target) if target.starts_with("DynamoDB_") => json_error(
            target,
            StatusCode::BAD_REQUEST,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        ),
        Some(target) => json_error(
            target,
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded",
        ),
        None => rest_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            r#"{"Reason":"CallerRateLimitExceeded","Type":"User","message":"Rate exceeded"}"#,
        ),
    }
}

fn server_error(headers: &HeaderMap, status: u16) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(status).unwrap();
    let (code, message) = if status == StatusCode::SERVICE_UNAVAILABLE {
        ("ServiceUnavailable", "Service unavailable, try again later")
    } else {
        ("InternalServerError", "Internal server error")
    };
    match json_target(headers) {
        Some(target) => json_error(target, status, code, message),
        None => rest_error(
            status,
            "ServiceException",
            &format!(r#"{{"Type":"Service","message":"{message}"}}"#),
        ),
    }
}

/// An error in the JSON protocols' shape: the code in `x-amzn-ErrorType` and `__type`.
fn json_error(
    target: &str,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    let (content_type, namespace) = if target.starts_with("DynamoDB_") {
        (
            "application/x-amz-json-1.0",
            "com.amazonaws.dynamodb.v20120810#",
        )
    } else {
        ("application/x-amz-json-1.1", "")
    };
    let body = serde_json::json!({"__type": format!("{namespace}{code}"), "message": message});
    answer(status, code, content_type, body.to_string())
}

/// An error in Lambda's REST shape: the code in `x-amzn-ErrorType`, details in the body.
fn rest_error(status: StatusCode, code: &str, body: &str) -> Response<Full<Bytes>> {
    answer(status, code, "application/json", body.to_owned())
}

fn answer(
    status: StatusCode,
    code: &str,
    content_type: &str,
    body: String,
) -> Response<Full<Bytes>> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    Response::builder()
        .status(status)
        .header("x-amzn-ErrorType", code)
        .header(
            "x-amzn-RequestId",
            format!("fault-{}", N.fetch_add(1, Ordering::Relaxed)),
        )
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}
