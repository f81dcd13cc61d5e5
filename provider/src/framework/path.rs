//! Attribute paths, as Terraform shows them on diagnostics.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Attr(String),
    Key(String),
    Index(i64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttrPath(pub Vec<Step>);

impl AttrPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }
    pub fn attr(name: impl Into<String>) -> Self {
        Self(vec![Step::Attr(name.into())])
    }
    pub fn then_attr(mut self, name: impl Into<String>) -> Self {
        self.0.push(Step::Attr(name.into()));
        self
    }
    pub fn then_index(mut self, index: i64) -> Self {
        self.0.push(Step::Index(index));
        self
    }
    pub fn then_key(mut self, key: impl Into<String>) -> Self {
        self.0.push(Step::Key(key.into()));
        self
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Attr(a) if i == 0 => write!(f, "{a}")?,
                Step::Attr(a) => write!(f, ".{a}")?,
                Step::Key(k) => write!(f, "[{k:?}]")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}
