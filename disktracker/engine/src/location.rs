//! Where the store and the live index live.

use std::path::{Path, PathBuf};

use disktracker::path::escape_path;
use disktracker::registry::{self, StorePlugin};
use disktracker::store::redact_url;
use disktracker::{Error, ErrorKind, Result, StoreLocation};

/// The scheme of a `scheme://…` value (RFC 3986 syntax), if it is a URL.
pub fn url_scheme(db: &str) -> Option<&str> {
    let (scheme, _) = db.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(scheme)
}

/// `--db a/data.db` + `redb` → `a/data.redb`.
pub fn sibling(db: &Path, extension: &str) -> PathBuf {
    if db.extension().is_some_and(|e| e == extension) {
        db.to_path_buf()
    } else {
        db.with_extension(extension)
    }
}

/// Where a store and its live index are.
#[derive(Clone)]
pub struct Placement {
    /// The store plugin that serves the location.
    pub plugin: &'static StorePlugin,
    /// The store.
    pub store: StoreLocation,
    /// The live index file.
    pub index: PathBuf,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement")
            .field("plugin", &self.plugin.name)
            .field("store", &self.store)
            .field("index", &self.index)
            .finish()
    }
}

/// What the user asked for.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// `--db` (or `db =`): a path, or a `scheme://` URL.
    pub db: &'a str,
    /// Whether `db` was given (not the built-in default).
    pub db_explicit: bool,
    /// The store plugin chosen (`--backend`, or the default).
    pub plugin: &'static StorePlugin,
    /// Whether the plugin was chosen explicitly, and where.
    pub backend_origin: Option<&'a str>,
    /// The default state directory, for a server store's index.
    pub state_dir: Option<&'a Path>,
}

/// The file name used inside a directory given as `--db`, and by default.
pub const DEFAULT_STEM: &str = "data";

/// Places the store named by a request.
///
/// * The default database (`~/.disktracker/data.db`) is used with the
///   chosen store's extension (`data.db`, `data.redb`).
/// * `--db FILE` is exactly FILE, whatever its name.
/// * `--db DIR`, an existing directory, is `DIR/data.<extension>`.
/// * A device, FIFO or socket is refused, and so is a path whose parent is
///   not a directory.
/// * An existing file is opened by the store that recognises its header:
///   `--backend` matters only when creating (naming another store than the
///   file's is an error saying which one it is).
/// * The index is the store file with its extension replaced by `.mmap`
///   (`data.db` → `data.mmap`, `x/backup.db.bak` → `x/backup.db.mmap`,
///   `store` → `store.mmap`; a store named `*.mmap` gets `*.mmap.mmap`).
/// * A `scheme://` URL is served by the store plugin that declares the
///   scheme (`plugin` if it does, another when `--backend` was not given);
///   its index lives in `state_dir` under a name derived from the URL.
pub fn place(req: &Request<'_>) -> Result<Placement> {
    if let Some(scheme) = url_scheme(req.db) {
        return place_url(req, scheme);
    }
    let plugin = req.plugin;
    if plugin.extension.is_empty() {
        return Err(Error::new(
            ErrorKind::Usage,
            format!(
                "the {} store is a server and cannot keep its data in the file {}",
                plugin.name,
                escape_path(Path::new(req.db))
            ),
        )
        .with_hint("pass --db URL, or choose a file store with --backend"));
    }
    let db = PathBuf::from(req.db);
    let file = if !req.db_explicit {
        sibling(&db, plugin.extension)
    } else {
        match std::fs::metadata(&db) {
            Ok(m) if m.is_dir() => db.join(format!("{DEFAULT_STEM}.{}", plugin.extension)),
            Ok(m) if m.is_file() => db,
            Ok(m) => return Err(not_a_file(&db, &m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                check_parent(&db)?;
                db
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                check_parent(&db)?;
                db
            }
            Err(e) => return Err(Error::io("cannot inspect database", &db, e)),
        }
    };
    let plugin = match recognise(&file)? {
        Some(found) if found.name != plugin.name => match req.backend_origin {
            Some(origin) => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "{} is a {} database, not {} (--backend from {origin})",
                        escape_path(&file),
                        found.name,
                        plugin.name
                    ),
                )
                .with_hint(format!(
                    "pass --backend {} or leave --backend out: an existing database is opened by the store that wrote it",
                    found.name
                )));
            }
            None => found,
        },
        _ => plugin,
    };
    Ok(Placement {
        plugin,
        index: index_for(&file),
        store: StoreLocation::File(file),
    })
}

/// The index beside a store file: its extension replaced by `mmap`.
pub fn index_for(store: &Path) -> PathBuf {
    let index = store.with_extension("mmap");
    if index == store {
        let mut s = store.as_os_str().to_owned();
        s.push(".mmap");
        PathBuf::from(s)
    } else {
        index
    }
}

