//! `bench_router <app-router> [idle connections] [requests]` (`scripts/bench-router.sh` runs it):
//! starts the given `app-router` binary on loopback in front of a one-thread HTTP upstream, holds
//! `idle connections` (2000) open through it, then makes `requests` (1000) HTTP requests, each on
//! a new connection, one after the other; prints the router's threads and RSS and the requests'
//! latency (connect to whole answer) through the router and, for comparison, straight to the
//! upstream.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;
use support::{HttpUpstream, ProcStatus, Router};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_router <app-router binary> [idle connections (2000)] [requests (1000)]";
    let Some(binary) = args.first() else { panic!("{usage}") };
    let number = |index: usize, default: usize| -> usize {
        args.get(index).map_or(default, |text| text.parse().unwrap_or_else(|_| panic!("{text:?} is not a number; {usage}")))
    };
    let (idle, requests) = (number(1, 2000), number(2, 1000));
    assert!(requests > 0, "{usage}");

    // Both ends of every idle connection live in this process (clients and the upstream).
    support::require_open_files(2 * idle as u64 + 1024);
    let upstream = HttpUpstream::start();
    let file = std::env::temp_dir().join(format!("app-router-bench-{}", std::process::id()));
    std::fs::write(&file, format!("{}\n", upstream.addr)).expect("write the upstream file");
    let listen = "127.0.0.1:0";
    let max_connections = (idle + 16).to_string();
    let mut command = Command::new(binary);
    command.args(["serve", "--listen", listen, "--upstream-file"]).arg(&file).args(["--max-connections", &max_connections]);
    let router = Router::spawn(&mut command, file);
    let started = router.status();

    let held = support::open_idle(router.addr, idle);
    upstream.wait_open(idle, Duration::from_secs(120));
    let holding = router.status();
    let through_router = latencies(requests, || support::timed_request(router.addr));
    let after = router.status();
    let direct = latencies(requests, || support::timed_request(upstream.addr));
    upstream.wait_open(idle, support::WAIT);
    drop(held);

    let version =
        Command::new(binary).arg("version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    println!("app-router {version} ({binary}), {idle} idle connections held, {requests} requests on new connections one after the other");
    println!("router threads:  {} (started), {} (holding), {} (after the requests)", started.threads, holding.threads, after.threads);
    println!(
        "router RSS:      {} (started), {} (holding), {} (after the requests), peak {}",
        mib(started),
        mib(holding),
        mib(after),
        mib_of(after.peak_rss_kib)
    );
    print_latencies("through the router", &through_router);
    print_latencies("straight to the upstream", &direct);
}

fn latencies(count: usize, mut request: impl FnMut() -> std::io::Result<Duration>) -> Vec<Duration> {
    let mut all: Vec<Duration> = (0..count).map(|i| request().unwrap_or_else(|e| panic!("request {i}: {e}"))).collect();
    all.sort();
    all
}

fn print_latencies(what: &str, sorted: &[Duration]) {
    let q = |p| format!("{:.0} µs", support::quantile(sorted, p).as_secs_f64() * 1e6);
    println!("latency {what:<25} p50 {}, p99 {}, max {}", q(0.5), q(0.99), q(1.0));
}

fn mib(status: ProcStatus) -> String {
    mib_of(status.rss_kib)
}

fn mib_of(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
