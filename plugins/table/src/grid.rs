//! A minimal aligned-column table.

use std::fmt::Write as _;

use unicode_width::UnicodeWidthStr;

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
/// Widths are terminal columns (Unicode display width, UAX #11): an East
/// Asian wide character or an emoji takes two, a combining mark none. Cells
/// are escaped before they get here, so they hold no control or bidi
/// characters, whose width a terminal would not agree on. Every table still
/// puts its one free-text column (the path) last, where no padding follows.
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
                *w = (*w).max(cell.width());
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
                let pad = w - cell.width();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn render(g: &Grid) -> String {
        let mut s = String::new();
        g.write("", &mut s);
        s
    }

    /// The expected lines are written out by hand: `日本` and `😀` are two
    /// columns per character, `é` spelled `e` + U+0301 (combining acute) is
    /// one, so each padding below is what a terminal needs to line up.
    #[test]
    fn columns_line_up_by_display_width() {
        let mut g = Grid::new(&[
            ("NAME", Align::Left),
            ("N", Align::Right),
            ("X", Align::Left),
        ]);
        g.push(vec!["日本".into(), "1".into(), "a".into()]);
        g.push(vec!["e\u{301}".into(), "22".into(), "b".into()]);
        g.push(vec!["cafe\u{301}".into(), "333".into(), "c".into()]);
        g.push(vec!["😀😀😀".into(), "4".into(), "d".into()]);
        assert_eq!(
            render(&g),
            "NAME      N  X\n\
             日本      1  a\n\
             e\u{301}        22  b\n\
             cafe\u{301}    333  c\n\
             😀😀😀    4  d\n"
        );
    }

    #[test]
    fn wide_numbers_column_right_aligns_by_width() {
        // A right-aligned column whose header is wider than a wide cell.
        let mut g = Grid::new(&[("WIDTH", Align::Right), ("P", Align::Left)]);
        g.push(vec!["全角".into(), "x".into()]);
        g.push(vec!["1".into(), "y".into()]);
        assert_eq!(render(&g), "WIDTH  P\n 全角  x\n    1  y\n");
    }
}
