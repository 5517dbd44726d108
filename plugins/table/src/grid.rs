//! A minimal aligned-column table.

use std::fmt::Write as _;

/// How a column's cells sit within its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left so digits and units line up.
    Right,
}

/// Gap between columns.
const GAP: &str = "  ";

/// Rows of cells laid out in columns of the widest cell.
///
/// Widths count `char`s. Cells are escaped before they get here, so they hold
/// no control characters; wide (East Asian) characters may still skew a
/// column, which is why every table puts its one free-text column (the path)
/// last, where no padding follows it.
pub(crate) struct Grid {
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Grid {
    /// A grid whose first row is the header.
    pub(crate) fn new(header: &[(&str, Align)]) -> Self {
        Grid {
            aligns: header.iter().map(|&(_, a)| a).collect(),
            rows: vec![header.iter().map(|&(h, _)| h.to_owned()).collect()],
        }
    }

    /// A grid without a header (for `key  value` summaries).
    pub(crate) fn headless(aligns: &[Align]) -> Self {
        Grid {
            aligns: aligns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are empty, extra cells are ignored.
    pub(crate) fn push(&mut self, mut row: Vec<String>) {
        row.resize(self.aligns.len(), String::new());
        self.rows.push(row);
    }

    /// Writes every row, each starting with `indent` and ending in `\n`,
    /// without trailing padding (a cell's own trailing blanks are kept: a
    /// path may end in a space).
    pub(crate) fn write(&self, indent: &str, out: &mut String) {
        let mut widths = vec![0usize; self.aligns.len()];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let last = self.aligns.len().saturating_sub(1);
        let mut line = String::new();
        for row in &self.rows {
            line.clear();
            line.push_str(indent);
            let mut end = line.len();
            for (i, ((cell, &align), &w)) in row.iter().zip(&self.aligns).zip(&widths).enumerate() {
                if i > 0 {
                    line.push_str(GAP);
                }
                let pad = w - cell.chars().count();
                match align {
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    Align::Left => line.push_str(cell),
                }
                if !cell.is_empty() {
                    end = line.len();
                }
                if align == Align::Left && i != last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.truncate(end);
            let _ = writeln!(out, "{line}");
        }
    }
}
