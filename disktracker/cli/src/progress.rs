//! Scan progress on stderr, only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use disktracker::ScanProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner showing directories, entries, bytes and entry rate until dropped.
pub struct ProgressDisplay {
    bar: ProgressBar,
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts a display if stderr is a terminal and `enabled`.
    pub fn start(progress: Arc<ScanProgress>, enabled: bool) -> Option<Self> {
        if !enabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").ok()?);
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let b = bar.clone();
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                let start = Instant::now();
                loop {
                    let entries = progress.entries.load(Ordering::Relaxed);
                    let secs = start.elapsed().as_secs_f64().max(0.001);
                    b.set_message(format!(
                        "{} dirs, {} entries, {} ({:.0} entries/s)",
                        progress.dirs.load(Ordering::Relaxed),
                        entries,
                        indicatif::BinaryBytes(progress.bytes.load(Ordering::Relaxed)),
                        entries as f64 / secs
                    ));
                    b.tick();
                    if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(ProgressDisplay {
            bar,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}
