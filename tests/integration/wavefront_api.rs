//! A stand-in for Wavefront's REST API on loopback: a real HTTP server that records every
//! request and answers the calls the responder makes as the API documents them, in its
//! `{"status": {...}, "response": ...}` envelope: reading an alert (`GET /api/v2/alert/{id}`),
//! creating an event (`POST /api/v2/event`), and listing, creating and updating alert targets
//! (`/api/v2/notificant`). A request without the bearer token [`API_TOKEN`] is answered 401, as
//! Wavefront does. A test can make a path answer with an error status, or stall.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinSet};

pub use crate::support::{
    WAVEFRONT_API_TOKEN as API_TOKEN, WAVEFRONT_API_TOKEN_ENV as API_TOKEN_ENV,
};

/// What a path does instead of answering as the API documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehave {
    /// Answer with this status and Wavefront's error envelope.
    Status(u16),
    /// Accept the request and never answer it.
    Stall,
}

/// One request as the stand-in received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, e.g. `/api/v2/notificant?offset=0&limit=100`.
    pub path: String,
    pub headers: HeaderMap,
    /// The JSON body; `Value::Null` when there was none.
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// Alert id → its `status` list.
    alerts: Mutex<HashMap<String, Vec<String>>>,
    /// The alert targets, in creation order, each with its `id`.
    notificants: Mutex<Vec<Value>>,
    /// (method, path prefix, what to do), first match wins.
    misbehaving: Mutex<Vec<(Method, String, Misbehave)>>,
}

/// The stand-in. Dropping it closes its port.
pub struct WavefrontApi {
    url: String,
    shared: Arc<Shared>,
    accept: AbortHandle,
}

impl Drop for WavefrontApi {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl WavefrontApi {
    /// A stand-in on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
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
            shared,
            accept: task.abort_handle(),
        }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A `[wavefront]` table pointing at the stand-in, its token read from [`API_TOKEN_ENV`].
    pub fn config_table(&self) -> String {
        format!(
            "[wavefront]\nurl = \"{}\"\napi_token = \"env:{API_TOKEN_ENV}\"\n",
            self.url
        )
    }

    /// Makes alert `id` exist with `status` (e.g. `["FIRING"]`, `["FIRING", "SNOOZED"]`).
    pub fn set_alert(&self, id: &str, status: &[&str]) {
        let status = status.iter().map(|s| s.to_string()).collect();
        self.shared
            .alerts
            .lock()
            .unwrap()
            .insert(id.to_owned(), status);
    }

