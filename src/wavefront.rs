//! Wavefront's REST API, as the responder calls it: the `[wavefront]` settings (the cluster's
//! base URL and a reference to a service account's API token) and [`Wavefront`], a client that
//! makes one HTTPS call at a time with the token as a bearer token, bounded in time by its
//! caller and in size by [`MAX_ANSWER_BYTES`]. What each call means lives with the code that
//! makes it: the "still firing?" read in `execute`, events in `announce`, alert targets in the
//! `register` command.
//!
//! Errors say what to fix (a 401: the token; a 403: the permission the call needs) and never
//! contain the token.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::duration::HumanDuration;
use crate::secret::{Resolver, Secret, SecretRef};
use crate::text::{printable, truncate};

/// The largest answer read from Wavefront; a larger one is an error, not a truncation.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// Longest part of an error answer repeated in a message.
const MAX_MESSAGE_CHARS: usize = 300;

/// The `[wavefront]` table: where the cluster is and which token calls its API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub url: BaseUrl,
    /// A service account's API token (`env:` or `secretsmanager:`).
    pub api_token: SecretRef,
}

impl Settings {
    /// The API token, or why there is none as a sentence (`[wavefront] api_token env:X is not
    /// set or empty`).
    pub async fn token(&self, resolver: Resolver<'_>) -> Result<Secret, String> {
        let reference = &self.api_token;
        let values = (resolver.resolve(reference).await)
            .map_err(|unresolved| format!("[wavefront] api_token {reference} {unresolved}"))?;
        // Secret stores often keep a trailing newline, which no header may carry.
        let token = values
            .first()
            .map(|value| value.expose().trim())
            .unwrap_or("");
        if token.is_empty() {
            return Err(format!("[wavefront] api_token {reference} has no value"));
        }
        Ok(Secret::new(token))
    }
}

/// A cluster's base URL, `https://<name>.wavefront.com`; plain `http://` only for a loopback
/// address (tests and local use). Kept without a trailing slash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Parses and checks a base URL; the error says what to write instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        let example = "write the cluster's base URL, e.g. https://example.wavefront.com";
        let trimmed = text.trim().trim_end_matches('/');
        let uri: Uri = trimmed
            .parse()
            .map_err(|_| format!("`{}` is not a URL; {example}", printable(text)))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(format!(
                "`{}` is not a full URL; {example}",
                printable(text)
            ));
        };
        if authority.as_str().contains('@')
            || !matches!(uri.path(), "" | "/")
            || uri.query().is_some()
        {
            return Err(format!(
                "`{}` has more than a host; {example}",
                printable(text)
            ));
        }
        match scheme {
            "https" => {}
            "http" if is_loopback(authority.host()) => {}
            "http" => {
                return Err(format!(
                    "`{}` is plain http, which would send the API token in the clear; use \
                     https:// (plain http:// is accepted only for a loopback address)",
                    printable(text)
                ));
            }
            _ => {
                return Err(format!(
                    "`{}` is not an https URL; {example}",
                    printable(text)
                ));
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A Wavefront permission a call needs, as the product names it, for 403 messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Reading alerts: every account can.
    Browse,
    /// Creating events.
    Events,
    /// Creating and changing alert targets.
    Alerts,
}

impl Permission {
    fn as_str(self) -> &'static str {
        match self {
            Self::Browse => "Browse (read alerts)",
            Self::Events => "Events",
            Self::Alerts => "Alerts (manage alert targets)",
        }
    }
}

/// Why a call to Wavefront gave no usable answer. Never contains the token.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WavefrontError {
    #[error("Wavefront did not answer within {}", HumanDuration::new(*within))]
    TimedOut { within: Duration },
    /// No connection was made (DNS, refused, TLS handshake): nothing reached Wavefront.
    #[error("could not connect to Wavefront at {base}: {why}")]
    NotConnected { base: String, why: String },
    /// The connection failed after the request may have been sent.
    #[error("lost the connection to Wavefront at {base}: {why}")]
    Unreachable { base: String, why: String },
    /// The request could not be made at all; nothing was sent.
    #[error("could not make the request to Wavefront: {why}")]
    BadRequest { why: String },
    #[error(
        "Wavefront refused the API token (401): check that [wavefront] api_token names the \
         current token of an active service account"
    )]
    Unauthorized,
    #[error("Wavefront refused the call (403): the API token's account needs the {} permission", needs.as_str())]
    Forbidden { needs: Permission },
    #[error("Wavefront answered {status}: {message}")]
    Failed { status: u16, message: String },
    #[error("Wavefront's answer could not be read: {why}")]
    BadAnswer { why: String },
    #[error("could not set up TLS for Wavefront: {why}")]
    Tls { why: String },
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one cluster's API. Cheap to clone; clones share its pooled connections.
#[derive(Clone)]
pub struct Wavefront {
    base: BaseUrl,
    token: Secret,
    /// Built on the first call: loading the system's root certificates takes milliseconds
    /// (3 to 7 ms measured, release build), which a cold start should not pay for a call it
    /// may never make.
    http: Arc<OnceLock<Result<HttpClient, WavefrontError>>>,
}

