//! What a file's columns mean: a header's target column by name, a new
//! column's type from its cells, and a cell as the value its column takes.

use super::*;

/// What a file's header means, by name (case, accents and a unit in
/// brackets aside).
pub(super) fn header_key(header: &str) -> String {
    let base = match header.rfind('(') {
        Some(i) if header.trim_end().ends_with(')') && i > 0 => &header[..i],
        _ => header,
    };
    name_key(base.trim())
}

pub(super) fn builtin_target(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" | "patient" | "patient name" => "name",
        "family" | "family name" | "surname" | "last name" | "lastname" => "family",
        "given" | "given name" | "given names" | "first name" | "firstname" | "forename" => "given",
        "mrn" | "medical record number" | "record number" | "hospital number" => "mrn",
        "birthdate" | "birth date" | "born" | "date of birth" | "dob" => "birthDate",
        "sex" | "gender" => "sex",
        "ward" => "ward",
        "room" => "room",
        "bed" => "bed",
        "location" => "location",
        _ => return None,
    })
}
impl Context {
    pub(super) fn column(&self, id: &str) -> Option<&TeamColumn> {
        self.columns.iter().find(|c| c.id.to_string() == id)
    }

    /// The target a header is matched to: a team column by label, else a
    /// patient field by name.
    pub(super) fn guess(&self, header: &str) -> Target {
        let key = header_key(header);
        if key.is_empty() {
            return Target::Skip;
        }
        if let Some(c) = self.columns.iter().find(|c| name_key(&c.label) == key) {
            return Target::Field(c.id.to_string());
        }
        builtin_target(&key).map_or(Target::Skip, |k| Target::Field(k.to_owned()))
    }

    pub(super) fn targets(&self) -> Vec<TargetOption> {
        let mut out = vec![
            TargetOption {
                key: "name".into(),
                label: "Name (FAMILY, Given)".into(),
                kind: "text".into(),
            },
            TargetOption {
                key: "location".into(),
                label: "Location (ward · room · bed)".into(),
                kind: "text".into(),
            },
        ];
        for (key, label) in [
            ("family", "Family name"),
            ("given", "Given names"),
            ("mrn", "MRN"),
            ("birthDate", "Birth date"),
            ("sex", "Sex"),
            ("ward", "Ward"),
            ("room", "Room"),
            ("bed", "Bed"),
        ] {
            out.push(TargetOption {
                key: key.into(),
                label: label.into(),
                kind: if key == "birthDate" { "date" } else { "text" }.into(),
            });
        }
        for c in &self.columns {
            out.push(TargetOption {
                key: c.id.to_string(),
                label: c.label.clone(),
                kind: c.kind.as_str().into(),
            });
        }
        out
    }
}

/// The type a new column for these cells would have.
pub(super) fn guess_type(cells: &[&RawCell]) -> ColumnType {
    let filled: Vec<&&RawCell> = cells.iter().filter(|c| !c.is_empty()).collect();
    if filled.is_empty() {
        return ColumnType::Text;
    }
    let all = |f: fn(&RawCell) -> bool| filled.iter().all(|c| f(c));
    if all(|c| matches!(c, RawCell::Bool(_)) || checkbox_of(c).is_some()) {
        return ColumnType::Checkbox;
    }
    if all(|c| matches!(c, RawCell::Number(_)) || number_of(c).is_some()) {
        return ColumnType::Number;
    }
    if all(|c| matches!(c, RawCell::Date(_)) || date_of(c).is_some()) {
        return ColumnType::Date;
    }
    if all(|c| matches!(c, RawCell::DateTime(_) | RawCell::Date(_)) || datetime_of(c).is_some()) {
        return ColumnType::DateTime;
    }
    if filled.iter().any(|c| {
        let t = c.text();
        t.contains('\n') || t.chars().count() > rounds_core::lists::TEXT_MAX
    }) {
        return ColumnType::LongText;
    }
    let distinct: HashSet<String> = filled.iter().map(|c| name_key(&c.text())).collect();
    let short = filled
        .iter()
        .all(|c| c.text().chars().count() <= COLUMN_LABEL_MAX);
    if short && distinct.len() <= CHOICE_GUESS_MAX && distinct.len() < filled.len() {
        return ColumnType::Choice;
    }
    ColumnType::Text
}

