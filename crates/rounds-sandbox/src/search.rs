//! FHIR search over the ward: the parameters the Rounds contract uses and a
//! few neighbours, with FHIR's matching rules (string: case- and
//! accent-insensitive prefix of any word, `:contains`, `:exact`; token:
//! `code`, `system|code`, `|code`, `system|`, `:not`; reference: `id`,
//! `Type/id`, absolute URL, `:Type`; date: `eq ne lt gt le ge` with the
//! precision given). Several values separated by commas are alternatives;
//! a parameter given twice must hold both times. Anything else is refused
//! with a reason, never ignored.
//!
//! (Over 500 lines: FHIR's matching rules for every parameter type the demo
//! EHR answers, in one place, because they share the parsing of values,
//! modifiers and prefixes; the tests take the rest.)

use std::cmp::Ordering;

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

use crate::text::{fold, is_id};
use crate::ward::{resource_id, Kind, Ward};

/// Page size when `_count` is not given.
pub(crate) const DEFAULT_COUNT: usize = 50;
/// Largest page served.
pub(crate) const MAX_COUNT: usize = 1000;

/// A request the sandbox refuses, as an HTTP status and an OperationOutcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub status: u16,
    /// The OperationOutcome issue code.
    pub code: &'static str,
    pub diagnostics: String,
}

impl Failure {
    pub(crate) fn invalid(diagnostics: impl Into<String>) -> Self {
        Failure {
            status: 400,
            code: "invalid",
            diagnostics: diagnostics.into(),
        }
    }

    pub(crate) fn not_supported(status: u16, diagnostics: impl Into<String>) -> Self {
        Failure {
            status,
            code: "not-supported",
            diagnostics: diagnostics.into(),
        }
    }

    pub(crate) fn not_found(diagnostics: impl Into<String>) -> Self {
        Failure {
            status: 404,
            code: "not-found",
            diagnostics: diagnostics.into(),
        }
    }
}

/// One page of matches.
pub(crate) struct Page<'a> {
    /// All matches.
    pub total: usize,
    /// The matches on this page.
    pub resources: Vec<&'a Value>,
    pub offset: usize,
    pub count: usize,
}

