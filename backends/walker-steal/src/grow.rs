//! Growing the worker pool while the workers wait on the disk.
//!
//! Warm, a walk is CPU-bound and one worker per core is best; cold, workers
//! block in `getdents64` and `statx` while the kernel reads directory blocks
//! and inodes, and more requests in flight finish the walk sooner. Rather
//! than guess which case applies, a governor looks every [`TICK`] at the
//! state of each worker thread (`/proc/self/task/TID/stat`): while some are
//! in uninterruptible sleep (`D`, waiting for the disk or a network file
//! system) on [`BLOCKED_TICKS`] ticks in a row and directories wait in the
//! deques, it doubles the pool, up to the cap. It never stops workers: idle
//! ones park and cost nothing.
//!
//! The process's CPU time is not the signal: a cold walk keeps the cores
//! 80–90% busy in the kernel (reading and hashing directory blocks, filling
//! the inode cache) while most workers wait, so an "idle CPU" rule stops
//! growing at 4–8 workers.

use std::io::Read;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How often the governor looks.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Consecutive ticks with a blocked worker before the pool grows: a warm
/// walk may block for a moment (a page of a directory evicted, a journal
/// commit) without being disk-bound.
pub(crate) const BLOCKED_TICKS: u32 = 2;

/// The kernel thread ids of the workers, by worker number; 0 until a worker
/// has started.
pub(crate) struct WorkerIds(Vec<AtomicI32>);

impl WorkerIds {
    pub fn new(workers: usize) -> Self {
        WorkerIds((0..workers).map(|_| AtomicI32::new(0)).collect())
    }

    /// Called by worker `n` on its own thread.
    pub fn register(&self, n: usize) {
        if let Some(slot) = self.0.get(n) {
            slot.store(
                rustix::thread::gettid().as_raw_nonzero().get(),
                Ordering::Relaxed,
            );
        }
    }

    /// Whether a started worker is in uninterruptible sleep now; stops
    /// reading thread states at the first one that is.
    fn any_blocked(&self) -> bool {
        self.0
            .iter()
            .map(|t| t.load(Ordering::Relaxed))
            .any(|tid| tid != 0 && thread_state(tid) == Some(b'D'))
    }
}

/// The state letter of thread `tid` of this process (`R`, `S`, `D`, …).
fn thread_state(tid: i32) -> Option<u8> {
    // The state is within the first 32 bytes ("TID (COMM) S", COMM at most
    // 15 bytes), so one short read does: `fs::read` would stat the file and
    // read it in growing chunks, some ten system calls per worker and tick.
    let mut buf = [0u8; 128];
    let n = std::fs::File::open(format!("/proc/self/task/{tid}/stat"))
        .and_then(|mut f| f.read(&mut buf))
        .ok()?;
    let stat = buf.get(..n)?;
    // COMM may hold spaces and parentheses, so the state follows the last
    // ')'; every field after it is a number.
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Decides, tick by tick, whether the pool should grow.
#[derive(Default)]
pub(crate) struct Governor {
    blocked_ticks: u32,
}

impl Governor {
    /// Whether to add workers now, given that directories wait in the deques.
    pub fn should_grow(&mut self, ids: &WorkerIds, waiting: bool) -> bool {
        self.decide(waiting && ids.any_blocked())
    }

    fn decide(&mut self, blocked_with_work_waiting: bool) -> bool {
        if !blocked_with_work_waiting {
            self.blocked_ticks = 0;
            return false;
        }
        self.blocked_ticks += 1;
        if self.blocked_ticks >= BLOCKED_TICKS {
            self.blocked_ticks = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_after_blocked_ticks_in_a_row_only() {
        let mut g = Governor::default();
        let pattern = [true, false, true, true, true, true, false, true];
        let got: Vec<bool> = pattern.iter().map(|&b| g.decide(b)).collect();
        assert_eq!(got, [false, false, false, true, false, true, false, false]);
    }

    #[test]
    fn a_running_or_sleeping_thread_is_not_blocked() {
        let ids = WorkerIds::new(2);
        ids.register(0);
        assert_eq!(
            thread_state(rustix::thread::gettid().as_raw_nonzero().get()),
            Some(b'R'),
            "the thread reading its own state is running"
        );
        assert!(!ids.any_blocked());
        // A thread asleep on a timer sleeps interruptibly: S, not D.
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            tx.send(rustix::thread::gettid().as_raw_nonzero().get())
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(thread_state(tid), Some(b'S'));
        sleeper.join().unwrap();
    }
}
