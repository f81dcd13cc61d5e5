//! Randomness and digests the provider needs (nonces, salts, salted digests of values that must not
//! appear in clear).

use sha2::{Digest, Sha256};

/// `bytes` random bytes as lower-case hex, from the operating system's secure source; `None` when
/// there is none (the caller says what could not be done).
pub fn random_hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    rustls::crypto::aws_lc_rs::default_provider().secure_random.fill(&mut buf).ok()?;
    Some(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over the parts, each followed by a NUL so that `("ab", "c")` and `("a", "bc")` differ.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0u8]);
    }
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_and_digests() {
        let (a, b) = (random_hex(16).expect("random"), random_hex(16).expect("random"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_ne!(sha256_hex(&[b"ab", b"c"]), sha256_hex(&[b"a", b"bc"]));
    }
}