    /// Makes requests whose method is `method` and path starts with `path` misbehave.
    pub fn misbehave(&self, method: Method, path: &str, how: Misbehave) {
        let rule = (method, path.to_owned(), how);
        self.shared.misbehaving.lock().unwrap().push(rule);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests with `method` whose path starts with `path`.
    pub fn requests_to(&self, method: Method, path: &str) -> Vec<Recorded> {
        let all = self.requests();
        all.into_iter()
            .filter(|r| r.method == method && r.path.starts_with(path))
            .collect()
    }

    /// The alert targets as stored, in creation order.
    pub fn notificants(&self) -> Vec<Value> {
        self.shared.notificants.lock().unwrap().clone()
    }

    /// Stores `target` as if it had been created through the API; returns its id.
    pub fn add_notificant(&self, target: Value) -> String {
        let mut notificants = self.shared.notificants.lock().unwrap();
        let stored = created(&notificants, target);
        notificants.push(stored.clone());
        stored["id"].as_str().unwrap().to_owned()
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let recorded = Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    shared.requests.lock().unwrap().push(recorded.clone());
    let expected = format!("Bearer {API_TOKEN}");
    if parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return Ok(error(401, "401 Unauthorized"));
    }
    let misbehaving = shared
        .misbehaving
        .lock()
        .unwrap()
        .iter()
        .find(|(m, p, _)| *m == parts.method && path.starts_with(p.as_str()))
        .map(|(_, _, how)| *how);
    match misbehaving {
        Some(Misbehave::Stall) => std::future::pending().await,
        Some(Misbehave::Status(code)) => return Ok(error(code, "injected by the test")),
        None => {}
    }
    Ok(answer(&shared, &recorded))
}

/// The documented answer to `request`.
fn answer(shared: &Shared, request: &Recorded) -> Response<Full<Bytes>> {
    let path = request.path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path.trim_start_matches("/api/v2/").split('/').collect();
    match (&request.method, segments.as_slice()) {
        (&Method::GET, ["alert", id]) => match shared.alerts.lock().unwrap().get(*id) {
            Some(status) => ok(json!({"id": id, "name": "stand-in alert", "status": status})),
            None => error(404, &format!("Alert {id} does not exist")),
        },
        (&Method::POST, ["event"]) => {
            let mut event = request.body.clone();
            let id = format!(
                "{}:{}:1",
                event["startTime"],
                event["name"].as_str().unwrap_or("")
            );
            event["id"] = json!(id);
            ok(event)
        }
        (&Method::GET, ["notificant"]) => list_notificants(shared, &request.path),
        (&Method::POST, ["notificant"]) => {
            let mut notificants = shared.notificants.lock().unwrap();
            let target = created(&notificants, request.body.clone());
            notificants.push(target.clone());
            ok(target)
        }
        (&Method::PUT, ["notificant", id]) => {
            let mut notificants = shared.notificants.lock().unwrap();
            match notificants.iter_mut().find(|t| t["id"] == *id) {
                Some(stored) => {
                    let created_at = stored["createdEpochMillis"].clone();
                    *stored = request.body.clone();
                    stored["id"] = json!(id);
                    stored["createdEpochMillis"] = created_at;
                    stored["updatedEpochMillis"] = json!(1_700_000_100_000_u64);
                    ok(stored.clone())
                }
                None => error(404, &format!("Notificant {id} does not exist")),
            }
        }
        _ => error(404, "no such API"),
    }
}

/// `target` as the API stores a new one: with its id and the fields Wavefront keeps besides.
fn created(notificants: &[Value], mut target: Value) -> Value {
    let id = format!("nt{:08x}", 0xa11e_0000_u32 + notificants.len() as u32);
    target["id"] = json!(id);
    target["customerId"] = json!("stand-in");
    target["creatorId"] = json!("sa::responder-registration");
    target["createdEpochMillis"] = json!(1_700_000_000_000_u64);
    target["updatedEpochMillis"] = json!(1_700_000_000_000_u64);
    target
}

/// `GET /api/v2/notificant?offset=&limit=`: one page of the stored targets.
fn list_notificants(shared: &Shared, path: &str) -> Response<Full<Bytes>> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str, default: usize| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    let (offset, limit) = (param("offset", 0), param("limit", 100));
    let all = shared.notificants.lock().unwrap();
    let items: Vec<&Value> = all.iter().skip(offset).take(limit).collect();
    ok(json!({
        "items": items,
        "offset": offset,
        "limit": limit,
        "totalItems": all.len(),
        "moreItems": offset + items.len() < all.len(),
    }))
}

fn ok(response: Value) -> Response<Full<Bytes>> {
    let body =
        json!({"status": {"result": "OK", "message": "", "code": 200}, "response": response});
    envelope(StatusCode::OK, body)
}

fn error(code: u16, message: &str) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"status": {"result": "ERROR", "message": message, "code": code}});
    envelope(status, body)
}

