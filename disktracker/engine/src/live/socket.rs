//! The watcher's query socket: other processes of the same user ask a running
//! watcher for live sizes and its status, one JSON line each way.
//!
//! The socket lives beside the database (mode 0600); the watcher also checks
//! every peer's uid, so a socket made accessible by accident still answers
//! only its owner. A reader that finds no watcher (no socket, nobody
//! listening, no answer within [`ASK_TIMEOUT`]) falls back to the index file.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use disktracker::path::{escape_bytes, escape_path, unescape};
use disktracker::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

/// How long a reader waits for a watcher's answer before using the index file.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);

/// A request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Live recursive disk usage of these paths (escaped with `escape_bytes`).
    Size(Vec<String>),
    /// The watcher's status.
    Status,
    /// Reconcile now (the watcher owns the live state of its roots).
    Reconcile,
}

/// One live size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeAnswer {
    /// The path asked (escaped).
    pub path: String,
    /// Recursive disk usage, when the path is a directory under a watched root.
    pub bytes: Option<u64>,
    /// The watched root it is under, when it is.
    pub root: Option<String>,
}

/// The status of one watched root.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootState {
    /// The root (escaped).
    pub root: String,
    /// `booting`, `catching-up`, `live`, `rescanning` or `degraded`.
    pub state: String,
    /// The snapshot the live state is based on.
    pub snapshot: Option<i64>,
    /// Events received.
    pub events: u64,
    /// Batches applied.
    pub batches: u64,
    /// Events received and not yet applied.
    pub queue_depth: u64,
    /// Index overlay entries.
    pub overlay_entries: u64,
    /// Last batch, ms since the epoch.
    pub last_batch_ms: Option<i64>,
    /// Last compaction, ms since the epoch.
    pub last_compaction_ms: Option<i64>,
    /// Last reconcile, ms since the epoch.
    pub last_reconcile_ms: Option<i64>,
    /// Why it is degraded.
    pub detail: Option<String>,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Answers to [`Request::Size`], in the order asked.
    Sizes(Vec<SizeAnswer>),
    /// Answer to [`Request::Status`].
    Status {
        /// The watcher's process id.
        pid: u32,
        /// Every watched root.
        roots: Vec<RootState>,
    },
    /// Answer to [`Request::Reconcile`].
    Reconciled(Vec<ReconcileWire>),
    /// The request could not be answered.
    Error(String),
}

/// One root's reconcile result on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileWire {
    /// The root (escaped).
    pub root: String,
    /// The snapshot folded over.
    pub base: Option<i64>,
    /// The snapshot written.
    pub snapshot: Option<i64>,
    /// Mutations folded.
    pub mutations: u64,
    /// Directories changed.
    pub changed_dirs: u64,
    /// Change of the root's disk usage (as text: it is an i128).
    pub delta_bytes: String,
}

impl ReconcileWire {
    /// From the report line.
    pub fn from_line(l: &disktracker::report::ReconcileLine) -> Self {
        ReconcileWire {
            root: escape_bytes(&l.root).into_owned(),
            base: l.base,
            snapshot: l.snapshot,
            mutations: l.mutations,
            changed_dirs: l.changed_dirs,
            delta_bytes: l.delta_bytes.to_string(),
        }
    }

    /// Back to the report line.
    pub fn to_line(&self) -> Option<disktracker::report::ReconcileLine> {
        let mut l = disktracker::report::ReconcileLine::new(unescape(&self.root)?);
        l.base = self.base;
        l.snapshot = self.snapshot;
        l.mutations = self.mutations;
        l.changed_dirs = self.changed_dirs;
        l.delta_bytes = self.delta_bytes.parse().ok()?;
        Some(l)
    }
}

/// What the server needs from the watcher.
pub trait Answer: Send + Sync + 'static {
    /// Live sizes of `paths` (raw bytes).
    fn sizes(&self, paths: &[Vec<u8>]) -> Vec<(Option<u64>, Option<Vec<u8>>)>;
    /// The status of every watched root.
    fn status(&self) -> Vec<RootState>;
    /// Reconciles every watched root.
    fn reconcile(&self) -> std::result::Result<Vec<ReconcileWire>, String>;
}

/// A running server; stops (and removes the socket file) when dropped.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("path", &self.path).finish()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path` (replacing a stale socket file left by a killed watcher:
/// the caller holds the watcher lock, so no live watcher owns it).
pub fn serve(path: &Path, answer: Arc<dyn Answer>) -> Result<Server> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            let _ = std::fs::remove_file(path);
        }
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "{} exists and is not a socket; not replacing it",
                    escape_path(path)
                ),
            )
            .with_hint("move it away; the watcher answers queries there"));
        }
        Err(_) => {}
    }
    let listener = UnixListener::bind(path).map_err(|e| {
        Error::io("cannot listen for queries on", path, e)
            .with_hint("socket paths are limited to 107 bytes; use a shorter --db path")
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io("cannot restrict the query socket", path, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let me = rustix::process::geteuid();
    let thread = std::thread::Builder::new()
        .name("queries".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let owner = rustix::net::sockopt::socket_peercred(&conn)
                    .map(|c| c.uid == me)
                    .unwrap_or(false);
                if owner {
                    let _ = handle(conn, &*answer);
                }
            }
        })
        .map_err(|e| Error::new(ErrorKind::Io, "cannot start the query thread").with_source(e))?;
    Ok(Server {
        path: path.to_path_buf(),
        stop,
        thread: Some(thread),
    })
}

