//! What a Wavefront event and a chat notification cost a request: building each from the
//! record, the ledger's mark (in memory, and a conditional `PutItem` on DynamoDB in moto
//! server), the `POST /api/v2/event` to the stand-in for Wavefront's API on loopback
//! (`tests/integration/wavefront_api.rs`), on a warm connection and on a new one, and the SNS
//! `Publish` to a topic in moto server. It times [`Announcer::post`] and [`Notifier::send`],
//! the steps `Responder::handle` runs at once after the record is written.
//!
//! The stand-in answers on loopback over plain HTTP, in microseconds: against a real cluster
//! the post is an HTTPS round trip over the internet (and, on a new connection, a TLS
//! handshake), which no local figure stands for; the responder bounds it at 2 s.
//!
//! Run: `cargo bench --bench event_cost` (uses `MOTO_ENDPOINT`, else starts moto server from
//! `.venv`). `BENCH_EVENTS` overrides the number of warm posts (500). Figures: BENCHMARKS.md.

#[allow(dead_code)]
#[path = "../tests/integration/moto.rs"]
mod moto;
#[allow(dead_code)]
#[path = "../tests/integration/runtime_api.rs"]
mod runtime_api;
#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;
#[allow(dead_code)]
#[path = "../tests/integration/wavefront_api.rs"]
mod wavefront_api;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wavefront_responder::alert::Alert;
use wavefront_responder::announce::chat::{AlertLink, Message};
use wavefront_responder::announce::notify::{Notified, Notifier, Outcomes};
use wavefront_responder::announce::{Announced, Announcer, Event};
use wavefront_responder::config::Config;
use wavefront_responder::duration::HumanDuration;
use wavefront_responder::execute::{ActionOutcome, Execution};
use wavefront_responder::ledger::Ledger;
use wavefront_responder::ledger::dynamodb::DynamoStore;
use wavefront_responder::plan::Plan;
use wavefront_responder::record::Record;
use wavefront_responder::secret::Secret;
use wavefront_responder::wavefront::{BaseUrl, Wavefront};

use wavefront_api::{API_TOKEN, WavefrontApi};

const CONFIG: &str = r#"
[auth]
tokens = ["env:UNUSED"]
[[rule]]
name = "checkout-errors"
alert = "checkout * error rate*"
[[rule.action]]
type = "lambda-alias"
function = "checkout"
alias = "live"
to_alias = "stable"
"#;

/// The checkout alert as notification `n`: each post is of a delivery of its own.
fn alert(n: usize) -> Alert {
    let fixture = support::fixture("alerts/checkout-opened.json");
    let mut alert: Value = serde_json::from_str(&fixture).expect("alert JSON");
    alert["notificationId"] = format!("bench-{n}").into();
    Alert::parse(alert.to_string().as_bytes()).expect("alert")
}

/// The record of one executed alias move of `plan`.
fn executed<'a>(plan: &Plan<'a>) -> Record<'a> {
    let mut record = Record::new(plan, Execution::planned(plan));
    record.rules[0].actions[0].outcome = ActionOutcome::Executed;
    record.rules[0].actions[0].detail = "moved live 42 -> 41".into();
    record
}

/// Median and 99th percentile of `samples`, in milliseconds.
fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.3} ms, p99 {:.3} ms, n = {}",
        ms(at(0.5)),
        ms(at(0.99)),
        samples.len()
    )
}

/// Times `events` posts of fresh deliveries through `ledger`, on `wavefront`'s connection.
async fn posts(
    wavefront: &Wavefront,
    ledger: &Ledger,
    config: &Config,
    events: usize,
    first: usize,
) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(events);
    for n in first..first + events {
        let alert = alert(n);
        let plan = Plan::new("bench", &alert, &config.rules, false);
        let record = executed(&plan);
        let announcer = Announcer {
            wavefront,
            ledger,
            until: tokio::time::Instant::now() + Duration::from_secs(2),
        };
        let started = Instant::now();
        let announced = announcer.post(&record, &alert).await;
        samples.push(started.elapsed());
        assert!(matches!(announced, Announced::Posted(_)), "{announced:?}");
    }
    samples
}

