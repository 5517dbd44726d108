//! Work-stealing scheduler: a deque per worker, parking when idle, and
//! termination by counting outstanding jobs.
//!
//! A worker pops its own deque LIFO, so it goes depth first and few jobs are
//! pending at once; a thief steals FIFO from the other end, taking the
//! oldest, shallowest job, which tends to be the biggest subtree. A worker
//! with nothing to do spins briefly, yields, then parks on a condition
//! variable; whoever publishes a job wakes one sleeper, and only when there
//! is one, so a busy walk never touches the lock.
//!
//! Termination: `pending` counts jobs pushed and not yet finished. A job's
//! children are counted before the job itself is finished, so the count
//! reaches zero exactly once, when no job exists anywhere.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex, PoisonError};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::Backoff;

/// Shared half of the scheduler.
pub(crate) struct Scheduler<T> {
    injector: Injector<T>,
    stealers: Vec<Stealer<T>>,
    /// Jobs pushed and not yet finished.
    pending: AtomicUsize,
    /// Set when the walk is over: finished, cancelled, or a worker panicked.
    done: AtomicBool,
    /// Workers parked (or about to park) on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl<T> Scheduler<T> {
    /// A scheduler for `threads` workers, and their local deques.
    pub fn new(threads: usize) -> (Self, Vec<Worker<T>>) {
        let workers: Vec<Worker<T>> = (0..threads.max(1)).map(|_| Worker::new_lifo()).collect();
        let sched = Scheduler {
            injector: Injector::new(),
            stealers: workers.iter().map(Worker::stealer).collect(),
            pending: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        };
        (sched, workers)
    }

    /// Queues a job from outside any worker (the root).
    pub fn inject(&self, job: T) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.injector.push(job);
        self.wake_one();
    }

    /// Queues a job found by the worker owning `local`.
    #[inline]
    pub fn push(&self, local: &Worker<T>, job: T) {
        // Counted before it is visible, and (same thread) before the parent
        // job finishes, so `pending` cannot touch zero early. Relaxed is
        // enough: all updates of one atomic are totally ordered.
        self.pending.fetch_add(1, Ordering::Relaxed);
        local.push(job);
        self.wake_one();
    }

    /// Wakes one parked worker, if any, after a job was published.
    #[inline]
    fn wake_one(&self) {
        // Pairs with the fence in `next`: either this load sees the sleeper's
        // increment, or the sleeper's re-check sees the job just pushed.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            // Taking the lock orders the notification after the sleeper has
            // started waiting (it holds the lock until then).
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_one();
        }
    }

    /// Marks one job finished; the last one ends the walk.
    #[inline]
    pub fn finish(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.stop();
        }
    }

    /// Ends the walk: every worker's next call to [`Self::next`] returns `None`.
    pub fn stop(&self) {
        self.done.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.wake.notify_all();
    }

    /// True when more jobs exist than `running` workers could be holding,
    /// so at least one waits in a deque.
    pub fn has_waiting(&self, running: usize) -> bool {
        self.pending.load(Ordering::Relaxed) > running
    }

    /// True once the walk is over.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// The next job for the worker owning `local`, parking while there is
    /// none; `None` when the walk is over.
    pub fn next(&self, local: &Worker<T>) -> Option<T> {
        let backoff = Backoff::new();
        loop {
            if self.is_done() {
                return None;
            }
            if let Some(job) = self.find(local) {
                return Some(job);
            }
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let job = loop {
                if self.done.load(Ordering::SeqCst) {
                    break None;
                }
                if let Some(job) = self.find(local) {
                    break Some(job);
                }
                guard = self
                    .wake
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            };
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            return job;
        }
    }

    /// Own deque first, then the injector, then the other workers.
    fn find(&self, local: &Worker<T>) -> Option<T> {
        local.pop().or_else(|| {
            std::iter::repeat_with(|| {
                self.injector.steal_batch_and_pop(local).or_else(|| {
                    self.stealers
                        .iter()
                        .map(Stealer::steal)
                        .collect::<Steal<T>>()
                })
            })
            .find(|s| !s.is_retry())
            .and_then(Steal::success)
        })
    }
}

/// Stops the walk if a worker unwinds, so the others do not park forever
/// while the scope waits for them.
pub(crate) struct StopOnPanic<'a, T>(pub &'a Scheduler<T>);

impl<T> Drop for StopOnPanic<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic tree: job `n` spawns `n / 2` children of value `n / 2`,
    /// so all jobs run, the walk terminates, and every worker exits.
    #[test]
    fn runs_every_job_and_terminates() {
        for threads in [1, 2, 4, 8] {
            let (sched, workers) = Scheduler::<u32>::new(threads);
            sched.inject(64);
            let ran = AtomicUsize::new(0);
            std::thread::scope(|s| {
                for local in workers {
                    let (sched, ran) = (&sched, &ran);
                    s.spawn(move || {
                        while let Some(n) = sched.next(&local) {
                            ran.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..n / 2 {
                                sched.push(&local, n / 2);
                            }
                            sched.finish();
                        }
                    });
                }
            });
            // 1 + 32 + 32*16 + ... : job n has n/2 children, down to n = 1.
            let mut expect = 1usize;
            let (mut count, mut n) = (1usize, 64u32);
            while n / 2 > 0 {
                count *= (n / 2) as usize;
                n /= 2;
                expect += count;
            }
            assert_eq!(ran.load(Ordering::Relaxed), expect, "threads = {threads}");
        }
    }
}
