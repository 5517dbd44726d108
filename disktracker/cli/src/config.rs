//! Layered configuration with provenance.
//!
//! Layers, lowest to highest: the built-in defaults (`config/default.toml`,
//! embedded here and the single source of every default), the user file
//! `~/.disktracker/config.toml`, a `--config` file, `DISKTRACKER_*`
//! environment variables, and command-line flags. Only keys present in the
//! defaults exist; anything else is an error naming the key and where it was.
//!
//! `[plugins.NAME]` tables are the exception: their keys are declared by the
//! plugin called NAME (its registration's `SettingSpec`s, which also give
//! the defaults), so they are validated against the registered plugins and
//! kept apart, one [`PluginSettings`] per plugin.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use disktracker::path::escape_path;
use disktracker::registry::{self, Plugin, PluginKind};
use disktracker::settings::{PluginSettings, SettingSpec, parse_duration, parse_size};
use disktracker::{Error, ErrorKind, ReadAdvice, Result};
use serde::Deserialize;
use toml::Value;

/// The documented default configuration file, embedded at build time.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");

/// Environment variable naming a config file (same as `--config`).
pub const CONFIG_ENV: &str = "DISKTRACKER_CONFIG";

const ENV_PREFIX: &str = "DISKTRACKER_";

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in defaults.
    Default,
    /// A config file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => f.write_str(&escape_path(p)),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag => f.write_str("flag"),
        }
    }
}

/// The typed effective configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Database file (`~` expanded by [`Layered::db_path`]).
    pub db: String,
    /// Snapshot store plugin.
    pub backend: String,
    /// Reporter plugin.
    pub format: String,
    /// No progress or warnings.
    pub quiet: bool,
    /// The host snapshots are stored as; empty: the machine's name.
    pub host: String,
    /// `[scan]`.
    pub scan: ScanConfig,
    /// `[report]`.
    pub report: ReportConfig,
    /// `[diff]`.
    pub diff: DiffConfig,
    /// `[explain]`.
    pub explain: ExplainConfig,
    /// `[retention]`.
    pub retention: RetentionConfig,
    /// `[index]`.
    pub index: IndexConfig,
    /// `[watch]`.
    pub watch: WatchConfig,
}

/// `[watch]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    /// Roots `watch` follows when none is named.
    pub roots: Vec<String>,
    /// Event source plugin.
    pub events: String,
    /// Gathering time of a batch.
    pub batch_interval: String,
    /// Longest time before the index overlay is compacted into the file.
    pub compact_every: String,
    /// Reconcile by itself this often; empty: only when asked.
    pub reconcile_every: String,
    /// Journal entries older than this are pruned.
    pub journal_max_age: String,
    /// Rescan period of what cannot be watched.
    pub degraded_rescan: String,
}

/// `[diff]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffConfig {
    /// Rows listed.
    pub top: u64,
    /// Smallest change shown, bytes.
    pub min_delta: u64,
}

/// `[explain]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainConfig {
    /// Contributor threshold, percent of the parent's change.
    pub threshold: f64,
}

/// `[retention]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Newest snapshots kept per root after a scan; 0 = all.
    pub keep: u64,
    /// Snapshots older than this are deleted after a scan; empty = never.
    pub max_age: String,
}

/// `[scan]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    /// Walker plugin.
    pub walker: String,
    /// Threads, 0 = cores.
    pub threads: u64,
    /// Stay on the root's file system.
    pub one_file_system: bool,
    /// Exclude globs.
    pub exclude: Vec<String>,
}

/// `[report]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Apparent size instead of disk usage.
    pub apparent_size: bool,
    /// Rows listed.
    pub top: u64,
    /// Levels considered.
    pub depth: u64,
}

/// `[index]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Live-index plugin.
    pub backend: String,
    /// madvise advice.
    pub advice: ReadAdvice,
    /// Populate at open.
    pub preload: bool,
    /// Let long-running readers build an in-memory lookup table.
    pub probe_table: bool,
}

/// The keys a registered plugin declares for its `[plugins.NAME]` table.
#[derive(Clone, Debug)]
pub struct PluginSpecs {
    /// Its kind.
    pub kind: PluginKind,
    /// Its name (the table's name).
    pub name: String,
    /// Its keys, defaults and documentation.
    pub settings: &'static [SettingSpec],
}

