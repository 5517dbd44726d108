//! Unit tests of the ncdu reader and writer.
