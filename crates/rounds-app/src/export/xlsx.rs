//! The list as an Excel workbook: one sheet with a frozen, filterable
//! header row and typed cells (numbers as numbers, dates and date-times as
//! Excel dates, checkboxes as booleans, choices in their colours), set up
//! to print landscape with the header on every page; and a second sheet
//! saying what was exported, by whom and when.

use rust_xlsxwriter::{Color, ExcelDateTime, Format, FormatBorder, Workbook, Worksheet, XlsxError};

use super::{CellValue, ListSheet};
use crate::AppError;

fn failed(e: XlsxError) -> AppError {
    AppError::Internal(format!("cannot write the Excel file: {e}"))
}

/// Excel's rules for a sheet name: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { ' ' } else { c })
        .collect::<String>()
        .trim()
        .trim_matches('\'')
        .chars()
        .take(31)
        .collect();
    if cleaned.is_empty() || cleaned.eq_ignore_ascii_case("history") {
        "List".to_owned()
    } else {
        cleaned
    }
}

fn excel_date(d: time::Date) -> Result<ExcelDateTime, XlsxError> {
    ExcelDateTime::from_ymd(
        u16::try_from(d.year()).unwrap_or(1900),
        u8::from(d.month()),
        d.day(),
    )
}

fn excel_datetime(t: rounds_core::Timestamp) -> Option<ExcelDateTime> {
    let dt =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000).ok()?;
    excel_date(dt.date())
        .and_then(|d| d.and_hms(u16::from(dt.hour()), dt.minute(), dt.second()))
        .ok()
}

/// `#rrggbb` as a colour, and whether black or white text reads on it.
fn colours(hex: &str) -> Option<(u32, u32)> {
    let rgb = u32::from_str_radix(hex.strip_prefix('#')?, 16).ok()?;
    let (r, g, b) = ((rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff);
    // Relative luminance, roughly (ITU-R BT.601 weights).
    let light = r * 299 + g * 587 + b * 114 > 150_000;
    Some((rgb, if light { 0x000000 } else { 0xffffff }))
}

fn write_sheet(sheet: &ListSheet, ws: &mut Worksheet) -> Result<(), XlsxError> {
    ws.set_name(sheet_name(&sheet.list_name))?;
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xe5e7eb))
        .set_border_bottom(FormatBorder::Thin);
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let headers = sheet.headers();
    for (col, text) in headers.iter().enumerate() {
        let col = u16::try_from(col).unwrap_or(u16::MAX);
        ws.write_string_with_format(0, col, text, &header)?;
        ws.set_column_width(col, (text.chars().count() as f64 + 4.0).clamp(10.0, 40.0))?;
    }
    for (r, row) in sheet.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).unwrap_or(u32::MAX);
        let mut col: u16 = 0;
        for (column, cell) in sheet.columns.iter().zip(&row.cells) {
            match &cell.value {
                CellValue::Empty => {}
                CellValue::Text(t) => {
                    ws.write_string(r, col, t)?;
                }
                CellValue::Number(n) => {
                    ws.write_number(r, col, *n)?;
                }
                CellValue::Date(d) => {
                    ws.write_datetime_with_format(r, col, excel_date(*d)?, &date)?;
                }
                CellValue::DateTime(t) => match excel_datetime(*t) {
                    Some(dt) => {
                        ws.write_datetime_with_format(r, col, dt, &datetime)?;
                    }
                    None => {
                        ws.write_string(r, col, t.to_rfc3339())?;
                    }
                },
                CellValue::Bool(b) => {
                    ws.write_boolean(r, col, *b)?;
                }
                CellValue::Choice { label, color, .. } => match colours(color) {
                    Some((bg, fg)) => {
                        let f = Format::new()
                            .set_background_color(Color::RGB(bg))
                            .set_font_color(Color::RGB(fg));
                        ws.write_string_with_format(r, col, label, &f)?;
                    }
                    None => {
                        ws.write_string(r, col, label)?;
                    }
                },
            }
            col = col.saturating_add(1);
            if column.timed() {
                if let Some(at) = &cell.at {
                    match rounds_core::Timestamp::parse(at).and_then(excel_datetime) {
                        Some(dt) if at.len() > 10 => {
                            ws.write_datetime_with_format(r, col, dt, &datetime)?;
                        }
                        _ => {
                            ws.write_string(r, col, at)?;
                        }
                    }
                }
                col = col.saturating_add(1);
            }
        }
    }
    let last_col = u16::try_from(headers.len().saturating_sub(1)).unwrap_or(0);
    let last_row = u32::try_from(sheet.rows.len()).unwrap_or(0);
    ws.set_freeze_panes(1, 0)?;
    if !headers.is_empty() {
        ws.autofilter(0, 0, last_row, last_col)?;
    }
    ws.set_landscape();
    ws.set_repeat_rows(0, 0)?;
    Ok(())
}

fn write_about(sheet: &ListSheet, ws: &mut Worksheet) -> Result<(), XlsxError> {
    ws.set_name("Exported")?;
    let bold = Format::new().set_bold();
    let stamp = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    let lines: [(&str, String); 5] = [
        ("List", sheet.list_name.clone()),
        (
            "View",
            if sheet.view.is_empty() {
                "as kept".to_owned()
            } else {
                sheet.view.clone()
            },
        ),
        (
            "Patients",
            format!("{} of {} on the list", sheet.rows.len(), sheet.total),
        ),
        ("Exported by", sheet.exported_by.clone()),
        ("Times", "UTC".to_owned()),
    ];
    for (r, (k, v)) in lines.iter().enumerate() {
        let r = u32::try_from(r).unwrap_or(0);
        ws.write_string_with_format(r, 0, *k, &bold)?;
        ws.write_string(r, 1, v)?;
    }
    ws.write_string_with_format(5, 0, "Exported at", &bold)?;
    match excel_datetime(sheet.exported_at) {
        Some(dt) => ws.write_datetime_with_format(5, 1, dt, &stamp)?,
        None => ws.write_string(5, 1, sheet.exported_at.to_rfc3339())?,
    };
    ws.set_column_width(0, 14)?;
    ws.set_column_width(1, 50)?;
    Ok(())
}

/// The workbook's bytes.
pub(super) fn write(sheet: &ListSheet) -> Result<Vec<u8>, AppError> {
    let mut book = Workbook::new();
    write_sheet(sheet, book.add_worksheet()).map_err(failed)?;
    write_about(sheet, book.add_worksheet()).map_err(failed)?;
    book.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_follow_excels_rules() {
        assert_eq!(sheet_name("Ward 3/ICU [night]"), "Ward 3 ICU  night");
        assert_eq!(sheet_name("History"), "List");
        assert_eq!(sheet_name(&"x".repeat(40)).len(), 31);
    }

    #[test]
    fn text_contrasts_with_its_colour() {
        assert_eq!(colours("#ffffff"), Some((0xffffff, 0)));
        assert_eq!(colours("#b91c1c"), Some((0xb91c1c, 0xffffff)));
        assert_eq!(colours("red"), None);
    }
}
