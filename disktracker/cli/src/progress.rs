//! Scan progress on stderr, only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use disktracker::ScanProgress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner showing directories, bytes, entries and the entry rate until dropped.
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
        // indicatif keeps the rate (from the position) and the spinner's tick.
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}, {human_pos} entries ({per_sec})")
                .ok()?,
        );
        bar.enable_steady_tick(Duration::from_millis(100));
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let b = bar.clone();
        // The walkers count in atomics; this copies them into the bar.
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                loop {
                    b.set_position(progress.entries.load(Ordering::Relaxed));
                    b.set_message(format!(
                        "{} dirs, {}",
                        progress.dirs.load(Ordering::Relaxed),
                        indicatif::BinaryBytes(progress.bytes.load(Ordering::Relaxed)),
                    ));
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
