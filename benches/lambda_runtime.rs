//! Cold start and warm cost through the real Lambda contract: the release binary is started as
//! Lambda starts it, under a local Runtime API (`tests/integration/runtime_api.rs`), with every
//! AWS client configured and the webhook token read from Secrets Manager at init, against moto
//! server. For each scenario it measures
//!
//! - init: spawn to the first `GET /runtime/invocation/next`, over `STARTS` fresh processes;
//! - first invocation: event handed out to response posted, in those same processes;
//! - warm invocations: the same, median and p99 over `EVENTS` further events in one process;
//! - peak RSS (`VmHWM` in /proc), after the first invocation and after the warm run.
//!
//! Every scenario runs twice: with AWS over HTTPS, as on Lambda ([`tls_relay`] terminates TLS
//! in front of moto with certificates `benches/tls_certificates.py` makes, and the responder
//! trusts their CA through `SSL_CERT_FILE`, a bundle of the system roots plus that CA; each
//! service gets its own address, so each opens its own connection and pays its own handshake,
//! as AWS's per-service hosts make it), and over plain HTTP, straight to moto; the difference is
//! what TLS costs.
//!
//! Scenarios: an alert no rule matches (the responder's own cost, no AWS call), a dry run
//! (read-only AWS calls to describe what would happen), a real action (the alias moves, the
//! ledger records it; the warm events are further notifications of the same incident, which
//! the ledger's incident latch answers), and a real action on every event (each event a new
//! incident of one of two alerts, whose rules move the alias to version 1 and back to 2, with
//! the circuit breaker and the rules' cooldowns off, so every warm event moves the alias).
//!
//! Run: `cargo bench --bench lambda_runtime` (uses `MOTO_ENDPOINT`, else starts moto server
//! from `.venv`, which `scripts/python-tools` installs). `BENCH_STARTS` and `BENCH_EVENTS`
//! override the counts (20 and 1000). Method and figures: BENCHMARKS.md.

#[allow(dead_code)]
#[path = "../tests/integration/moto.rs"]
mod moto;
#[allow(dead_code)]
#[path = "../tests/integration/runtime_api.rs"]
mod runtime_api;
#[allow(dead_code)]
#[path = "../tests/integration/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::moto::Aws;
use runtime_api::{RuntimeApi, Seen, lambda_process};
use serde_json::Value;

const TOKEN: &str = "token-from-secrets-manager-0123456789";

#[derive(Clone, Copy, PartialEq)]
enum Scenario {
    NoMatch,
    DryRun,
    Executed,
    /// Every event a new incident whose rule moves the alias (1 and 2 in turn).
    ExecutedEvery,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::NoMatch => "no rule matches",
            Self::DryRun => "dry run",
            Self::Executed => "real action",
            Self::ExecutedEvery => "real action, every event",
        }
    }

    /// The outcome the first invocation must record.
    fn first_outcome(self) -> &'static str {
        match self {
            Self::NoMatch => "no_match",
            Self::DryRun => "planned",
            Self::Executed | Self::ExecutedEvery => "executed",
        }
    }
}

/// How the responder reaches AWS.
enum Transport {
    Https { port: String, bundle: PathBuf },
    Http,
}

impl Transport {
    fn name(&self) -> &'static str {
        match self {
            Self::Https { .. } => "HTTPS",
            Self::Http => "HTTP",
        }
    }
}

/// The loopback addresses the relay listens on, one per service (`tls_certificates.py` names
/// the same ones in its certificate).
const RELAY_ADDRESSES: [&str; 4] = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"];

