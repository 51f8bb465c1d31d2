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

/// The new positions for putting items (by their current positions, in the
/// new order) in that order, touching as few as it can: the longest run
/// already in order keeps its positions, the others get positions in the
/// gaps between their neighbours. When a gap is too small, everything is
/// numbered again `step` apart. Returns (index in `current`, new position)
/// for each item that changes.
pub fn repositions(current: &[i64], step: i64) -> Vec<(usize, i64)> {
    let n = current.len();
    // The longest strictly increasing run (patience sorting, O(n log n)).
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; n];
    for i in 0..n {
        let at = tails.partition_point(|&t| current[t] < current[i]);
        before[i] = at.checked_sub(1).map(|a| tails[a]);
        if at == tails.len() {
            tails.push(i);
        } else {
            tails[at] = i;
        }
    }
    let mut kept = vec![false; n];
    let mut cursor = tails.last().copied();
    while let Some(i) = cursor {
        kept[i] = true;
        cursor = before[i];
    }
    let mut changed = Vec::new();
    let mut i = 0;
    let mut prev: Option<i64> = None;
    while i < n {
        if kept[i] {
            prev = Some(current[i]);
            i += 1;
            continue;
        }
        // A run of moved items, between `prev` and the next kept one.
        let end = (i..n).find(|&j| kept[j]).unwrap_or(n);
        let next = (end < n).then(|| current[end]);
        let count = i64::try_from(end - i).unwrap_or(i64::MAX);
        let low = prev.unwrap_or_else(|| next.map_or(0, |x| x.saturating_sub(step * (count + 1))));
        let high = next.unwrap_or_else(|| low.saturating_add(step * (count + 1)));
        let gap = (high - low) / (count + 1);
        if gap < 1 {
            return current
                .iter()
                .enumerate()
                .map(|(k, _)| (k, (i64::try_from(k).unwrap_or(i64::MAX / step) + 1) * step))
                .collect();
        }
        for (k, j) in (i..end).enumerate() {
            let k = i64::try_from(k).unwrap_or(0) + 1;
            changed.push((j, low + gap * k));
        }
        prev = changed.last().map(|c| c.1);
        i = end;
    }
    changed
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
            out.extend(
                visible
                    .iter()
                    .filter_map(|k| row.0.get(k))
                    .map(String::as_str),
            );
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

    /// The positions after applying `repositions`.
    fn applied(current: &[i64]) -> (Vec<i64>, usize) {
        let changes = repositions(current, 1024);
        let mut after = current.to_vec();
        for (i, p) in &changes {
            after[*i] = *p;
        }
        (after, changes.len())
    }

    #[test]
    fn moving_one_patient_touches_one_row() {
        // 2,000 in order; the last put first, and one moved to the middle.
        let mut order: Vec<i64> = (1..=2000).map(|i| i * 1024).collect();
        let last = order.pop().unwrap_or_default();
        order.insert(0, last);
        let (after, touched) = applied(&order);
        assert_eq!(touched, 1);
        assert!(after.windows(2).all(|w| w[0] < w[1]), "in order");
        let mut order: Vec<i64> = (1..=2000).map(|i| i * 1024).collect();
        let moved = order.remove(10);
        order.insert(1500, moved);
        let (after, touched) = applied(&order);
        assert_eq!(touched, 1);
        assert!(after.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn any_order_comes_out_in_order() {
        for order in [
            vec![],
            vec![5],
            vec![3, 2, 1],
            vec![1, 2, 3],
            vec![2048, 1024, 1025, 3072],
            // No room between 1 and 2: everything again.
            vec![1, 3, 2],
        ] {
            let (after, _) = applied(&order);
            assert!(
                after.windows(2).all(|w| w[0] < w[1]),
                "{order:?} → {after:?}"
            );
        }
        assert_eq!(applied(&[1, 3, 2]).0, vec![1024, 2048, 3072]);
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
        let rows = apply(
            &Texts,
            ward(),
            &spec(None, &["location:contains:8"], None),
            &[],
        );
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