/// Where a parameter looks.
#[derive(Clone, Copy)]
enum Param {
    /// A Reference element; the type its bare ids mean, if fixed.
    Reference(&'static str, Option<&'static str>),
    Token(&'static str, Shape),
    Family,
    Given,
    Name,
    Identifier,
    /// A date, dateTime, or (dotted path) a Period's start.
    Date(&'static str),
}

/// The FHIR type of a token element.
#[derive(Clone, Copy)]
enum Shape {
    /// A `code` string.
    Code,
    /// A list of `code` strings.
    Codes,
    Coding,
    Concept,
    Concepts,
}

/// The search parameters of each type: name, where it looks, documentation.
pub(crate) fn params_of(kind: Kind) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out: Vec<(&str, &str, &str)> = vec![("_id", "token", "The logical id")];
    let extra: &[(&str, &str, &str)] = match kind {
        Kind::Patient => &[
            (
                "family",
                "string",
                "Family name: starts a word of it (case and accents ignored); :contains, :exact",
            ),
            (
                "given",
                "string",
                "A given name: starts a word of it; :contains, :exact",
            ),
            (
                "name",
                "string",
                "Any part of the name (family, given, prefix, text)",
            ),
            (
                "birthdate",
                "date",
                "Date of birth (eq, ne, lt, gt, le, ge; YYYY, YYYY-MM or YYYY-MM-DD)",
            ),
            ("gender", "token", "male | female | other | unknown"),
            ("identifier", "token", "The MRN, as value or system|value"),
        ],
        Kind::Observation => &[
            ("patient", "reference", "The patient (id or Patient/id)"),
            ("subject", "reference", "The subject"),
            ("encounter", "reference", "The admission"),
            ("category", "token", "vital-signs"),
            ("code", "token", "LOINC code"),
            ("date", "date", "effectiveDateTime"),
            ("status", "token", "final"),
        ],
        Kind::Condition => &[
            ("patient", "reference", "The patient (id or Patient/id)"),
            ("subject", "reference", "The subject"),
            (
                "encounter",
                "reference",
                "The admission (encounter diagnoses)",
            ),
            (
                "category",
                "token",
                "problem-list-item | encounter-diagnosis",
            ),
            ("code", "token", "SNOMED CT code"),
            ("clinical-status", "token", "active | resolved"),
            ("verification-status", "token", "confirmed"),
            ("recorded-date", "date", "recordedDate"),
        ],
        Kind::Encounter => &[
            ("patient", "reference", "The patient (id or Patient/id)"),
            ("subject", "reference", "The subject"),
            ("status", "token", "in-progress"),
            ("class", "token", "IMP"),
            ("type", "token", "SNOMED CT admission type"),
            ("date", "date", "The start of the admission"),
        ],
        Kind::AllergyIntolerance => &[
            ("patient", "reference", "The patient (id or Patient/id)"),
            ("clinical-status", "token", "active"),
            ("verification-status", "token", "confirmed | unconfirmed"),
            ("category", "token", "food | medication | environment"),
            ("type", "token", "allergy | intolerance"),
            ("criticality", "token", "low | high"),
            ("date", "date", "recordedDate"),
        ],
        Kind::MedicationRequest => &[
            ("patient", "reference", "The patient (id or Patient/id)"),
            ("subject", "reference", "The subject"),
            ("encounter", "reference", "The admission"),
            ("status", "token", "active | on-hold"),
            ("intent", "token", "order"),
            ("category", "token", "inpatient"),
            ("authoredon", "date", "authoredOn"),
        ],
        Kind::Coverage => &[
            (
                "beneficiary",
                "reference",
                "The insured patient (id or Patient/id)",
            ),
            (
                "patient",
                "reference",
                "The insured patient (as beneficiary)",
            ),
            ("status", "token", "active"),
        ],
    };
    out.extend_from_slice(extra);
    out
}

fn param(kind: Kind, name: &str) -> Option<Param> {
    use Param::*;
    use Shape::*;
    let p = match (kind, name) {
        (Kind::Patient, "family") => Family,
        (Kind::Patient, "given") => Given,
        (Kind::Patient, "name") => Name,
        (Kind::Patient, "birthdate") => Date("birthDate"),
        (Kind::Patient, "gender") => Token("gender", Code),
        (Kind::Patient, "identifier") => Identifier,
        (Kind::Patient, _) => return None,
        (Kind::Coverage, "patient") => Reference("beneficiary", Some("Patient")),
        (Kind::Coverage, "beneficiary") => Reference("beneficiary", Some("Patient")),
        (Kind::AllergyIntolerance, "patient") => Reference("patient", Some("Patient")),
        (Kind::AllergyIntolerance, "category") => Token("category", Codes),
        (Kind::AllergyIntolerance, "type") => Token("type", Code),
        (Kind::AllergyIntolerance, "criticality") => Token("criticality", Code),
        (Kind::AllergyIntolerance, "date") => Date("recordedDate"),
        (Kind::Coverage | Kind::AllergyIntolerance, "subject" | "encounter") => return None,
        (_, "patient") => Reference("subject", Some("Patient")),
        (_, "subject") => Reference("subject", None),
        (Kind::Observation | Kind::Condition | Kind::MedicationRequest, "encounter") => {
            Reference("encounter", Some("Encounter"))
        }
        (Kind::Observation | Kind::Condition | Kind::MedicationRequest, "category") => {
            Token("category", Concepts)
        }
        (Kind::Observation | Kind::Condition, "code") => Token("code", Concept),
        (Kind::Observation, "date") => Date("effectiveDateTime"),
        (Kind::Condition, "clinical-status") | (Kind::AllergyIntolerance, "clinical-status") => {
            Token("clinicalStatus", Concept)
        }
        (Kind::Condition | Kind::AllergyIntolerance, "verification-status") => {
            Token("verificationStatus", Concept)
        }
        (Kind::Condition, "recorded-date") => Date("recordedDate"),
        (Kind::Encounter, "class") => Token("class", Coding),
        (Kind::Encounter, "type") => Token("type", Concepts),
        (Kind::Encounter, "date") => Date("period.start"),
        (Kind::MedicationRequest, "intent") => Token("intent", Code),
        (Kind::MedicationRequest, "authoredon") => Date("authoredOn"),
        (_, "status") => Token("status", Code),
        _ => return None,
    };
    Some(p)
}

/// Sort keys per type: `_id` and the type's dates (and names for Patient).
fn sort_key(kind: Kind, name: &str) -> Option<SortKey> {
    let key = match (kind, name) {
        (_, "_id") => SortKey::Path("id"),
        (Kind::Patient, "family") => SortKey::Family,
        (Kind::Patient, "given") => SortKey::Given,
        (Kind::Patient, "name") => SortKey::Name,
        (Kind::Patient, "birthdate") => SortKey::Path("birthDate"),
        (Kind::Observation, "date") => SortKey::Path("effectiveDateTime"),
        (Kind::Encounter, "date") => SortKey::Path("period.start"),
        (Kind::Condition, "recorded-date") => SortKey::Path("recordedDate"),
        (Kind::AllergyIntolerance, "date") => SortKey::Path("recordedDate"),
        (Kind::MedicationRequest, "authoredon") => SortKey::Path("authoredOn"),
        _ => return None,
    };
    Some(key)
}

#[derive(Clone, Copy)]
enum SortKey {
    Path(&'static str),
    Family,
    Given,
    Name,
}

type Filter = Box<dyn Fn(&Value) -> bool>;

/// A search's parameters, read: the filters every match passes, the page
/// asked for, the order, and the one patient it is about (if named).
struct Query {
    filters: Vec<Filter>,
    count: usize,
    offset: usize,
    sort: Vec<(SortKey, bool)>,
    only_patient: Option<String>,
}

impl Query {
    fn read(kind: Kind, params: &[(String, String)]) -> Result<Self, Failure> {
        let mut query = Self {
            filters: Vec::new(),
            count: DEFAULT_COUNT,
            offset: 0,
            sort: Vec::new(),
            only_patient: None,
        };
        for (name, value) in params {
            let value = value.trim();
            if value.is_empty() || matches!(name.as_str(), "_format" | "_pretty") {
                continue;
            }
            let (base, modifier) = match name.split_once(':') {
                Some((b, m)) => (b, Some(m)),
                None => (name.as_str(), None),
            };
            if is_control(base) {
                if let Some(m) = modifier {
                    return Err(Failure::invalid(format!(
                        "the modifier :{m} cannot be used with {base}"
                    )));
                }
                query.control(kind, name, base, value)?;
            } else {
                query.add_filter(kind, name, base, modifier, value)?;
            }
        }
        Ok(query)
    }

