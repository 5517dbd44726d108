//! A second process for `tests/processes.rs`, which runs it through
//! `CARGO_BIN_EXE_disktracker-redb-test-child`. Not a tool.
//!
//! ```text
//! disktracker-redb-test-child ROLE STORE LOCK_TIMEOUT [N]
//! ```
//!
//! * `hold-write` / `hold-read`: open the store, print `CHILD-READY`, keep it
//!   open for N ms (until killed when N is absent), exit 0.
//! * `crash-mid-snapshot`: write 40,000 directories of a snapshot without
//!   committing, print `CHILD-READY`, and wait to be killed.
//! * `loop-read` / `loop-write`: print `CHILD-READY`, then N times open the
//!   store, read every snapshot (and, writing, cache a diff), close it, and
//!   pause 10 ms (as a command run again in a shell loop would).
//!
//! Exits 0 when its part went well; otherwise prints the error and exits
//! with 10 + the error's kind number (Locked is 14).
// A test helper process: a failed expect is a failed test, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use disktracker::settings::{PluginSettings, Value};
use disktracker::{DirStats, ErrorKind, SnapshotMeta, SnapshotStore, StoreOptions};
use disktracker_store_redb::{RedbStore, SETTINGS};

const READY: &str = "CHILD-READY";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [role, path, timeout, rest @ ..] = args.as_slice() else {
        eprintln!("usage: ROLE STORE LOCK_TIMEOUT [N]");
        return ExitCode::from(2);
    };
    let n: Option<u64> = rest.first().and_then(|s| s.parse().ok());
    let mut settings = PluginSettings::defaults("redb", SETTINGS).expect("valid defaults");
    settings
        .set("lock_timeout", Value::String(timeout.clone()), "child")
        .expect("declared key");
    let open = |read_only: bool| {
        RedbStore::open(
            &StoreOptions::file(path)
                .read_only(read_only)
                .with_settings(settings.clone()),
        )
    };
    let result = match role.as_str() {
        "hold-write" | "hold-read" => open(role == "hold-read").map(|store| {
            ready();
            match n {
                Some(ms) => std::thread::sleep(Duration::from_millis(ms)),
                None => wait_to_be_killed(),
            }
            drop(store);
        }),
        "crash-mid-snapshot" => open(false).and_then(|mut store| {
            let mut w = store.begin_snapshot(&SnapshotMeta {
                root: b"/".to_vec(),
                ..SnapshotMeta::default()
            })?;
            for i in 0..40_000u64 {
                let path = format!("/crash/{i:08}");
                let stats = DirStats {
                    total_bytes: i,
                    ..DirStats::default()
                };
                w.write_dir(path.as_bytes(), 1, &stats)?;
            }
            ready();
            wait_to_be_killed();
            drop(w);
            Ok(())
        }),
        "loop-read" | "loop-write" => {
            ready();
            (0..n.unwrap_or(1)).try_for_each(|_| {
                let mut store = open(role == "loop-read")?;
                let snaps = store.snapshots()?;
                for s in &snaps {
                    store.read_tree(s.id, None)?;
                }
                if role == "loop-write"
                    && let [.., a, b] = snaps.as_slice()
                {
                    store.store_diff(a.id, b.id, &[])?;
                }
                drop(store);
                std::thread::sleep(Duration::from_millis(10));
                Ok(())
            })
        }
        other => {
            eprintln!("unknown role {other}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child {role}: {e}");
            ExitCode::from(10 + kind_number(e.kind()))
        }
    }
}

fn kind_number(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Usage => 1,
        ErrorKind::NotFound => 2,
        ErrorKind::Config => 3,
        ErrorKind::Locked => 4,
        ErrorKind::Corrupt => 5,
        ErrorKind::Permission => 6,
        _ => 9,
    }
}

fn ready() {
    let mut out = std::io::stdout();
    // The parent waits for this line; a broken pipe means it is gone.
    let _ = writeln!(out, "{READY}");
    let _ = out.flush();
}

fn wait_to_be_killed() {
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}