/// TLS in front of moto: certificates from `benches/tls_certificates.py` (run by the test tools'
/// Python), and a relay on a thread and runtime of its own, so its work never delays the
/// Runtime API's clock. It terminates TLS with rustls and *ring* and copies bytes to and from
/// moto, one upstream connection per client connection. Its own work (the server's side of
/// each handshake, decrypting and encrypting records) is small, but shares the two cores with
/// the responder and moto; the client's side of each handshake is the responder's, and
/// measured.
fn tls_relay(directory: &std::path::Path) -> Transport {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{ServerConfig, crypto};

    let output = support::run_python("benches/tls_certificates.py", &[directory.to_owned()]);
    let line = String::from_utf8_lossy(&output).into_owned();
    let paths: Vec<&str> = line.split_whitespace().collect();
    let [chain, key, bundle] = paths[..] else {
        panic!("tls_certificates.py did not say where it wrote: {line:?}");
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain)
        .and_then(Iterator::collect)
        .expect("the certificate chain reads");
    let key = PrivateKeyDer::from_pem_file(key).expect("the key reads");
    let config = ServerConfig::builder_with_provider(crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .and_then(|c| c.with_no_client_auth().with_single_cert(chain, key))
        .expect("a TLS server configuration");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let upstream = moto::endpoint().trim_start_matches("http://").to_owned();

    let listeners: Vec<std::net::TcpListener> = {
        let first = std::net::TcpListener::bind((RELAY_ADDRESSES[0], 0)).expect("a port");
        let port = first.local_addr().expect("its address").port();
        std::iter::once(first)
            .chain(RELAY_ADDRESSES[1..].iter().map(|address| {
                std::net::TcpListener::bind((*address, port)).expect("the same port")
            }))
            .collect()
    };
    let port = listeners[0].local_addr().expect("its address").port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a Tokio runtime for the relay");
        runtime.block_on(async move {
            let mut serving = Vec::new();
            for listener in listeners {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                serving.push(tokio::spawn(async move {
                    loop {
                        let client = match listener.accept().await {
                            Ok((client, _)) => client,
                            // Out of file descriptors, a connection aborted: try again shortly.
                            Err(err) => {
                                eprintln!("the TLS relay could not accept a connection: {err}");
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            }
                        };
                        let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                        tokio::spawn(async move {
                            let _ = client.set_nodelay(true);
                            let Ok(mut client) = acceptor.accept(client).await else {
                                return;
                            };
                            let Ok(mut moto) = tokio::net::TcpStream::connect(&upstream).await
                            else {
                                return;
                            };
                            let _ = moto.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut moto).await;
                        });
                    }
                }));
            }
            for task in serving {
                let _ = task.await;
            }
        });
    });
    Transport::Https {
        port: port.to_string(),
        bundle: PathBuf::from(bundle),
    }
}

/// What happened to one process.
struct Run {
    init: Duration,
    first: Duration,
    first_rss_kib: u64,
    warm: Vec<Duration>,
    warm_rss_kib: u64,
    outcomes: BTreeMap<String, usize>,
}