fn handle(conn: UnixStream, answer: &dyn Answer) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Size(paths)) => {
            let raw: Option<Vec<Vec<u8>>> = paths.iter().map(|p| unescape(p)).collect();
            match raw {
                Some(raw) => Response::Sizes(
                    answer
                        .sizes(&raw)
                        .into_iter()
                        .zip(paths)
                        .map(|((bytes, root), path)| SizeAnswer {
                            path,
                            bytes,
                            root: root.map(|r| escape_bytes(&r).into_owned()),
                        })
                        .collect(),
                ),
                None => Response::Error("a path is not escaped text".into()),
            }
        }
        Ok(Request::Status) => Response::Status {
            pid: std::process::id(),
            roots: answer.status(),
        },
        Ok(Request::Reconcile) => {
            conn.set_write_timeout(None)?;
            match answer.reconcile() {
                Ok(lines) => Response::Reconciled(lines),
                Err(e) => Response::Error(e),
            }
        }
        Err(e) => Response::Error(format!("bad request: {e}")),
    };
    // One write: serde writes token by token, and every write to a socket
    // is a system call that may let the reader wake for a partial line.
    let mut out = serde_json::to_vec(&response)?;
    out.push(b'\n');
    (&conn).write_all(&out)
}

/// Asks the watcher listening on `path`; `None` when none answers in time.
pub fn ask(path: &Path, request: &Request) -> Option<Response> {
    ask_with(path, request, ASK_TIMEOUT)
}

/// [`ask`] with a longer wait for the answer (a reconcile takes a while).
pub fn ask_with(path: &Path, request: &Request, wait: Duration) -> Option<Response> {
    let conn = UnixStream::connect(path).ok()?;
    conn.set_read_timeout(Some(wait)).ok()?;
    conn.set_write_timeout(Some(ASK_TIMEOUT)).ok()?;
    let mut out = serde_json::to_vec(request).ok()?;
    out.push(b'\n');
    (&conn).write_all(&out).ok()?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Answer for Fixed {
        fn sizes(&self, paths: &[Vec<u8>]) -> Vec<(Option<u64>, Option<Vec<u8>>)> {
            paths
                .iter()
                .map(|p| {
                    if p.starts_with(b"/w") {
                        (Some(p.len() as u64), Some(b"/w".to_vec()))
                    } else {
                        (None, None)
                    }
                })
                .collect()
        }

        fn status(&self) -> Vec<RootState> {
            vec![RootState {
                root: "/w".into(),
                state: "live".into(),
                ..RootState::default()
            }]
        }

        fn reconcile(&self) -> std::result::Result<Vec<ReconcileWire>, String> {
            Err("not here".into())
        }
    }

    #[test]
    fn sizes_and_status_round_trip_with_non_utf8_paths_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("data.sock");
        let server = serve(&sock, Arc::new(Fixed)).unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let odd = b"/w/caf\xe9\n".to_vec();
        let req = Request::Size(vec![escape_bytes(&odd).into_owned(), "/elsewhere".into()]);
        let Some(Response::Sizes(a)) = ask(&sock, &req) else {
            panic!("no answer")
        };
        assert_eq!(a[0].bytes, Some(odd.len() as u64));
        assert_eq!(unescape(&a[0].path).unwrap(), odd);
        assert_eq!(a[0].root.as_deref(), Some("/w"));
        assert_eq!(a[1].bytes, None);
        let Some(Response::Status { pid, roots }) = ask(&sock, &Request::Status) else {
            panic!("no status")
        };
        assert_eq!(pid, std::process::id());
        assert_eq!(roots[0].state, "live");
        drop(server);
        assert!(!sock.exists(), "the socket file is removed on stop");
        assert_eq!(ask(&sock, &Request::Status), None);
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_regular_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("data.sock");
        drop(UnixListener::bind(&sock).unwrap());
        assert!(sock.exists());
        let server = serve(&sock, Arc::new(Fixed)).unwrap();
        assert!(ask(&sock, &Request::Status).is_some());
        drop(server);
        std::fs::write(&sock, b"precious").unwrap();
        let err = serve(&sock, Arc::new(Fixed)).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&sock).unwrap(), b"precious");
    }
}
