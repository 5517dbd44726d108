//! A throwaway PostgreSQL server for tests, started from the installed
//! server binaries (`initdb`, `pg_ctl`, `postgres`: found in
//! `/usr/lib/postgresql/*/bin`, newest first, else on `PATH`).
//!
//! One server per test process ([`TestPostgres::shared`]), started on first
//! use in a few seconds:
//!
//! * data directory, Unix socket directory and TLS files in one temporary
//!   directory; listening on that socket and on 127.0.0.1 at a free port;
//! * run as root (as the tests and CI are), the server runs as the
//!   `postgres` system user if there is one, else `nobody` (`initdb`
//!   refuses root), through `runuser`, with the temporary directory chowned
//!   to it;
//! * `pg_hba.conf`: the socket trusts everyone (the superuser `postgres`
//!   and test roles), 127.0.0.1 wants scram-sha-256 passwords, with or
//!   without TLS;
//! * TLS on, with a CA and a server certificate for `localhost` and
//!   `127.0.0.1` made at start by the `openssl` command ([`TestPostgres::ca_cert`]);
//!   [`TestPostgres::shared_without_tls`] starts a second server with TLS off,
//!   for "TLS required but not offered";
//! * durability off (`fsync`, `synchronous_commit`): tests, not data —
//!   except on [`TestPostgres::durable`], for benchmarks.
//!
//! A watchdog shell (its own process group, so Ctrl-C on the tests does
//! not reach it) waits for the test process to disappear — however it
//! ends: exit, panic, kill — then stops the server (`pg_ctl stop -m
//! immediate`) and removes the temporary directory.
//!
//! [`TestPostgres::available`] says whether the binaries exist, so tests can
//! be `#[ignore = "needs a PostgreSQL server …"]` and run with `--ignored`
//! where they do.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The reason PostgreSQL tests are ignored on machines without a server.
pub const NEEDS: &str = "needs a PostgreSQL server (initdb, pg_ctl): apt-get install postgresql";

/// The superuser of the test server (socket connections, no password).
pub const SUPERUSER: &str = "postgres";