    /// A parameter of the search itself ([`is_control`]).
    fn control(&mut self, kind: Kind, name: &str, base: &str, value: &str) -> Result<(), Failure> {
        match base {
            "_count" => self.count = number(name, value)?.min(MAX_COUNT),
            "_offset" => self.offset = number(name, value)?,
            "_sort" => {
                for key in value.split(',') {
                    let key = key.trim();
                    let (desc, key) = match key.strip_prefix('-') {
                        Some(k) => (true, k),
                        None => (false, key),
                    };
                    let k = sort_key(kind, key).ok_or_else(|| {
                        Failure::invalid(format!("cannot sort {} by '{}'", kind.name(), clip(key)))
                    })?;
                    self.sort.push((k, desc));
                }
            }
            "_summary" => match value {
                "count" => self.count = 0,
                "false" => {}
                other => {
                    return Err(Failure::not_supported(
                        400,
                        format!(
                            "_summary={} is not supported (use count or false)",
                            clip(other)
                        ),
                    ))
                }
            },
            "_total" => {
                if !matches!(value, "none" | "estimate" | "accurate") {
                    return Err(Failure::invalid(format!(
                        "_total must be none, estimate or accurate, not '{}'",
                        clip(value)
                    )));
                }
            }
            _ => {
                // _id
                let ids: Vec<String> = split_values(value);
                self.filters
                    .push(Box::new(move |r| ids.iter().any(|i| i == resource_id(r))));
            }
        }
        Ok(())
    }