impl fmt::Debug for Wavefront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wavefront")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// HTTPS through rustls with *ring* and the system's root certificates, as the AWS clients
/// use.
fn http_client() -> Result<HttpClient, WavefrontError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| WavefrontError::Tls { why: e.to_string() })?
        // Plain http is reachable only for loopback: `BaseUrl` refuses it elsewhere.
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(https))
}

impl Wavefront {
    /// A client of the cluster at `base`, calling with `token`. Nothing is loaded or
    /// connected until the first call.
    pub fn new(base: BaseUrl, token: Secret) -> Self {
        Self {
            base,
            token,
            http: Arc::new(OnceLock::new()),
        }
    }

    /// Calls `method path` (path and query, from `/api/v2/...`) with `body` as JSON, and
    /// returns the `response` member of Wavefront's answer (`null` when it has none). Gives
    /// up after `within`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        needs: Permission,
        within: Duration,
    ) -> Result<Value, WavefrontError> {
        match tokio::time::timeout(within, self.call_unbounded(method, path, body, needs)).await {
            Ok(answer) => answer,
            Err(_) => Err(WavefrontError::TimedOut { within }),
        }
    }

    async fn call_unbounded(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        needs: Permission,
    ) -> Result<Value, WavefrontError> {
        let request = self.request(method, path, body)?;
        let http = self.http.get_or_init(http_client).as_ref();
        let answer = (http.map_err(Clone::clone)?)
            .request(request)
            .await
            .map_err(|e| {
                let (base, why) = (self.base.to_string(), error_chain(&e));
                if e.is_connect() {
                    WavefrontError::NotConnected { base, why }
                } else {
                    WavefrontError::Unreachable { base, why }
                }
            })?;
        let status = answer.status();
        let bytes = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| WavefrontError::BadAnswer { why: e.to_string() })?
            .to_bytes();
        interpret(status, &bytes, needs)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Request<Full<Bytes>>, WavefrontError> {
        let uri = format!("{}{path}", self.base);
        let mut bearer = http::HeaderValue::try_from(format!("Bearer {}", self.token.expose()))
            .map_err(|_| WavefrontError::BadRequest {
                why: "the API token holds characters an HTTP header cannot carry; check the \
                      secret's value"
                    .to_owned(),
            })?;
        bearer.set_sensitive(true);
        let builder = Request::builder()
            .method(method)
            .uri(&uri)
            .header(header::AUTHORIZATION, bearer)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("wavefront-responder/", env!("CARGO_PKG_VERSION")),
            );
        let request = match body {
            Some(json) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(json.to_string()))),
            None => builder.body(Full::new(Bytes::new())),
        };
        request.map_err(|e| WavefrontError::BadRequest {
            why: format!("bad request path `{}`: {e}", printable(path)),
        })
    }
}

/// Wavefront's answer as a result: the `response` member of a 2xx, or the error it says.
fn interpret(status: StatusCode, bytes: &[u8], needs: Permission) -> Result<Value, WavefrontError> {
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    match status.as_u16() {
        200..=299 => match json {
            Some(mut v) => Ok(v
                .get_mut("response")
                .map(Value::take)
                .unwrap_or(Value::Null)),
            None => Err(WavefrontError::BadAnswer {
                why: format!("a {status} answer that is not JSON"),
            }),
        },
        401 => Err(WavefrontError::Unauthorized),
        403 => Err(WavefrontError::Forbidden { needs }),
        code => Err(WavefrontError::Failed {
            status: code,
            message: message_of(json.as_ref(), bytes),
        }),
    }
}

