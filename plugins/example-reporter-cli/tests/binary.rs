//! The three-line third-party binary links the default plugins plus the
//! Markdown reporter.
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Splits a Markdown table row on the pipes that are not backslash-escaped.
fn md_cells(line: &str) -> Vec<String> {
    let inner = line
        .strip_prefix('|')
        .and_then(|l| l.strip_suffix('|'))
        .expect("a table row");
    let mut cells = vec![String::new()];
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cells.last_mut().unwrap().push(n);
                }
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|c| c.trim().to_owned()).collect()
}

#[test]
fn third_party_binary_lists_its_reporter_beside_the_defaults() {
    let home = std::env::temp_dir().join(format!("dt-markdown-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_disktracker-markdown"))
        .args(["--format", "markdown", "plugins"])
        .env("HOME", &home)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(md_cells)
        .collect();
    for (kind, name) in [
        ("reporter", "markdown"),
        ("reporter", "table"),
        ("reporter", "json"),
        ("reporter", "csv"),
        ("store", "sqlite"),
        ("store", "redb"),
        ("walker", "steal"),
        ("walker", "jwalk"),
        ("index", "mmap"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.len() == 3 && r[0] == kind && r[1] == name),
            "{kind} {name} listed:\n{text}"
        );
    }
}
