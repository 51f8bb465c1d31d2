//! Reading an uploaded file into a table of typed cells: CSV (UTF-8, with
//! or without a byte order mark; comma, semicolon or tab separated) or an
//! Excel workbook (.xlsx, its first sheet). The file's content decides
//! what it is; a file whose name claims another kind, or that is neither,
//! is refused with a message saying what it is.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use rounds_core::Timestamp;

use super::{MAX_FILE_BYTES, MAX_ROWS};

/// One cell as the file had it.
#[derive(Debug, Clone, PartialEq)]
pub enum RawCell {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(time::Date),
    DateTime(Timestamp),
}

impl RawCell {
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Text(t) => t.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as text (numbers in their plain form, dates ISO).
    pub fn text(&self) -> String {
        match self {
            Self::Empty => String::new(),
            Self::Text(t) => t.trim().to_owned(),
            Self::Number(n) => rounds_core::lists::format_number(*n),
            Self::Bool(b) => b.to_string(),
            Self::Date(d) => d.to_string(),
            Self::DateTime(t) => t.to_rfc3339(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Xlsx,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }
}

/// The file as a header row and data rows (each as long as the header,
/// with its row number in the file, the header being row 1).
#[derive(Debug, Clone)]
pub struct Table {
    pub kind: FileKind,
    pub headers: Vec<String>,
    pub rows: Vec<(usize, Vec<RawCell>)>,
}

/// Why a file cannot be read; the message is for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem(pub String);

fn problem(message: impl Into<String>) -> FileProblem {
    FileProblem(message.into())
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

fn claimed(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if lower.ends_with(".xlsx") {
        Some("xlsx")
    } else if lower.ends_with(".csv") || lower.ends_with(".txt") {
        Some("csv")
    } else if lower.ends_with(".xls") {
        Some("xls")
    } else {
        None
    }
}

/// Reads `bytes` (named `name` by its sender).
pub fn read(name: &str, bytes: &[u8]) -> Result<Table, FileProblem> {
    if bytes.is_empty() {
        return Err(problem("the file is empty"));
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err(problem(format!(
            "the file is {} bytes; at most {MAX_FILE_BYTES} bytes ({} MB) can be imported at once: split it",
            bytes.len(),
            MAX_FILE_BYTES / (1024 * 1024)
        )));
    }
    let claim = claimed(name);
    let table = if bytes.starts_with(OLE_MAGIC) {
        return Err(problem(
            "this is an old-style Excel file (.xls); save it as an Excel workbook (.xlsx) or as CSV and import that",
        ));
    } else if bytes.starts_with(ZIP_MAGIC) {
        if claim == Some("csv") {
            return Err(problem(format!(
                "{name:?} is called a CSV file but is a zip archive (perhaps an Excel workbook renamed); send it with its real name"
            )));
        }
        read_xlsx(bytes)?
    } else {
        if claim == Some("xlsx") {
            return Err(problem(format!(
                "{name:?} is called an Excel workbook but is not one (an .xlsx file is a zip archive); send the real workbook, or CSV"
            )));
        }
        if claim == Some("xls") {
            return Err(problem(format!(
                "{name:?} is called an old Excel file but is not one; send an .xlsx workbook or CSV"
            )));
        }
        read_csv(bytes)?
    };
    if table.rows.len() > MAX_ROWS {
        return Err(problem(format!(
            "the file has {} data rows; at most {MAX_ROWS} can be imported at once: split it",
            table.rows.len()
        )));
    }
    Ok(table)
}

fn read_csv(bytes: &[u8]) -> Result<Table, FileProblem> {
    let body = bytes
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(bytes);
    if body.contains(&0) {
        return Err(problem(
            "the file is neither CSV text nor an Excel workbook (it holds binary data)",
        ));
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        problem(format!(
            "the CSV file is not UTF-8 text (at byte {}); save it as \"CSV UTF-8\"",
            e.valid_up_to()
        ))
    })?;
    let first = text.lines().next().unwrap_or("");
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| first.bytes().filter(|b| b == d).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers: Vec<String> = match records.next() {
        Some(Ok(r)) => r.iter().map(|h| h.trim().to_owned()).collect(),
        Some(Err(e)) => return Err(problem(format!("the CSV cannot be read: {e}"))),
        None => return Err(problem("the file has no header row")),
    };
    let mut rows = Vec::new();
    // The line a record starts on, counted here: the reader's own count
    // is one short after each CRLF (Windows, and Excel's "CSV UTF-8").
    let bytes = text.as_bytes();
    let (mut counted_to, mut newlines) = (0usize, 0usize);
    for record in records {
        let record = record.map_err(|e| problem(format!("the CSV cannot be read: {e}")))?;
        let mut start = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(0))
            .clamp(counted_to, bytes.len());
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        newlines += bytes
            .get(counted_to..start)
            .map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
        counted_to = start;
        let line = newlines + 1;
        if rows.len() > MAX_ROWS {
            break;
        }
        let cells: Vec<RawCell> = (0..headers.len())
            .map(|i| match record.get(i) {
                Some(v) if !v.trim().is_empty() => RawCell::Text(v.to_owned()),
                _ => RawCell::Empty,
            })
            .collect();
        if cells.iter().all(RawCell::is_empty) {
            continue;
        }
        rows.push((line, cells));
    }
    finish(FileKind::Csv, headers, rows)
}

fn excel_cell(data: &Data) -> RawCell {
    match data {
        Data::Empty | Data::Error(_) => RawCell::Empty,
        Data::String(s) => RawCell::Text(s.clone()),
        Data::Int(i) => RawCell::Number(*i as f64),
        Data::Float(f) => RawCell::Number(*f),
        Data::Bool(b) => RawCell::Bool(*b),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            let date = time::Month::try_from(mo)
                .ok()
                .and_then(|m| time::Date::from_calendar_date(i32::from(y), m, d).ok());
            match date {
                Some(date) if (h, mi, s) == (0, 0, 0) => RawCell::Date(date),
                Some(date) => time::Time::from_hms(h, mi, s).map_or(RawCell::Date(date), |t| {
                    RawCell::DateTime(Timestamp::from_datetime(date.with_time(t).assume_utc()))
                }),
                None => RawCell::Number(dt.as_f64()),
            }
        }
        Data::DateTime(dt) => RawCell::Number(dt.as_f64()),
        Data::DateTimeIso(s) | Data::DurationIso(s) => RawCell::Text(s.clone()),
    }
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, FileProblem> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|e| {
        problem(format!(
            "the file is a zip archive but not an Excel workbook that can be read ({e})"
        ))
    })?;
    let range = match book.worksheet_range_at(0) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return Err(problem(format!(
                "the workbook's first sheet cannot be read ({e})"
            )))
        }
        None => return Err(problem("the workbook has no sheet")),
    };
    let mut rows_iter = range.rows();
    let headers: Vec<String> = match rows_iter.next() {
        Some(r) => r.iter().map(|c| excel_cell(c).text()).collect(),
        None => return Err(problem("the first sheet is empty (no header row)")),
    };
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let mut rows = Vec::new();
    for (i, r) in rows_iter.enumerate() {
        if rows.len() > MAX_ROWS {
            break;
        }
        let cells: Vec<RawCell> = (0..headers.len())
            .map(|i| r.get(i).map_or(RawCell::Empty, excel_cell))
            .collect();
        if cells.iter().all(RawCell::is_empty) {
            continue;
        }
        rows.push((first_row + i + 2, cells));
    }
    finish(FileKind::Xlsx, headers, rows)
}

