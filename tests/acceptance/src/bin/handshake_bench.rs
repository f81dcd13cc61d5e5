//! Measures provider start → handshake line (as Terraform starts it, with auto-mTLS) and the
//! provider's resident memory at that point. Usage: handshake_bench PROVIDER_BINARY [RUNS]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(binary) = args.next() else {
        eprintln!("usage: handshake_bench PROVIDER_BINARY [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(50);
    let cert = app_acceptance::terraform_like_client_cert();
    let mut times = Vec::with_capacity(runs);
    let mut rss = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let (mut child, line) = app_acceptance::start_provider(
            std::path::Path::new(&binary),
            &[app_acceptance::MAGIC_COOKIE, ("PLUGIN_PROTOCOL_VERSIONS", "5,6"), ("PLUGIN_CLIENT_CERT", &cert)],
        );
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(line.starts_with("1|6|"), "unexpected handshake {line:?}");
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        if let Some(kib) = status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()) {
            rss.push(kib);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort_by(f64::total_cmp);
    rss.sort_unstable();
    let median = times[times.len() / 2];
    let p90 = times[(times.len() * 9) / 10 - 1];
    println!("handshake: runs={runs} median_ms={median:.2} p90_ms={p90:.2} min_ms={:.2}", times[0]);
    if let Some(r) = rss.get(rss.len() / 2) {
        println!("provider_rss_at_handshake_kib: median={r}");
    }
}