    /// A search parameter of `kind` (`family`, `patient`, `date`, ...).
    fn add_filter(
        &mut self,
        kind: Kind,
        name: &str,
        base: &str,
        modifier: Option<&str>,
        value: &str,
    ) -> Result<(), Failure> {
        let p = param(kind, base).ok_or_else(|| {
            let known: Vec<&str> = params_of(kind).iter().map(|p| p.0).collect();
            Failure::invalid(format!(
                "unknown search parameter '{}' for {}; this sandbox knows {}, and _count, _sort, _offset, _summary=count",
                clip(name),
                kind.name(),
                known.join(", ")
            ))
        })?;
        // One patient named: look at that patient's resources only.
        let names_patient = matches!(base, "patient" | "subject" | "beneficiary");
        if names_patient
            && modifier.is_none()
            && !value.contains(',')
            && self.only_patient.is_none()
        {
            if let Ok(Some(id)) = patient_id_of(value) {
                self.only_patient = Some(id);
            }
        }
        self.filters.push(filter(p, base, modifier, value)?);
        Ok(())
    }
}

/// The parameters of the search itself (none takes a modifier).
fn is_control(base: &str) -> bool {
    matches!(
        base,
        "_count" | "_offset" | "_sort" | "_summary" | "_total" | "_id"
    )
}

/// Runs a search of `kind` with `params` (query and form parameters
/// together; `_format` and `_pretty` are the caller's).
pub(crate) fn search<'a>(
    ward: &'a Ward,
    kind: Kind,
    params: &[(String, String)],
) -> Result<Page<'a>, Failure> {
    let query = Query::read(kind, params)?;
    let records: Vec<_> = match &query.only_patient {
        Some(id) => ward.record_of(id).into_iter().collect(),
        None => ward.records().iter().collect(),
    };
    let mut matches: Vec<&Value> = records
        .into_iter()
        .flat_map(|r| r.of(kind))
        .filter(|r| query.filters.iter().all(|f| f(r)))
        .collect();
    if !query.sort.is_empty() {
        matches.sort_by(|a, b| {
            for (key, desc) in &query.sort {
                let ord = compare(sort_value(a, *key), sort_value(b, *key), *desc);
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let total = matches.len();
    let (offset, count) = (query.offset, query.count);
    let resources = matches.into_iter().skip(offset).take(count).collect();
    Ok(Page {
        total,
        resources,
        offset,
        count,
    })
}

/// Missing values last, whatever the direction.
fn compare(a: Option<String>, b: Option<String>, desc: bool) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) if desc => b.cmp(&a),
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn sort_value(r: &Value, key: SortKey) -> Option<String> {
    let name = r.get("name").and_then(|n| n.get(0));
    match key {
        SortKey::Path(path) => at(r, path).and_then(Value::as_str).map(str::to_owned),
        SortKey::Family => name
            .map(|n| strings(n, "family").join(" "))
            .map(|s| fold(&s)),
        SortKey::Given => name
            .map(|n| strings(n, "given").join(" "))
            .map(|s| fold(&s)),
        SortKey::Name => name.map(|n| {
            fold(&format!(
                "{}\u{0}{}",
                strings(n, "family").join(" "),
                strings(n, "given").join(" ")
            ))
        }),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn number(name: &str, value: &str) -> Result<usize, Failure> {
    value.parse().map_err(|_| {
        Failure::invalid(format!(
            "{name} must be a whole number, not '{}'",
            clip(value)
        ))
    })
}

/// Comma-separated alternatives (`\,` is a comma inside a value).
fn split_values(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(last)) = (chars.next(), out.last_mut()) {
                    last.push(next);
                }
            }
            ',' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A dotted path of object keys.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn filter(p: Param, name: &str, modifier: Option<&str>, value: &str) -> Result<Filter, Failure> {
    let values = split_values(value);
    match p {
        Param::Family | Param::Given | Param::Name => name_filter(p, name, modifier, values),
        Param::Token(path, shape) => {
            let negate = match modifier {
                None => false,
                Some("not") => true,
                Some(m) => return Err(bad_modifier(name, m)),
            };
            let tokens: Vec<TokenValue> = values.iter().map(|v| TokenValue::parse(v)).collect();
            Ok(Box::new(move |r| {
                let codes = codings(r.get(path), shape);
                let hit = tokens.iter().any(|t| codes.iter().any(|c| t.matches(c)));
                hit != negate
            }))
        }
        Param::Identifier => {
            if let Some(m) = modifier {
                return Err(bad_modifier(name, m));
            }
            identifier_filter(&values)
        }
        Param::Reference(path, target) => reference_filter(path, target, name, modifier, &values),
        Param::Date(path) => {
            if let Some(m) = modifier {
                return Err(bad_modifier(name, m));
            }
            date_filter(path, name, &values)
        }
    }
}

fn bad_modifier(name: &str, m: &str) -> Failure {
    Failure::not_supported(
        400,
        format!("the modifier :{} is not supported on {name}", clip(m)),
    )
}

/// `family`, `given` or `name`: a word start (`:contains`, `:exact`).
fn name_filter(
    p: Param,
    name: &str,
    modifier: Option<&str>,
    values: Vec<String>,
) -> Result<Filter, Failure> {
    let how = match modifier {
        None => StringMatch::Word,
        Some("contains") => StringMatch::Contains,
        Some("exact") => StringMatch::Exact,
        Some(m) => return Err(bad_modifier(name, m)),
    };
    let wanted: Vec<String> = match how {
        StringMatch::Exact => values,
        _ => values.iter().map(|v| fold(v)).collect(),
    };
    Ok(Box::new(move |r| {
        let texts = name_texts(r, p);
        wanted
            .iter()
            .any(|w| texts.iter().any(|t| how.matches(t, w)))
    }))
}

/// `identifier`: any of the tokens on any identifier.
fn identifier_filter(values: &[String]) -> Result<Filter, Failure> {
    let tokens: Vec<TokenValue> = values.iter().map(|v| TokenValue::parse(v)).collect();
    Ok(Box::new(move |r| {
        let ids: Vec<(Option<String>, String)> = r
            .get("identifier")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|i| {
                        let value = i.get("value")?.as_str()?.to_owned();
                        let system = i.get("system").and_then(Value::as_str).map(str::to_owned);
                        Some((system, value))
                    })
                    .collect()
            })
            .unwrap_or_default();
        tokens.iter().any(|t| ids.iter().any(|c| t.matches(c)))
    }))
}

/// A reference at `path` (to `target`, or the type the modifier names).
fn reference_filter(
    path: &'static str,
    target: Option<&'static str>,
    name: &str,
    modifier: Option<&str>,
    values: &[String],
) -> Result<Filter, Failure> {
    let target = match (modifier, target) {
        (None, t) => t,
        (Some(m), Some(t)) if m == t => Some(t),
        (Some(m), None) => match Kind::from_name(m) {
            Some(k) => Some(k.name()),
            None => return Err(bad_modifier(name, m)),
        },
        (Some(m), Some(_)) => return Err(bad_modifier(name, m)),
    };
    let wanted: Vec<(Option<String>, String)> = values
        .iter()
        .map(|v| parse_reference(v, name))
        .collect::<Result<_, _>>()?;
    Ok(Box::new(move |r| {
        let Some((rtype, rid)) = at(r, path)
            .and_then(|v| v.get("reference"))
            .and_then(Value::as_str)
            .and_then(split_reference)
        else {
            return false;
        };
        wanted.iter().any(|(t, id)| {
            let type_ok = match (t.as_deref(), target) {
                (Some(t), _) => t == rtype,
                (None, Some(target)) => target == rtype,
                (None, None) => true,
            };
            type_ok && id == rid
        })
    }))
}

/// A date at `path` against each value's range and prefix.
fn date_filter(path: &'static str, name: &str, values: &[String]) -> Result<Filter, Failure> {
    let wanted: Vec<(Prefix, (i64, i64))> = values
        .iter()
        .map(|v| {
            let (prefix, rest) = Prefix::split(v);
            let range = date_range(rest).ok_or_else(|| {
                Failure::invalid(format!(
                    "{name}: '{}' is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)",
                    clip(v)
                ))
            })?;
            let prefix = prefix.ok_or_else(|| {
                Failure::not_supported(
                    400,
                    format!(
                        "{name}: only the prefixes eq, ne, lt, gt, le and ge are supported ('{}')",
                        clip(v)
                    ),
                )
            })?;
            Ok((prefix, range))
        })
        .collect::<Result<_, Failure>>()?;
    Ok(Box::new(move |r| {
        let Some(target) = at(r, path).and_then(Value::as_str).and_then(date_range) else {
            return false;
        };
        wanted.iter().any(|(p, range)| p.matches(*range, target))
    }))
}

#[derive(Clone, Copy)]
enum StringMatch {
    /// Starts a word (FHIR's default is "starts with"; a word start is kinder
    /// to names like "Da Silva" or "Ellison-Grant").
    Word,
    Contains,
    Exact,
}

impl StringMatch {
    fn matches(self, text: &str, wanted: &str) -> bool {
        match self {
            StringMatch::Exact => text == wanted,
            StringMatch::Contains => fold(text).contains(wanted),
            StringMatch::Word => {
                let t = fold(text);
                t.starts_with(wanted)
                    || t.match_indices(wanted).any(|(i, _)| {
                        t.get(..i)
                            .and_then(|before| before.chars().last())
                            .is_some_and(|c| matches!(c, ' ' | '-' | '\''))
                    })
            }
        }
    }
}

/// The texts a name parameter looks at.
fn name_texts(r: &Value, p: Param) -> Vec<String> {
    let names = r.get("name").and_then(Value::as_array);
    let mut out = Vec::new();
    for n in names.into_iter().flatten() {
        match p {
            Param::Family => out.extend(strings(n, "family")),
            Param::Given => out.extend(strings(n, "given")),
            _ => {
                for key in ["family", "given", "prefix", "suffix", "text"] {
                    out.extend(strings(n, key));
                }
            }
        }
    }
    out
}

/// `code`, `system|code`, `|code` (no system), `system|` (any code).
struct TokenValue {
    /// None: any system; Some(""): no system.
    system: Option<String>,
    code: String,
}

impl TokenValue {
    fn parse(v: &str) -> Self {
        match v.split_once('|') {
            Some((system, code)) => TokenValue {
                system: Some(system.to_owned()),
                code: code.to_owned(),
            },
            None => TokenValue {
                system: None,
                code: v.to_owned(),
            },
        }
    }