/// The store that recognises an existing regular file's first bytes.
fn recognise(file: &Path) -> Result<Option<&'static StorePlugin>> {
    use std::io::Read;
    let mut header = [0u8; 64];
    let n = match std::fs::File::open(file) {
        Ok(f) => {
            if !f.metadata().is_ok_and(|m| m.is_file()) {
                return Ok(None);
            }
            let mut n = 0;
            let mut f = f;
            while n < header.len() {
                match f.read(&mut header[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return Ok(None),
                }
            }
            n
        }
        // Missing, or unreadable: the store's own open says what is wrong.
        Err(_) => return Ok(None),
    };
    Ok(registry::stores()?
        .iter()
        .find(|p| p.recognizes(&header[..n])))
}

fn not_a_file(db: &Path, m: &std::fs::Metadata) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    let what = if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Error::new(
        ErrorKind::Usage,
        format!(
            "--db {} is {what}, not a database file or directory",
            escape_path(db)
        ),
    )
    .with_hint("pass --db FILE (a database, or one to create) or --db DIR")
}

/// A database to be created needs its parent to be a directory (or missing,
/// to be created).
fn check_parent(db: &Path) -> Result<()> {
    let mut dir = db.parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "cannot use --db {}: {} is a file, not a directory",
                        escape_path(db),
                        escape_path(d)
                    ),
                )
                .with_hint("pass --db with a path inside a directory"));
            }
            Err(_) => dir = d.parent(),
        }
    }
    Ok(())
}

fn place_url(req: &Request<'_>, scheme: &str) -> Result<Placement> {
    let db = req.db;
    let serves = |p: &StorePlugin| p.url_schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    let plugin = if serves(req.plugin) {
        req.plugin
    } else {
        let others: Vec<&'static StorePlugin> =
            registry::stores()?.iter().filter(|p| serves(p)).collect();
        match others.first().copied() {
            Some(p) if req.backend_origin.is_none() => p,
            _ => {
                let hint = if others.is_empty() {
                    format!("no linked store serves {scheme}:// URLs; pass --db FILE")
                } else {
                    let names: Vec<&str> = others.iter().map(|p| p.name).collect();
                    format!("use --backend {}", names.join(" or --backend "))
                };
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!(
                        "the {} store cannot open {}",
                        req.plugin.name,
                        redact_url(db)
                    ),
                )
                .with_hint(hint));
            }
        }
    };
    let state_dir = req.state_dir.ok_or_else(|| {
        Error::new(
            ErrorKind::Config,
            "the live index of a server store lives in ~/.disktracker, which needs $HOME",
        )
        .with_hint("set HOME")
    })?;
    Ok(Placement {
        plugin,
        store: StoreLocation::Url(db.to_owned()),
        index: state_dir.join(url_index_name(scheme, db)),
    })
}

/// `postgres-<16 hex digits>.mmap`: one index per server database, named
/// by a hash of the URL without its password.
fn url_index_name(scheme: &str, url: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(redact_url(url).as_bytes());
    format!("{}-{h:016x}.mmap", scheme.to_ascii_lowercase())
}

/// Creates the database's directory 0700 if it is missing (existing
/// directories keep their mode: `--db /tmp/x.db` must not chmod /tmp).
pub fn create_state_dir(db: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| {
            Error::io("cannot create state directory", dir, e)
                .with_hint("pass --db PATH to use another location")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_a_scheme_and_two_slashes() {
        assert_eq!(url_scheme("postgres://u@h/db"), Some("postgres"));
        assert_eq!(url_scheme("postgresql+tls://h"), Some("postgresql+tls"));
        assert_eq!(url_scheme("/home/u/data.db"), None);
        assert_eq!(url_scheme("./a://b"), None);
        assert_eq!(url_scheme("1x://h"), None);
        assert_eq!(url_scheme("c:/x"), None);
    }

    #[test]
    fn index_names_replace_the_extension() {
        let i = |s: &str| index_for(Path::new(s)).to_string_lossy().into_owned();
        assert_eq!(i("/x/data.db"), "/x/data.mmap");
        assert_eq!(i("/x/data.redb"), "/x/data.mmap");
        assert_eq!(i("bk/data.db.bak"), "bk/data.db.mmap");
        assert_eq!(i("x/mydata.sqlite"), "x/mydata.mmap");
        assert_eq!(i("/x/store"), "/x/store.mmap");
        assert_eq!(i("/x/a.mmap"), "/x/a.mmap.mmap");
    }

    #[test]
    fn url_index_names_ignore_the_password() {
        assert_eq!(
            url_index_name("postgres", "postgres://u:one@h/db"),
            url_index_name("postgres", "postgres://u:two@h/db")
        );
        assert_ne!(
            url_index_name("postgres", "postgres://u@h/db1"),
            url_index_name("postgres", "postgres://u@h/db2")
        );
    }
}
