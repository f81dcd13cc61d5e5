//! The one duration parser and the one size parser of the project (timeouts, health checks,
//! memory limits). Everything a user writes goes through checked arithmetic: a value that does
//! not fit is an error naming the limit, never a panic or a silent wrap.

use std::time::Duration;

/// The longest duration anything accepts: 100 years. Larger values are mistakes, and they would
/// overflow `Instant` arithmetic downstream.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The largest size anything accepts: 1 EiB (fits an `i64` byte count, as Docker wants).
pub const MAX_SIZE: u64 = 1 << 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("it is empty")]
    Empty,
    #[error("{0:?} is not a number followed by a unit")]
    Malformed(String),
    #[error("{unit:?} is not a unit: use one of {allowed}")]
    UnknownUnit { unit: String, allowed: &'static str },
    #[error("it is more than the limit of {limit}")]
    TooLarge { limit: &'static str },
    #[error("it must be more than zero")]
    Zero,
}

const DURATION_UNITS: &str = "ms, s, m, h (e.g. `500ms`, `30s`, `1m30s`, `1.5h`)";

fn nanos_per(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Splits `1m30.5s` into `[("1", "m"), ("30.5", "s")]`.
fn terms(text: &str) -> Result<Vec<(&str, &str)>, UnitError> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(UnitError::Malformed(text.to_string()));
        }
        out.push((number, unit));
        rest = next;
    }
    Ok(out)
}

/// `digits[.fraction]` × `scale`, rounded down, or `None` when it does not fit a u128. Fraction
/// digits beyond the 18th are below any unit used here and ignored.
fn scaled(number: &str, scale: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut total = whole.checked_mul(scale)?;
    let digits = &fraction[..fraction.len().min(18)];
    if !digits.is_empty() {
        let numerator: u128 = digits.parse().ok()?;
        let denominator = 10u128.checked_pow(u32::try_from(digits.len()).ok()?)?;
        total = total.checked_add(scale.checked_mul(numerator)? / denominator)?;
    }
    Some(total)
}

/// A Go-style duration: `250ms`, `2s`, `1m30s`, `1.5h`. Zero is allowed here (`0s`); callers that
/// need a positive one use [`parse_positive_duration`].
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let mut nanos: u128 = 0;
    for (number, unit) in terms(text)? {
        if unit.is_empty() {
            return Err(UnitError::Malformed(text.to_string()));
        }
        let per = nanos_per(unit).ok_or_else(|| UnitError::UnknownUnit { unit: unit.to_string(), allowed: DURATION_UNITS })?;
        let term = scaled(number, per).ok_or(UnitError::TooLarge { limit: "100 years" })?;
        nanos = nanos.checked_add(term).ok_or(UnitError::TooLarge { limit: "100 years" })?;
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err(UnitError::TooLarge { limit: "100 years" });
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| UnitError::TooLarge { limit: "100 years" })?;
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| UnitError::TooLarge { limit: "100 years" })?;
    Ok(Duration::new(secs, sub))
}

/// [`parse_duration`], refusing zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, UnitError> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(UnitError::Zero),
        d => Ok(d),
    }
}

const SIZE_UNITS: &str = "b, k, m, g, t (powers of 1024, as Docker reads them; `kb`/`kib` etc. also work)";

fn bytes_per(unit: &str) -> Option<u128> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return None,
    })
}

/// A size in bytes as Docker reads it: `256m`, `1g`, `512k`, `1.5g`, or plain bytes. Must be more
/// than zero and at most [`MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(UnitError::Empty);
    }
    let terms = terms(text)?;
    let [(number, unit)] = terms.as_slice() else { return Err(UnitError::Malformed(text.to_string())) };
    let per = bytes_per(unit).ok_or_else(|| UnitError::UnknownUnit { unit: unit.to_string(), allowed: SIZE_UNITS })?;
    let bytes = scaled(number, per).ok_or(UnitError::TooLarge { limit: "1 EiB" })?;
    if bytes > u128::from(MAX_SIZE) {
        return Err(UnitError::TooLarge { limit: "1 EiB" });
    }
    match u64::try_from(bytes) {
        Ok(0) => Err(UnitError::Zero),
        Ok(b) => Ok(b),
        Err(_) => Err(UnitError::TooLarge { limit: "1 EiB" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(" 2s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_positive_duration("0s"), Err(UnitError::Zero));
        assert!(matches!(parse_duration("5"), Err(UnitError::Malformed(_))));
        assert!(matches!(parse_duration("5d"), Err(UnitError::UnknownUnit { .. })));
        assert!(matches!(parse_duration("s"), Err(UnitError::Malformed(_))));
        assert!(matches!(parse_duration("1..2s"), Err(UnitError::Malformed(_))));
        assert_eq!(parse_duration(""), Err(UnitError::Empty));
    }

    #[test]
    fn huge_durations_are_errors_not_panics() {
        for text in ["18446744073709551615s1s", "18446744073709551615h", "99999999999999999999999999999999999999999h", "876000h1s"] {
            assert!(matches!(parse_duration(text), Err(UnitError::TooLarge { .. })), "{text}");
        }
        assert_eq!(parse_duration("876000h"), Ok(MAX_DURATION));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256m"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Err(UnitError::Zero));
        assert!(matches!(parse_size("x"), Err(UnitError::Malformed(_))));
        assert!(matches!(parse_size("10q"), Err(UnitError::UnknownUnit { .. })));
        assert!(matches!(parse_size("1m1k"), Err(UnitError::Malformed(_))));
        assert!(matches!(parse_size("9223372036854775807g"), Err(UnitError::TooLarge { .. })));
        assert!(matches!(parse_size("99999999999999999999999999999999999999999"), Err(UnitError::TooLarge { .. })));
    }
}
