//! The PostgreSQL store against a real server (the testkit's throwaway
//! one): connections, credentials, TLS, faults, privileges, many hosts.
//! Every test needs the server binaries; run them with
//! `cargo test -p disktracker-store-postgres -- --include-ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use disktracker::{
    DirRecord, DirStats, ErrorKind, IndexProvenance, LiveBatch, Mutation, SnapshotMeta,
    SnapshotStore, StoreOptions, WatchState,
};
use disktracker_store_postgres::PgStore;
use disktracker_testkit::postgres::{SUPERUSER, TestPostgres};
use disktracker_testkit::store_conformance::{meta_for, rows_for, write_snapshot};

const PW: &str = "s3cr3t-Pa55";

fn open(url: &str) -> disktracker::Result<PgStore> {
    PgStore::open(&StoreOptions::url(url))
}

fn open_env(url: &str, env: &[(&str, &str)]) -> disktracker::Result<PgStore> {
    PgStore::open_with_env(&StoreOptions::url(url), env)
}

/// A database with DiskTracker's tables, the group roles of `roles.sql`,
/// and a login role of `group` with password [`PW`]: (database, role).
fn database_with_role(pg: &TestPostgres, group: &str) -> (String, String) {
    let db = pg.create_database();
    drop(open(&pg.socket_url(SUPERUSER, &db)).expect("create the tables as the owner"));
    let roles = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sql/roles.sql"))
        .expect("read sql/roles.sql");
    pg.admin_client(&db)
        .batch_execute(&roles)
        .expect("run sql/roles.sql");
    let role = pg.unique_name("role");
    pg.create_role(&role, PW, &[group]);
    (db, role)
}