pub(super) fn number_of(c: &RawCell) -> Option<f64> {
    match c {
        RawCell::Number(n) => Some(*n),
        RawCell::Text(t) => t.trim().replace(',', ".").parse().ok(),
        _ => None,
    }
}

pub(super) fn checkbox_of(c: &RawCell) -> Option<bool> {
    match c {
        RawCell::Bool(b) => Some(*b),
        RawCell::Text(t) => match t.trim().to_lowercase().as_str() {
            "true" | "yes" | "y" | "x" | "✓" | "✔" => Some(true),
            "false" | "no" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn date_of(c: &RawCell) -> Option<time::Date> {
    match c {
        RawCell::Date(d) => Some(*d),
        RawCell::Text(t) => {
            let t = t.trim();
            let iso = time::macros::format_description!("[year]-[month]-[day]");
            let dotted = time::macros::format_description!("[day].[month].[year]");
            time::Date::parse(t, &iso)
                .or_else(|_| time::Date::parse(t, &dotted))
                .ok()
        }
        _ => None,
    }
}

pub(super) fn datetime_of(c: &RawCell) -> Option<Timestamp> {
    match c {
        RawCell::DateTime(t) => Some(*t),
        RawCell::Text(t) if t.contains('T') => Timestamp::parse(t.trim()),
        _ => None,
    }
}

/// The value a cell gives a column of `kind`, as the API would get it.
pub(super) fn cell_json(cell: &RawCell, kind: ColumnType) -> Value {
    match kind.value_form() {
        ValueForm::Number => number_of(cell).map_or_else(|| json!(cell.text()), |n| json!(n)),
        ValueForm::Date => date_of(cell).map_or_else(
            || match cell {
                RawCell::DateTime(t) => json!(t.to_rfc3339().get(..10).unwrap_or("")),
                RawCell::Number(n) => json!(rounds_core::lists::format_number(*n)),
                _ => json!(cell.text()),
            },
            |d| json!(d.to_string()),
        ),
        ValueForm::DateTime => match cell {
            RawCell::Date(d) => json!(format!("{d}T00:00:00Z")),
            _ => datetime_of(cell).map_or_else(|| json!(cell.text()), |t| json!(t.to_rfc3339())),
        },
        ValueForm::Checkbox => checkbox_of(cell).map_or_else(|| json!(cell.text()), |b| json!(b)),
        ValueForm::Text | ValueForm::Choice | ValueForm::Person => json!(cell.text()),
    }
}

pub(super) fn sex_of(text: &str) -> String {
    match text.trim().to_lowercase().as_str() {
        "f" | "w" | "female" | "woman" => "female".into(),
        "m" | "male" | "man" => "male".into(),
        "x" | "o" | "other" | "diverse" => "other".into(),
        "u" | "?" | "unknown" => "unknown".into(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rounds_core::validate::name_key;

    #[test]
    fn headers_match_by_name() {
        assert_eq!(header_key("Temp (°C)"), name_key("Temp"));
        assert_eq!(
            builtin_target(&header_key("Date of birth")),
            Some("birthDate")
        );
        assert_eq!(builtin_target(&header_key("  MRN ")), Some("mrn"));
    }

    #[test]
    fn types_are_guessed_from_the_cells() {
        let t = |v: &[RawCell]| guess_type(&v.iter().collect::<Vec<_>>());
        let text = |s: &str| RawCell::Text(s.into());
        assert_eq!(t(&[RawCell::Number(1.0), text("2,5")]), ColumnType::Number);
        assert_eq!(
            t(&[text("yes"), text("no"), RawCell::Empty]),
            ColumnType::Checkbox
        );
        assert_eq!(
            t(&[text("2026-11-20"), text("01.12.2026")]),
            ColumnType::Date
        );
        assert_eq!(t(&[text("a"), text("b"), text("a")]), ColumnType::Choice);
        assert_eq!(t(&[text("a"), text("b")]), ColumnType::Text);
        assert_eq!(t(&[text("line\nbreak")]), ColumnType::LongText);
    }
}
