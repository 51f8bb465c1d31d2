//! Import of patients into a list from a CSV or Excel file.

/// The largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The most data rows one file may have.
pub const MAX_ROWS: usize = 5000;
