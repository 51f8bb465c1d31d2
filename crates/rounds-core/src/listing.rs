//! Viewing a list: filter, search and sort its rows as a [`ViewSpec`]
//! asks, as pure functions over rows of any shape. What a row offers (its
//! raw values, shown texts, sort keys) comes from a [`RowReader`]; the
//! rules of the view live here.

use std::cmp::Ordering;

use crate::lists::ColumnKey;
use crate::view::{compare, fold, passes, SortValue, ViewSpec};

/// What a filter on one column looks at in one row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterInput<'a> {
    /// The stored form (None or empty: no value).
    pub raw: Option<&'a str>,
    /// The text a person sees in the cell.
    pub display: &'a str,
    /// A choice column's label for the stored option.
    pub label: Option<&'a str>,
}

/// Reads what the view needs from rows of type `R`.
pub trait RowReader<R> {
    fn filter_input<'r>(&'r self, row: &'r R, column: &ColumnKey) -> FilterInput<'r>;
    /// The texts a search looks in: the shown text of each of `visible`
    /// (column keys), and whatever else identifies the row.
    fn search_texts<'r>(&'r self, row: &'r R, visible: &[String], out: &mut Vec<&'r str>);
    fn sort_value(&self, row: &R, column: &ColumnKey) -> SortValue;
}

/// Keeps the rows that pass every filter of `spec`.
pub fn filter<R, Q: RowReader<R>>(reader: &Q, rows: &mut Vec<R>, spec: &ViewSpec) {
    if spec.filters.is_empty() {
        return;
    }
    rows.retain(|row| {
        spec.filters.iter().all(|f| {
            let input = reader.filter_input(row, &f.column);
            passes(
                &f.op,
                input.raw.filter(|v| !v.is_empty()),
                input.display,
                input.label,
            )
        })
    });
}

/// Keeps the rows with a text containing the search of `spec` (folded,
/// as [`fold`] does; the search text is folded when parsed).
pub fn search<R, Q: RowReader<R>>(
    reader: &Q,
    rows: &mut Vec<R>,
    spec: &ViewSpec,
    visible: &[String],
) {
    let Some(needle) = &spec.search else { return };
    let needle = needle.trim();
    rows.retain(|row| {
        let mut texts = Vec::new();
        reader.search_texts(row, visible, &mut texts);
        texts.iter().any(|text| fold(text).contains(needle))
    });
}

/// Sorts by the sort keys of `spec`, stable: rows that compare equal keep
/// their order (the list's hand order).
pub fn sort<R, Q: RowReader<R>>(reader: &Q, rows: &mut Vec<R>, spec: &ViewSpec) {
    if spec.sort.is_empty() {
        return;
    }
    let mut keyed: Vec<(Vec<SortValue>, R)> = rows
        .drain(..)
        .map(|row| {
            let keys = spec
                .sort
                .iter()
                .map(|s| reader.sort_value(&row, &s.column))
                .collect();
            (keys, row)
        })
        .collect();
    // `sort_by` is stable: equal keys keep the hand order.
    keyed.sort_by(|(a, _), (b, _)| {
        for (k, s) in spec.sort.iter().enumerate() {
            let o = compare(&a[k], &b[k], s.direction);
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    rows.extend(keyed.into_iter().map(|(_, row)| row));
}

/// Filter, search, then sort.
pub fn apply<R, Q: RowReader<R>>(
    reader: &Q,
    mut rows: Vec<R>,
    spec: &ViewSpec,
    visible: &[String],
) -> Vec<R> {
    filter(reader, &mut rows, spec);
    search(reader, &mut rows, spec, visible);
    sort(reader, &mut rows, spec);
    rows
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::lists::BuiltinColumn;

    /// A row of texts by column key.
    struct Row(HashMap<String, String>);

    fn row(pairs: &[(&str, &str)]) -> Row {
        Row(pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    }

    struct Texts;

    impl RowReader<Row> for Texts {
        fn filter_input<'r>(&'r self, row: &'r Row, column: &ColumnKey) -> FilterInput<'r> {
            let text = row.0.get(&column.to_string()).map_or("", String::as_str);
            FilterInput {
                raw: Some(text),
                display: text,
                label: None,
            }
        }
        fn search_texts<'r>(&'r self, row: &'r Row, visible: &[String], out: &mut Vec<&'r str>) {
            out.extend(visible.iter().filter_map(|k| row.0.get(k)).map(String::as_str));
        }
        fn sort_value(&self, row: &Row, column: &ColumnKey) -> SortValue {
            match row.0.get(&column.to_string()) {
                Some(t) => match t.parse::<f64>() {
                    Ok(n) => SortValue::Number(n),
                    Err(_) => SortValue::text(t),
                },
                None => SortValue::Empty,
            }
        }
    }

    fn names(rows: &[Row]) -> Vec<&str> {
        rows.iter()
            .map(|r| r.0.get("name").map_or("", String::as_str))
            .collect()
    }

    fn spec(sort: Option<&str>, filters: &[&str], q: Option<&str>) -> ViewSpec {
        let filters: Vec<String> = filters.iter().map(|f| (*f).to_owned()).collect();
        let parsed = ViewSpec::parse(sort, &filters, q);
        assert!(parsed.is_ok(), "{parsed:?}");
        parsed.unwrap_or_default()
    }

    fn ward() -> Vec<Row> {
        vec![
            row(&[("name", "Berg"), ("mrn", "3"), ("location", "7 · 2")]),
            row(&[("name", "Álvarez"), ("mrn", "10"), ("location", "7 · 1")]),
            row(&[("name", "Chen"), ("location", "8 · 1")]),
            row(&[("name", "Dube"), ("mrn", "3"), ("location", "8 · 2")]),
        ]
    }

    #[test]
    fn without_a_spec_the_hand_order_stays() {
        let rows = apply(&Texts, ward(), &ViewSpec::default(), &[]);
        assert_eq!(names(&rows), ["Berg", "Álvarez", "Chen", "Dube"]);
    }

    #[test]
    fn sorting_is_by_number_then_stable_with_empty_last() {
        let rows = apply(&Texts, ward(), &spec(Some("mrn"), &[], None), &[]);
        assert_eq!(names(&rows), ["Berg", "Dube", "Álvarez", "Chen"]);
        let rows = apply(&Texts, ward(), &spec(Some("-mrn,name"), &[], None), &[]);
        assert_eq!(names(&rows), ["Álvarez", "Berg", "Dube", "Chen"]);
    }

    #[test]
    fn a_filter_keeps_what_passes_and_search_folds_accents() {
        let rows = apply(&Texts, ward(), &spec(None, &["location:contains:8"], None), &[]);
        assert_eq!(names(&rows), ["Chen", "Dube"]);
        let visible = vec![BuiltinColumn::Name.key().to_owned()];
        let rows = apply(&Texts, ward(), &spec(None, &[], Some("ALVA")), &visible);
        assert_eq!(names(&rows), ["Álvarez"]);
        // A column not searched finds nothing.
        let rows = apply(&Texts, ward(), &spec(None, &[], Some("8 ·")), &visible);
        assert!(rows.is_empty());
    }

    #[test]
    fn filter_search_and_sort_together() {
        let visible = vec!["name".to_owned(), "location".to_owned()];
        let rows = apply(
            &Texts,
            ward(),
            &spec(Some("-name"), &["location:contains:7"], Some("r")),
            &visible,
        );
        assert_eq!(names(&rows), ["Berg", "Álvarez"]);
    }
}
