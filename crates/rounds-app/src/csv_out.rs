//! The one way Rounds writes CSV. A spreadsheet opening the file runs any
//! cell that starts with `=`, `+`, `-` or `@` (and some run one starting
//! with a tab or carriage return) as a formula, and the audit log holds
//! text anyone can choose, such as a user agent. Every cell written here
//! that starts so gets a leading `'`, which spreadsheets show as text.

use std::borrow::Cow;

use crate::AppError;

/// Whether a spreadsheet could take a cell with this text for a formula.
fn looks_like_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The cell as written: unchanged, or with a `'` before it.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if looks_like_formula(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV document built in memory, row by row.
pub struct CsvWriter {
    inner: csv::Writer<Vec<u8>>,
}

impl Default for CsvWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl CsvWriter {
    pub fn new() -> Self {
        Self {
            inner: csv::Writer::from_writer(Vec::new()),
        }
    }

    /// Writes one row, every cell neutralised.
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), AppError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.inner
            .write_record(
                cells
                    .into_iter()
                    .map(|c| neutralise(c.as_ref()).into_owned()),
            )
            .map_err(|e| AppError::Internal(format!("cannot write the CSV: {e}")))
    }

    /// The document's bytes.
    pub fn finish(self) -> Result<Vec<u8>, AppError> {
        self.inner
            .into_inner()
            .map_err(|e| AppError::Internal(format!("cannot write the CSV: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        for cell in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["", "plain", "1", "2026-11-22T08:00:00Z", "{\"a\":1}", " =x"] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
        let mut w = CsvWriter::new();
        assert!(w
            .row(["=HYPERLINK(\"http://evil.example\",\"x\")", "ok"])
            .is_ok());
        let body = w.finish().unwrap_or_default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(body.as_slice());
        let row = reader.records().next().and_then(Result::ok);
        assert_eq!(
            row.as_ref().and_then(|r| r.get(0)),
            Some("'=HYPERLINK(\"http://evil.example\",\"x\")")
        );
    }
}
