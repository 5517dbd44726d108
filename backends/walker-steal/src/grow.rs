//! Growing the worker pool while the workers wait on the disk.
//!
//! Warm, a walk is CPU-bound and one worker per core is best; cold, workers
//! block in `getdents64` and `statx` reading inodes, the cores idle, and
//! more requests in flight finish the walk sooner. Rather than guess which
//! case applies, a governor samples the process's CPU time every
//! [`TICK`]: while the cores are less than [`BUSY`] used and directories
//! wait in the deques, it starts one more worker, up to the cap. It never
//! stops workers: idle ones park and cost nothing.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// How often the governor looks.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Fraction of the cores the walk must keep busy before it stops growing.
pub(crate) const BUSY: f64 = 0.8;

/// Consecutive idle ticks before the pool grows: a warm walk dips below
/// [`BUSY`] for a tick now and then (parking, a narrow part of the tree);
/// a cold one stays below.
pub(crate) const IDLE_TICKS: u32 = 2;

/// CPU time used so far by every thread of this process.
fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Decides, tick by tick, whether the pool should grow.
pub(crate) struct Governor {
    cores: f64,
    last_wall: Instant,
    last_cpu: Duration,
    idle_ticks: u32,
}

impl Governor {
    /// Starts measuring now.
    pub fn new(cores: usize) -> Self {
        Governor {
            cores: cores.max(1) as f64,
            last_wall: Instant::now(),
            last_cpu: process_cpu(),
            idle_ticks: 0,
        }
    }

    /// Whether to add workers, given that directories wait in the deques
    /// (`waiting`); measures the CPU use since the previous call.
    pub fn should_grow(&mut self, waiting: bool) -> bool {
        let (wall, cpu) = (Instant::now(), process_cpu());
        let busy = busy_cores(
            cpu.saturating_sub(self.last_cpu),
            wall.duration_since(self.last_wall),
        );
        self.last_wall = wall;
        self.last_cpu = cpu;
        if waiting && busy < BUSY * self.cores {
            self.idle_ticks += 1;
        } else {
            self.idle_ticks = 0;
        }
        if self.idle_ticks >= IDLE_TICKS {
            self.idle_ticks = 0;
            return true;
        }
        false
    }
}

/// Cores kept busy on average: CPU time over wall time.
fn busy_cores(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return f64::INFINITY;
    }
    cpu.as_secs_f64() / wall.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saturated_core_does_not_grow_the_pool() {
        let mut g = Governor::new(1);
        for _ in 0..=IDLE_TICKS {
            let until = Instant::now() + TICK;
            let mut x = 0u64;
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            assert!(!g.should_grow(true));
        }
    }

    #[test]
    fn idle_cores_grow_the_pool_only_when_work_waits() {
        // Far more cores than this test process (and any test running beside
        // it) can keep busy, so the process counts as waiting.
        let mut g = Governor::new(256);
        for _ in 1..IDLE_TICKS {
            std::thread::sleep(TICK);
            assert!(!g.should_grow(true), "one idle tick is not enough");
        }
        std::thread::sleep(TICK);
        assert!(g.should_grow(true));
        for _ in 0..IDLE_TICKS {
            std::thread::sleep(TICK);
            assert!(!g.should_grow(false), "nothing waits: nothing to grow for");
        }
    }

    #[test]
    fn no_elapsed_time_means_no_growth() {
        assert!(busy_cores(Duration::ZERO, Duration::ZERO).is_infinite());
        assert!(
            (busy_cores(Duration::from_millis(5), Duration::from_millis(10)) - 0.5).abs() < 1e-9
        );
    }
}
