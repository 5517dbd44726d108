//! From a connection string to a connected [`postgres::Client`]: libpq's
//! conventions on top of [`postgres::Config`].
//!
//! `postgres::Config` parses both forms (`postgres://…` URLs and libpq's
//! `key=value` strings) and connects; it lacks what this module adds, kept
//! small and in libpq's words:
//!
//! * **Environment defaults**, used only for what the string leaves out
//!   (the string always wins): `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//!   `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`,
//!   `PGAPPNAME`, `PGPASSFILE`. Without a host the default socket directory
//!   is used (`/run/postgresql`, `/var/run/postgresql` or `/tmp`, the first
//!   holding the port's socket), else `localhost`; without a user the name
//!   of the effective user; without a database the user's name.
//! * **The password file** (`passfile=`, `PGPASSFILE`, else `~/.pgpass`):
//!   lines `host:port:database:user:password`, `*` matching any value of a
//!   field, `\` escaping `:` and `\`, `#` comments; the first matching line
//!   wins. As in libpq, a file others can read (any group or world bits) or
//!   that is not a regular file is skipped, and for a Unix-socket connection
//!   the host field matches the socket directory, or `localhost` for the
//!   default directory.
//! * **sslmode with libpq's meaning**: `disable`; `allow` and `prefer` (TLS
//!   when the server offers it); `require` (TLS, and no verification unless
//!   a root certificate is available — then the chain is verified, as libpq
//!   does for backwards compatibility); `verify-ca` (the chain); and
//!   `verify-full` (the chain and the host name, against the `host`
//!   parameter even when `hostaddr` gives the address). The root
//!   certificate is `sslrootcert=` (a PEM file of CA certificates),
//!   `PGSSLROOTCERT`, or `~/.postgresql/root.crt` when it exists. TLS is
//!   never attempted over a Unix socket (PostgreSQL does not offer it there).
//!   Client certificates (`sslcert`, `sslkey`) are not supported and refused.
//!
//! TLS is rustls with the `ring` provider through `tokio-postgres-rustls`:
//! pure Rust plus ring's bundled C and assembly, so building needs no system
//! library (OpenSSL's headers) and runs the same everywhere.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use disktracker::{Error, ErrorKind, Result};
use postgres::config::{Host, SslMode as PgSslMode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Option<Self> {
        Some(match v {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Defaults from the plugin settings, below the string and the environment.
#[derive(Clone, Debug)]
pub(crate) struct Defaults {
    pub connect_timeout: Duration,
    pub application_name: String,
}

/// Where the environment comes from: the process, or a map (tests).
pub(crate) trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Env for BTreeMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).map(|v| (*v).to_owned())
    }
}

/// A resolved connection: everything `connect` needs.
pub(crate) struct Target {
    pub config: postgres::Config,
    pub ssl_mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

/// A configuration error about the connection string `shown` (redacted).
fn config_error(shown: &str, what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Config,
        format!("invalid PostgreSQL connection string {shown}: {what}"),
    )
    .with_hint(
        "use postgres://USER@HOST:PORT/DATABASE?sslmode=… or key=value pairs, as libpq takes them",
    )
}

/// Parameters this module handles itself, taken out of the string before
/// `postgres::Config` parses the rest.
#[derive(Default)]
struct Own {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
    passfile: Option<String>,
}

impl Own {
    /// Takes `key` when it is ours; `Err` for what is refused.
    fn take(&mut self, key: &str, value: &str, shown: &str) -> Result<bool> {
        match key {
            "sslmode" => self.sslmode = Some(value.to_owned()),
            "sslrootcert" => self.sslrootcert = Some(value.to_owned()),
            "passfile" => self.passfile = Some(value.to_owned()),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(config_error(
                    shown,
                    format!("{key} is not supported (no client certificates)"),
                ));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits libpq's `key = value` form into pairs (values bare or
/// single-quoted, `\` escaping the next character).
fn key_values(s: &str, shown: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(config_error(
                shown,
                format!("{key:?} is not followed by \"=\""),
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(config_error(shown, "unterminated quoted value")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

fn quote(v: &str) -> String {
    let mut q = String::with_capacity(v.len() + 2);
    q.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('\'');
    q
}

/// Splits our parameters off `conn`; returns the rest for `postgres::Config`.
fn split_own(conn: &str, shown: &str) -> Result<(String, Own)> {
    let mut own = Own::default();
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let (head, query) = match conn.split_once('?') {
            Some((h, q)) => (h, q),
            None => (conn, ""),
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !own.take(&percent_decode(k), &percent_decode(v), shown)? {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            head.to_owned()
        } else {
            format!("{head}?{}", kept.join("&"))
        };
        Ok((rest, own))
    } else {
        let mut kept = Vec::new();
        for (k, v) in key_values(conn, shown)? {
            if !own.take(&k, &v, shown)? {
                kept.push(format!("{k}={}", quote(&v)));
            }
        }
        Ok((kept.join(" "), own))
    }
}

/// The effective user's login name (libpq asks the password database too).
fn os_user() -> Option<String> {
    let uid = rustix::process::geteuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid)
        .map(|f| f[0].to_owned())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Socket directories tried, in order, when no host is given.
const SOCKET_DIRS: &[&str] = &["/run/postgresql", "/var/run/postgresql", "/tmp"];

/// Resolves `conn` (URL or key/value) with the environment and `defaults`.
pub(crate) fn resolve(conn: &str, env: &dyn Env, defaults: &Defaults) -> Result<Target> {
    let shown = disktracker::store::redact_url(conn);
    let (rest, own) = split_own(conn, &shown)?;
    let mut config = if rest.trim().is_empty() {
        postgres::Config::new()
    } else {
        postgres::Config::from_str(&rest).map_err(|e| {
            // The parser's messages name the option, never its value.
            let detail = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string());
            config_error(&shown, detail)
        })?
    };
    if config.get_ports().is_empty()
        && let Some(p) = env.get("PGPORT")
    {
        let port = p
            .parse::<u16>()
            .map_err(|_| config_error(&shown, format!("PGPORT={p} is not a port")))?;
        config.port(port);
    }
    let port = config.get_ports().first().copied().unwrap_or(5432);
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        match env.get("PGHOST") {
            Some(hosts) => {
                for h in hosts.split(',') {
                    if h.starts_with('/') {
                        config.host_path(h);
                    } else {
                        config.host(h);
                    }
                }
            }
            None => {
                let socket = SOCKET_DIRS
                    .iter()
                    .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists());
                match socket {
                    Some(d) => config.host_path(d),
                    None => config.host("localhost"),
                };
            }
        }
    }
    if config.get_user().is_none() {
        let user = env
            .get("PGUSER")
            .or_else(os_user)
            .ok_or_else(|| config_error(&shown, "no user name: set one or PGUSER"))?;
        config.user(&user);
    }
    if config.get_dbname().is_none() {
        let db = env
            .get("PGDATABASE")
            .or_else(|| config.get_user().map(str::to_owned))
            .unwrap_or_default();
        config.dbname(&db);
    }
    if config.get_application_name().is_none() {
        let name = env
            .get("PGAPPNAME")
            .unwrap_or_else(|| defaults.application_name.clone());
        if !name.is_empty() {
            config.application_name(&name);
        }
    }
    if config.get_connect_timeout().is_none() {
        let timeout = match env.get("PGCONNECT_TIMEOUT") {
            Some(t) => match t.parse::<i64>() {
                // libpq: zero or negative waits forever; below 2 s counts as 2.
                Ok(s) if s <= 0 => None,
                Ok(s) => Some(Duration::from_secs(s.max(2) as u64)),
                Err(_) => {
                    return Err(config_error(
                        &shown,
                        format!("PGCONNECT_TIMEOUT={t} is not a number of seconds"),
                    ));
                }
            },
            None => Some(defaults.connect_timeout).filter(|d| !d.is_zero()),
        };
        if let Some(t) = timeout {
            config.connect_timeout(t);
        }
    }
    if config.get_password().is_none() {
        if let Some(p) = env.get("PGPASSWORD") {
            config.password(p);
        } else {
            let file = own
                .passfile
                .clone()
                .map(PathBuf::from)
                .or_else(|| env.get("PGPASSFILE").map(PathBuf::from))
                .or_else(|| home().map(|h| h.join(".pgpass")));
            if let Some(pw) = file.and_then(|f| pgpass_lookup(&f, &config)) {
                config.password(pw);
            }
        }
    }
    let mode_text = own
        .sslmode
        .clone()
        .or_else(|| env.get("PGSSLMODE"))
        .unwrap_or_else(|| "prefer".to_owned());
    let ssl_mode = SslMode::parse(&mode_text).ok_or_else(|| {
        config_error(
            &shown,
            format!(
                "sslmode={mode_text} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
        )
    })?;
    let root_cert = own
        .sslrootcert
        .clone()
        .or_else(|| env.get("PGSSLROOTCERT"))
        .map(PathBuf::from)
        .or_else(|| {
            home()
                .map(|h| h.join(".postgresql/root.crt"))
                .filter(|p| p.exists())
        });
    let unix_only = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)))
        && config.get_hostaddrs().is_empty();
    config.ssl_mode(match ssl_mode {
        _ if unix_only => PgSslMode::Disable,
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
    });
    if matches!(ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull) && root_cert.is_none() {
        return Err(config_error(
            &shown,
            format!(
                "sslmode={} needs the certificate of the certificate authority: set sslrootcert=FILE or PGSSLROOTCERT, or put it at ~/.postgresql/root.crt",
                ssl_mode.as_str()
            ),
        ));
    }
    Ok(Target {
        config,
        ssl_mode,
        root_cert,
    })
}

/// One field of a `.pgpass` line matches `value` (`*` matches anything).
fn field_matches(field: &str, value: &str) -> bool {
    field == "*" || field == value
}

/// Splits a `.pgpass` line on unescaped `:`, undoing `\` escapes.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// The password `file` gives for the first host of `config`, if any. A
/// file that is missing, not a regular file, or readable by others is
/// skipped, as libpq does.
fn pgpass_lookup(file: &Path, config: &postgres::Config) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.mode() & 0o077 != 0 {
        return None;
    }
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => {
            let p = p.to_string_lossy().into_owned();
            if SOCKET_DIRS[..2].contains(&p.as_str()) {
                "localhost".to_owned()
            } else {
                p
            }
        }
        None => config
            .get_hostaddrs()
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "localhost".to_owned()),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let db = config.get_dbname().unwrap_or_default();
    let user = config.get_user().unwrap_or_default();
    let reader = BufReader::new(std::fs::File::open(file).ok()?);
    for line in reader.lines() {
        let line = line.ok()?;
        let line = line.trim_end_matches('\r');
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f = pgpass_fields(line);
        if f.len() == 5
            && field_matches(&f[0], &host)
            && field_matches(&f[1], &port)
            && field_matches(&f[2], db)
            && field_matches(&f[3], user)
        {
            return Some(f[4].clone());
        }
    }
    None
}

/// Accepts any certificate (libpq's `require` and `prefer` without a root
/// certificate: encrypted, not authenticated), still checking that the
/// server holds the key of the certificate it sent.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain but not the name (`verify-ca`, and `require` with a
/// root certificate). webpki checks the chain before the name, so a name
/// error means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls connector for `target`'s sslmode and root certificate.
pub(crate) fn tls(target: &Target, shown: &str) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_setup_error(shown, e))?;
    let verify_chain = matches!(target.ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull)
        || (target.root_cert.is_some() && target.ssl_mode != SslMode::Disable);
    let config = match (&target.root_cert, verify_chain) {
        (Some(file), true) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(file)
                .and_then(Iterator::collect::<std::result::Result<Vec<_>, _>>)
                .map_err(|e| root_cert_error(shown, file, e))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(root_cert_error(shown, file, "it holds no certificate"));
            }
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls_setup_error(shown, e))?;
            let verifier: Arc<dyn ServerCertVerifier> = if target.ssl_mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unverified(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn tls_setup_error(shown: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Config,
        format!("cannot set up TLS for {shown}: {e}"),
    )
}

