//! Mask mode and the meeting's rows: initials for names, no name or MRN in
//! any text, notes shortened, and only the meeting's columns.

use std::collections::{BTreeMap, HashMap, HashSet};

use rounds_core::PatientId;

use crate::ehr::row_cells;
use crate::PatientRow;

use super::{MeetingEhr, MeetingNote, MeetingRow, MASK, NOTE_SHOWN_MAX};

/// "Jane Q. SMITH" / "SMITH, Jane" → "J. Q. S." (given names first).
pub fn initials(name: &str) -> String {
    let (family, given) = match name.split_once(',') {
        Some((f, g)) => (f, g),
        None => ("", name),
    };
    let letters: Vec<String> = given
        .split_whitespace()
        .chain(family.split_whitespace())
        .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
        .flat_map(char::to_uppercase)
        .map(|c| format!("{c}."))
        .collect();
    if letters.is_empty() {
        "?".to_owned()
    } else {
        letters.join(" ")
    }
}

/// The words of names and MRNs that a masked text must not contain.
#[derive(Debug, Default)]
pub(super) struct Identifiers {
    words: HashSet<String>,
}

impl Identifiers {
    /// The names and MRNs of `rows`, as shown and as stored.
    pub(super) fn of_rows(rows: &[PatientRow]) -> Self {
        let mut ids = Self::default();
        for r in rows {
            for key in ["name", "mrn"] {
                if let Some(text) = r.display.get(key) {
                    ids.add(text);
                }
            }
            for key in ["family", "given", "mrn"] {
                if let Some(v) = r.values.get(key).and_then(|v| v.value.as_deref()) {
                    ids.add(v);
                }
            }
        }
        ids
    }

    fn add(&mut self, text: &str) {
        for w in text.split(|c: char| !c.is_alphanumeric()) {
            if w.chars().count() >= 2 {
                self.words.insert(w.to_lowercase());
            }
        }
    }

    /// `text` with every word of a name or MRN replaced by [`MASK`].
    fn redact(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() {
                if self.words.contains(&word.to_lowercase()) {
                    out.push_str(MASK);
                } else {
                    out.push_str(word);
                }
                word.clear();
            }
        };
        for c in text.chars() {
            if c.is_alphanumeric() {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }
}

fn shorten(body: &str) -> (String, bool) {
    if body.chars().count() <= NOTE_SHOWN_MAX {
        return (body.to_owned(), false);
    }
    let cut: String = body.chars().take(NOTE_SHOWN_MAX).collect();
    // At a word boundary where there is one near the end.
    let cut = match cut.rfind(char::is_whitespace) {
        Some(i) if i > NOTE_SHOWN_MAX / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    (format!("{}…", cut.trim_end()), true)
}

/// Makes the meeting's rows from the list view's: only the meeting's
/// columns, EHR cells for the columns the list itself does not show, and
/// in mask mode initials for the name and no name or MRN in any text.
pub(super) struct RowShaper {
    /// The meeting's column keys.
    pub(super) keys: HashSet<String>,
    /// EHR columns the meeting shows but the list does not.
    pub(super) extra: HashSet<String>,
    /// In mask mode: the names and MRNs to take out of every text.
    pub(super) ids: Option<Identifiers>,
    /// Open urgent notes per patient.
    pub(super) urgent: HashMap<PatientId, usize>,
}

impl RowShaper {
    fn text(&self, s: &str) -> String {
        match &self.ids {
            Some(ids) => ids.redact(s),
            None => s.to_owned(),
        }
    }

    pub(super) fn row(&self, mut r: PatientRow) -> MeetingRow {
        if let Some(data) = r.ehr.as_ref().filter(|_| !self.extra.is_empty()) {
            for (key, (t, cell)) in row_cells(data, Some(&self.extra)) {
                r.display.insert(key.clone(), t);
                r.cells.insert(key, cell);
            }
        }
        let name = r.display.get("name").cloned().unwrap_or_default();
        let label = if self.ids.is_some() {
            initials(&name)
        } else {
            name
        };
        let mut display: BTreeMap<String, String> = r
            .display
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k) && k != "name")
            .map(|(k, v)| {
                let v = self.text(&v);
                (k, v)
            })
            .collect();
        display.insert("name".into(), label.clone());
        let cells = r
            .cells
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k))
            .map(|(k, mut c)| {
                c.reason = c.reason.map(|x| self.text(&x));
                (k, c)
            })
            .collect();
        let values = r
            .values
            .into_iter()
            .filter(|(k, _)| self.keys.contains(k) && k.parse::<rounds_core::ColumnId>().is_ok())
            .filter_map(|(k, v)| v.value.map(|v| (k, self.text(&v))))
            .collect();
        let latest_note = r.latest_note.map(|n| {
            let (body, shortened) = shorten(&self.text(&n.body));
            MeetingNote {
                body,
                author_name: n.author_name,
                created_at: n.created_at,
                shortened,
            }
        });
        MeetingRow {
            patient_id: r.patient_id,
            label,
            display,
            cells,
            values,
            ehr: r.ehr.map(|d| MeetingEhr {
                state: d.state,
                fetched_at: d.fetched_at,
                reason: d.reason.map(|x| self.text(&x)),
            }),
            latest_note,
            severity: r.severity,
            urgent: self.urgent.get(&r.patient_id).copied().unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_of_names_in_either_order() {
        assert_eq!(initials("SMITH, Jane Quinn"), "J. Q. S.");
        assert_eq!(initials("Jane Smith"), "J. S.");
        assert_eq!(initials(""), "?");
    }

    #[test]
    fn redaction_takes_out_whole_words_of_names_and_mrns() {
        let mut ids = Identifiers::default();
        ids.add("BRIGHTWATER, Ottilie");
        ids.add("BW-2201");
        assert_eq!(
            ids.redact("Ottilie's MRN BW-2201; brightwater family called"),
            "•••'s MRN •••-•••; ••• family called"
        );
        assert_eq!(ids.redact("Ottilieson stays"), "Ottilieson stays");
    }

    #[test]
    fn long_notes_are_shortened_and_marked() {
        let (s, cut) = shorten(&"word ".repeat(100));
        assert!(cut && s.ends_with('…') && s.chars().count() <= NOTE_SHOWN_MAX + 1);
        assert_eq!(shorten("short"), ("short".to_owned(), false));
    }
}
