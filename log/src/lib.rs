//! Logging to stderr as hclog JSON lines (`{"@level":"debug","@message":"…","@module":"…",…}`).
//!
//! Terraform (go-plugin) parses each stderr line of a plugin: JSON lines with `@level` and
//! `@message` are re-logged at that level, so `TF_LOG=DEBUG` shows them as debug output.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The level to emit at, from `TF_LOG_PROVIDER` or `TF_LOG` (what Terraform will show anyway);
/// without either, only warnings and errors.
pub fn level_from_env() -> Level {
    let var = std::env::var("TF_LOG_PROVIDER").or_else(|_| std::env::var("TF_LOG")).unwrap_or_default();
    match var.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Level::TRACE,
        "DEBUG" => Level::DEBUG,
        "INFO" => Level::INFO,
        "" | "OFF" | "WARN" => Level::WARN,
        "ERROR" => Level::ERROR,
        _ => Level::TRACE,
    }
}

/// Installs the global subscriber writing hclog JSON to stderr for `module`.
pub fn init(module: &'static str, max_level: Level) {
    let _ = tracing_subscriber::registry().with(HclogLayer { module, max_level }).try_init();
}

struct HclogLayer {
    module: &'static str,
    max_level: Level,
}

#[derive(Default)]
struct Fields {
    message: String,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.extra.insert(field.name().to_string(), value.into());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.extra.insert(field.name().to_string(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            self.extra.insert(field.name().to_string(), format!("{value:?}").into());
        }
    }
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        // Transport libraries log every HTTP/2 frame at debug; keep their warnings only.
        let noisy = ["h2", "hyper", "tower", "tonic", "rustls"].iter().any(|p| metadata.target().starts_with(p));
        let max = if noisy { Level::WARN.min(self.max_level) } else { self.max_level };
        *metadata.level() <= max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = format_line(*event.metadata().level(), self.module, &fields.message, fields.extra);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

/// One hclog JSON line, newline-terminated.
pub fn format_line(level: Level, module: &str, message: &str, extra: serde_json::Map<String, serde_json::Value>) -> String {
    let mut obj = extra;
    obj.insert("@level".into(), level_name(level).into());
    obj.insert("@message".into(), message.into());
    obj.insert("@module".into(), module.into());
    obj.insert("@timestamp".into(), timestamp().into());
    let mut line = serde_json::Value::Object(obj).to_string();
    line.push('\n');
    line
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// RFC 3339 UTC with microseconds, computed without a date library.
fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z", rem / 3600, (rem % 3600) / 60, rem % 60, now.subsec_micros())
}

/// Peak resident memory of this process in KiB (VmHWM), if the platform reports it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Logs the process's peak memory at exit (read by scripts/bench.sh).
pub fn log_exit() {
    if let Some(kib) = peak_rss_kib() {
        tracing::info!(peak_rss_kib = kib, "exiting");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_hclog_keys() {
        let line = format_line(Level::DEBUG, "provider", "hello", Default::default());
        let v: serde_json::Value = serde_json::from_str(line.trim()).expect("json");
        assert_eq!(v["@level"], "debug");
        assert_eq!(v["@message"], "hello");
        assert_eq!(v["@module"], "provider");
        assert!(v["@timestamp"].as_str().is_some_and(|t| t.len() == 27 && t.ends_with('Z')));
    }
}