    fn matches(&self, (system, code): &(Option<String>, String)) -> bool {
        let system_ok = match (&self.system, system) {
            (None, _) => true,
            (Some(s), _) if s.is_empty() => system.is_none(),
            (Some(s), Some(have)) => s == have,
            // A plain code has its system implied: accept it.
            (Some(_), None) => true,
        };
        system_ok && (self.code.is_empty() || &self.code == code)
    }
}

/// (system, code) pairs of a token element.
fn codings(v: Option<&Value>, shape: Shape) -> Vec<(Option<String>, String)> {
    let Some(v) = v else {
        return Vec::new();
    };
    let coding = |c: &Value| {
        let code = c.get("code")?.as_str()?.to_owned();
        Some((
            c.get("system").and_then(Value::as_str).map(str::to_owned),
            code,
        ))
    };
    let concept = |c: &Value| -> Vec<(Option<String>, String)> {
        c.get("coding")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(coding).collect())
            .unwrap_or_default()
    };
    match shape {
        Shape::Code => v
            .as_str()
            .map(|s| vec![(None, s.to_owned())])
            .unwrap_or_default(),
        Shape::Codes => v
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(|s| (None, s.to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        Shape::Coding => coding(v).into_iter().collect(),
        Shape::Concept => concept(v),
        Shape::Concepts => v
            .as_array()
            .map(|list| list.iter().flat_map(concept).collect())
            .unwrap_or_default(),
    }
}

/// `Type/id` (relative or at the end of an absolute URL, without
/// `_history`) into its parts.
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let r = reference.split(['?', '#']).next()?;
    let r = match r.find("/_history/") {
        Some(i) => r.get(..i)?,
        None => r,
    };
    let mut parts = r.rsplit('/');
    let id = parts.next()?;
    let rtype = parts.next()?;
    Some((rtype, id))
}

/// A reference parameter's value: `id`, `Type/id` or an absolute URL.
fn parse_reference(v: &str, name: &str) -> Result<(Option<String>, String), Failure> {
    let parsed = if v.contains('/') {
        split_reference(v)
            .filter(|(t, _)| is_type_name(t))
            .map(|(t, id)| (Some(t.to_owned()), id.to_owned()))
    } else {
        Some((None, v.to_owned()))
    };
    match parsed {
        Some((t, id)) if is_id(&id) => Ok((t, id)),
        _ => Err(Failure::invalid(format!(
            "{name}: '{}' is not a reference (use an id, Type/id or a URL)",
            clip(v)
        ))),
    }
}

fn is_type_name(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphabetic())
}