fn main() {
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let starts = count("BENCH_STARTS", 20);
    let events = count("BENCH_EVENTS", 1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(bench(starts, events));
}

async fn bench(starts: usize, events: usize) {
    let binary = std::env::var("RESPONDER_LAMBDA_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_wavefront-responder").to_owned());
    let size = std::fs::metadata(&binary).map(|m| m.len()).unwrap_or(0);
    println!("binary: {binary} ({:.1} MiB)", size as f64 / 1048576.0);
    println!("machine: {}", machine());
    println!("moto server: {}", moto::endpoint());
    let aws = moto::aws().await;
    let secret = aws
        .secretsmanager
        .create_secret()
        .name(moto::unique("bench-webhook-token"))
        .secret_string(TOKEN)
        .send()
        .await
        .expect("secret created")
        .arn
        .unwrap_or_default();
    let per_call = moto_round_trip(&aws).await;
    println!(
        "moto server round trip (GetAlias from this process, median of 200): {:.2} ms",
        ms(per_call)
    );

    let scratch = std::env::temp_dir().join(moto::unique("bench-tls"));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let https = tls_relay(&scratch);

    println!(
        "\n| scenario | AWS over | init p50 | init max | first invocation p50 | first max | warm p50 | warm p99 | peak RSS after first | peak RSS after {events} | outcomes of the warm events |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let cases = [
        Scenario::NoMatch,
        Scenario::DryRun,
        Scenario::Executed,
        Scenario::ExecutedEvery,
    ]
    .into_iter()
    .flat_map(|scenario| [(scenario, &https), (scenario, &Transport::Http)]);
    for (scenario, transport) in cases {
        let mut cold = Vec::new();
        for _ in 0..starts {
            cold.push(run(&aws, &secret, scenario, transport, 0).await);
        }
        let warm = run(&aws, &secret, scenario, transport, events).await;
        let mut init: Vec<Duration> = cold.iter().map(|r| r.init).collect();
        let mut first: Vec<Duration> = cold.iter().map(|r| r.first).collect();
        let mut warm_times = warm.warm.clone();
        let first_rss = cold.iter().map(|r| r.first_rss_kib).max().unwrap_or(0);
        let outcomes: Vec<String> = warm
            .outcomes
            .iter()
            .map(|(outcome, n)| format!("{n} {outcome}"))
            .collect();
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.3} ms | {:.3} ms | {:.1} MiB | {:.1} MiB | {} |",
            scenario.name(),
            transport.name(),
            ms(percentile(&mut init, 50.0)),
            ms(percentile(&mut init, 100.0)),
            ms(percentile(&mut first, 50.0)),
            ms(percentile(&mut first, 100.0)),
            ms(percentile(&mut warm_times, 50.0)),
            ms(percentile(&mut warm_times, 99.0)),
            first_rss as f64 / 1024.0,
            warm.warm_rss_kib as f64 / 1024.0,
            outcomes.join(", "),
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Starts one process, hands it `1 + warm` events, and times it.
async fn run(
    aws: &Aws,
    secret: &str,
    scenario: Scenario,
    transport: &Transport,
    warm: usize,
) -> Run {
    let function = moto::function_with_versions(aws, 2).await;
    moto::alias(aws, &function, "live", "2", &[]).await;
    moto::alias(aws, &function, "stable", "1", &[]).await;
    let table = moto::ledger_table(aws).await;
    let dir = scratch_dir(&function, scenario);

    let events: Vec<String> = (0..=warm).map(|n| event(scenario, n)).collect();
    let mut api = RuntimeApi::start(events).await;
    let mut command = match transport {
        Transport::Https { port, bundle } => {
            let mut command =
                lambda_process(&api.address, &dir, &format!("https://localhost:{port}"));
            command
                .env("SSL_CERT_FILE", bundle)
                .env(
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    format!("https://127.0.0.2:{port}"),
                )
                .env(
                    "AWS_ENDPOINT_URL_LAMBDA",
                    format!("https://127.0.0.3:{port}"),
                )
                .env(
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    format!("https://127.0.0.4:{port}"),
                );
            command
        }
        Transport::Http => lambda_process(&api.address, &dir, moto::endpoint()),
    };
    command
        .env("RESPONDER_LEDGER_TABLE", &table)
        .env("WEBHOOK_TOKEN_SECRET_ARN", secret)
        .env(
            "RESPONDER_DRY_RUN",
            if scenario == Scenario::DryRun {
                "true"
            } else {
                "false"
            },
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawned = Instant::now();
    let mut child = command.spawn().expect("the binary starts");
    // Lambda reads the function's output as it comes; so does this, or the pipe would fill.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    let mut init = None;
    let mut handed = None;
    let mut first = None;
    let mut first_rss_kib = 0;
    let mut times = Vec::with_capacity(warm);
    let mut outcomes = BTreeMap::new();
    let deadline = Duration::from_secs(60 + warm as u64 / 10);
    while times.len() < warm || first.is_none() {
        let seen = tokio::time::timeout(deadline, api.seen.recv()).await;
        let Ok(Some(seen)) = seen else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} over {}: no answer; stderr:\n{}",
                scenario.name(),
                transport.name(),
                stderr.join().unwrap_or_default()
            );
        };
        match seen {
            Seen::Next { at } => {
                init.get_or_insert(at - spawned);
            }
            Seen::Handed { at } => handed = Some(at),
            Seen::Posted { path, body, at } => {
                let took = at - handed.expect("an event was handed out first");
                let outcome = outcome(&path, &body);
                if first.is_none() {
                    assert_eq!(
                        outcome,
                        scenario.first_outcome(),
                        "{} over {}: the first invocation's response: {body}",
                        scenario.name(),
                        transport.name()
                    );
                    first = Some(took);
                    first_rss_kib = peak_rss_kib(&child);
                } else {
                    times.push(took);
                    *outcomes.entry(outcome).or_insert(0) += 1;
                }
            }
        }
    }
    let warm_rss_kib = peak_rss_kib(&child);
    let _ = child.kill();
    let _ = child.wait();
    let _ = stdout.join();
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        init: init.unwrap_or_default(),
        first: first.unwrap_or_default(),
        first_rss_kib,
        warm: times,
        warm_rss_kib,
        outcomes,
    }
}