fn root_cert_error(shown: &str, file: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Config,
        format!(
            "cannot read the root certificate {} for {shown}: {e}",
            disktracker::path::escape_path(file)
        ),
    )
    .with_hint("sslrootcert (or PGSSLROOTCERT) must name a PEM file of CA certificates")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            connect_timeout: Duration::from_secs(10),
            application_name: "disktracker".into(),
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn the_string_wins_over_the_environment_which_wins_over_defaults() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
            ("PGSSLMODE", "require"),
            ("PGAPPNAME", "envapp"),
            ("PGCONNECT_TIMEOUT", "7"),
        ]);
        let t = resolve(
            "postgres://u:pw@h:5433/d?sslmode=disable&application_name=a&connect_timeout=3",
            &e,
            &defaults(),
        )
        .unwrap();
        let c = &t.config;
        assert_eq!(c.get_hosts(), [Host::Tcp("h".into())]);
        assert_eq!(c.get_ports(), [5433]);
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_password(), Some(&b"pw"[..]));
        assert_eq!(c.get_dbname(), Some("d"));
        assert_eq!(c.get_application_name(), Some("a"));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(3)));
        assert_eq!(t.ssl_mode, SslMode::Disable);

        let t = resolve("", &e, &defaults()).unwrap();
        let c = &t.config;
        assert_eq!(c.get_hosts(), [Host::Tcp("envhost".into())]);
        assert_eq!(c.get_ports(), [6000]);
        assert_eq!(c.get_user(), Some("envuser"));
        assert_eq!(c.get_password(), Some(&b"envpw"[..]));
        assert_eq!(c.get_dbname(), Some("envdb"));
        assert_eq!(c.get_application_name(), Some("envapp"));
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(t.ssl_mode, SslMode::Require);

        let t = resolve("host=h user=u", &env(&[]), &defaults()).unwrap();
        assert_eq!(
            t.config.get_dbname(),
            Some("u"),
            "the database defaults to the user"
        );
        assert_eq!(t.config.get_application_name(), Some("disktracker"));
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&Duration::from_secs(10))
        );
        assert_eq!(t.ssl_mode, SslMode::Prefer);
    }

    #[test]
    fn key_values_and_unix_sockets() {
        let t = resolve(
            r"host=/run/x port=5999 user='a b' password='it\'s' dbname=d sslmode=verify-ca sslrootcert=/ca.pem",
            &env(&[]),
            &defaults(),
        )
        .unwrap();
        assert_eq!(t.config.get_hosts(), [Host::Unix("/run/x".into())]);
        assert_eq!(t.config.get_user(), Some("a b"));
        assert_eq!(t.config.get_password(), Some(&b"it's"[..]));
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
        assert_eq!(t.root_cert.as_deref(), Some(Path::new("/ca.pem")));
        // No TLS over a socket.
        assert_eq!(t.config.get_ssl_mode(), PgSslMode::Disable);
        let t = resolve(
            "postgresql://u@%2Frun%2Fx:5999/d?sslmode=require",
            &env(&[]),
            &defaults(),
        )
        .unwrap();
        assert_eq!(t.config.get_hosts(), [Host::Unix("/run/x".into())]);
    }

    #[test]
    fn bad_strings_are_config_errors_without_the_password() {
        for bad in [
            "postgres://u:sekrit@h/d?sslmode=sometimes",
            "postgres://u:sekrit@h/d?sslcert=/c.pem",
            "host=h password=sekrit sslmode=verify-full",
            "host=h password=sekrit nonsense",
            "host=h password='sekrit",
            "postgres://u:sekrit@h/d?frobnicate=1",
        ] {
            let err = resolve(bad, &env(&[]), &defaults()).err().unwrap();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}: {err}");
            assert!(!err.to_string().contains("sekrit"), "{err}");
        }
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:u:no\nh:5432:d\\:x:u:colon\nh:*:*:u:pa\\:ss\\\\\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let e = BTreeMap::from([("PGPASSFILE", file.to_str().unwrap())]);
        let t = resolve("postgres://u@h/d", &e, &defaults()).unwrap();
        assert_eq!(t.config.get_password(), Some(&br"pa:ss\"[..]));
        let t = resolve("postgres://u@h/d%3Ax", &e, &defaults()).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"colon"[..]));
        // Readable by others: skipped, as libpq does.
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        let t = resolve("postgres://u@h/d", &e, &defaults()).unwrap();
        assert_eq!(t.config.get_password(), None);
    }
}
