//! What the view (rounds-core [`listing`](rounds_core::listing)) reads
//! from a patient row: a filter's input, the texts a search looks in, and
//! the sort key of each column.

use rounds_core::listing::{FilterInput, RowReader};
use rounds_core::lists::{age_on, BuiltinColumn, ColumnKey, ColumnType};
use rounds_core::view::SortValue;

use super::display::{builtin_display, raw};
use super::{Context, PatientRow};

impl RowReader<PatientRow> for Context {
    fn filter_input<'r>(&'r self, row: &'r PatientRow, column: &ColumnKey) -> FilterInput<'r> {
        let key = column.to_string();
        let shown = row.display.get(&key).map(String::as_str);
        let cell_raw = || row.cells.get(&key).and_then(|c| c.raw.as_deref());
        let (raw_value, label) = match column {
            ColumnKey::Builtin(BuiltinColumn::BirthDate) if row.cells.contains_key(&key) => {
                (cell_raw(), None)
            }
            ColumnKey::Builtin(BuiltinColumn::BirthDate) => {
                (Some(raw(&row.values, "birthDate")), None)
            }
            ColumnKey::Ehr(_) => (cell_raw().or(shown), None),
            ColumnKey::Builtin(_) => (shown, None),
            ColumnKey::Team(_) => (row.values.get(&key).and_then(|v| v.value.as_deref()), shown),
        };
        FilterInput {
            raw: raw_value,
            display: shown.unwrap_or(""),
            label,
        }
    }

    fn search_texts<'r>(&'r self, row: &'r PatientRow, visible: &[String], out: &mut Vec<&'r str>) {
        out.extend(
            visible
                .iter()
                .filter_map(|k| row.display.get(k))
                .map(String::as_str),
        );
        for key in ["mrn", "family", "given"] {
            out.push(raw(&row.values, key));
        }
    }

    fn sort_value(&self, row: &PatientRow, column: &ColumnKey) -> SortValue {
        sort_value(self, column, row)
    }
}

fn sort_value(ctx: &Context, key: &ColumnKey, row: &PatientRow) -> SortValue {
    let cell = row.cells.get(&key.to_string());
    if let Some(cell) = cell {
        if let Some(n) = cell.number {
            return SortValue::Number(n);
        }
    }
    match key {
        ColumnKey::Ehr(e) => {
            if e.is_numeric() {
                return SortValue::Empty;
            }
            let text = cell
                .and_then(|c| c.raw.clone())
                .or_else(|| row.display.get(e.key()).cloned())
                .unwrap_or_default();
            SortValue::text(&text)
        }
        ColumnKey::Builtin(b) if cell.is_some() => {
            SortValue::text(row.display.get(b.key()).map_or("", String::as_str))
        }
        ColumnKey::Builtin(BuiltinColumn::Name) => SortValue::text(&format!(
            "{} {}",
            raw(&row.values, "family"),
            raw(&row.values, "given")
        )),
        ColumnKey::Builtin(BuiltinColumn::AgeSex) => {
            age_on(raw(&row.values, "birthDate"), ctx.today)
                .map_or(SortValue::Empty, |a| SortValue::Number(f64::from(a)))
        }
        ColumnKey::Builtin(BuiltinColumn::Added) => SortValue::Ordinal(row.entry.added_at.millis()),
        ColumnKey::Builtin(BuiltinColumn::Tasks) => row
            .tasks
            .next_due
            .map_or(SortValue::Empty, |d| SortValue::Ordinal(d.millis())),
        ColumnKey::Builtin(b) => {
            SortValue::text(&builtin_display(ctx, *b, &row.values, Some(&row.entry)))
        }
        ColumnKey::Team(id) => {
            let key = id.to_string();
            let value = raw(&row.values, &key);
            let Some(column) = ctx.column(&key) else {
                return SortValue::Empty;
            };
            if value.is_empty() {
                return SortValue::Empty;
            }
            match column.kind {
                ColumnType::Number => value
                    .parse::<f64>()
                    .map_or(SortValue::Empty, SortValue::Number),
                ColumnType::Choice => column
                    .options
                    .iter()
                    .position(|o| o.id == value)
                    .map_or(SortValue::Empty, |i| SortValue::Ordinal(i as i64)),
                ColumnType::Checkbox => SortValue::Ordinal(i64::from(value == "true")),
                ColumnType::Person => SortValue::text(&ctx.person(value)),
                _ => SortValue::text(value),
            }
        }
    }
}
