//! The in-process request path, timed: authentication, parsing, rule matching, the decision
//! record and the METRIC and audit lines, for the documented sample payloads, with 1, 50 and
//! 500 rules, authenticated by token or by signature. Actions are planned, not run (no AWS), so
//! this measures the responder's own work. Allocations per request are counted by
//! `tests/allocations.rs`, which also keeps them within a budget.
//!
//! Run: `cargo bench --bench request_path`. Results and method: BENCHMARKS.md.

mod common;

use common::{PAYLOADS, auth_cases, inbound, payload, responder};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use http::Method;

fn request_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let method = Method::POST;
    let mut group = c.benchmark_group("request_path");
    group.throughput(Throughput::Elements(1));
    for rules in [1, 50, 500] {
        let responder = responder(rules, &runtime);
        for (name, file) in PAYLOADS {
            let body = payload(file);
            for (auth, headers) in auth_cases(&body) {
                let id = BenchmarkId::new(format!("{rules}_rules/{auth}"), name);
                group.bench_with_input(id, &body, |b, body| {
                    b.iter(|| {
                        let response =
                            runtime.block_on(responder.handle(inbound(&method, &headers, body)));
                        assert_eq!(response.status(), 200);
                        response
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
