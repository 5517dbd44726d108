//! Every read command works on a database the user cannot write (a shared,
//! read-only copy; a backup on read-only media), with the same answers as on
//! the writable original. Caching a diff there is skipped, not an error.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::{Env, ok};
use rstest::rstest;

fn set_modes(state: &Path, files: u32, dir: u32) {
    fs::set_permissions(state, fs::Permissions::from_mode(0o700)).unwrap();
    for entry in fs::read_dir(state).unwrap() {
        let p = entry.unwrap().path();
        fs::set_permissions(&p, fs::Permissions::from_mode(files)).unwrap();
    }
    fs::set_permissions(state, fs::Permissions::from_mode(dir)).unwrap();
}

#[rstest]
fn read_commands_work_on_a_read_only_database(#[values("sqlite", "redb")] backend: &str) {
    let env = Env::new();
    let root = env.path().join("tree");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::write(root.join("a/f"), vec![1u8; 40_000]).unwrap();
    let r = root.to_str().unwrap();
    let scan = ["--backend", backend, "--quiet", "scan", r];
    ok(&env.run(&scan));
    fs::write(root.join("a/b/g"), vec![2u8; 90_000]).unwrap();
    ok(&env.run(&scan));
    let ab = root.join("a/b");
    let commands: Vec<Vec<&str>> = vec![
        vec!["snapshots"],
        vec!["show"],
        vec!["show", "--path", ab.to_str().unwrap()],
        vec!["diff"],
        vec!["diff", "1"],
        vec!["explain", r],
        vec!["size", r, ab.to_str().unwrap()],
    ];
    let run = |args: &[&str], as_nobody: bool| {
        let mut cmd = env.cmd();
        cmd.args(["--backend", backend, "--format", "json", "--quiet"])
            .args(args);
        if as_nobody {
            cmd.uid(65534).gid(65534);
        }
        cmd.output().unwrap()
    };
    let root_user = rustix::process::geteuid().is_root();
    // The original answers come from a copy of the database, so that no
    // diff is cached in the one made read-only.
    let state = env.db.parent().unwrap();
    let copy_env = Env::new();
    let copy_state = copy_env.db.parent().unwrap();
    fs::create_dir_all(copy_state).unwrap();
    for e in fs::read_dir(state).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, copy_state.join(p.file_name().unwrap())).unwrap();
    }
    set_modes(state, 0o444, 0o555);
    for args in &commands {
        let o = run(args, root_user);
        let want = {
            let mut cmd = copy_env.cmd();
            cmd.args(["--backend", backend, "--format", "json", "--quiet"])
                .args(args);
            ok(&cmd.output().unwrap())
        };
        let got = ok(&o);
        // `size` names the index file it read; the rest is the same.
        let strip = |s: &str| {
            s.replace(copy_state.to_str().unwrap(), "STATE")
                .replace(state.to_str().unwrap(), "STATE")
        };
        assert_eq!(strip(&got), strip(&want), "{args:?}");
    }
    set_modes(state, 0o600, 0o700);
}
