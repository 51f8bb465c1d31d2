//! How a list is viewed: sort keys, filters and a search, as they appear
//! in a URL (`?sort=name,-status&filter=status:is:critical&q=smith`), and
//! the comparisons behind them. Text compares without regard to case or
//! accents; empty values sort last in either direction; sorting is stable.

use std::cmp::Ordering;

use unicode_normalization::UnicodeNormalization;

use crate::lists::ColumnKey;
use crate::validate::{checked_chars, query_text, InvalidInput, TextKind};

pub const SORT_KEYS_MAX: usize = 2;
pub const FILTERS_MAX: usize = 10;

/// Lower case without accents: "Élodie" and "elodie" compare equal.
pub fn fold(s: &str) -> String {
    s.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A cell's value as it sorts.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    Empty,
    /// Folded text.
    Text(String),
    Number(f64),
    /// A position in a fixed order (choice options, dates as day numbers).
    Ordinal(i64),
}

impl SortValue {
    pub fn text(s: &str) -> Self {
        if s.trim().is_empty() {
            Self::Empty
        } else {
            Self::Text(fold(s))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// Compares two cells; empty cells go last whichever the direction.
pub fn compare(a: &SortValue, b: &SortValue, dir: Direction) -> Ordering {
    let ordered = |o: Ordering| {
        if dir == Direction::Descending {
            o.reverse()
        } else {
            o
        }
    };
    match (a, b) {
        (SortValue::Empty, SortValue::Empty) => Ordering::Equal,
        (SortValue::Empty, _) => Ordering::Greater,
        (_, SortValue::Empty) => Ordering::Less,
        (SortValue::Number(x), SortValue::Number(y)) => ordered(x.total_cmp(y)),
        (SortValue::Ordinal(x), SortValue::Ordinal(y)) => ordered(x.cmp(y)),
        (SortValue::Text(x), SortValue::Text(y)) => ordered(x.cmp(y)),
        // Mixed kinds only meet after a column changed type: keep them apart.
        (x, y) => ordered(rank(x).cmp(&rank(y))),
    }
}

fn rank(v: &SortValue) -> u8 {
    match v {
        SortValue::Number(_) => 0,
        SortValue::Ordinal(_) => 1,
        SortValue::Text(_) => 2,
        SortValue::Empty => 3,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SortKey {
    pub column: ColumnKey,
    pub direction: Direction,
}

/// One filter on one column.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterOp {
    /// Text contains (folded).
    Contains(String),
    /// A choice is this option id (or label).
    Is(String),
    /// A checkbox is ticked (true) or not (false, including empty).
    Checked(bool),
    /// A date or date-time on or after (inclusive, `YYYY-MM-DD`).
    From(String),
    /// A date or date-time on or before (inclusive, `YYYY-MM-DD`).
    To(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: ColumnKey,
    pub op: FilterOp,
}

/// Everything a view asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ViewSpec {
    pub sort: Vec<SortKey>,
    pub filters: Vec<Filter>,
    pub search: Option<String>,
}

impl ViewSpec {
    /// Reads `sort` (comma-separated column keys, `-` for descending),
    /// `filter` values (`column:op:value`, op one of contains, is, checked,
    /// from, to) and `q`.
    pub fn parse(
        sort: Option<&str>,
        filters: &[String],
        search: Option<&str>,
    ) -> Result<Self, InvalidInput> {
        let mut spec = Self::default();
        // Nothing is stored from a view, but its texts follow the same rule
        // as every other input (one line, no control characters).
        let sort = sort.map(|s| query_text("sort", s)).transpose()?.flatten();
        let search = search.map(|s| query_text("q", s)).transpose()?.flatten();
        for raw in filters {
            checked_chars("filter", raw, TextKind::Line)?;
        }
        for part in sort
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (direction, key) = match part.strip_prefix('-') {
                Some(key) => (Direction::Descending, key),
                None => (Direction::Ascending, part.strip_prefix('+').unwrap_or(part)),
            };
            let column = key
                .parse()
                .map_err(|e: InvalidInput| InvalidInput::new("sort", e.message))?;
            spec.sort.push(SortKey { column, direction });
        }
        if spec.sort.len() > SORT_KEYS_MAX {
            return Err(InvalidInput::new(
                "sort",
                format!("at most {SORT_KEYS_MAX} sort keys"),
            ));
        }
        if filters.len() > FILTERS_MAX {
            return Err(InvalidInput::new(
                "filter",
                format!("at most {FILTERS_MAX} filters"),
            ));
        }
        for raw in filters {
            let mut parts = raw.splitn(3, ':');
            let (Some(key), Some(op), value) =
                (parts.next(), parts.next(), parts.next().unwrap_or(""))
            else {
                return Err(InvalidInput::new(
                    "filter",
                    format!("{raw:?} is not column:op:value"),
                ));
            };
            let column = key
                .parse()
                .map_err(|e: InvalidInput| InvalidInput::new("filter", e.message))?;
            let op = match op {
                "contains" => FilterOp::Contains(fold(value)),
                "is" => FilterOp::Is(value.to_owned()),
                "checked" => FilterOp::Checked(value != "false"),
                "from" | "to" => {
                    let number = value.parse::<f64>().is_ok_and(f64::is_finite);
                    if crate::Timestamp::parse(value).is_none() && !number {
                        return Err(InvalidInput::new(
                            "filter",
                            format!("{value:?} is neither a date (YYYY-MM-DD) nor a number"),
                        ));
                    }
                    if op == "from" {
                        FilterOp::From(value.to_owned())
                    } else {
                        FilterOp::To(value.to_owned())
                    }
                }
                other => {
                    return Err(InvalidInput::new(
                        "filter",
                        format!("{other:?} is not one of contains, is, checked, from, to"),
                    ))
                }
            };
            spec.filters.push(Filter { column, op });
        }
        spec.search = search.as_deref().map(fold).filter(|s| !s.trim().is_empty());
        Ok(spec)
    }
}

/// Both sides as numbers, when both are.
fn numbers(value: &str, bound: &str) -> Option<(f64, f64)> {
    Some((value.parse().ok()?, bound.parse().ok()?))
}

/// Does a stored value pass `op`? `display` is the text a person sees in
/// the cell (for `contains`), `raw` the stored form.
pub fn passes(op: &FilterOp, raw: Option<&str>, display: &str, choice_label: Option<&str>) -> bool {
    match op {
        FilterOp::Contains(needle) => fold(display).contains(needle.as_str()),
        FilterOp::Is(want) => {
            raw.is_some_and(|r| r == want) || choice_label.is_some_and(|l| fold(l) == fold(want))
        }
        FilterOp::Checked(want) => (raw == Some("true")) == *want,
        // Numbers compare as numbers. Stored dates and date-times start
        // with YYYY-MM-DD, so the first ten characters compare as days.
        FilterOp::From(bound) => raw.is_some_and(|r| match numbers(r, bound) {
            Some((a, b)) => a >= b,
            None => r.get(..10).unwrap_or(r) >= bound.as_str(),
        }),
        FilterOp::To(bound) => raw.is_some_and(|r| match numbers(r, bound) {
            Some((a, b)) => a <= b,
            None => r.get(..10).unwrap_or(r) <= bound.as_str(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::BuiltinColumn;

    #[test]
    fn folding_and_comparing() {
        assert_eq!(fold("Élodie ÅSTRÖM"), "elodie astrom");
        let mut v = [
            SortValue::text("beta"),
            SortValue::Empty,
            SortValue::text("Álpha"),
            SortValue::text("alpha"),
        ];
        v.sort_by(|a, b| compare(a, b, Direction::Ascending));
        assert_eq!(v[0], SortValue::Text("alpha".into()));
        assert_eq!(v[3], SortValue::Empty);
        v.sort_by(|a, b| compare(a, b, Direction::Descending));
        assert_eq!(v[0], SortValue::Text("beta".into()));
        assert_eq!(v[3], SortValue::Empty, "empty last also descending");
        assert_eq!(
            compare(
                &SortValue::Number(10.0),
                &SortValue::Number(9.0),
                Direction::Ascending
            ),
            Ordering::Greater
        );
    }

    #[test]
    fn parsing_views() {
        let spec = ViewSpec::parse(
            Some("name,-mrn"),
            &["location:contains:Ward 7".into()],
            Some(" Smith "),
        )
        .ok();
        let spec = spec.unwrap_or_default();
        assert_eq!(spec.sort.len(), 2);
        assert_eq!(spec.sort[1].direction, Direction::Descending);
        assert_eq!(spec.sort[1].column, ColumnKey::Builtin(BuiltinColumn::Mrn));
        assert_eq!(spec.filters[0].op, FilterOp::Contains("ward 7".into()));
        assert_eq!(spec.search.as_deref(), Some("smith"));
        assert!(ViewSpec::parse(Some("a,b,c"), &[], None).is_err());
        assert!(ViewSpec::parse(None, &["name:near:x".into()], None).is_err());
        assert!(ViewSpec::parse(None, &["birthDate:from:someday".into()], None).is_err());
    }

    #[test]
    fn number_ranges_compare_as_numbers() {
        assert!(ViewSpec::parse(None, &["heartRate:from:100".into()], None).is_ok());
        assert!(ViewSpec::parse(None, &["heartRate:from:NaN".into()], None).is_err());
        let from = FilterOp::From("100".into());
        assert!(passes(&from, Some("120"), "", None));
        assert!(
            !passes(&from, Some("88"), "", None),
            "88 < 100, though \"88\" > \"100\""
        );
        assert!(passes(&FilterOp::To("37.5".into()), Some("37.2"), "", None));
        assert!(!passes(&from, None, "", None));
    }

    #[test]
    fn filters() {
        assert!(passes(
            &FilterOp::From("2026-01-01".into()),
            Some("2026-03-01T10:00:00Z"),
            "",
            None
        ));
        assert!(!passes(
            &FilterOp::To("2026-01-01".into()),
            Some("2026-03-01"),
            "",
            None
        ));
        assert!(passes(&FilterOp::Checked(false), None, "", None));
        assert!(passes(
            &FilterOp::Is("critical".into()),
            Some("opt-1"),
            "",
            Some("Critical")
        ));
    }
}
