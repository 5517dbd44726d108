//! The PostgreSQL store from the command line, on the testkit's throwaway
//! server: the same snapshots in all three stores read the same; 20 hosts
//! scanning at once while others read; the faults an operator meets, each
//! with its exit code and nothing half-stored.
// A failed unwrap in a test is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::{Env, Paused, fails_with, ok, write};
use disktracker::{SnapshotStore, StoreOptions, registry};
use disktracker_testkit::oracle::{self, Expected};
use disktracker_testkit::postgres::TestPostgres;
use disktracker_testkit::treegen;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `disktracker --db DB --quiet ARGS…` as `host`.
fn dt(env: &Env, db: &str, host: &str, args: &[&str]) -> Command {
    let mut c = env.cmd();
    c.env("DISKTRACKER_HOST", host)
        .args(["--db", db, "--quiet"])
        .args(args);
    c
}

fn run(env: &Env, db: &str, host: &str, args: &[&str]) -> Output {
    dt(env, db, host, args).output().unwrap()
}

fn open(url: &str) -> Box<dyn SnapshotStore> {
    let plugin = registry::stores().unwrap().get("postgres").unwrap();
    (plugin.open)(&StoreOptions::url(url).read_only(true)).unwrap()
}

/// Every directory of snapshot `id` against the oracle of `root`.
fn assert_equals_tree(store: &dyn SnapshotStore, id: i64, root: &Path, want: &oracle::Oracle) {
    let got = store.read_tree(id, None).unwrap();
    assert_eq!(
        got.len(),
        want.dirs.len(),
        "snapshot {id} of {root:?}: directories"
    );
    for d in &got {
        assert_eq!(
            Expected::from(&d.stats),
            want.dirs[&d.path],
            "snapshot {id}: {}",
            String::from_utf8_lossy(&d.path)
        );
    }
}

/// One scan's data stored in sqlite, redb and postgres (through one ncdu
/// export per state, so that every store holds the same metadata): `show`,
/// `diff` and `explain` print the same bytes in every format.
#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn the_same_snapshots_read_the_same_in_all_three_stores() {
    let env = Env::new();
    let root = env.path().join("tree");
    treegen::generate(&root, 3_000, 7).unwrap();
    let scratch_db = env.path().join("scratch.db");
    let exports: Vec<PathBuf> = (0..2)
        .map(|n| env.path().join(format!("state{n}.json")))
        .collect();
    let mut oracles = Vec::new();
    for (n, export) in exports.iter().enumerate() {
        if n == 1 {
            write(&root.join("grown/big"), 700_000);
            write(&root.join("grown/deeper/more"), 90_000);
        }
        ok(&run(&env, s(&scratch_db), "h", &["scan", s(&root)]));
        ok(&run(
            &env,
            s(&scratch_db),
            "h",
            &["-o", s(export), "export", "ncdu"],
        ));
        oracles.push(oracle::compute(&root));
    }
    let pg = TestPostgres::shared().fresh_database();
    let dbs = [
        env.path().join("a.db").to_str().unwrap().to_owned(),
        env.path().join("a.redb").to_str().unwrap().to_owned(),
        pg.clone(),
    ];
    for (db, backend) in dbs.iter().zip(["sqlite", "redb", "postgres"]) {
        for export in &exports {
            let o = dt(
                &env,
                db,
                "h",
                &["--backend", backend, "import", "ncdu", s(export)],
            )
            .output()
            .unwrap();
            ok(&o);
        }
    }
    // The imports equal the tree (and so each other), directory by directory
    // where no files were folded: the root's totals, from the oracle.
    let store = open(&pg);
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), 2);
    for (snap, want) in snaps.iter().zip(&oracles) {
        let root_row = store.dir(snap.id, &oracle::key(&root)).unwrap().unwrap();
        assert_eq!(
            root_row.stats.total_bytes,
            want.dirs[&oracle::key(&root)].total_bytes
        );
    }
    let grown = root.join("grown");
    let commands: [&[&str]; 4] = [
        &["show", "-n", "50", "-d", "4"],
        &["diff", "-n", "200"],
        &["diff", "1", "2", "-p", s(&grown)],
        &["explain", s(&root), "--threshold", "5"],
    ];
    for format in ["table", "json", "csv"] {
        for args in commands {
            let mut all = vec!["--format", format];
            all.extend_from_slice(args);
            let outputs: Vec<String> = dbs.iter().map(|db| ok(&run(&env, db, "h", &all))).collect();
            assert!(!outputs[0].is_empty());
            assert_eq!(outputs[0], outputs[1], "sqlite and redb differ: {all:?}");
            assert_eq!(
                outputs[0], outputs[2],
                "sqlite and postgres differ: {all:?}"
            );
        }
    }
}

