//! AWS Lambda: `lambda_http` turns API Gateway REST (v1) and HTTP API (v2) events, ALB events
//! and function URL events (base64 bodies included) into one `http::Request`; this adapter
//! finds the request id and caller address in whichever event it was, and calls the handler.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, service_fn};

use super::Responder;
use crate::front_door::Inbound;

/// Serves Lambda invocations until the runtime stops.
pub async fn run(responder: Arc<Responder>) -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(move |request: Request| {
        let responder = Arc::clone(&responder);
        async move { Ok::<_, Infallible>(handle(&responder, request).await) }
    }))
    .await
}

/// Answers one Lambda HTTP event.
pub async fn handle(responder: &Responder, request: Request) -> http::Response<Body> {
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .or_else(|| event_request_id(request.request_context_ref()))
        .unwrap_or_else(|| "unknown".to_owned());
    let source_ip = source_ip(&request);
    // A deadline already passed leaves no time at all (never the full budget); a context
    // without one (deadline 0) is not Lambda's, and the budget alone applies.
    let time_left = request
        .lambda_context_ref()
        .filter(|c| c.deadline > 0)
        .map(|c| {
            let now_ms = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0);
            std::time::Duration::from_millis(c.deadline.saturating_sub(now_ms))
        });
    let function_arn = request
        .lambda_context_ref()
        .map(|c| c.invoked_function_arn.clone());
    let (parts, body) = request.into_parts();
    let body: &[u8] = match &body {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        // Body is non-exhaustive upstream; an unknown kind has no bytes we can read.
        _ => &[],
    };
    responder
        .handle(Inbound {
            method: &parts.method,
            headers: &parts.headers,
            body,
            request_id: &request_id,
            source_ip: source_ip.as_deref(),
            received_at: jiff::Timestamp::now(),
            body_error: None,
            time_left,
            function_arn: function_arn.as_deref(),
        })
        .await
        .map(Body::Text)
}

/// The front door's own request id, when there is no Lambda context (tests).
fn event_request_id(context: Option<&RequestContext>) -> Option<String> {
    match context? {
        RequestContext::ApiGatewayV1(c) => c.request_id.clone(),
        RequestContext::ApiGatewayV2(c) => c.request_id.clone(),
        _ => None,
    }
}

/// The caller's address: from the event for API Gateway and function URLs, from the last
/// `X-Forwarded-For` entry behind an ALB (the one the ALB appended; earlier entries are
/// whatever the caller sent).
fn source_ip(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.clone(),
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone(),
        _ => request
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|ip| ip.trim().chars().take(64).collect()),
    }
}
