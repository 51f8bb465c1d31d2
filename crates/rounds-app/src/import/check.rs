//! Checking the file: each row's cells by their columns' types, and the
//! new columns a mapping asks for.

use super::*;

/// Checks one row; its values by key, or its problems.
pub(super) fn check_row(
    ctx: &Context,
    table_headers: &[String],
    targets: &[Target],
    new_columns: &[TeamColumn],
    row: usize,
    cells: &[RawCell],
    problems: &mut Vec<Problem>,
) -> Vec<(Key, String)> {
    let mut values: Vec<(Key, String)> = Vec::new();
    let before = problems.len();
    let mut put = |key: Key,
                   header: &str,
                   result: Result<Option<String>, InvalidInput>,
                   problems: &mut Vec<Problem>| match result {
        Ok(Some(v)) => values.push((key, v)),
        Ok(None) => {}
        Err(e) => problems.push(Problem {
            row,
            column: header.to_owned(),
            message: e.message,
        }),
    };
    for (i, target) in targets.iter().enumerate() {
        let header = table_headers.get(i).map_or("", String::as_str);
        let Some(cell) = cells.get(i) else { continue };
        if cell.is_empty() {
            continue;
        }
        match target {
            Target::Skip => {}
            Target::Field(k) if k == "name" => {
                let text = cell.text();
                let (family, given) = match text.split_once(',') {
                    Some((f, g)) => (f.trim().to_owned(), g.trim().to_owned()),
                    None => (text.trim().to_owned(), String::new()),
                };
                for (field, v) in [(PatientField::Family, family), (PatientField::Given, given)] {
                    if !v.is_empty() {
                        put(
                            Key::Existing(field.key().into()),
                            header,
                            field.normalize(&json!(v)),
                            problems,
                        );
                    }
                }
            }
            Target::Field(k) if k == "location" => {
                let text = cell.text();
                let parts: Vec<&str> = text.split('·').map(str::trim).collect();
                if parts.len() > 3 {
                    problems.push(Problem {
                        row,
                        column: header.to_owned(),
                        message: "a location is at most ward · room · bed".into(),
                    });
                    continue;
                }
                for (field, v) in [PatientField::Ward, PatientField::Room, PatientField::Bed]
                    .into_iter()
                    .zip(parts)
                {
                    put(
                        Key::Existing(field.key().into()),
                        header,
                        field.normalize(&json!(v)),
                        problems,
                    );
                }
            }
            Target::Field(k) => {
                if let Some(field) = PatientField::from_key(k) {
                    let raw = match field {
                        PatientField::BirthDate => cell_json(cell, ColumnType::Date),
                        PatientField::Sex => json!(sex_of(&cell.text())),
                        _ => json!(cell.text()),
                    };
                    put(
                        Key::Existing(k.clone()),
                        header,
                        field.normalize(&raw),
                        problems,
                    );
                } else if let Some(column) = ctx.column(k) {
                    let result = column_value(ctx, column, cell);
                    put(Key::Existing(k.clone()), header, result, problems);
                }
            }
            Target::NewColumn { .. } => {
                let n = targets[..i]
                    .iter()
                    .filter(|t| matches!(t, Target::NewColumn { .. }))
                    .count();
                if let Some(column) = new_columns.get(n) {
                    put(
                        Key::New(n),
                        header,
                        column_value(ctx, column, cell),
                        problems,
                    );
                }
            }
        }
    }
    let named = values
        .iter()
        .any(|(k, _)| matches!(k, Key::Existing(k) if k == "family" || k == "given" || k == "mrn"));
    if !named && problems.len() == before {
        problems.push(Problem {
            row,
            column: String::new(),
            message: "a patient needs a name or an MRN".into(),
        });
    }
    values
}

pub(super) fn column_value(
    ctx: &Context,
    column: &TeamColumn,
    cell: &RawCell,
) -> Result<Option<String>, InvalidInput> {
    let label = column.label.as_str();
    if column.kind.value_form() == ValueForm::Person {
        let text = cell.text();
        let key = name_key(&text);
        return ctx
            .members
            .iter()
            .find(|m| {
                m.user_id.to_string() == text
                    || name_key(&m.username.to_string()) == key
                    || name_key(&m.display_name) == key
            })
            .map(|m| Some(m.user_id.to_string()))
            .ok_or_else(|| {
                InvalidInput::new(
                    label.to_owned(),
                    format!("{text:?} is not a member of this team"),
                )
            });
    }
    normalize_value(
        label,
        column.kind,
        &column.options,
        &cell_json(cell, column.kind),
    )
}

/// The new columns the mapping asks for, checked (a choice gets the
/// file's distinct values as its options).
pub(super) fn new_columns(
    table: &super::read::Table,
    targets: &[Target],
    problems: &mut Vec<Problem>,
) -> Vec<TeamColumn> {
    let mut out = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let Target::NewColumn { label, kind } = target else {
            continue;
        };
        let header = table.headers.get(i).cloned().unwrap_or_default();
        let checked = rounds_core::validate::required_text(
            "label",
            label,
            rounds_core::validate::TextKind::Name,
            COLUMN_LABEL_MAX,
        );
        let label = match checked {
            Ok(l) => l,
            Err(e) => {
                problems.push(Problem {
                    row: 0,
                    column: header.clone(),
                    message: format!("the new column's name: {}", e.message),
                });
                label.clone()
            }
        };
        let mut options = Vec::new();
        if kind.takes_options() {
            let mut seen = HashSet::new();
            for (_, cells) in &table.rows {
                let text = cells.get(i).map(RawCell::text).unwrap_or_default();
                if !text.is_empty() && seen.insert(name_key(&text)) {
                    options.push(ChoiceOption {
                        id: String::new(),
                        label: text,
                        color: DEFAULT_OPTION_COLOR.to_owned(),
                    });
                }
            }
            match normalize_options(options, || {
                ColumnId::new_random().to_string()[..8].to_owned()
            }) {
                Ok(o) if !o.is_empty() => options = o,
                Ok(_) => {
                    problems.push(Problem {
                        row: 0,
                        column: header.clone(),
                        message: "a choice column needs values to make its options from".into(),
                    });
                    options = Vec::new();
                }
                Err(e) => {
                    problems.push(Problem {
                        row: 0,
                        column: header.clone(),
                        message: format!("as a choice column: {}", e.message),
                    });
                    options = Vec::new();
                }
            }
        }
        out.push(TeamColumn {
            id: ColumnId::new_random(),
            label,
            kind: *kind,
            unit: None,
            options,
        });
    }
    out
}