fn one_snapshot(store: &mut dyn SnapshotStore, root: &[u8], n: u64) -> i64 {
    let rows = rows_for(root, &[root], n);
    write_snapshot(store, &meta_for(root, n), &rows)
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn connects_by_socket_and_by_tcp_with_the_password_from_url_env_or_passfile() {
    let pg = TestPostgres::shared();
    let (db, role) = database_with_role(pg, "disktracker_host");
    // Unix socket (trusted), in both URL spellings and as key/value pairs.
    let sock = pg.socket_dir().display().to_string();
    for url in [
        pg.socket_url(&role, &db),
        format!(
            "postgresql:///{db}?host={sock}&port={}&user={role}",
            pg.port()
        ),
        format!("host={sock} port={} user={role} dbname={db}", pg.port()),
    ] {
        let mut s = open(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
        one_snapshot(&mut s, b"/sock", 1);
    }
    // 127.0.0.1 with the password in the URL.
    let mut s = open(&pg.tcp_url(&role, PW, &db, "")).expect("password in the URL");
    one_snapshot(&mut s, b"/tcp", 1);
    // From PGPASSWORD; the URL's own values win over the environment's.
    let no_pw = format!("postgres://{role}@127.0.0.1:{}/{db}", pg.port());
    let mut s = open_env(&no_pw, &[("PGPASSWORD", PW), ("PGDATABASE", "nope")])
        .expect("password from PGPASSWORD");
    one_snapshot(&mut s, b"/env", 1);
    // Everything from the environment.
    let port = pg.port().to_string();
    let env = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", role.as_str()),
        ("PGPASSWORD", PW),
        ("PGDATABASE", db.as_str()),
    ];
    open_env("", &env).expect("everything from PG* variables");
    // From a password file (libpq's format); ignored when others can read it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pgpass");
    std::fs::write(
        &file,
        format!(
            "# ours\nelsewhere:*:*:*:wrong\n127.0.0.1:{}:{db}:{role}:{PW}\n",
            pg.port()
        ),
    )
    .unwrap();
    let mode = |m| std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(m));
    mode(0o600).unwrap();
    let pass_env = [("PGPASSFILE", file.to_str().unwrap())];
    let mut s = open_env(&no_pw, &pass_env).expect("password from PGPASSFILE");
    one_snapshot(&mut s, b"/passfile", 1);
    mode(0o644).unwrap();
    let err = open_env(&no_pw, &pass_env).expect_err("a group-readable password file is skipped");
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    // And the store saw every snapshot.
    let s = open(&pg.socket_url(SUPERUSER, &db)).unwrap();
    assert_eq!(s.snapshots().unwrap().len(), 6);
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn wrong_password_missing_database_and_refused_port_are_their_own_errors() {
    let pg = TestPostgres::shared();
    let (db, role) = database_with_role(pg, "disktracker_host");
    let wrong = "Wr0ng-Pa55-xyz";
    for url in [
        pg.tcp_url(&role, wrong, &db, "sslmode=disable"),
        format!(
            "host=127.0.0.1 port={} user={role} password={wrong} dbname={db}",
            pg.port()
        ),
        format!(
            "postgres://{role}@127.0.0.1:{}/{db}?password={wrong}&sslmode=require",
            pg.port()
        ),
    ] {
        let err = open(&url).expect_err("a wrong password");
        assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        let msg = err.to_string();
        assert!(!msg.contains(wrong), "the password leaked: {msg}");
        assert!(msg.contains("password"), "says what failed: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
    // No password at all where one is needed.
    let err = open(&format!("postgres://{role}@127.0.0.1:{}/{db}", pg.port())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");

    let missing = pg.unique_name("nodb");
    for url in [
        pg.socket_url(SUPERUSER, &missing),
        pg.tcp_url(&role, PW, &missing, ""),
    ] {
        let err = open(&url).expect_err("a missing database");
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains(&missing), "{err}");
        assert!(!err.to_string().contains(PW), "{err}");
    }
    assert!(!pg.database_exists(&missing));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t0 = Instant::now();
    let err = open(&format!("postgres://u:{PW}@127.0.0.1:{port}/x")).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(!err.to_string().contains(PW), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "refusal is immediate"
    );
}

/// Whether the server sees a TLS connection from `app`.
fn uses_tls(pg: &TestPostgres, app: &str) -> bool {
    pg.admin_client("postgres")
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0)
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn tls_require_and_verify_full_with_a_ca_file() {
    let pg = TestPostgres::shared();
    let (db, role) = database_with_role(pg, "disktracker_host");
    let ca = pg.ca_cert();
    let ca = ca.to_str().unwrap();
    let port = pg.port();
    let cases = [
        (
            "require",
            format!("postgres://{role}:{PW}@127.0.0.1:{port}/{db}?sslmode=require"),
        ),
        (
            "verify-full localhost",
            format!(
                "postgres://{role}:{PW}@localhost:{port}/{db}?sslmode=verify-full&sslrootcert={ca}"
            ),
        ),
        (
            "verify-full 127.0.0.1",
            format!(
                "host=127.0.0.1 port={port} user={role} password={PW} dbname={db} sslmode=verify-full sslrootcert={ca}"
            ),
        ),
        (
            "verify-ca under another name",
            format!(
                "host=wrong.invalid hostaddr=127.0.0.1 port={port} user={role} password={PW} dbname={db} sslmode=verify-ca sslrootcert={ca}"
            ),
        ),
    ];
    for (i, (what, url)) in cases.iter().enumerate() {
        let app = format!("tls-{}-{i}", std::process::id());
        let url = if url.starts_with("postgres://") {
            format!("{url}&application_name={app}")
        } else {
            format!("{url} application_name={app}")
        };
        let mut s = open(&url).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(uses_tls(pg, &app), "{what}: the connection is encrypted");
        one_snapshot(&mut s, b"/tls", i as u64);
    }
    // sslmode=disable really is plain.
    let app = format!("plain-{}", std::process::id());
    let _s = open(&format!(
        "postgres://{role}:{PW}@127.0.0.1:{port}/{db}?sslmode=disable&application_name={app}"
    ))
    .unwrap();
    assert!(!uses_tls(pg, &app));

    // verify-full refuses a certificate for another name.
    let url = format!(
        "host=wrong.invalid hostaddr=127.0.0.1 port={port} user={role} password={PW} dbname={db} sslmode=verify-full sslrootcert={ca}"
    );
    let err = open(&url).expect_err("verify-full under a wrong host name");
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(!err.to_string().contains(PW), "{err}");
    // A root certificate file that is not one.
    let err = open(&format!(
        "postgres://{role}:{PW}@localhost:{port}/{db}?sslmode=verify-full&sslrootcert=/etc/hostname"
    ))
    .expect_err("a bad CA file");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    // verify-full without any root certificate is refused before connecting.
    let err = open_env(
        &format!("postgres://{role}:{PW}@localhost:{port}/{db}?sslmode=verify-full"),
        &[("PGSSLROOTCERT", "/nonexistent/root.crt")],
    )
    .expect_err("no CA file");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn tls_required_but_not_offered_is_a_clear_error() {
    let pg = TestPostgres::shared_without_tls();
    let (db, role) = database_with_role(pg, "disktracker_host");
    let url = pg.tcp_url(&role, PW, &db, "sslmode=require");
    let err = open(&url).expect_err("TLS required, not offered");
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("does not offer TLS"), "{msg}");
    assert!(!msg.contains(PW), "{msg}");
    // prefer falls back to plain, as libpq does.
    open(&pg.tcp_url(&role, PW, &db, "sslmode=prefer")).expect("prefer without TLS");
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn the_server_stopped_mid_write_leaves_nothing_and_the_next_snapshot_commits() {
    // Default durability: a committed snapshot must survive an immediate
    // stop (without synchronous commit its WAL may still be unwritten).
    let pg = TestPostgres::durable();
    let url = pg.fresh_database();
    let root: &[u8] = b"/srv";
    let mut store = open(&url).unwrap();
    let kept = one_snapshot(&mut store, root, 0);
    let rows: Vec<(Vec<u8>, DirStats)> = (0..160_000u64)
        .map(|i| {
            (
                format!("/srv/d{i:06}").into_bytes(),
                DirStats {
                    total_bytes: i,
                    ..DirStats::default()
                },
            )
        })
        .collect();
    {
        let mut w = store.begin_snapshot(&meta_for(root, 1)).unwrap();
        // Blocks of several COPYs (about a mebibyte each) have gone to the
        // server.
        for (p, s) in &rows[..80_000] {
            w.write_dir(p, 1, s).unwrap();
        }
        pg.stop();
        let mut failed = None;
        for (p, s) in &rows[80_000..] {
            if let Err(e) = w.write_dir(p, 1, s) {
                failed = Some(e);
                break;
            }
        }
        let err = match failed {
            Some(e) => e,
            None => w.commit().expect_err("commit after the server stopped"),
        };
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionLost | ErrorKind::Unreachable
            ),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    // Every later call on the dead connection fails the same way.
    let err = store.snapshots().expect_err("the connection is gone");
    assert_eq!(err.kind(), ErrorKind::ConnectionLost, "{err}");
    drop(store);
    // While it is down: unreachable.
    let err = open(&url).expect_err("server down");
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err}");
    pg.start();
    let mut store = open(&url).unwrap();
    let ids: Vec<i64> = store.snapshots().unwrap().iter().map(|s| s.id).collect();
    assert_eq!(ids, [kept], "the interrupted snapshot is absent");
    let next = one_snapshot(&mut store, root, 2);
    assert!(next > kept);
    assert_eq!(store.read_tree(next, None).unwrap().len(), 1);
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn a_host_role_writes_and_a_reader_role_gets_a_clear_permission_error() {
    let pg = TestPostgres::shared();
    let (db, host) = database_with_role(pg, "disktracker_host");
    let reader = pg.unique_name("reader");
    pg.create_role(&reader, PW, &["disktracker_reader"]);

    // The host role: everything a host does, without any DDL privilege.
    let mut s = open(&pg.socket_url(&host, &db)).expect("a host opens a current schema");
    let root: &[u8] = b"/var";
    let a = one_snapshot(&mut s, root, 0);
    let b = one_snapshot(&mut s, root, 1);
    s.store_diff(a, b, &[]).expect("cache a diff");
    let m = [Mutation::RemoveSubtree {
        time_ms: 5,
        path: b"/var/x".to_vec(),
        old_total: None,
    }];
    let w = WatchState {
        root: root.to_vec(),
        ..WatchState::default()
    };
    let last = s
        .append_batch(&LiveBatch {
            mutations: &m,
            events: &[],
            watch_state: Some(&w),
        })
        .expect("append a batch");
    s.set_watch_state(&w).expect("replace the watch state");
    s.set_index_provenance(&IndexProvenance::default())
        .expect("record the provenance");
    s.set_index_provenance(&IndexProvenance {
        len: 7,
        ..IndexProvenance::default()
    })
    .expect("replace the provenance");
    s.derive_snapshot(&disktracker::DerivedSnapshot {
        base: b,
        meta: &meta_for(root, 2),
        removed: &[],
        upserts: &[],
        deltas: &[],
        watch_state: Some(&w),
    })
    .expect("derive");
    assert_eq!(s.prune_mutations(last, None).unwrap(), 1);
    assert_eq!(s.delete_snapshots(&[a]).unwrap(), 1);
    s.reclaim_space()
        .expect("reclaim_space is harmless for a non-owner");
    let mut w2 = s.begin_snapshot(&meta_for(root, 3)).unwrap();
    w2.write_dir(root, 0, &DirStats::default()).unwrap();
    w2.delete_with(&[b]).unwrap();
    w2.commit()
        .expect("retention in the snapshot's transaction");

    // The host role cannot create the tables of an empty database.
    let empty = pg.create_database();
    let err = open(&pg.socket_url(&host, &empty)).expect_err("no DDL privilege");
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert!(err.to_string().contains("roles.sql"), "{err}");

    // The reader: opens (even writable: no DDL once current), reads, and
    // every write is a Permission error naming the role set-up.
    let r = open(&pg.socket_url(&reader, &db)).expect("a reader opens");
    assert_eq!(r.snapshots().unwrap().len(), 2);
    let mut r = r;
    let err = r
        .begin_snapshot(&meta_for(root, 9))
        .err()
        .expect("a reader cannot scan");
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("permission denied") && msg.contains("roles.sql"),
        "{msg}"
    );
    let err = r.delete_snapshots(&[b]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert_eq!(r.snapshots().unwrap().len(), 2, "nothing changed");
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn a_database_of_a_newer_version_is_refused_untouched() {
    let pg = TestPostgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    one_snapshot(&mut open(&url).unwrap(), b"/n", 0);
    pg.admin_client(&db)
        .batch_execute("UPDATE disktracker_schema SET version = 99")
        .unwrap();
    let before = pg.dump(&db);
    for read_only in [false, true] {
        let err = PgStore::open(&StoreOptions::url(url.clone()).read_only(read_only)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(
            err.to_string().contains("from a newer DiskTracker"),
            "{err}"
        );
    }
    assert_eq!(pg.dump(&db), before);
}

/// The directories of host `h`'s snapshot in round `r`.
fn host_rows(h: u64, r: u64) -> Vec<DirRecord> {
    let root = format!("/srv/h{h}");
    let mut rows: Vec<DirRecord> = (0..300u64)
        .map(|i| DirRecord {
            path: if i == 0 {
                root.clone().into_bytes()
            } else {
                format!("{root}/d{:03}/x{i}", i % 17).into_bytes()
            },
            depth: if i == 0 { 0 } else { 2 },
            stats: DirStats {
                total_bytes: h * 1_000_000 + r * 1_000 + i,
                fingerprint: u128::from(h) << 64 | u128::from(r),
                ..DirStats::default()
            },
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows.dedup_by(|a, b| a.path == b.path);
    rows
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn twenty_hosts_write_concurrently_while_readers_see_only_whole_snapshots() {
    const HOSTS: u64 = 20;
    const ROUNDS: u64 = 4;
    let pg = TestPostgres::shared();
    let url = pg.fresh_database();
    drop(open(&url).unwrap());
    let done = AtomicBool::new(false);
    let check = |s: &PgStore| -> usize {
        let snaps = s.snapshots().expect("list snapshots");
        for info in &snaps {
            let (h, r) = info
                .meta
                .walker
                .split_once('/')
                .map(|(h, r)| (h.parse::<u64>().unwrap(), r.parse::<u64>().unwrap()))
                .expect("walker names host and round");
            let got = s.read_tree(info.id, None).expect("read a visible snapshot");
            assert_eq!(
                got,
                host_rows(h, r),
                "snapshot {} of host {h} round {r}",
                info.id
            );
            assert_eq!(info.meta.dir_count, got.len() as u64);
            assert_eq!(info.meta.host, format!("host-{h}"));
        }
        snaps.len()
    };
    let times = std::sync::Mutex::new(Vec::new());
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let s = open(&url).expect("reader opens");
                    let mut passes = 0;
                    while !done.load(Ordering::Relaxed) {
                        check(&s);
                        passes += 1;
                    }
                    passes
                })
            })
            .collect();
        let writers: Vec<_> = (0..HOSTS)
            .map(|h| {
                let url = &url;
                let times = &times;
                scope.spawn(move || {
                    let mut s = open(url).expect("host opens");
                    for r in 0..ROUNDS {
                        let rows = host_rows(h, r);
                        let meta = SnapshotMeta {
                            root: rows[0].path.clone(),
                            host: format!("host-{h}"),
                            dir_count: rows.len() as u64,
                            walker: format!("{h}/{r}"),
                            ..SnapshotMeta::default()
                        };
                        let t = Instant::now();
                        let mut w = s.begin_snapshot(&meta).expect("begin");
                        for d in &rows {
                            w.write_dir(&d.path, d.depth, &d.stats).expect("write");
                        }
                        w.commit().expect("commit");
                        times.lock().unwrap().push(t.elapsed());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("a writer failed");
        }
        done.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().expect("a reader failed") > 0);
        }
    });
    let elapsed = t0.elapsed();
    let s = open(&url).unwrap();
    assert_eq!(check(&s), (HOSTS * ROUNDS) as usize);
    let mut times = times.into_inner().unwrap();
    times.sort();
    let per_host: BTreeMap<String, usize> =
        s.snapshots()
            .unwrap()
            .into_iter()
            .fold(BTreeMap::new(), |mut m, i| {
                *m.entry(i.meta.host).or_default() += 1;
                m
            });
    assert!(
        per_host.values().all(|&n| n == ROUNDS as usize),
        "{per_host:?}"
    );
    eprintln!(
        "{} snapshots of ~300 directories by {HOSTS} hosts in {elapsed:?} ({:.0}/s); store time median {:?}, p99 {:?}",
        times.len(),
        times.len() as f64 / elapsed.as_secs_f64(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

#[test]
#[ignore = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql"]
fn a_65k_directory_snapshot_is_stored_and_read_in_one_pass() {
    let pg = TestPostgres::shared();
    let url = pg.fresh_database();
    let mut s = open(&url).unwrap();
    let rows: Vec<(Vec<u8>, DirStats)> = (0..65_536u64)
        .map(|i| {
            let p = format!("/bench/a{:02}/b{:02}/c{:04}", i % 97, i % 89, i);
            (
                p.into_bytes(),
                DirStats {
                    total_bytes: i,
                    file_count: i,
                    ..DirStats::default()
                },
            )
        })
        .collect();
    let mut rows = rows;
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let meta = meta_for(b"/bench", 0);
    let t = Instant::now();
    let mut w = s.begin_snapshot(&meta).unwrap();
    for (p, st) in &rows {
        w.write_dir(p, 3, st).unwrap();
    }
    let id = w.commit().unwrap();
    let write = t.elapsed();
    let t = Instant::now();
    let mut n = 0;
    let mut last = Vec::new();
    s.visit_tree(id, None, &mut |r| {
        assert!(r.path > last, "path order");
        last.clone_from(&r.path);
        n += 1;
        true
    })
    .unwrap();
    let read = t.elapsed();
    assert_eq!(n, rows.len());
    eprintln!("65,536 directories: stored in {write:?}, visited in {read:?} (debug build)");
    // Generous bounds for a debug build on a busy machine; the figures are
    // the lead's to measure in release.
    assert!(write < Duration::from_secs(10), "{write:?}");
    assert!(read < Duration::from_secs(10), "{read:?}");
}