/// The `status.message` Wavefront puts in error answers, or the start of the body.
fn message_of(json: Option<&Value>, bytes: &[u8]) -> String {
    let text = match json
        .and_then(|v| v.pointer("/status/message"))
        .and_then(Value::as_str)
    {
        Some(message) if !message.is_empty() => message.to_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    let text = printable(truncate(text.trim(), MAX_MESSAGE_CHARS)).into_owned();
    if text.is_empty() {
        "(no message)".to_owned()
    } else {
        text
    }
}

/// An error and its sources, `outer: inner`, for transport failures.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let part = e.to_string();
        if !text.contains(&part) {
            text = format!("{text}: {part}");
        }
        next = e.source();
    }
    truncate(&text, MAX_MESSAGE_CHARS).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_https_or_loopback_http_and_nothing_more() {
        let ok = |t: &str| BaseUrl::parse(t).map(|u| u.to_string());
        assert_eq!(
            ok("https://acme.wavefront.com/"),
            Ok("https://acme.wavefront.com".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".into())
        );
        assert_eq!(ok("http://[::1]:9"), Ok("http://[::1]:9".into()));
        assert_eq!(ok("http://localhost:9"), Ok("http://localhost:9".into()));
        for (bad, says) in [
            ("http://acme.wavefront.com", "in the clear"),
            ("http://10.0.0.1", "in the clear"),
            ("acme.wavefront.com", "not a full URL"),
            ("https://acme.wavefront.com/api/v2", "more than a host"),
            ("https://user:pw@acme.wavefront.com", "more than a host"),
            ("https://acme.wavefront.com?a", "more than a host"),
            ("ftp://acme.wavefront.com", "not an https URL"),
            ("", "not a URL"),
        ] {
            let err = BaseUrl::parse(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn answers_become_the_response_member_or_an_error_that_says_what_to_fix() {
        let ok = br#"{"status":{"result":"OK","code":200},"response":{"id":"x"}}"#;
        let v = interpret(StatusCode::OK, ok, Permission::Events).unwrap();
        assert_eq!(v["id"], "x");
        let err = interpret(StatusCode::FORBIDDEN, b"{}", Permission::Events).unwrap_err();
        assert!(
            err.to_string().contains("needs the Events permission"),
            "{err}"
        );
        let err = interpret(StatusCode::UNAUTHORIZED, b"", Permission::Browse).unwrap_err();
        assert!(err.to_string().contains("api_token"), "{err}");
        let body = br#"{"status":{"result":"ERROR","message":"no such alert","code":404}}"#;
        let err = interpret(StatusCode::NOT_FOUND, body, Permission::Browse).unwrap_err();
        assert_eq!(
            err,
            WavefrontError::Failed {
                status: 404,
                message: "no such alert".into()
            }
        );
        let err = interpret(StatusCode::OK, b"<html>", Permission::Browse).unwrap_err();
        assert!(matches!(err, WavefrontError::BadAnswer { .. }), "{err}");
        let within = Duration::from_millis(2500);
        assert_eq!(
            WavefrontError::TimedOut { within }.to_string(),
            "Wavefront did not answer within 2s 500ms"
        );
    }

    #[tokio::test]
    async fn the_token_is_read_trimmed_and_an_empty_one_is_none() {
        let settings = |name: &str| Settings {
            url: BaseUrl::parse("https://acme.wavefront.com").unwrap(),
            api_token: SecretRef::Env(name.into()),
        };
        let env = |name: &str| match name {
            "NEWLINE" => Some("wf-token\n".to_owned()),
            "BLANK" => Some(" \n".to_owned()),
            _ => None,
        };
        let resolver = Resolver {
            env: &env,
            secrets_manager: None,
            previous_for: Duration::ZERO,
        };
        let token = settings("NEWLINE").token(resolver).await.unwrap();
        assert_eq!(token.expose(), "wf-token");
        assert_eq!(
            settings("BLANK").token(resolver).await.unwrap_err(),
            "[wavefront] api_token env:BLANK has no value"
        );
        assert_eq!(
            settings("UNSET").token(resolver).await.unwrap_err(),
            "[wavefront] api_token env:UNSET is not set or empty"
        );
    }

    #[test]
    fn the_token_is_never_shown() {
        let base = BaseUrl::parse("http://127.0.0.1:1").unwrap();
        let client = Wavefront::new(base, Secret::new("hunter2-token"));
        assert!(!format!("{client:?}").contains("hunter2"));
    }
}