impl PluginSpecs {
    fn of<T: Plugin>(p: &T) -> Self {
        PluginSpecs {
            kind: T::KIND,
            name: p.name().to_owned(),
            settings: p.settings(),
        }
    }
}

/// The declared settings of every linked plugin, of every kind.
pub fn registered_plugin_specs() -> Result<Vec<PluginSpecs>> {
    let mut v: Vec<PluginSpecs> = registry::walkers()?.iter().map(PluginSpecs::of).collect();
    v.extend(registry::stores()?.iter().map(PluginSpecs::of));
    v.extend(registry::indexes()?.iter().map(PluginSpecs::of));
    v.extend(registry::event_sources()?.iter().map(PluginSpecs::of));
    v.extend(registry::reporters()?.iter().map(PluginSpecs::of));
    Ok(v)
}

/// The effective configuration plus the origin of every key.
#[derive(Clone, Debug)]
pub struct Layered {
    /// Typed values.
    pub config: Config,
    values: BTreeMap<String, (Value, Source)>,
    plugins: BTreeMap<(PluginKind, String), PluginSettings>,
    home: Option<PathBuf>,
}

/// Host keys that hold a size: an integer number of bytes, or a string such as `"10MiB"`.
const SIZE_KEYS: &[&str] = &["diff.min_delta"];
/// Host keys that hold a duration (`"30d"`); empty means none.
const DURATION_KEYS: &[&str] = &["retention.max_age"];

/// What the process environment contributes.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// Every `DISKTRACKER_*` variable (name, value).
    pub vars: Vec<(String, String)>,
}

impl Environment {
    /// Reads the real environment; a non-UTF-8 `DISKTRACKER_*` value is a config error.
    pub fn from_process() -> Result<Self> {
        let mut vars = Vec::new();
        for (k, v) in std::env::vars_os() {
            let Some(k) = k.to_str() else { continue };
            if !k.starts_with(ENV_PREFIX) {
                continue;
            }
            let v = v.into_string().map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!("environment variable {k} is not valid UTF-8"),
                )
            })?;
            vars.push((k.to_owned(), v));
        }
        Ok(Environment {
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            vars,
        })
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => flatten(&key, t, out),
            _ => out.push((key, v.clone())),
        }
    }
}

fn parse_toml(text: &str, origin: &Source) -> Result<toml::Table> {
    text.parse::<toml::Table>().map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        Error::new(
            ErrorKind::Config,
            format!(
                "invalid TOML in config file {origin}{at}: {}",
                e.message().replace('\n', " ")
            ),
        )
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => "a table",
    }
}

/// The names accepted by string keys that are enumerations.
fn allowed_values(key: &str) -> Option<&'static [&'static str]> {
    match key {
        "index.advice" => Some(&["random", "sequential", "normal"]),
        _ => None,
    }
}

/// Checks free-form string keys that must parse.
fn invalid_value(key: &str, s: &str) -> Option<String> {
    if DURATION_KEYS.contains(&key) && !s.is_empty() {
        return parse_duration(s).err();
    }
    if SIZE_KEYS.contains(&key) {
        return parse_size(s).err();
    }
    None
}

/// The environment variable that sets `key` (`plugins.sqlite.busy_timeout`
/// → `DISKTRACKER_PLUGINS_SQLITE_BUSY_TIMEOUT`; `-` in a plugin name becomes `_`).
pub fn env_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace(['.', '-'], "_").to_ascii_uppercase()
    )
}

/// `plugins.NAME.KEY` of a plugin setting.
fn plugin_key(plugin: &str, key: &str) -> String {
    format!("plugins.{plugin}.{key}")
}

/// Every plugin's settings at the defaults it declares.
fn plugin_defaults(
    specs: &[PluginSpecs],
) -> Result<BTreeMap<(PluginKind, String), PluginSettings>> {
    specs
        .iter()
        .map(|p| {
            Ok((
                (p.kind, p.name.clone()),
                PluginSettings::defaults(&p.name, p.settings)?,
            ))
        })
        .collect()
}

