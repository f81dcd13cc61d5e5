//! Helpers for the unit tests.
#![allow(clippy::unwrap_used)]

use crate::context::{CancelToken, JobContext};
use crate::proto::{job_event, JobEvent, LogLine, Progress};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Everything a job sent, collected as it arrives.
#[derive(Clone, Default)]
pub struct Events {
    pub logs: Arc<Mutex<Vec<LogLine>>>,
    pub progress: Arc<Mutex<Vec<Progress>>>,
}

impl Events {
    pub fn texts(&self, stream: &str) -> Vec<String> {
        self.logs.lock().unwrap().iter().filter(|l| l.stream == stream).map(|l| l.text.clone()).collect()
    }

    pub fn all_text(&self) -> String {
        self.logs.lock().unwrap().iter().map(|l| format!("[{}] {}\n", l.stream, l.text)).collect()
    }
}

/// A job context whose events are collected, and its cancel token.
pub fn context() -> (JobContext, Events, CancelToken) {
    let (tx, mut rx) = mpsc::channel::<JobEvent>(16);
    let events = Events::default();
    let sink = events.clone();
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event.event {
                Some(job_event::Event::Log(line)) => sink.logs.lock().unwrap().push(line),
                Some(job_event::Event::Progress(p)) => sink.progress.lock().unwrap().push(p),
                _ => {}
            }
        }
    });
    let token = CancelToken::new();
    (JobContext::new("test-job", tx, token.clone()), events, token)
}

/// A fresh empty directory under the system temp dir.
pub fn temp_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("app-runner-unit-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Pids of live (not zombie) processes in group `pgid`, from /proc.
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return pids };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid pgrp ...": comm may contain spaces, so split after ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            pids.push(pid);
        }
    }
    pids
}
