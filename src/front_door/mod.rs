//! The front door: one request, whichever way it arrived (AWS Lambda or the local `serve`
//! server, see `app`), and the rules of HTTP that apply before any alert is looked
//! at. Every refusal is a [`Refusal`], and [`Refusal::status`] is the one place a refusal
//! becomes a status code.
//!
//! The order is: 405 unless POST; 400 when the body could not be read; 413 over 64 KiB; 401
//! unless `auth` accepts the caller, or 503 when the secrets it would be checked against could
//! not be re-read for too long (the fault is ours, not the caller's); 415 unless the body is
//! labelled JSON (or text/plain, as Wavefront may send JSON with that label); 400 when the
//! payload is unusable.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use jiff::Timestamp;
use serde::Serialize;

use crate::text::truncate;

/// Largest body accepted: Wavefront alert payloads are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One request, whichever door it came through.
#[derive(Debug)]
pub struct Inbound<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    /// The AWS request id on Lambda; a generated id locally.
    pub request_id: &'a str,
    /// The caller's address, as the front door saw it.
    pub source_ip: Option<&'a str>,
    /// When the request arrived: signature timestamps are checked against it.
    pub received_at: Timestamp,
    /// Set when the front door could not read the whole body.
    pub body_error: Option<BodyError>,
    /// On Lambda, the time left before the invocation's deadline.
    pub time_left: Option<Duration>,
    /// On Lambda, the ARN the function was invoked by: where its actions act.
    pub function_arn: Option<&'a str>,
}

/// Why a front door has no complete body to hand over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than [`MAX_BODY_BYTES`]; reading stopped there.
    TooLarge,
    /// The connection failed while the body was being read.
    Unreadable,
}

/// A request answered before any rule ran.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("method {0} is not allowed; alert targets send POST")]
    MethodNotAllowed(Method),
    #[error("the body could not be read to its end")]
    Unreadable,
    #[error("the body is over the {MAX_BODY_BYTES}-byte limit")]
    TooLarge,
    /// The caller is told only "unauthorized"; `why` is for the audit line.
    #[error("unauthorized")]
    Unauthorized { why: String },
    /// The caller may hold a secret the responder can no longer vouch for: those read from
    /// Secrets Manager could not be re-read for too long. The caller is told only that it may
    /// try again later; `why` (what failed, and what to check) is for the audit line.
    #[error("service unavailable: credentials cannot be checked right now; try again later")]
    SecretsUnconfirmed { why: String },
    #[error(
        "content type \"{0}\" is not supported; set the alert target's content type to \
         application/json"
    )]
    UnsupportedContentType(String),
    /// The payload is not a usable alert: why, for the caller.
    #[error("{0}")]
    BadPayload(String),
}

impl Refusal {
    /// The status code of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unreadable | Self::BadPayload(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::SecretsUnconfirmed { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    /// The outcome in the body and the audit line: `rejected` for a caller who could not
    /// prove who they are (whoever is at fault), `invalid` for everything else.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } | Self::SecretsUnconfirmed { .. } => "rejected",
            _ => "invalid",
        }
    }

    /// What the audit line says: for a rejection, why; otherwise what the caller is told.
    pub fn detail(&self) -> String {
        match self {
            Self::Unauthorized { why } | Self::SecretsUnconfirmed { why } => why.clone(),
            other => other.to_string(),
        }
    }

    /// The answer: a JSON body with the request id, the outcome and the error.
    pub fn into_response(self, request_id: &str) -> Response<String> {
        #[derive(Serialize)]
        struct Body<'a> {
            request_id: &'a str,
            outcome: &'a str,
            error: &'a str,
        }
        let error = self.to_string();
        let mut response = json_response(
            self.status(),
            &Body {
                request_id,
                outcome: self.outcome(),
                error: &error,
            },
        );
        if let Self::MethodNotAllowed(_) = self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// The rules checked before the caller is: POST, a body read whole, within the size limit.
pub fn check_request(request: &Inbound<'_>) -> Result<(), Refusal> {
    if request.method != Method::POST {
        return Err(Refusal::MethodNotAllowed(request.method.clone()));
    }
    match request.body_error {
        Some(BodyError::Unreadable) => Err(Refusal::Unreadable),
        Some(BodyError::TooLarge) => Err(Refusal::TooLarge),
        None if request.body.len() > MAX_BODY_BYTES => Err(Refusal::TooLarge),
        None => Ok(()),
    }
}

/// JSON, or JSON labelled text/plain (Wavefront lets a template pick that label), or no label
/// at all. Forms, HTML and everything else are refused.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let accepted = essence == "application/json"
        || essence == "text/plain"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if accepted {
        Ok(())
    } else {
        Err(Refusal::UnsupportedContentType(
            truncate(&essence, 64).to_owned(),
        ))
    }
}

/// A JSON answer with `status`.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<String> {
    let body = serde_json::to_string(body).unwrap_or_else(|err| {
        tracing::error!(%err, "cannot serialize a response");
        r#"{"error":"internal error"}"#.to_owned()
    });
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_we_cannot_vouch_for_are_our_fault_and_the_reason_stays_in_the_audit_line() {
        let refusal = Refusal::SecretsUnconfirmed {
            why: "the Secrets Manager secrets could not be re-read".into(),
        };
        assert_eq!(refusal.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refusal.outcome(), "rejected");
        assert_eq!(
            refusal.detail(),
            "the Secrets Manager secrets could not be re-read"
        );
        let response = refusal.into_response("req-1");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(body["outcome"], "rejected");
        assert_eq!(
            body["error"],
            "service unavailable: credentials cannot be checked right now; try again later"
        );
        assert!(!response.body().contains("Secrets Manager"));
    }
}
