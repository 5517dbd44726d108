//! `disktracker config`.

use disktracker::report::ConfigLine;
use disktracker::{Report, Result};

use crate::App;

pub fn run(app: &App) -> Result<()> {
    let lines: Vec<ConfigLine> = app
        .cfg
        .lines()
        .into_iter()
        .map(|(key, value, source)| ConfigLine::new(key, value, source))
        .collect();
    app.emit(Report::Config(&lines))
}
