//! Paths into values, kept as a stack while walking and rendered only for
//! error messages.

use std::fmt::Write;

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Attr(String),
    Index(usize),
    Key(String),
}

#[derive(Debug, Default)]
pub(crate) struct Path(Vec<Step>);

impl Path {
    pub(crate) fn push(&mut self, s: Step) {
        self.0.push(s);
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for s in &self.0 {
            match s {
                Step::Attr(a) => {
                    out.push('.');
                    out.push_str(a);
                }
                Step::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
                Step::Key(k) => {
                    let _ = write!(out, "[{k:?}]");
                }
            }
        }
        out
    }
}