fn finish(
    kind: FileKind,
    mut headers: Vec<String>,
    mut rows: Vec<(usize, Vec<RawCell>)>,
) -> Result<Table, FileProblem> {
    // Trailing header cells that are empty and hold nothing are no column.
    while headers.last().is_some_and(String::is_empty) {
        let last = headers.len() - 1;
        if rows
            .iter()
            .any(|(_, r)| r.get(last).is_some_and(|c| !c.is_empty()))
        {
            break;
        }
        headers.pop();
        for (_, r) in &mut rows {
            r.truncate(last);
        }
    }
    if headers.iter().all(String::is_empty) {
        return Err(problem("the first row holds no column headers"));
    }
    Ok(Table {
        kind,
        headers,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_and_semicolons() {
        let t = read("ward.csv", "\u{feff}Name;MRN\nZola;1\n;\n".as_bytes()).unwrap();
        assert_eq!(t.kind, FileKind::Csv);
        assert_eq!(t.headers, ["Name", "MRN"]);
        assert_eq!(t.rows.len(), 1, "the empty row is skipped");
        assert_eq!(
            t.rows[0],
            (
                2,
                vec![RawCell::Text("Zola".into()), RawCell::Text("1".into())]
            )
        );
    }

    #[test]
    fn csv_rows_are_numbered_as_in_the_file() {
        let numbers = |text: &str| -> Vec<usize> {
            read("ward.csv", text.as_bytes())
                .unwrap()
                .rows
                .iter()
                .map(|(n, _)| *n)
                .collect()
        };
        assert_eq!(numbers("Name\nA\nB\n"), [2, 3]);
        assert_eq!(numbers("Name\r\nA\r\nB\r\n"), [2, 3], "CRLF");
        assert_eq!(numbers("Name\r\nA\r\n\r\nB\r\n"), [2, 4], "a blank line");
        assert_eq!(
            numbers("Name,Plan\r\nA,\"two\r\nlines\"\r\nB,x\r\n"),
            [2, 4],
            "a cell of two lines"
        );
    }

    #[test]
    fn files_that_are_not_what_they_claim() {
        let err = |name: &str, bytes: &[u8]| read(name, bytes).unwrap_err().0;
        assert!(err("ward.xlsx", b"Name\nZola\n").contains("not one"));
        assert!(err("ward.csv", b"PK\x03\x04rest").contains("zip archive"));
        assert!(err("ward.xlsx", b"PK\x03\x04rest").contains("not an Excel workbook"));
        assert!(err("ward.xls", OLE_MAGIC).contains(".xls"));
        assert!(err("ward.csv", b"a\x00b").contains("binary"));
        assert!(err("ward.csv", b"Name\n\xff\xfe").contains("UTF-8"));
        assert!(err("ward.csv", b"").contains("empty"));
    }
}