/// Sets `plugins.NAME.KEY` on every plugin called NAME that declares KEY;
/// an unknown NAME, or a KEY none of them declares, is a config error.
fn set_plugin(
    plugins: &mut BTreeMap<(PluginKind, String), PluginSettings>,
    name: &str,
    key: &str,
    value: Value,
    source: &Source,
) -> Result<()> {
    let origin = source.to_string();
    let mut named: Vec<&mut PluginSettings> = plugins
        .iter_mut()
        .filter(|((_, n), _)| n == name)
        .map(|(_, s)| s)
        .collect();
    if named.is_empty() {
        let mut known: Vec<&str> = plugins.keys().map(|(_, n)| n.as_str()).collect();
        known.dedup();
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "unknown plugin `{name}` in config key `{}` in {source}",
                plugin_key(name, key)
            ),
        )
        .with_hint(format!(
            "[plugins.NAME] takes the name of a linked plugin: {}",
            known.join(", ")
        )));
    }
    let declaring: Vec<&mut &mut PluginSettings> =
        named.iter_mut().filter(|s| s.get(key).is_some()).collect();
    if declaring.is_empty() {
        // Its error names the key, the origin and the keys it takes.
        return named[0].set(key, value, &origin);
    }
    for s in declaring {
        s.set(key, value.clone(), &origin)?;
    }
    Ok(())
}

/// A `[plugins]` table from a file: `[plugins.NAME]` tables of `KEY = value`.
fn set_plugin_tables(
    plugins: &mut BTreeMap<(PluginKind, String), PluginSettings>,
    table: &Value,
    source: &Source,
) -> Result<()> {
    let not_table = |what: &str| {
        Error::new(
            ErrorKind::Config,
            format!("config key `{what}` in {source} must be a table ([{what}])"),
        )
    };
    let Value::Table(by_name) = table else {
        return Err(not_table("plugins"));
    };
    for (name, keys) in by_name {
        let Value::Table(keys) = keys else {
            return Err(not_table(&format!("plugins.{name}")));
        };
        for (key, value) in keys {
            set_plugin(plugins, name, key, value.clone(), source)?;
        }
    }
    Ok(())
}

/// A plugin setting from an environment variable, typed like its default:
/// text stays text; a number that does not parse stays text (a size such
/// as `64MiB` is read by the plugin's getter).
fn parse_plugin_env_value(default: &Value, raw: &str) -> Option<Value> {
    match default {
        Value::Integer(_) => Some(
            raw.trim()
                .parse()
                .map_or_else(|_| Value::String(raw.to_owned()), Value::Integer),
        ),
        Value::Float(_) => Some(
            raw.trim()
                .parse()
                .map_or_else(|_| Value::String(raw.to_owned()), Value::Float),
        ),
        other => parse_env_value(other, raw),
    }
}

impl Layered {
    /// Builds the effective configuration. `explicit` is `--config` (or
    /// `$DISKTRACKER_CONFIG`); `flags` are `(key, value)` pairs from the command line.
    pub fn load(
        explicit: Option<&Path>,
        env: &Environment,
        flags: &[(&str, Value)],
    ) -> Result<Self> {
        Self::load_with_plugins(explicit, env, flags, &[])
    }