/// The patient a reference parameter value names, when it can only be one.
fn patient_id_of(v: &str) -> Result<Option<String>, Failure> {
    Ok(match parse_reference(v, "patient")? {
        (Some(t), id) if t == "Patient" => Some(id),
        (None, id) => Some(id),
        _ => None,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prefix {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Prefix {
    /// The prefix (None when it is one not supported) and the rest.
    fn split(v: &str) -> (Option<Prefix>, &str) {
        let known = [
            ("eq", Prefix::Eq),
            ("ne", Prefix::Ne),
            ("lt", Prefix::Lt),
            ("gt", Prefix::Gt),
            ("le", Prefix::Le),
            ("ge", Prefix::Ge),
        ];
        if let Some((p, rest)) = v.get(..2).zip(v.get(2..)) {
            if let Some((_, prefix)) = known.iter().find(|(k, _)| *k == p) {
                return (Some(*prefix), rest);
            }
            if matches!(p, "sa" | "eb" | "ap") {
                return (None, rest);
            }
        }
        (Some(Prefix::Eq), v)
    }

    /// FHIR's range rules: `target` and `search` are [start, end) seconds.
    fn matches(self, search: (i64, i64), target: (i64, i64)) -> bool {
        let (lo, hi) = search;
        let (tlo, thi) = target;
        match self {
            Prefix::Eq => tlo >= lo && thi <= hi,
            Prefix::Ne => !(tlo >= lo && thi <= hi),
            Prefix::Lt => tlo < lo,
            Prefix::Gt => thi > hi,
            Prefix::Le => tlo < hi,
            Prefix::Ge => thi > lo,
        }
    }
}

/// A date or dateTime as the [start, end) range of seconds it covers (UTC
/// for dates without a time).
fn date_range(v: &str) -> Option<(i64, i64)> {
    let midnight = |d: Date| d.midnight().assume_utc().unix_timestamp();
    if v.contains('T') {
        let mut s = v.to_owned();
        let (date_part, time_part) = v.split_once('T')?;
        let zoned = time_part.ends_with('Z') || time_part.contains(['+', '-']);
        let clock = time_part.split(['Z', '+', '-']).next().unwrap_or_default();
        if clock.len() == 5 {
            s = format!(
                "{date_part}T{clock}:00{}",
                time_part.get(5..).unwrap_or_default()
            );
        }
        if !zoned {
            s.push('Z');
        }
        let t = OffsetDateTime::parse(&s, &Rfc3339).ok()?.unix_timestamp();
        return Some((t, t + 1));
    }
    let parts: Vec<&str> = v.split('-').collect();
    let num = |s: &&str, len: usize| -> Option<i32> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match parts.as_slice() {
        [y] => {
            let y = num(y, 4)?;
            let start = Date::from_calendar_date(y, Month::January, 1).ok()?;
            let end = Date::from_calendar_date(y + 1, Month::January, 1).ok()?;
            Some((midnight(start), midnight(end)))
        }
        [y, m] => {
            let y = num(y, 4)?;
            let m = Month::try_from(u8::try_from(num(m, 2)?).ok()?).ok()?;
            let start = Date::from_calendar_date(y, m, 1).ok()?;
            let (ny, nm) = if m == Month::December {
                (y + 1, Month::January)
            } else {
                (y, m.next())
            };
            let end = Date::from_calendar_date(ny, nm, 1).ok()?;
            Some((midnight(start), midnight(end)))
        }
        [y, m, d] => {
            let y = num(y, 4)?;
            let m = Month::try_from(u8::try_from(num(m, 2)?).ok()?).ok()?;
            let d = u8::try_from(num(d, 2)?).ok()?;
            let start = Date::from_calendar_date(y, m, d).ok()?;
            let t = midnight(start);
            Some((t, t + 86_400))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let day = date_range("2024-05-01").unwrap();
        assert_eq!(day.1 - day.0, 86_400);
        assert_eq!(
            date_range("2024").unwrap().0,
            date_range("2024-01").unwrap().0
        );
        assert_eq!(
            date_range("2024-12").unwrap().1,
            date_range("2025").unwrap().0
        );
        let t = date_range("2024-05-01T07:00:00Z").unwrap();
        assert_eq!(date_range("2024-05-01T07:00").unwrap(), t);
        assert_eq!(date_range("2024-05-01T09:00:00+02:00").unwrap(), t);
        assert!(Prefix::Eq.matches(day, t));
        assert!(!Prefix::Gt.matches(day, t));
        assert!(Prefix::Ge.matches(day, t));
        assert!(Prefix::Lt.matches(date_range("2024-05-02").unwrap(), t));
        for bad in [
            "notadate",
            "2024-13-01",
            "2024-02-30",
            "24-01-01",
            "2024-5-1",
            "",
            "T",
            "2024-05-01Tnoon",
        ] {
            assert!(date_range(bad).is_none(), "{bad}");
        }
        assert_eq!(Prefix::split("ge2024"), (Some(Prefix::Ge), "2024"));
        assert_eq!(Prefix::split("ap2024").0, None);
        assert_eq!(Prefix::split("2024"), (Some(Prefix::Eq), "2024"));
    }

    #[test]
    fn values_and_references() {
        assert_eq!(split_values("a,b\\,c, ,d"), vec!["a", "b,c", "d"]);
        assert_eq!(
            parse_reference("Patient/x1", "p").unwrap(),
            (Some("Patient".into()), "x1".into())
        );
        assert_eq!(
            parse_reference("http://h/fhir/Patient/x1", "p").unwrap(),
            (Some("Patient".into()), "x1".into())
        );
        assert_eq!(parse_reference("x1", "p").unwrap(), (None, "x1".into()));
        assert!(parse_reference("a b", "p").is_err());
        assert!(parse_reference("../x", "p").is_err());
        assert_eq!(
            split_reference("Patient/1/_history/2"),
            Some(("Patient", "1"))
        );
        assert!(StringMatch::Word.matches("Da Silva", "silva"));
        assert!(StringMatch::Word.matches("Ellison-Grant", "gra"));
        assert!(!StringMatch::Word.matches("Whitfield", "field"));
        assert!(StringMatch::Contains.matches("Whitfield", "field"));
        assert!(StringMatch::Word.matches("Müller", "mul"));
        assert!(StringMatch::Exact.matches("Müller", "Müller"));
        assert!(!StringMatch::Exact.matches("Müller", "müller"));
    }
}
