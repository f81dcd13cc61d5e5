//! Helpers for the acceptance tests (see tests/).
