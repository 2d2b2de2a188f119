//! Allocation budget: heap allocations per request on the in-process path (authentication,
//! parsing, matching, the decision record, the METRIC and audit lines), counted by dhat, for
//! the same configs, payloads and authentication as `benches/request_path.rs`. A count, not a
//! time, so it is exact on any machine: a change that allocates more per request fails here
//! and says by how much. The figures are in BENCHMARKS.md.
//!
//! One test in its own binary: dhat counts every allocation of the process.

#[path = "../benches/common.rs"]
mod common;

use common::{PAYLOADS, auth_cases, inbound, payload, responder};
use http::Method;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Allocations per request allowed, by number of rules: what was measured when the budget was
/// last set, plus a little headroom. Lower them when a change allocates less; raise them only
/// for a reason the commit message gives.
const BUDGETS: [(usize, u64); 3] = [(1, 70), (50, 75), (500, 80)];

#[test]
fn allocations_per_request_stay_within_budget() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let method = Method::POST;
    let mut report = Vec::new();
    let mut over = Vec::new();
    for (rules, budget) in BUDGETS {
        let responder = responder(rules, &runtime);
        for (name, file) in PAYLOADS {
            let body = payload(file);
            for (auth, headers) in auth_cases(&body) {
                // Warm up once (lazy statics, first-use caches), then count.
                let _ = runtime.block_on(responder.handle(inbound(&method, &headers, &body)));
                const REQUESTS: u64 = 20;
                let before = dhat::HeapStats::get();
                for _ in 0..REQUESTS {
                    let response =
                        runtime.block_on(responder.handle(inbound(&method, &headers, &body)));
                    assert_eq!(response.status(), 200);
                }
                let after = dhat::HeapStats::get();
                let per_request = (after.total_blocks - before.total_blocks) / REQUESTS;
                let bytes = (after.total_bytes - before.total_bytes) / REQUESTS;
                report.push(format!(
                    "{rules:>3} rules, {auth:>9}, {name:<14}: {per_request:>3} allocations, \
                     {bytes:>6} bytes per request (budget {budget})"
                ));
                if per_request > budget {
                    over.push(format!(
                        "{rules} rules, {auth}, {name}: {per_request} > {budget}"
                    ));
                }
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        over.is_empty(),
        "over the allocation budget:\n{}",
        over.join("\n")
    );
}
