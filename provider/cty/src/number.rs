//! Arbitrary-precision numbers with the semantics cty needs on the wire.
//!
//! A [`Number`] is kept in one canonical representation per numeric value
//! class, chosen so that re-encoding reproduces what go-cty would write:
//!
//! * `Int(i64)`   – any integer that fits `i64` (msgpack int),
//! * `UInt(u64)`  – an integer in `(i64::MAX, u64::MAX]` (msgpack uint64),
//! * `Float(f64)` – a non-integer that is exactly a float64, `±Inf`, or a
//!   value that arrived as a float64 (re-encoded bit-identically),
//! * `Decimal`    – everything else, as an exact decimal (msgpack str).
//!
//! Equality and ordering compare the exact numeric values, so float64 `0.5`
//! equals the decimal text `"0.5"`, while float64 `0.1` differs from `"0.1"`.

use std::cmp::Ordering;
use std::fmt;

/// Longest run of padding zeros written in plain (`'f'`) notation; beyond
/// this, scientific notation keeps the text proportional to the input.
const MAX_PLAIN_PADDING: i64 = 1100;
/// Largest |exponent| accepted in decimal text (`e`). Values beyond it are
/// far outside anything Terraform produces.
const MAX_DEC_EXPONENT: i64 = 1_000_000_000;
/// Largest |exponent| accepted for a binary (`p`) exponent.
const MAX_BIN_EXPONENT: i64 = 2_200;

/// An arbitrary-precision cty number.
#[derive(Clone)]
pub struct Number(Repr);

#[derive(Clone)]
pub(crate) enum Repr {
    Int(i64),
    UInt(u64),
    Float(f64),
    Decimal(Dec),
}

impl Number {
    /// A number from a signed integer.
    pub fn from_i64(i: i64) -> Number {
        Number(Repr::Int(i))
    }

    /// A number from an unsigned integer.
    pub fn from_u64(u: u64) -> Number {
        match i64::try_from(u) {
            Ok(i) => Number(Repr::Int(i)),
            Err(_) => Number(Repr::UInt(u)),
        }
    }

    /// A number from a float64; `None` for NaN. Integral values in the
    /// `i64`/`u64` range become integers (as go-cty re-encodes them); other
    /// values keep the exact float64 bits (`-0.0` becomes `0`).
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            return None;
        }
        if f.is_finite() && f.fract() == 0.0 {
            // 2^63 and 2^64 are exactly representable, so these bounds are exact.
            if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
                return Some(Number(Repr::Int(f as i64)));
            }
            if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                return Some(Number(Repr::UInt(f as u64)));
            }
        }
        Some(Number(Repr::Float(f)))
    }

    /// Parses number text as go-cty does (`big.ParseFloat` in base 10):
    /// an optional sign, decimal digits with an optional point, an optional
    /// `e`/`E` (power of ten) or `p`/`P` (power of two) exponent, or
    /// `Inf`/`inf` with an optional sign. Unlike go-cty the value is kept
    /// exactly rather than rounded to 512 bits.
    pub fn parse(s: &str) -> Option<Number> {
        match parse_text(s)? {
            Parsed::Inf(neg) => Some(Number(Repr::Float(if neg { f64::NEG_INFINITY } else { f64::INFINITY }))),
            Parsed::Dec(d) => Some(Number::from_dec(d)),
        }
    }

    pub(crate) fn from_dec(d: Dec) -> Number {
        if d.is_integer() {
            if let Some(i) = d.to_i64() {
                return Number(Repr::Int(i));
            }
            if let Some(u) = d.to_u64() {
                return Number(Repr::UInt(u));
            }
            return Number(Repr::Decimal(d));
        }
        match d.exact_f64() {
            Some(f) => Number(Repr::Float(f)),
            None => Number(Repr::Decimal(d)),
        }
    }

    pub(crate) fn repr(&self) -> &Repr {
        &self.0
    }

    /// The value as `i64` if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            Repr::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The value as `u64` if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            Repr::Int(i) => u64::try_from(i).ok(),
            Repr::UInt(u) => Some(u),
            _ => None,
        }
    }

    /// The nearest float64 (may be infinite or zero for out-of-range values).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            Repr::Int(i) => *i as f64,
            Repr::UInt(u) => *u as f64,
            Repr::Float(f) => *f,
            Repr::Decimal(d) => d.nearest_f64(),
        }
    }

    /// True if the value is a whole number.
    pub fn is_integer(&self) -> bool {
        match &self.0 {
            Repr::Int(_) | Repr::UInt(_) => true,
            Repr::Float(f) => f.is_finite() && f.fract() == 0.0,
            Repr::Decimal(d) => d.is_integer(),
        }
    }

    /// True for `+Inf` and `-Inf`.
    pub fn is_infinite(&self) -> bool {
        matches!(self.0, Repr::Float(f) if f.is_infinite())
    }

    /// The exact value as a decimal, `None` for infinities.
    fn exact(&self) -> Option<Dec> {
        match &self.0 {
            Repr::Int(i) => Some(Dec::from_u128(*i < 0, u128::from(i.unsigned_abs()))),
            Repr::UInt(u) => Some(Dec::from_u128(false, u128::from(*u))),
            Repr::Float(f) if f.is_finite() => Some(Dec::from_f64_exact(*f)),
            Repr::Float(_) => None,
            Repr::Decimal(d) => Some(d.clone()),
        }
    }

    /// Text holding the exact value (every digit of a float64's binary
    /// value), suitable for a JSON number. `None` for infinities.
    pub(crate) fn exact_text(&self) -> Option<String> {
        match &self.0 {
            Repr::Int(i) => Some(i.to_string()),
            Repr::UInt(u) => Some(u.to_string()),
            Repr::Float(f) if !f.is_finite() => None,
            _ => self.exact().map(|d| d.to_text()),
        }
    }
}