/// `responder.toml` as a deployment would have it: token from Secrets Manager, the DynamoDB
/// ledger, one rule moving `function`'s `live` alias back to `stable`.
fn scratch_dir(function: &str, scenario: Scenario) -> PathBuf {
    let dir = std::env::temp_dir().join(moto::unique("bench-runtime-api"));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let head = "[auth]\ntokens = [\"secretsmanager:env:WEBHOOK_TOKEN_SECRET_ARN\"]\n\
                [ledger]\ntable = \"env:RESPONDER_LEDGER_TABLE\"\n";
    let rule = |name: &str, alert: &str, destination: &str| {
        format!(
            "[[rule]]\nname = \"{name}\"\nalert = \"{alert}\"\n\
             [[rule.action]]\ntype = \"lambda-alias\"\nfunction = \"{function}\"\n\
             alias = \"live\"\n{destination}\n"
        )
    };
    // Without the default 15-minute cooldown: each rule moves the alias every other event.
    let every_time = |name: &str, alert: &str, destination: &str| {
        rule(name, alert, destination).replacen(
            "[[rule.action]]",
            &format!("{}\n[[rule.action]]", support::NO_COOLDOWN),
            1,
        )
    };
    let config = match scenario {
        Scenario::NoMatch => {
            head.to_owned()
                + &rule(
                    "checkout-errors",
                    "payments * latency*",
                    "to_alias = \"stable\"",
                )
        }
        Scenario::DryRun | Scenario::Executed => {
            head.to_owned()
                + &rule(
                    "checkout-errors",
                    "checkout * error rate*",
                    "to_alias = \"stable\"",
                )
        }
        Scenario::ExecutedEvery => {
            head.to_owned()
                + "[circuit_breaker]\nenabled = false\n"
                + &every_time("even", "checkout even", "to_version = \"1\"")
                + &every_time("odd", "checkout odd", "to_version = \"2\"")
        }
    };
    std::fs::write(dir.join("responder.toml"), config).expect("config written");
    dir
}

/// The checkout alert as API Gateway delivers it, firing since after the release the run made
/// (so the attribution guard lets the real actions move the alias); each event a new
/// notification, and for [`Scenario::ExecutedEvery`] a new incident of the "checkout even" or
/// "checkout odd" alert.
fn event(scenario: Scenario, n: usize) -> String {
    let mut alert: Value = serde_json::from_str(&support::firing()).expect("fixture");
    let unique = moto::unique("bench");
    alert["notificationId"] = Value::String(format!("{unique}-{n}"));
    if scenario == Scenario::ExecutedEvery {
        alert["alertId"] = Value::String(format!("{unique}-{n}"));
        let name = if n.is_multiple_of(2) {
            "checkout even"
        } else {
            "checkout odd"
        };
        alert["name"] = Value::String(name.into());
    }
    support::lambda_event_json(
        "apigw-http-v2.json",
        &[
            ("authorization", &support::bearer(TOKEN)),
            ("content-type", "application/json"),
        ],
        &alert.to_string(),
    )
}

/// The decision's outcome from a posted response, or what went wrong.
fn outcome(path: &str, body: &str) -> String {
    if !path.ends_with("/response") {
        return format!("posted to {path}: {body}");
    }
    let response: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let record: Value = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    match record["outcome"].as_str() {
        Some(outcome) => outcome.to_owned(),
        None => format!("status {}", response["statusCode"]),
    }
}

/// GetAlias against moto from this process: what one AWS call costs the responder here.
async fn moto_round_trip(aws: &Aws) -> Duration {
    let function = moto::function_with_versions(aws, 1).await;
    moto::alias(aws, &function, "live", "1", &[]).await;
    let mut times = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        aws.lambda
            .get_alias()
            .function_name(&function)
            .name("live")
            .send()
            .await
            .expect("GetAlias");
        times.push(started.elapsed());
    }
    percentile(&mut times, 50.0)
}

fn drain(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text);
        }
        text
    })
}

/// The process's peak resident set, from /proc.
fn peak_rss_kib(child: &Child) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    if times.is_empty() {
        return Duration::ZERO;
    }
    times.sort_unstable();
    let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
    times[rank.clamp(1, times.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {model}, Linux {}", kernel.trim())
}