/// Times `count` notifications of fresh deliveries through `ledger`, published to `topic`.
async fn notifications(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    ledger: &Ledger,
    config: &Config,
    count: usize,
    first: usize,
) -> Vec<Duration> {
    let on = Outcomes::default();
    let mut samples = Vec::with_capacity(count);
    for n in first..first + count {
        let alert = alert(n);
        let plan = Plan::new("bench", &alert, &config.rules, false);
        let record = executed(&plan);
        let notifier = Notifier {
            sns,
            topic_arn: Ok(topic),
            on: &on,
            ledger,
            until: tokio::time::Instant::now() + Duration::from_secs(2),
            home: None,
        };
        let started = Instant::now();
        let notified = notifier.send(&record, &alert).await;
        samples.push(started.elapsed());
        assert!(matches!(notified, Notified::Sent(_)), "{notified:?}");
    }
    samples
}

/// The notification's figures: building it, and publishing it with its mark in memory and in
/// DynamoDB, `count` each.
async fn notification_costs(config: &Config, dynamo: &Ledger, count: usize) {
    let alert = alert(0);
    let plan = Plan::new("bench", &alert, &config.rules, false);
    let record = executed(&plan);
    let link = AlertLink {
        url: alert.url.as_deref(),
    };
    let on = Outcomes::default();
    let mut build = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let message = Message::of(&record, link, &on, None).expect("a message");
        std::hint::black_box(message.body.to_string());
        build.push(started.elapsed());
    }
    println!("notification built from the record: {}", summary(build));

    let sns = aws_sdk_sns::Client::new(&moto::sdk_config(moto::endpoint()).await);
    let topic = sns.create_topic().name(moto::unique("bench")).send().await;
    let topic = topic.expect("a topic").topic_arn.expect("its ARN");
    let memory = Ledger::in_memory(None);
    let warm = notifications(&sns, &topic, &memory, config, count, 3_000_000).await;
    println!("publish, warm client, mark in memory: {}", summary(warm));
    let warm = notifications(&sns, &topic, dynamo, config, count, 4_000_000).await;
    println!(
        "publish, warm client, mark a PutItem in moto (HTTP): {}",
        summary(warm)
    );
}

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = Config::parse(CONFIG, Path::new("bench.toml")).expect("config");
        let api = WavefrontApi::start().await;
        let client = || {
            let base = BaseUrl::parse(api.url()).expect("url");
            Wavefront::new(base, Secret::new(API_TOKEN))
        };

        let alert = alert(0);
        let plan = Plan::new("bench", &alert, &config.rules, false);
        let record = executed(&plan);
        let mut build = Vec::with_capacity(events);
        for _ in 0..events {
            let started = Instant::now();
            let event = Event::of(&record, &alert.tags).expect("an event");
            std::hint::black_box(event.body(0));
            build.push(started.elapsed());
        }
        println!("event built from the record: {}", summary(build));

        let memory = Ledger::in_memory(None);
        let mut first = Vec::new();
        for n in 0..20 {
            let fresh = client();
            first.extend(posts(&fresh, &memory, &config, 1, 1_000_000 + n).await);
        }
        println!(
            "first post of a new client (root certificates loaded, new connection), mark in \
             memory: {}",
            summary(first)
        );
        let wavefront = client();
        let warm = posts(&wavefront, &memory, &config, events, 0).await;
        println!("post, warm connection, mark in memory: {}", summary(warm));

        let aws = moto::aws().await;
        let table = moto::ledger_table(&aws).await;
        let store = Arc::new(DynamoStore::new(aws.dynamodb.clone(), &table));
        let dynamo = Ledger::new(store, HumanDuration::parse("7d").expect("7d"), None);
        let warm = posts(&wavefront, &dynamo, &config, events, 2_000_000).await;
        println!(
            "post, warm connection, mark a PutItem in moto (HTTP): {}",
            summary(warm)
        );

        notification_costs(&config, &dynamo, events).await;
    });
}
