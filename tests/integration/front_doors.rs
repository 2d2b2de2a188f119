//! Every front door Lambda can put before the function: real event shapes go through
//! `lambda_http` and the same handler, base64-encoded bodies included.

use wavefront_responder::app::lambda;

use crate::support::*;

async fn answer(fixture_name: &str, base64: bool) -> (Reply, TestResponder) {
    let t = TestResponder::example().await;
    let auth = bearer(TOKEN);
    let event = lambda_event(
        fixture_name,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        &fixture("alerts/checkout-opened.json"),
        base64,
    );
    let response = lambda::handle(&t.responder, event).await;
    let (parts, body) = response.into_parts();
    let text = match body {
        lambda_http::Body::Text(text) => text,
        other => panic!("expected a text body, got {other:?}"),
    };
    let reply = Reply::from(http::Response::from_parts(parts, text));
    (reply, t)
}

async fn assert_served(fixture_name: &str, base64: bool, request_id: &str, source_ip: &str) {
    let (reply, t) = answer(fixture_name, base64).await;
    assert_eq!(reply.status, 200, "{fixture_name}: {}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.json["outcome"], "planned", "{fixture_name}");
    assert_eq!(reply.json["request_id"], request_id, "{fixture_name}");
    let audits = t.audits();
    assert_eq!(audits.len(), 2);
    assert_eq!(audits[0]["source_ip"], source_ip, "{fixture_name}");
    assert_eq!(audits[0]["user_agent"], "Wavefront-Alert-Target");
}

#[tokio::test]
async fn api_gateway_rest_api_events_are_served() {
    assert_served(
        "apigw-rest-v1.json",
        false,
        "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "198.51.100.7",
    )
    .await;
}

#[tokio::test]
async fn api_gateway_http_api_events_are_served() {
    assert_served(
        "apigw-http-v2.json",
        false,
        "JKJaXmPLvHcESHA=",
        "198.51.100.8",
    )
    .await;
}

#[tokio::test]
async fn function_url_events_are_served() {
    assert_served(
        "function-url.json",
        false,
        "8a3e1f6c-2b7d-4e9a-b5c1-0d2e3f4a5b6c",
        "198.51.100.9",
    )
    .await;
}

#[tokio::test]
async fn alb_events_are_served_with_the_address_the_alb_saw() {
    // The fixture's X-Forwarded-For starts with an address the caller made up; the ALB
    // appends the one it saw, last.
    // ALB events carry no request id of their own; on Lambda the runtime's id is used.
    assert_served("alb.json", false, "unknown", "198.51.100.10").await;
}

#[tokio::test]
async fn base64_encoded_bodies_are_decoded_on_every_front_door() {
    for fixture_name in [
        "apigw-rest-v1.json",
        "apigw-http-v2.json",
        "function-url.json",
        "alb.json",
    ] {
        let (reply, _) = answer(fixture_name, true).await;
        assert_eq!(reply.status, 200, "{fixture_name}: {}", reply.text);
        assert_eq!(reply.json["alert"]["name"], "checkout API error rate high");
    }
}

#[tokio::test]
async fn a_lambda_context_request_id_wins() {
    use lambda_http::RequestExt;
    let t = TestResponder::example().await;
    let auth = bearer(TOKEN);
    let mut context = lambda_http::Context::default();
    context.request_id = "aba1328d-5831-11e8-833f-b5cd5e8c0a59".into();
    let event = lambda_event(
        "apigw-http-v2.json",
        &[("authorization", &auth)],
        &fixture("alerts/checkout-opened.json"),
        false,
    )
    .with_lambda_context(context);
    let response = lambda::handle(&t.responder, event).await;
    assert_eq!(response.status(), 200);
    let metrics = t.metrics();
    assert!(
        metrics
            .iter()
            .all(|f| f[2] == "aba1328d-5831-11e8-833f-b5cd5e8c0a59")
    );
}

#[tokio::test]
async fn a_get_through_api_gateway_is_405() {
    let t = TestResponder::example().await;
    let mut event: serde_json::Value =
        serde_json::from_str(&fixture("events/apigw-http-v2.json")).unwrap();
    event["requestContext"]["http"]["method"] = "GET".into();
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = lambda::handle(&t.responder, request).await;
    assert_eq!(response.status(), 405);
}

/// `serve` stays up under a burst of idle connections: twice as many as it serves at once,
/// sending nothing. A real request after them is still answered, once the idle ones are closed
/// for not sending their headers in time.
#[tokio::test]
async fn the_local_server_outlasts_a_burst_of_idle_connections() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use wavefront_responder::app::local;

    let t = TestResponder::example().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = local::Limits {
        max_connections: 4,
        header_timeout: std::time::Duration::from_millis(300),
    };
    tokio::spawn(local::serve(Arc::new(t.responder), listener, limits));

    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let body = fixture("alerts/checkout-opened.json");
    let request = format!(
        "POST / HTTP/1.1\r\nhost: responder\r\nauthorization: {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        bearer(TOKEN),
        body.len()
    );
    let mut real = TcpStream::connect(address).await.unwrap();
    real.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    // Generous: the answer needs only the idle connections' 300 ms to pass, twice.
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        real.read_to_string(&mut answer),
    )
    .await
    .expect("answered while idle connections were open")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    // The idle connections were closed by the server.
    for mut connection in idle {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            connection.read(&mut buf),
        )
        .await
        .expect("closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