    /// [`Layered::load`], accepting `[plugins.NAME]` tables for the plugins
    /// in `plugins` (see [`registered_plugin_specs`]).
    pub fn load_with_plugins(
        explicit: Option<&Path>,
        env: &Environment,
        flags: &[(&str, Value)],
        plugins: &[PluginSpecs],
    ) -> Result<Self> {
        let mut plugin_settings = plugin_defaults(plugins)?;
        let defaults = parse_toml(DEFAULT_CONFIG, &Source::Default).map_err(|e| {
            Error::new(
                ErrorKind::Plugin,
                format!("built-in defaults are broken: {e}"),
            )
        })?;
        let mut flat = Vec::new();
        flatten("", &defaults, &mut flat);
        let mut values: BTreeMap<String, (Value, Source)> = flat
            .into_iter()
            .map(|(k, v)| (k, (v, Source::Default)))
            .collect();

        let mut files: Vec<(PathBuf, bool)> = Vec::new();
        if let Some(home) = &env.home {
            files.push((home.join(".disktracker").join("config.toml"), false));
        }
        let env_config = env
            .vars
            .iter()
            .find(|(k, _)| k == CONFIG_ENV)
            .map(|(_, v)| PathBuf::from(v));
        if let Some(p) = explicit.map(Path::to_path_buf).or(env_config) {
            files.push((p, true));
        }
        for (path, required) in files {
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(
                        Error::io("cannot read config file", &path, e).with_kind(ErrorKind::Config)
                    );
                }
            };
            let origin = Source::File(path);
            let mut table = parse_toml(&text, &origin)?;
            if let Some(p) = table.remove("plugins") {
                set_plugin_tables(&mut plugin_settings, &p, &origin)?;
            }
            let mut flat = Vec::new();
            flatten("", &table, &mut flat);
            for (key, value) in flat {
                set_checked(&mut values, &key, value, origin.clone())?;
            }
        }

        for (name, raw) in &env.vars {
            if name == CONFIG_ENV {
                continue;
            }
            if let Some((plugin, key, default)) =
                plugin_settings.iter().find_map(|((_, plugin), s)| {
                    s.iter()
                        .find(|(k, _)| env_name(&plugin_key(plugin, k)) == *name)
                        .map(|(k, setting)| (plugin.clone(), k.to_owned(), setting.value.clone()))
                })
            {
                let value = parse_plugin_env_value(&default, raw).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        format!(
                            "environment variable {name}={raw:?} must be {}",
                            type_name(&default)
                        ),
                    )
                })?;
                let source = Source::Env(name.clone());
                set_plugin(&mut plugin_settings, &plugin, &key, value, &source)?;
                continue;
            }
            let key = values
                .keys()
                .find(|k| env_name(k) == *name)
                .cloned()
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Config,
                        format!("unknown environment variable {name}"),
                    )
                    .with_hint("see `disktracker config` for the keys that exist")
                })?;
            let value = if SIZE_KEYS.contains(&key.as_str()) {
                // A size: bytes, or text with a unit that set_checked parses.
                parse_plugin_env_value(&values[&key].0, raw)
            } else {
                parse_env_value(&values[&key].0, raw)
            };
            let value = value.ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "environment variable {name}={raw:?} must be {}",
                        type_name(&values[&key].0)
                    ),
                )
            })?;
            set_checked(&mut values, &key, value, Source::Env(name.clone()))?;
        }

        for (key, value) in flags {
            set_checked(&mut values, key, value.clone(), Source::Flag)?;
        }

        let mut root = toml::Table::new();
        for (key, (value, _)) in &values {
            let mut table = &mut root;
            let mut parts: Vec<&str> = key.split('.').collect();
            let leaf = parts.pop().unwrap_or_default();
            for part in parts {
                table = table
                    .entry(part.to_owned())
                    .or_insert_with(|| Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Config,
                            format!("config key {key} clashes with a table"),
                        )
                    })?;
            }
            table.insert(leaf.to_owned(), typed_value(key, value));
        }
        let config = Value::Table(root)
            .try_into()
            .map_err(|e: toml::de::Error| {
                Error::new(
                    ErrorKind::Config,
                    format!("invalid configuration: {}", e.message()),
                )
            })?;
        Ok(Layered {
            config,
            values,
            plugins: plugin_settings,
            home: env.home.clone(),
        })
    }

    /// Every key with its effective value (TOML syntax) and origin, sorted
    /// by key; plugin keys as `plugins.NAME.KEY`, secrets as `"***"`.
    pub fn lines(&self) -> Vec<(String, String, String)> {
        let mut lines: Vec<(String, String, String)> = self
            .values
            .iter()
            .map(|(k, (v, s))| (k.clone(), v.to_string(), s.to_string()))
            .collect();
        for ((_, name), settings) in &self.plugins {
            for (key, setting) in settings.iter() {
                let value = if setting.secret {
                    Value::String("***".to_owned()).to_string()
                } else {
                    setting.value.to_string()
                };
                lines.push((plugin_key(name, key), value, setting.origin.clone()));
            }
        }
        lines.sort();
        lines.dedup();
        lines
    }

    /// The effective settings of the `kind` plugin called `name`, if one is registered.
    pub fn plugin_settings(&self, kind: PluginKind, name: &str) -> Option<&PluginSettings> {
        self.plugins.get(&(kind, name.to_owned()))
    }

    /// Every plugin's effective settings, for the engine.
    pub fn settings_map(&self) -> disktracker_engine::SettingsMap {
        let mut m = disktracker_engine::SettingsMap::default();
        for ((kind, _), s) in &self.plugins {
            m.insert(*kind, s.clone());
        }
        m
    }

    /// The default state directory, `~/.disktracker`, when `$HOME` is known.
    pub fn state_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(".disktracker"))
    }

    /// Where `key` came from.
    pub fn source(&self, key: &str) -> Source {
        self.values
            .get(key)
            .map_or(Source::Default, |(_, s)| s.clone())
    }

    /// The database path with `~` expanded.
    pub fn db_path(&self) -> Result<PathBuf> {
        expand_home(&self.config.db, self.home.as_deref()).ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                format!("db = {:?} needs $HOME, which is not set", self.config.db),
            )
            .with_hint("set HOME or pass --db PATH")
        })
    }
}