fn envelope(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The client reaches the stand-in, sends the token, and reads answers and errors as the
/// responder's code will.
#[tokio::test]
async fn the_client_calls_the_stand_in_with_the_token_and_reads_its_answers() {
    use std::time::Duration;
    use wavefront_responder::secret::Secret;
    use wavefront_responder::wavefront::{BaseUrl, Permission, Wavefront, WavefrontError};

    let api = WavefrontApi::start().await;
    api.set_alert("1700000000000", &["FIRING"]);
    let base = BaseUrl::parse(api.url()).unwrap();
    let client = Wavefront::new(base.clone(), Secret::new(API_TOKEN));
    let second = Duration::from_secs(1);
    let alert = client
        .call(
            Method::GET,
            "/api/v2/alert/1700000000000",
            None,
            Permission::Browse,
            second,
        )
        .await
        .unwrap();
    assert_eq!(alert["status"], json!(["FIRING"]));
    let missing = client
        .call(
            Method::GET,
            "/api/v2/alert/1",
            None,
            Permission::Browse,
            second,
        )
        .await
        .unwrap_err();
    assert_eq!(
        missing,
        WavefrontError::Failed {
            status: 404,
            message: "Alert 1 does not exist".into()
        }
    );
    api.misbehave(Method::POST, "/api/v2/event", Misbehave::Status(403));
    let event = json!({"name": "x"});
    let forbidden = client
        .call(
            Method::POST,
            "/api/v2/event",
            Some(&event),
            Permission::Events,
            second,
        )
        .await
        .unwrap_err();
    assert_eq!(
        forbidden,
        WavefrontError::Forbidden {
            needs: Permission::Events
        }
    );
    api.misbehave(Method::GET, "/api/v2/notificant", Misbehave::Stall);
    let short = Duration::from_millis(50);
    let stalled = client
        .call(
            Method::GET,
            "/api/v2/notificant",
            None,
            Permission::Alerts,
            short,
        )
        .await
        .unwrap_err();
    assert_eq!(stalled, WavefrontError::TimedOut { within: short });
    let wrong = Wavefront::new(base, Secret::new("not-the-token"));
    let refused = wrong
        .call(
            Method::GET,
            "/api/v2/alert/1700000000000",
            None,
            Permission::Browse,
            second,
        )
        .await
        .unwrap_err();
    assert_eq!(refused, WavefrontError::Unauthorized);
    assert_eq!(api.requests_to(Method::GET, "/api/v2/alert/").len(), 3);
    let sent = api.requests();
    assert_eq!(sent.len(), 5);
    assert_eq!(
        sent[0].headers[header::AUTHORIZATION],
        format!("Bearer {API_TOKEN}")
    );
    assert_eq!(sent[2].headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(sent[2].body, event);
    for error in [missing, forbidden, stalled, refused] {
        assert!(!error.to_string().contains(API_TOKEN), "{error}");
    }
}

/// A `[wavefront]` table gives the responder a client; a token that cannot be read is a
/// start-up warning that says what is off, not a failed start, and never shows a secret.
#[tokio::test]
async fn a_token_that_cannot_be_read_turns_the_wavefront_features_off_with_a_warning() {
    use std::path::Path;
    use std::sync::Arc;
    use wavefront_responder::app::{Options, Responder};
    use wavefront_responder::config::Config;
    use wavefront_responder::telemetry::Telemetry;

    let api = WavefrontApi::start().await;
    let auth = "[auth]\ntokens = [\"env:WEBHOOK_TOKEN\"]\n";
    let setup = |table: String| async move {
        let text = format!("{auth}{table}");
        let config = Config::parse(&text, Path::new("wavefront.toml")).unwrap();
        let env = Arc::new(crate::support::env);
        let telemetry = Telemetry::to_writer(std::io::sink());
        Responder::setup(config, env, telemetry, Options::default())
            .await
            .unwrap()
            .warnings
    };
    assert_eq!(setup(api.config_table()).await, Vec::<String>::new());
    let unset = api
        .config_table()
        .replace(API_TOKEN_ENV, "NOT_SET_ANYWHERE");
    let warnings = setup(unset).await;
    assert_eq!(
        warnings,
        [
            "[wavefront] api_token env:NOT_SET_ANYWHERE is not set or empty: Wavefront events \
          are off and require_firing rules follow on_wavefront_error"
        ]
    );
}
