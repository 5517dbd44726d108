//! Where the store and the live index live.

use std::path::{Path, PathBuf};

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

/// Places the store named by `db` (a file path, or a `scheme://` URL).
///
/// A file store keeps its own file beside `db` with its extension
/// (`data.db` → `data.redb`), and the index beside it (`data.mmap`). A URL
/// is served by the store plugin that declares its scheme — `plugin`, when it
/// does, or another one when `plugin` was not chosen explicitly
/// (`explicit == false`); its index lives in `state_dir` under a name
/// derived from the URL.
pub fn place(
    db: &str,
    plugin: &'static StorePlugin,
    explicit: bool,
    state_dir: Option<&Path>,
) -> Result<Placement> {
    let Some(scheme) = url_scheme(db) else {
        let db = PathBuf::from(db);
        if plugin.extension.is_empty() {
            return Err(Error::new(
                ErrorKind::Usage,
                format!(
                    "the {} store is a server and cannot keep its data in the file {}",
                    plugin.name,
                    disktracker::path::escape_path(&db)
                ),
            )
            .with_hint("pass --db URL, or choose a file store with --backend"));
        }
        return Ok(Placement {
            plugin,
            store: StoreLocation::File(sibling(&db, plugin.extension)),
            index: sibling(&db, "mmap"),
        });
    };
    let serves = |p: &StorePlugin| p.url_schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    let plugin = if serves(plugin) {
        plugin
    } else {
        let others: Vec<&'static StorePlugin> =
            registry::stores()?.iter().filter(|p| serves(p)).collect();
        match others.first().copied() {
            Some(p) if !explicit => p,
            _ => {
                let hint = if others.is_empty() {
                    format!("no linked store serves {scheme}:// URLs; pass --db FILE")
                } else {
                    let names: Vec<&str> = others.iter().map(|p| p.name).collect();
                    format!("use --backend {}", names.join(" or --backend "))
                };
                return Err(Error::new(
                    ErrorKind::Usage,
                    format!("the {} store cannot open {}", plugin.name, redact_url(db)),
                )
                .with_hint(hint));
            }
        }
    };
    let state_dir = state_dir.ok_or_else(|| {
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