/// 20 hosts scan their own trees at once, three rounds each — the first
/// into an empty database, so all 20 race to create the schema — while,
/// from the second round on, two readers run `fleet` in a loop and a
/// cross-host `diff` runs between rounds: no error anywhere, and every
/// stored snapshot equals its host's tree.
#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn twenty_hosts_write_while_others_read() {
    const HOSTS: usize = 20;
    const ROUNDS: usize = 3;
    let env = Env::new();
    let url = TestPostgres::shared().fresh_database();
    let trees: Vec<PathBuf> = (0..HOSTS)
        .map(|h| {
            let root = env.path().join("srv");
            let root = root.join(format!("host{h}"));
            treegen::generate(&root, 300 + 20 * h as u64, h as u64).unwrap();
            root
        })
        .collect();
    let oracles: Vec<_> = trees.iter().map(|t| oracle::compute(t)).collect();

    let spawn_reader = |args: &'static [&'static str]| -> Child {
        let script = format!(
            "while [ ! -e {stop} ]; do \"$0\" \"$@\" >/dev/null || exit 1; done",
            stop = env.path().join("stop").display()
        );
        Command::new("sh")
            .args([
                "-c",
                &script,
                env!("CARGO_BIN_EXE_disktracker"),
                "--db",
                &url,
                "--quiet",
            ])
            .args(args)
            .env_clear()
            .env("HOME", &env.home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DISKTRACKER_HOST", "reader")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut readers = Vec::new();
    for round in 0..ROUNDS {
        if round == 1 {
            readers.push(spawn_reader(&["--format", "json", "fleet"]));
            readers.push(spawn_reader(&["--format", "csv", "fleet"]));
        }
        let writers: Vec<Child> = trees
            .iter()
            .enumerate()
            .map(|(h, t)| {
                dt(&env, &url, &format!("host-{h:02}"), &["scan", s(t)])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (h, w) in writers.into_iter().enumerate() {
            let o = w.wait_with_output().unwrap();
            assert!(
                o.status.success(),
                "round {round} host {h}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        // A cross-host diff of the same root path is allowed, even of two trees.
        if round > 0 {
            ok(&run(
                &env,
                &url,
                "reader",
                &["diff", "--host", "host-00", "--host", "host-00"],
            ));
        }
    }
    std::fs::write(env.path().join("stop"), b"").unwrap();
    for r in readers {
        let o = r.wait_with_output().unwrap();
        assert!(
            o.status.success(),
            "reader: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    let store = open(&url);
    let snaps = store.snapshots().unwrap();
    assert_eq!(snaps.len(), HOSTS * ROUNDS);
    for snap in &snaps {
        let h: usize = snap.meta.host.trim_start_matches("host-").parse().unwrap();
        assert_eq!(snap.meta.root, oracle::key(&trees[h]));
        assert_eq!(snap.meta.dir_count as usize, oracles[h].dirs.len());
        assert_equals_tree(&*store, snap.id, &trees[h], &oracles[h]);
    }
    let fleet: serde_json::Value =
        serde_json::from_str(&ok(&run(&env, &url, "r", &["--format", "json", "fleet"]))).unwrap();
    let rows = fleet["rows"].as_array().unwrap();
    assert_eq!(rows.len(), HOSTS, "one row per host and root");
    for (h, row) in rows.iter().enumerate() {
        assert_eq!(row["host"], format!("host-{h:02}"));
        assert_eq!(
            row["disk_usage"].as_u64(),
            Some(oracles[h].dirs[&oracle::key(&trees[h])].total_bytes)
        );
        assert_eq!(row["disk_usage_delta"].as_i64(), Some(0), "unchanged trees");
    }
}

/// What an operator meets: a wrong password (10), a server that is down
/// (9), TLS required but not offered, a role that may only read trying to
/// scan (7), the server stopped in the middle of a scan (nothing stored;
/// the next scan works). Every error is one line without the password.
#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn faults_have_their_own_exit_codes_and_store_nothing() {
    let env = Env::new();
    let root = env.path().join("tree");
    treegen::generate(&root, 2_000, 3).unwrap();
    let pg = TestPostgres::private();
    let db = pg.create_database();
    let owner = pg.socket_url(disktracker_testkit::postgres::SUPERUSER, &db);
    ok(&run(&env, &owner, "h", &["scan", s(&root)]));

    // A wrong password.
    pg.create_role("alice", "right-password", &[]);
    let wrong = pg.tcp_url("alice", "wrong-secret", &db, "sslmode=disable");
    let e = fails_with(&run(&env, &wrong, "h", &["snapshots"]), 10);
    assert!(!e.contains("wrong-secret"), "the password leaked: {e}");
    assert!(e.contains("alice"), "names the user: {e}");

    // A database that does not exist: not found, and not created.
    let missing = pg.socket_url(disktracker_testkit::postgres::SUPERUSER, "no_such_db");
    let e = fails_with(&run(&env, &missing, "h", &["snapshots"]), 3);
    assert!(e.contains("no_such_db"), "{e}");
    let e = fails_with(&run(&env, &missing, "h", &["scan", s(&root)]), 3);
    assert!(e.contains("no_such_db"), "{e}");
    assert!(!pg.database_exists("no_such_db"));

    // A read-only role trying to scan; reading works.
    let roles = Path::new(env!("CARGO_MANIFEST_DIR")).join("backends/store-postgres/sql/roles.sql");
    pg.admin_client(&db)
        .batch_execute(&std::fs::read_to_string(roles).unwrap())
        .unwrap();
    pg.create_role("viewer", "viewer-pw", &["disktracker_reader"]);
    let viewer = pg.tcp_url("viewer", "viewer-pw", &db, "sslmode=disable");
    ok(&run(&env, &viewer, "h", &["snapshots"]));
    let e = fails_with(&run(&env, &viewer, "h", &["scan", s(&root)]), 7);
    assert!(e.contains("roles.sql"), "says how to grant: {e}");
    // A host role may scan.
    pg.create_role("web1", "web1-pw", &["disktracker_host"]);
    let host = pg.tcp_url("web1", "web1-pw", &db, "sslmode=disable");
    ok(&run(&env, &host, "web-1", &["scan", s(&root)]));

    // TLS required of a server that offers none.
    let plain = TestPostgres::shared_without_tls();
    let plain_db = plain.create_database();
    let e = fails_with(
        &run(
            &env,
            &plain.tcp_url(
                disktracker_testkit::postgres::SUPERUSER,
                "",
                &plain_db,
                "sslmode=require",
            ),
            "h",
            &["snapshots"],
        ),
        9,
    );
    assert!(e.to_lowercase().contains("tls"), "{e}");

    // The server stopped in the middle of a scan: killed before the commit,
    // the scan fails with its own code and stores nothing.
    let before = open(&owner).snapshots().unwrap().len();
    let mut scan = Paused::at(dt(&env, &owner, "h", &["scan", s(&root)]), "snapshot-begin");
    pg.stop();
    scan.resume();
    let mut rest = String::new();
    scan.stderr.read_to_string(&mut rest).unwrap();
    let code = scan.child.wait().unwrap().code();
    assert!(matches!(code, Some(9 | 11)), "exit {code:?}: {rest}");
    assert_eq!(
        rest.lines()
            .filter(|l| l.starts_with("disktracker: error: "))
            .count(),
        1,
        "{rest}"
    );
    pg.start();
    assert_eq!(
        open(&owner).snapshots().unwrap().len(),
        before,
        "nothing half-stored"
    );
    ok(&run(&env, &owner, "h", &["scan", s(&root)]));
    assert_eq!(open(&owner).snapshots().unwrap().len(), before + 1);

    // A server that is not there at all.
    pg.stop();
    let e = fails_with(&run(&env, &owner, "h", &["snapshots"]), 9);
    assert!(e.contains("PostgreSQL") || e.contains("server"), "{e}");
    pg.start();
}

/// config/examples/fleet.toml, pointed at the test server with a role made
/// by roles.sql, scans into it; its URL is shown as a secret.
#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn the_fleet_example_config_scans_as_a_host_role() {
    let env = Env::new();
    let root = env.path().join("var");
    treegen::generate(&root, 1_000, 11).unwrap();
    let pg = TestPostgres::shared();
    let db = pg.create_database();
    let owner = pg.socket_url(disktracker_testkit::postgres::SUPERUSER, &db);
    let roles = Path::new(env!("CARGO_MANIFEST_DIR")).join("backends/store-postgres/sql/roles.sql");
    pg.admin_client(&db)
        .batch_execute(&std::fs::read_to_string(roles).unwrap())
        .unwrap();
    // The owner's first open creates the tables.
    ok(&run(&env, &owner, "setup", &["scan", s(&root)]));
    let role = pg.unique_name("web");
    pg.create_role(&role, "host-secret", &["disktracker_host"]);
    let ca = pg.ca_cert();
    let url = format!(
        "postgres://{role}:host-secret@localhost:{}/{db}?sslmode=verify-full&sslrootcert={}",
        pg.port(),
        ca.display()
    );
    let text = std::fs::read_to_string(common::example("fleet.toml")).unwrap();
    let original = text
        .lines()
        .find(|l| l.starts_with("url = "))
        .unwrap()
        .to_owned();
    let config = env.path().join("fleet.toml");
    std::fs::write(
        &config,
        text.replace(&original, &format!("url = \"{url}\"")),
    )
    .unwrap();
    let with_config = |args: &[&str]| {
        env.cmd()
            .env("DISKTRACKER_HOST", "web-1")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap()
    };
    ok(&with_config(&["scan", s(&root)]));
    let shown = ok(&with_config(&["config"]));
    assert!(!shown.contains("host-secret"), "{shown}");
    let fleet: serde_json::Value =
        serde_json::from_str(&ok(&with_config(&["--format", "json", "fleet"]))).unwrap();
    let hosts: Vec<&str> = fleet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["setup", "web-1"]);
    let want = oracle::compute(&root).dirs[&oracle::key(&root)].total_bytes;
    assert_eq!(fleet["rows"][1]["disk_usage"].as_u64(), Some(want));
}

/// The fleet scan's unit and timer pass `systemd-analyze verify`.
#[test]
#[ignore = "needs systemd-analyze"]
fn the_fleet_units_verify() {
    let env = Env::new();
    let unit = std::fs::read_to_string(common::example("disktracker-fleet-scan.service")).unwrap();
    let unit = unit.replace(
        "/usr/local/bin/disktracker",
        env!("CARGO_BIN_EXE_disktracker"),
    );
    std::fs::write(env.path().join("disktracker-fleet-scan.service"), unit).unwrap();
    std::fs::copy(
        common::example("disktracker-fleet-scan.timer"),
        env.path().join("disktracker-fleet-scan.timer"),
    )
    .unwrap();
    for name in [
        "disktracker-fleet-scan.service",
        "disktracker-fleet-scan.timer",
    ] {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(env.path().join(name))
            .output()
            .expect("systemd-analyze");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {err}");
        assert!(err.trim().is_empty(), "{name}: {err}");
    }
}
