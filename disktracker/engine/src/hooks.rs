//! Test hooks: with the `test-hooks` feature — enabled only by the
//! workspace's end-to-end tests, never in a release build —
//! `DT_TEST_MARKS=1` prints `mark: STEP` on stderr as each step is reached,
//! and `DT_TEST_PAUSE=STEP` stops the process (SIGSTOP) there, so a test can
//! kill it at an exact point. Without the feature, [`step`] is empty.

/// Reached a step of a multi-step operation (`snapshot-begin`,
/// `snapshot-committed`, `index-written`, …).
#[inline]
pub fn step(name: &str) {
    #[cfg(feature = "test-hooks")]
    {
        use std::io::Write;
        if std::env::var_os("DT_TEST_MARKS").is_some() {
            let _ = writeln!(std::io::stderr(), "mark: {name}");
        }
        if std::env::var("DT_TEST_PAUSE").is_ok_and(|p| p == name) {
            let _ = writeln!(std::io::stderr(), "paused: {name}");
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::STOP,
            );
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}
