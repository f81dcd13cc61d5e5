//! The per-start token every call must carry as `authorization: Bearer <token>`.

use std::sync::Arc;
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// The metadata key carrying the token.
pub const METADATA_KEY: &str = "authorization";

/// Checks each call's token in constant time.
#[derive(Clone)]
pub struct TokenCheck {
    expected: Arc<[u8]>,
}

impl TokenCheck {
    pub fn new(token: &str) -> Self {
        Self { expected: format!("Bearer {token}").into_bytes().into() }
    }

    pub fn accepts(&self, value: &[u8]) -> bool {
        constant_time_eq(value, &self.expected)
    }
}

impl Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match request.metadata().get(METADATA_KEY) {
            Some(value) if self.accepts(value.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong runner token")),
            None => Err(Status::unauthenticated("missing runner token: send metadata `authorization: Bearer <token>`")),
        }
    }
}

/// Compares without an early exit, so the time taken does not tell how much matched.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(!*e);
        diff |= usize::from(g ^ e);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let check = TokenCheck::new("s3cret");
        assert!(check.accepts(b"Bearer s3cret"));
        assert!(!check.accepts(b"Bearer s3cre"));
        assert!(!check.accepts(b"Bearer s3cretx"));
        assert!(!check.accepts(b"bearer s3cret"));
        assert!(!check.accepts(b""));
    }

    #[test]
    fn interceptor_rejects_missing_and_wrong_tokens() {
        let mut check = TokenCheck::new("t");
        let err = check.call(Request::new(())).err().map(|s| s.code());
        assert_eq!(err, Some(tonic::Code::Unauthenticated));
        let mut wrong = Request::new(());
        wrong.metadata_mut().insert(METADATA_KEY, tonic::metadata::MetadataValue::from_static("Bearer x"));
        assert_eq!(check.call(wrong).err().map(|s| s.code()), Some(tonic::Code::Unauthenticated));
        let mut right = Request::new(());
        right.metadata_mut().insert(METADATA_KEY, tonic::metadata::MetadataValue::from_static("Bearer t"));
        assert!(check.call(right).is_ok());
    }
}