/// The value the typed [`Config`] reads: sizes given as text become bytes.
fn typed_value(key: &str, value: &Value) -> Value {
    match value {
        Value::String(s) if SIZE_KEYS.contains(&key) => parse_size(s).map_or_else(
            |_| value.clone(),
            |n| Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
        ),
        _ => value.clone(),
    }
}

fn set_checked(
    values: &mut BTreeMap<String, (Value, Source)>,
    key: &str,
    mut value: Value,
    source: Source,
) -> Result<()> {
    // `threshold = 5` means 5.0.
    if let (Some((Value::Float(_), _)), Value::Integer(i)) = (values.get(key), &value) {
        value = Value::Float(*i as f64);
    }
    let Some((default, _)) = values.get(key) else {
        return Err(Error::new(
            ErrorKind::Config,
            format!("unknown config key `{key}` in {source}"),
        )
        .with_hint("see `disktracker config` for the keys that exist"));
    };
    // A size is an integer or text whatever an earlier layer used.
    let size_key = SIZE_KEYS.contains(&key);
    let size_kind = size_key && matches!(value, Value::Integer(_) | Value::String(_));
    let same_type = (size_kind
        || std::mem::discriminant(default) == std::mem::discriminant(&value))
        && match (&value, default) {
            (Value::Array(items), _) => items.iter().all(Value::is_str),
            (Value::Integer(i), _) => *i >= 0,
            _ => true,
        };
    if !same_type {
        let want = match default {
            _ if size_key => "a size like 4096 or \"10MiB\"".to_owned(),
            Value::Integer(_) => "a non-negative integer".to_owned(),
            Value::Array(_) => "a list of strings".to_owned(),
            other => type_name(other).to_owned(),
        };
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "config key `{key}` in {source} must be {want}, not {}",
                value
            ),
        ));
    }
    if let (Some(allowed), Some(s)) = (allowed_values(key), value.as_str())
        && !allowed.contains(&s)
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "config key `{key}` in {source} is {s:?}; expected one of {}",
                allowed.join(", ")
            ),
        ));
    }
    if let Some(problem) = value.as_str().and_then(|s| invalid_value(key, s)) {
        return Err(Error::new(
            ErrorKind::Config,
            format!("config key `{key}` in {source}: {problem}"),
        ));
    }
    if let (Value::Float(f), "explain.threshold") = (&value, key)
        && !(0.0..=100.0).contains(f)
    {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "config key `{key}` in {source} must be a percentage between 0 and 100, not {f}"
            ),
        ));
    }
    values.insert(key.to_owned(), (value, source));
    Ok(())
}

fn parse_env_value(default: &Value, raw: &str) -> Option<Value> {
    Some(match default {
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Integer(_) => Value::Integer(raw.trim().parse().ok()?),
        Value::Float(_) => Value::Float(raw.trim().parse().ok()?),
        Value::Boolean(_) => Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => return None,
        }),
        Value::Array(_) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        _ => return None,
    })
}

/// Expands a leading `~` or `~/`; `None` when one is needed and `home` is unknown.
pub fn expand_home(p: &str, home: Option<&Path>) -> Option<PathBuf> {
    if p == "~" {
        return home.map(Path::to_path_buf);
    }
    match p.strip_prefix("~/") {
        Some(rest) => home.map(|h| h.join(rest)),
        None => Some(PathBuf::from(p)),
    }
}