impl fmt::Display for Number {
    /// Canonical decimal text: integers in full, float64 values in their
    /// shortest round-tripping form, decimals exactly; plain notation unless
    /// that would need more than ~1100 padding zeros. Infinities are
    /// `+Inf`/`-Inf` as Go's `big.Float` prints them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Int(i) => write!(f, "{i}"),
            Repr::UInt(u) => write!(f, "{u}"),
            Repr::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" }),
            Repr::Float(x) => {
                // Rust prints the shortest round-tripping digits in plain
                // notation, like Go's Text('f', -1) at 53-bit precision.
                write!(f, "{x}")
            }
            Repr::Decimal(d) => f.write_str(&d.to_text()),
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.0 {
            Repr::Int(_) => "int",
            Repr::UInt(_) => "uint",
            Repr::Float(_) => "float",
            Repr::Decimal(_) => "decimal",
        };
        write!(f, "Number({kind} {self})")
    }
}

impl std::str::FromStr for Number {
    type Err = ();
    fn from_str(s: &str) -> Result<Number, ()> {
        Number::parse(s).ok_or(())
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::from_i64(i)
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Number {
        Number::from_u64(u)
    }
}

impl From<i32> for Number {
    fn from(i: i32) -> Number {
        Number::from_i64(i64::from(i))
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Int(a), Repr::Int(b)) => a.cmp(b),
            (Repr::UInt(a), Repr::UInt(b)) => a.cmp(b),
            (Repr::Int(_), Repr::UInt(_)) => Ordering::Less,
            (Repr::UInt(_), Repr::Int(_)) => Ordering::Greater,
            // NaN is never stored, so partial_cmp always answers.
            (Repr::Float(a), Repr::Float(b)) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
            _ => {
                let inf = |n: &Number| match n.0 {
                    Repr::Float(f) if f.is_infinite() => Some(f > 0.0),
                    _ => None,
                };
                match (inf(self), inf(other)) {
                    (Some(a), Some(b)) => a.cmp(&b),
                    (Some(a), None) => {
                        if a {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (None, Some(b)) => {
                        if b {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (None, None) => match (self.exact(), other.exact()) {
                        (Some(a), Some(b)) => a.cmp(&b),
                        _ => Ordering::Equal,
                    },
                }
            }
        }
    }
}

impl std::hash::Hash for Number {
    /// Consistent with numeric equality: equal values hash their exact text.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match &self.0 {
            Repr::Int(i) => i.hash(state),
            Repr::UInt(u) => u.hash(state),
            Repr::Float(f) if f.is_infinite() => (*f > 0.0).hash(state),
            _ => {
                // Remaining Floats and Decimals: only an integral float64
                // beyond u64 can equal a Decimal, so hash every remaining
                // value through its exact decimal form.
                if let Some(d) = self.exact() {
                    d.hash_into(state);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Exact decimal arithmetic (just what the codecs need).

/// An exact decimal `(-1)^neg * digits * 10^exp`, normalized: `digits` holds
/// values 0..=9, most significant first, with no leading or trailing zeros;
/// zero is an empty digit list with `neg == false` and `exp == 0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dec {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

impl Dec {
    fn new(neg: bool, mut digits: Vec<u8>, mut exp: i64) -> Dec {
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp = exp.saturating_add(1);
        }
        if digits.is_empty() {
            return Dec { neg: false, digits, exp: 0 };
        }
        Dec { neg, digits, exp }
    }

    fn from_u128(neg: bool, v: u128) -> Dec {
        let digits = v.to_string().bytes().map(|b| b - b'0').collect();
        Dec::new(neg, digits, 0)
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    /// Decimal exponent of the most significant digit plus one.
    fn magnitude(&self) -> i64 {
        (self.digits.len() as i64).saturating_add(self.exp)
    }

    fn to_u128_abs(&self) -> Option<u128> {
        if !self.is_integer() || self.magnitude() > 39 {
            return None;
        }
        let mut v: u128 = 0;
        for &d in &self.digits {
            v = v.checked_mul(10)?.checked_add(u128::from(d))?;
        }
        for _ in 0..self.exp {
            v = v.checked_mul(10)?;
        }
        Some(v)
    }

    fn to_i64(&self) -> Option<i64> {
        let v = self.to_u128_abs()?;
        if self.neg {
            let v = i128::try_from(v).ok()?;
            i64::try_from(-v).ok()
        } else {
            i64::try_from(v).ok()
        }
    }

    fn to_u64(&self) -> Option<u64> {
        if self.neg {
            return None;
        }
        u64::try_from(self.to_u128_abs()?).ok()
    }

    /// Scientific text `d.ddde±x`, which Rust's float parser rounds correctly.
    fn sci_text(&self) -> String {
        let mut s = String::with_capacity(self.digits.len() + 24);
        if self.neg {
            s.push('-');
        }
        if self.digits.is_empty() {
            s.push('0');
            return s;
        }
        for &d in &self.digits {
            s.push(char::from(b'0' + d));
        }
        s.push('e');
        s.push_str(&self.exp.to_string());
        s
    }

    fn nearest_f64(&self) -> f64 {
        if self.is_zero() {
            return 0.0;
        }
        let mag = self.magnitude();
        if mag > 400 {
            return if self.neg { f64::NEG_INFINITY } else { f64::INFINITY };
        }
        if mag < -400 {
            return if self.neg { -0.0 } else { 0.0 };
        }
        self.sci_text().parse::<f64>().unwrap_or(f64::NAN)
    }

    /// The float64 with exactly this value, if there is one.
    fn exact_f64(&self) -> Option<f64> {
        if self.is_zero() {
            return Some(0.0);
        }
        let mag = self.magnitude();
        // float64 values span roughly 4.9e-324 ..= 1.8e308, and an exact
        // float64 has at most 767 significant decimal digits.
        if !(-330..=310).contains(&mag) || self.digits.len() > 800 {
            return None;
        }
        let f = self.nearest_f64();
        if !f.is_finite() || f == 0.0 {
            return None;
        }
        if Dec::from_f64_exact(f) == *self {
            Some(f)
        } else {
            None
        }
    }

    /// The exact decimal value of a finite float64.
    fn from_f64_exact(f: f64) -> Dec {
        let bits = f.to_bits();
        let neg = bits >> 63 == 1;
        let exp_bits = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, e) = if exp_bits == 0 { (frac, -1074) } else { (frac | (1u64 << 52), exp_bits - 1075) };
        if mant == 0 {
            return Dec::new(false, Vec::new(), 0);
        }
        let mut limbs = Limbs::from_u64(mant);
        if e >= 0 {
            limbs.mul_pow2(e as u64);
            Dec::new(neg, limbs.into_digits(), 0)
        } else {
            limbs.mul_pow5(e.unsigned_abs());
            Dec::new(neg, limbs.into_digits(), e)
        }
    }

    /// `self * 2^p` exactly.
    fn mul_pow2(self, p: i64) -> Dec {
        if self.is_zero() || p == 0 {
            return self;
        }
        let mut limbs = Limbs::from_digits(&self.digits);
        if p > 0 {
            limbs.mul_pow2(p.unsigned_abs());
            Dec::new(self.neg, limbs.into_digits(), self.exp)
        } else {
            // x / 2^n == x * 5^n / 10^n
            limbs.mul_pow5(p.unsigned_abs());
            Dec::new(self.neg, limbs.into_digits(), self.exp.saturating_add(p))
        }
    }

    /// Go's `Text('f', -1)`-style plain text, or scientific notation when
    /// plain text would need more than `MAX_PLAIN_PADDING` zeros.
    fn to_text(&self) -> String {
        if self.is_zero() {
            return "0".to_string();
        }
        let n = self.digits.len() as i64;
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let push_digits = |s: &mut String, ds: &[u8]| {
            for &d in ds {
                s.push(char::from(b'0' + d));
            }
        };
        if self.exp >= 0 && self.exp <= MAX_PLAIN_PADDING {
            push_digits(&mut s, &self.digits);
            for _ in 0..self.exp {
                s.push('0');
            }
        } else if self.exp < 0 && -self.exp < n {
            let split = (n + self.exp) as usize;
            push_digits(&mut s, &self.digits[..split]);
            s.push('.');
            push_digits(&mut s, &self.digits[split..]);
        } else if self.exp < 0 && -self.exp - n <= MAX_PLAIN_PADDING {
            s.push_str("0.");
            for _ in 0..(-self.exp - n) {
                s.push('0');
            }
            push_digits(&mut s, &self.digits);
        } else {
            // d.ddde+x
            push_digits(&mut s, &self.digits[..1]);
            if n > 1 {
                s.push('.');
                push_digits(&mut s, &self.digits[1..]);
            }
            let e = self.exp.saturating_add(n - 1);
            s.push('e');
            if e >= 0 {
                s.push('+');
            }
            s.push_str(&e.to_string());
        }
        s
    }

    fn hash_into<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash;
        self.neg.hash(state);
        self.digits.hash(state);
        self.exp.hash(state);
    }
}

impl PartialOrd for Dec {
    fn partial_cmp(&self, other: &Dec) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Dec {
    fn cmp(&self, other: &Dec) -> Ordering {
        let sign = |d: &Dec| -> i8 {
            if d.is_zero() {
                0
            } else if d.neg {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let mag = self.magnitude().cmp(&other.magnitude()).then_with(|| self.digits.cmp(&other.digits));
        if sa < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

/// A natural number in base 10^9 limbs, least significant first.
struct Limbs(Vec<u32>);

const LIMB_BASE: u64 = 1_000_000_000;

impl Limbs {
    fn from_u64(mut v: u64) -> Limbs {
        let mut l = Vec::with_capacity(3);
        while v > 0 {
            l.push((v % LIMB_BASE) as u32);
            v /= LIMB_BASE;
        }
        Limbs(l)
    }

    fn from_digits(digits: &[u8]) -> Limbs {
        let mut l = Vec::with_capacity(digits.len() / 9 + 1);
        for chunk in digits.rchunks(9) {
            let mut v = 0u32;
            for &d in chunk {
                v = v * 10 + u32::from(d);
            }
            l.push(v);
        }
        Limbs(l)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = (v % LIMB_BASE) as u32;
            carry = v / LIMB_BASE;
        }
        while carry > 0 {
            self.0.push((carry % LIMB_BASE) as u32);
            carry /= LIMB_BASE;
        }
    }

    fn mul_pow2(&mut self, mut n: u64) {
        while n > 0 {
            let k = n.min(31);
            self.mul_small(1u32 << k);
            n -= k;
        }
    }

    fn mul_pow5(&mut self, mut n: u64) {
        while n > 0 {
            let k = n.min(13);
            self.mul_small(5u32.pow(k as u32));
            n -= k;
        }
    }

    fn into_digits(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 9);
        for limb in self.0.iter().rev() {
            let mut buf = [0u8; 9];
            let mut v = *limb;
            for slot in buf.iter_mut().rev() {
                *slot = (v % 10) as u8;
                v /= 10;
            }
            out.extend_from_slice(&buf);
        }
        out
    }
}

pub(crate) enum Parsed {
    Inf(bool),
    Dec(Dec),
}

/// Go `big.ParseFloat(s, 10, ...)` grammar.
fn parse_text(s: &str) -> Option<Parsed> {
    let b = s.as_bytes();
    let (neg, rest) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if rest == b"Inf" || rest == b"inf" {
        return Some(Parsed::Inf(neg));
    }
    let mut i = 0;
    let mut digits = Vec::with_capacity(rest.len());
    let mut frac_digits: i64 = 0;
    let mut seen_point = false;
    while i < rest.len() {
        match rest[i] {
            c @ b'0'..=b'9' => {
                digits.push(c - b'0');
                if seen_point {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp10: i64 = 0;
    let mut exp2: i64 = 0;
    if i < rest.len() {
        let binary = match rest[i] {
            b'e' | b'E' => false,
            b'p' | b'P' => true,
            _ => return None,
        };
        i += 1;
        let eneg = match rest.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while i < rest.len() && rest[i].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i64::from(rest[i] - b'0'));
            i += 1;
        }
        if i == start || i != rest.len() {
            return None;
        }
        let e = if eneg { -e } else { e };
        if binary {
            if e.abs() > MAX_BIN_EXPONENT {
                return None;
            }
            exp2 = e;
        } else {
            if e.abs() > MAX_DEC_EXPONENT {
                return None;
            }
            exp10 = e;
        }
    }
    let d = Dec::new(neg, digits, exp10 - frac_digits);
    let d = if exp2 != 0 { d.mul_pow2(exp2) } else { d };
    Some(Parsed::Dec(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).expect("valid number")
    }

    fn kind(x: &Number) -> &'static str {
        match x.repr() {
            Repr::Int(_) => "int",
            Repr::UInt(_) => "uint",
            Repr::Float(_) => "float",
            Repr::Decimal(_) => "decimal",
        }
    }

    #[test]
    fn canonical_kinds() {
        assert_eq!(kind(&n("12")), "int");
        assert_eq!(kind(&n("-12.000")), "int");
        assert_eq!(kind(&n("1.2e1")), "int");
        assert_eq!(kind(&n("9223372036854775808")), "uint");
        assert_eq!(kind(&n("18446744073709551615")), "uint");
        assert_eq!(kind(&n("18446744073709551616")), "decimal");
        assert_eq!(kind(&n("0.5")), "float");
        assert_eq!(kind(&n("0.1")), "decimal");
        assert_eq!(kind(&n("12345678901234567890.5")), "decimal");
        assert_eq!(kind(&n("-Inf")), "float");
        assert_eq!(kind(&n("1p-1")), "float");
        assert_eq!(n("1p3"), Number::from_i64(8));
    }

    #[test]
    fn numeric_equality() {
        assert_eq!(Number::from_f64(0.5), Some(n("0.5")));
        assert_ne!(Number::from_f64(0.1), Some(n("0.1")));
        assert_eq!(Number::from_f64(0.1), Some(n("0.1000000000000000055511151231257827021181583404541015625")));
        assert_eq!(Number::from_f64(2f64.powi(70)), Some(n("1180591620717411303424")));
        assert_eq!(Number::from_f64(-0.0), Some(Number::from_i64(0)));
        assert!(n("0.1") < Number::from_f64(0.1).expect("f"));
        assert!(n("-Inf") < n("-1e1000"));
        assert!(n("1e1000") < n("Inf"));
        assert!(Number::from_i64(-1) < Number::from_u64(u64::MAX));
    }

    #[test]
    fn text() {
        assert_eq!(n("12345678901234567890.5").to_string(), "12345678901234567890.5");
        assert_eq!(n("1.50e2").to_string(), "150");
        assert_eq!(n("-0.00125").to_string(), "-0.00125");
        assert_eq!(Number::from_f64(0.1).expect("f").to_string(), "0.1");
        assert_eq!(
            Number::from_f64(0.1).expect("f").exact_text().as_deref(),
            Some("0.1000000000000000055511151231257827021181583404541015625")
        );
        assert_eq!(n("1e5000").to_string(), "1e+5000");
        assert_eq!(n("-12.5e-5000").to_string(), "-1.25e-4999");
        assert_eq!(n("+inf").to_string(), "+Inf");
        assert_eq!(Number::from_u64(1 << 63).to_string(), "9223372036854775808");
    }

    #[test]
    fn rejects() {
        for s in ["", "-", ".", "1..2", "1e", "1e+", "0x10", " 1", "1 ", "NaN", "1_000", "e5"] {
            assert!(Number::parse(s).is_none(), "{s:?}");
        }
        for s in [".5", "5.", "+5", "007", "1E5", "1P2"] {
            assert!(Number::parse(s).is_some(), "{s:?}");
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(n("42").as_i64(), Some(42));
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("0.1").as_f64(), 0.1);
        assert_eq!(n("1e400").as_f64(), f64::INFINITY);
        assert!(n("1e-400").as_f64() == 0.0);
        assert!(Number::from_f64(f64::NAN).is_none());
    }
}