/// A running test server.
pub struct TestPostgres {
    base: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    tls: bool,
    /// PostgreSQL's default durability (fsync, synchronous commit, full
    /// page writes) instead of the tests' none.
    durable: bool,
    run_as: Option<String>,
    counter: AtomicU64,
    control: Mutex<()>,
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`, if installed.
pub fn server_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .map(|d| {
            std::fs::canonicalize(d.join("pg_ctl"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(d)
        })
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("test PostgreSQL: cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "test PostgreSQL: {what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

impl TestPostgres {
    /// Whether the server binaries are installed.
    pub fn available() -> bool {
        server_bin_dir().is_some() && Command::new("openssl").arg("version").output().is_ok()
    }

    /// The server of this test process, started on first use (TLS on).
    pub fn shared() -> &'static TestPostgres {
        static SHARED: OnceLock<TestPostgres> = OnceLock::new();
        SHARED.get_or_init(|| TestPostgres::start_new(true, false))
    }

    /// A second server of this test process with TLS off.
    pub fn shared_without_tls() -> &'static TestPostgres {
        static PLAIN: OnceLock<TestPostgres> = OnceLock::new();
        PLAIN.get_or_init(|| TestPostgres::start_new(false, false))
    }

    /// A server of the caller's own (TLS on), for tests that stop and start
    /// it; stopped and removed when dropped (or, at the latest, when the
    /// process ends).
    pub fn private() -> TestPostgres {
        TestPostgres::start_new(true, false)
    }

    /// A server of the caller's own with PostgreSQL's default durability
    /// (every commit flushed), for benchmarks whose figures must hold on a
    /// real server.
    pub fn durable() -> TestPostgres {
        TestPostgres::start_new(true, true)
    }

    /// Creates, configures and starts a server; panics saying why not.
    fn start_new(tls: bool, durable: bool) -> TestPostgres {
        let bin = server_bin_dir().unwrap_or_else(|| panic!("{NEEDS}"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let base = std::env::temp_dir().join(format!("dt-pg-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&base).expect("create the server's temporary directory");
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir(&socket_dir).expect("create the socket directory");
        let run_as = is_root().then(|| {
            let has_postgres = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .is_ok_and(|o| o.status.success());
            if has_postgres { "postgres" } else { "nobody" }.to_owned()
        });
        let server = TestPostgres {
            base,
            bin,
            data,
            socket_dir,
            port: free_port(),
            tls,
            durable,
            run_as,
            counter: AtomicU64::new(0),
            control: Mutex::new(()),
        };
        server.watchdog();
        server.init();
        server.start();
        server
    }

    /// A command run as the server's user.
    fn as_server(&self, program: &Path) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(&self.base).stdin(Stdio::null());
        cmd
    }

    // The watchdog must outlive this process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    fn watchdog(&self) {
        let stop = match &self.run_as {
            Some(user) => format!("runuser -u {user} -- "),
            None => String::new(),
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
             {stop}'{pg_ctl}' -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{base}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            base = self.base.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the test server's watchdog");
    }

    fn init(&self) {
        let tls_dir = self.base.join("tls");
        std::fs::create_dir(&tls_dir).expect("create the TLS directory");
        if self.tls {
            make_certificates(&tls_dir);
        }
        if let Some(user) = &self.run_as {
            run(
                "chown",
                Command::new("chown")
                    .args(["-R", &format!("{user}:")])
                    .arg(&self.base),
            );
        }
        run(
            "initdb",
            self.as_server(&self.bin.join("initdb"))
                .arg("-D")
                .arg(&self.data)
                .args([
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
        );
        let hba = "local all all trust\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(self.data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             max_connections = 200\npassword_encryption = 'scram-sha-256'\n",
            self.port,
            self.socket_dir.display()
        );
        if !self.durable {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        if self.tls {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                tls_dir.join("server.crt").display(),
                tls_dir.join("server.key").display()
            ));
        }
        let mut all = std::fs::read_to_string(self.data.join("postgresql.conf"))
            .expect("read postgresql.conf");
        all.push_str(&conf);
        std::fs::write(self.data.join("postgresql.conf"), all).expect("write postgresql.conf");
        if let Some(user) = &self.run_as {
            run(
                "chown",
                Command::new("chown")
                    .args(["-R", &format!("{user}:")])
                    .arg(&self.base),
            );
        }
    }

    /// Starts the server (again, after [`stop`](Self::stop)).
    pub fn start(&self) {
        let _g = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut cmd = self.as_server(&self.bin.join("pg_ctl"));
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.base.join("server.log"))
            .args(["-w", "-t", "60", "start"])
            .process_group(0);
        let out = cmd.output().expect("run pg_ctl start");
        if !out.status.success() {
            let log = std::fs::read_to_string(self.base.join("server.log")).unwrap_or_default();
            panic!(
                "test PostgreSQL: pg_ctl start failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Stops the server at once (`-m immediate`: connections drop, nothing
    /// uncommitted survives), for fault tests.
    pub fn stop(&self) {
        let _g = self
            .control
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        run(
            "pg_ctl stop",
            self.as_server(&self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(&self.data)
                .args(["-w", "stop", "-m", "immediate"]),
        );
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Unix socket directory.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The CA certificate that signed the server's (PEM).
    pub fn ca_cert(&self) -> PathBuf {
        self.base.join("tls/ca.crt")
    }

    /// The socket directory, percent-encoded for a URL's host.
    fn socket_host(&self) -> String {
        self.socket_dir.display().to_string().replace('/', "%2F")
    }

    /// A URL for `user` on database `db` through the Unix socket (trusted).
    pub fn socket_url(&self, user: &str, db: &str) -> String {
        format!(
            "postgres://{user}@{}:{}/{db}",
            self.socket_host(),
            self.port
        )
    }

    /// A URL for `user`/`password` on `db` over TCP to 127.0.0.1, plus `query`
    /// (`sslmode=…` etc., without `?`).
    pub fn tcp_url(&self, user: &str, password: &str, db: &str, query: &str) -> String {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{db}{q}",
            self.port
        )
    }

    /// A name no other call in this process returned.
    pub fn unique_name(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}_{n}", std::process::id())
    }

    /// A superuser connection to `db` through the socket.
    pub fn admin_client(&self, db: &str) -> postgres::Client {
        let conn = format!(
            "host={} port={} user={SUPERUSER} dbname={db}",
            self.socket_dir.display(),
            self.port
        );
        postgres::Client::connect(&conn, postgres::NoTls)
            .unwrap_or_else(|e| panic!("test PostgreSQL: connect as {SUPERUSER} to {db}: {e}"))
    }

    /// Creates an empty database; returns its name.
    pub fn create_database(&self) -> String {
        let name = self.unique_name("dt");
        self.admin_client("postgres")
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("test PostgreSQL: CREATE DATABASE {name}: {e}"));
        name
    }

    /// Creates an empty database; returns the superuser's socket URL to it.
    pub fn fresh_database(&self) -> String {
        let name = self.create_database();
        self.socket_url(SUPERUSER, &name)
    }

    /// Whether database `db` exists.
    pub fn database_exists(&self, db: &str) -> bool {
        self.admin_client("postgres")
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&db])
            .expect("query pg_database")
            .is_some()
    }

    /// Creates a login role `name` with `password`, member of each of
    /// `member_of` (group roles such as `disktracker_host`).
    pub fn create_role(&self, name: &str, password: &str, member_of: &[&str]) {
        let mut admin = self.admin_client("postgres");
        let pw = password.replace('\'', "''");
        admin
            .batch_execute(&format!("CREATE ROLE {name} LOGIN PASSWORD '{pw}'"))
            .unwrap_or_else(|e| panic!("test PostgreSQL: CREATE ROLE {name}: {e}"));
        for group in member_of {
            admin
                .batch_execute(&format!("GRANT {group} TO {name}"))
                .unwrap_or_else(|e| panic!("test PostgreSQL: GRANT {group} TO {name}: {e}"));
        }
    }

    /// Everything in database `db` that a store could change, as text:
    /// tables, columns, indexes, sequences and a digest of every table's
    /// rows. Equal dumps mean nothing changed.
    pub fn dump(&self, db: &str) -> String {
        let mut c = self.admin_client(db);
        let mut out = String::new();
        let catalog = [
            "SELECT coalesce(string_agg(format('%s.%s %s', table_name, column_name, data_type), \
             E'\\n' ORDER BY table_name, ordinal_position), '') \
             FROM information_schema.columns WHERE table_schema = 'public'",
            "SELECT coalesce(string_agg(indexdef, E'\\n' ORDER BY indexdef), '') FROM pg_indexes \
             WHERE schemaname = 'public'",
            "SELECT coalesce(string_agg(format('%s=%s', sequencename, last_value), ',' \
             ORDER BY sequencename), '') FROM pg_sequences WHERE schemaname = 'public'",
        ];
        for q in catalog {
            let s: String = c.query_one(q, &[]).expect("dump the catalog").get(0);
            out.push_str(&s);
            out.push('\n');
        }
        let tables: Vec<String> = c
            .query(
                "SELECT format('%I', tablename) FROM pg_tables WHERE schemaname = 'public' \
                 ORDER BY tablename",
                &[],
            )
            .expect("list tables")
            .iter()
            .map(|r| r.get(0))
            .collect();
        for t in tables {
            let q = format!(
                "SELECT count(*)::text || ' ' || md5(coalesce(string_agg(x::text, E'\\n' \
                 ORDER BY x::text), '')) FROM {t} x"
            );
            let s: String = c.query_one(&q, &[]).expect("digest a table").get(0);
            out.push_str(&format!("{t}: {s}\n"));
        }
        out
    }

    /// Bytes of every table (with its indexes and TOAST) in `db`'s public schema.
    pub fn relation_bytes(&self, db: &str) -> u64 {
        let n: i64 = self
            .admin_client(db)
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(format('%I', tablename)::regclass)), 0)::bigint \
                 FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .expect("sum relation sizes")
            .get(0);
        u64::try_from(n).unwrap_or(0)
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Only private servers are ever dropped (the shared ones are statics).
        let _ = self
            .as_server(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-w", "stop", "-m", "immediate"])
            .output();
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// A CA and a server certificate for `localhost` and `127.0.0.1` it signed
/// (ECDSA P-256, valid two days), by the `openssl` command.
fn make_certificates(dir: &Path) {
    let ossl = |what: &str, args: &[&str]| {
        run(what, Command::new("openssl").current_dir(dir).args(args));
    };
    ossl(
        "openssl (CA)",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=DiskTracker test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    ossl(
        "openssl (server key)",
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .expect("write ext.cnf");
    ossl(
        "openssl (server certificate)",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod server.key");
    // Readable by the tests' client whatever user the server runs as.
    std::fs::set_permissions(
        dir.join("ca.crt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod ca.crt");
}
