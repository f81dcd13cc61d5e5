//! Diagnostics: what the user sees as errors and warnings, with attribute paths.

use super::path::AttrPath;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    pub detail: String,
    pub path: Option<AttrPath>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, severity: Severity, path: Option<AttrPath>, summary: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Diagnostic { severity, summary: summary.into(), detail: detail.into(), path });
    }
    pub fn error(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, None, summary, detail);
    }
    pub fn error_at(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Error, Some(path), summary, detail);
    }
    pub fn warning(&mut self, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, None, summary, detail);
    }
    pub fn warning_at(&mut self, path: AttrPath, summary: impl Into<String>, detail: impl Into<String>) {
        self.push(Severity::Warning, Some(path), summary, detail);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
