//! ncdu interop: `import ncdu` reads ncdu's JSON export (format 1.x) into
//! walker output that the scan path aggregates and stores; `export ncdu`
//! writes a snapshot as an export that `ncdu -f` browses.

mod prefetch;
mod read;
mod write;

pub use prefetch::Prefetch;

pub use read::{MAX_DEPTH, NcduImport, read_ncdu};
pub use write::{FILES_ENTRY, NOTE, write_ncdu};

#[cfg(test)]
mod tests;
