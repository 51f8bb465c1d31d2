//! The material a ward is made of: names, problems, drugs, allergies,
//! payors. People are fictional: given and family names are drawn
//! independently, so any resemblance to a real person is chance.
//! Problems carry their SNOMED CT concept; drugs and allergies are text.
//!
//! (Over 500 lines: mostly data tables — names, problems with their SNOMED
//! CT concepts, drugs, allergies, payors — not logic.)

/// One drug order as a ward would write it.
pub(crate) struct Drug {
    pub text: &'static str,
    pub dosage: &'static str,
}

const fn drug(text: &'static str, dosage: &'static str) -> Drug {
    Drug { text, dosage }
}

/// A problem on the list, with the drugs usually ordered for it.
pub(crate) struct Problem {
    pub snomed: &'static str,
    pub display: &'static str,
    pub drugs: &'static [Drug],
}

/// How an acute problem moves the vital signs at its worst (at admission).
#[derive(Clone, Copy, Default)]
pub(crate) struct Effect {
    /// Heart rate, beats/min.
    pub hr: f64,
    /// Respiratory rate, breaths/min.
    pub rr: f64,
    /// Temperature, °C.
    pub temp: f64,
    /// Oxygen saturation, %.
    pub spo2: f64,
    /// Systolic pressure, mmHg (diastolic moves by half).
    pub sbp: f64,
}

/// A reason for admission.
pub(crate) struct Acute {
    pub problem: Problem,
    pub emergency: bool,
    pub effect: Effect,
}

const fn effect(hr: f64, rr: f64, temp: f64, spo2: f64, sbp: f64) -> Effect {
    Effect {
        hr,
        rr,
        temp,
        spo2,
        sbp,
    }
}

pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "Margaret",
    "Aisha",
    "Eleanor",
    "Priya",
    "Joan",
    "Siobhan",
    "Mei",
    "Fatima",
    "Doris",
    "Ingrid",
    "Grace",
    "Olivia",
    "Chiamaka",
    "Lucía",
    "Hannah",
    "Maria",
    "Zofia",
    "Yasmin",
    "Ruth",
    "Amara",
    "Beatrice",
    "Leila",
    "Kathleen",
    "Sofia",
    "Irene",
    "Noor",
    "Edith",
    "Rosa",
    "Agnieszka",
    "Wendy",
];

pub(crate) const MALE_GIVEN: &[&str] = &[
    "Arthur", "Mohammed", "George", "Rajesh", "Patrick", "Tomasz", "Wei", "Kwame", "Harold",
    "Lars", "Samuel", "Oliver", "Emeka", "Javier", "Daniel", "José", "Piotr", "Omar", "Dennis",
    "Kofi", "Bernard", "Hamid", "Francis", "Mateo", "Stanley", "Ibrahim", "Reginald", "Luca",
    "Andrzej", "Trevor",
];

pub(crate) const FAMILY: &[&str] = &[
    "Okonkwo",
    "Whitfield",
    "Nguyen",
    "Patel",
    "O'Brien",
    "Kowalski",
    "Haddad",
    "Lindqvist",
    "Da Silva",
    "Thornbury",
    "Mensah",
    "Fitzgerald",
    "Chen",
    "Abernethy",
    "Müller",
    "García",
    "Rahman",
    "Pemberton",
    "Novak",
    "Adeyemi",
    "Hargreaves",
    "Kaur",
    "MacLeod",
    "Rossi",
    "Sørensen",
    "Ashworth",
    "Begum",
    "Delacroix",
    "Ferreira",
    "Gallagher",
    "Ivanova",
    "Jaworski",
    "Kimura",
    "Llewellyn",
    "Moreau",
    "Nakamura",
    "Osei",
    "Quigley",
    "Rodríguez",
    "Sutcliffe",
    "Tanaka",
    "Underwood",
    "Varga",
    "Wójcik",
    "Yilmaz",
    "Zhou",
    "Ellison-Grant",
    "Brennan",
    "Coates",
    "Dhillon",
];

/// Family doctors (Patient.generalPractitioner).
pub(crate) const GPS: &[&str] = &[
    "Dr Amelia Okafor",
    "Dr Jonathan Reeve",
    "Dr Sunita Varma",
    "Dr Niall Brannigan",
    "Dr Ewa Malinowska",
    "Dr Tobias Fenwick",
    "Dr Hana Yoshida",
    "Dr Ruth Asante",
];

/// Hospital doctors (attending, prescriber).
pub(crate) const CLINICIANS: &[&str] = &[
    "Dr Helen Achterberg",
    "Dr Marcus Oyelaran",
    "Dr Saoirse Keane",
    "Dr Vikram Anand",
    "Dr Clara Lindgren",
    "Dr Yusuf Demir",
];

/// Ward names; each holds [`BEDS_PER_WARD`] patients at most.
pub(crate) const WARDS: &[&str] = &[
    "Ward 7B", "Ward 7C", "Ward 8A", "Ward 8B", "Ward 9A", "Ward 9B", "Ward 10", "Ward 11",
];

/// Patients per ward; the ward has a few more beds than that, some empty.
pub(crate) const BEDS_PER_WARD: usize = 24;
/// Beds numbered 1 to this on each ward.
pub(crate) const BED_NUMBERS: u32 = 28;

/// The hospital (Encounter.serviceProvider).
pub(crate) const HOSPITAL: &str = "Rivermead General Hospital (sandbox)";

/// Where emergency admissions wait before they get a bed.
pub(crate) const EMERGENCY_DEPARTMENT: &str = "Emergency Department, waiting room";

pub(crate) const PARACETAMOL: Drug = drug(
    "Paracetamol 1 g tablet",
    "1 g orally every 6 hours as needed (max 4 g in 24 hours)",
);
pub(crate) const ENOXAPARIN: Drug = drug(
    "Enoxaparin 40 mg/0.4 mL injection",
    "40 mg subcutaneously once daily (VTE prophylaxis)",
);
pub(crate) const LACTULOSE: Drug = drug(
    "Lactulose 3.3 g/5 mL oral solution",
    "15 mL orally twice daily",
);
pub(crate) const SALINE: Drug = drug(
    "Sodium chloride 0.9% infusion 1000 mL",
    "1000 mL intravenously over 8 hours",
);

/// Reasons for admission.
pub(crate) const ACUTE: &[Acute] = &[
    Acute {
        problem: Problem {
            snomed: "385093006",
            display: "Community acquired pneumonia",
            drugs: &[
                drug(
                    "Co-amoxiclav 1.2 g injection",
                    "1.2 g intravenously every 8 hours",
                ),
                drug("Clarithromycin 500 mg tablet", "500 mg orally twice daily"),
            ],
        },
        emergency: true,
        effect: effect(24.0, 8.0, 1.6, -6.0, -10.0),
    },
    Acute {
        problem: Problem {
            snomed: "68566005",
            display: "Urinary tract infectious disease",
            drugs: &[drug(
                "Nitrofurantoin 100 mg modified-release capsule",
                "100 mg orally twice daily for 7 days",
            )],
        },
        emergency: true,
        effect: effect(14.0, 3.0, 1.1, -1.0, -6.0),
    },
    Acute {
        problem: Problem {
            snomed: "128045006",
            display: "Cellulitis",
            drugs: &[drug(
                "Flucloxacillin 1 g injection",
                "1 g intravenously every 6 hours",
            )],
        },
        emergency: true,
        effect: effect(12.0, 2.0, 1.0, 0.0, 0.0),
    },
    Acute {
        problem: Problem {
            snomed: "195951007",
            display: "Acute exacerbation of chronic obstructive airways disease",
            drugs: &[
                drug(
                    "Salbutamol 2.5 mg/2.5 mL nebuliser solution",
                    "2.5 mg nebulised every 4 hours as needed",
                ),
                drug(
                    "Prednisolone 5 mg tablet",
                    "40 mg orally once daily for 5 days",
                ),
                drug(
                    "Doxycycline 100 mg capsule",
                    "200 mg orally on day 1, then 100 mg once daily",
                ),
            ],
        },
        emergency: true,
        effect: effect(18.0, 9.0, 0.3, -7.0, 5.0),
    },
    Acute {
        problem: Problem {
            snomed: "84114007",
            display: "Heart failure",
            drugs: &[
                drug(
                    "Furosemide 10 mg/mL injection",
                    "40 mg intravenously twice daily",
                ),
                drug("Bisoprolol 2.5 mg tablet", "2.5 mg orally once daily"),
            ],
        },
        emergency: true,
        effect: effect(16.0, 7.0, 0.0, -5.0, 12.0),
    },
    Acute {
        problem: Problem {
            snomed: "5913000",
            display: "Fracture of neck of femur",
            drugs: &[drug(
                "Morphine sulfate 10 mg/5 mL oral solution",
                "2.5 to 5 mg orally every 4 hours as needed for pain",
            )],
        },
        emergency: true,
        effect: effect(15.0, 2.0, 0.2, -1.0, 10.0),
    },
    Acute {
        problem: Problem {
            snomed: "14669001",
            display: "Acute renal failure syndrome",
            drugs: &[SALINE],
        },
        emergency: true,
        effect: effect(8.0, 2.0, 0.0, 0.0, -12.0),
    },
    Acute {
        problem: Problem {
            snomed: "91302008",
            display: "Sepsis",
            drugs: &[
                drug(
                    "Piperacillin 4 g / tazobactam 500 mg injection",
                    "4.5 g intravenously every 8 hours",
                ),
                SALINE,
            ],
        },
        emergency: true,
        effect: effect(32.0, 10.0, 1.9, -5.0, -28.0),
    },
    Acute {
        problem: Problem {
            snomed: "230690007",
            display: "Cerebrovascular accident",
            drugs: &[
                drug(
                    "Aspirin 300 mg dispersible tablet",
                    "300 mg orally once daily for 14 days",
                ),
                drug("Atorvastatin 80 mg tablet", "80 mg orally at night"),
            ],
        },
        emergency: true,
        effect: effect(4.0, 1.0, 0.0, -1.0, 30.0),
    },
    Acute {
        problem: Problem {
            snomed: "59282003",
            display: "Pulmonary embolism",
            drugs: &[drug(
                "Apixaban 5 mg tablet",
                "10 mg orally twice daily for 7 days, then 5 mg twice daily",
            )],
        },
        emergency: true,
        effect: effect(26.0, 7.0, 0.4, -6.0, -4.0),
    },
    Acute {
        problem: Problem {
            snomed: "197456007",
            display: "Acute pancreatitis",
            drugs: &[
                SALINE,
                drug(
                    "Morphine sulfate 10 mg/5 mL oral solution",
                    "2.5 to 5 mg orally every 4 hours as needed for pain",
                ),
            ],
        },
        emergency: true,
        effect: effect(22.0, 4.0, 1.0, -2.0, -8.0),
    },
    Acute {
        problem: Problem {
            snomed: "2776000",
            display: "Delirium",
            drugs: &[drug(
                "Haloperidol 500 microgram tablet",
                "0.5 mg orally at night as needed for severe agitation",
            )],
        },
        emergency: true,
        effect: effect(10.0, 2.0, 0.3, 0.0, 6.0),
    },
    Acute {
        problem: Problem {
            snomed: "396275006",
            display: "Osteoarthritis",
            drugs: &[drug(
                "Codeine phosphate 30 mg tablet",
                "30 mg orally every 6 hours as needed for pain",
            )],
        },
        emergency: false,
        effect: effect(6.0, 1.0, 0.2, 0.0, 4.0),
    },
];

/// Long-standing problems.
pub(crate) const CHRONIC: &[Problem] = &[
    Problem {
        snomed: "59621000",
        display: "Essential hypertension",
        drugs: &[drug("Amlodipine 5 mg tablet", "5 mg orally once daily")],
    },
    Problem {
        snomed: "44054006",
        display: "Diabetes mellitus type 2",
        drugs: &[drug(
            "Metformin 500 mg tablet",
            "500 mg orally twice daily with meals",
        )],
    },
    Problem {
        snomed: "13645005",
        display: "Chronic obstructive lung disease",
        drugs: &[drug(
            "Tiotropium 18 microgram inhalation powder capsule",
            "1 capsule inhaled once daily",
        )],
    },
    Problem {
        snomed: "49436004",
        display: "Atrial fibrillation",
        drugs: &[drug("Apixaban 5 mg tablet", "5 mg orally twice daily")],
    },
    Problem {
        snomed: "433144002",
        display: "Chronic kidney disease stage 3",
        drugs: &[],
    },
    Problem {
        snomed: "55822004",
        display: "Hyperlipidemia",
        drugs: &[drug("Atorvastatin 20 mg tablet", "20 mg orally at night")],
    },
    Problem {
        snomed: "40930008",
        display: "Hypothyroidism",
        drugs: &[drug(
            "Levothyroxine 75 microgram tablet",
            "75 micrograms orally once daily before breakfast",
        )],
    },
    Problem {
        snomed: "35489007",
        display: "Depressive disorder",
        drugs: &[drug("Sertraline 50 mg tablet", "50 mg orally once daily")],
    },
    Problem {
        snomed: "195967001",
        display: "Asthma",
        drugs: &[drug(
            "Salbutamol 100 micrograms/dose inhaler",
            "2 puffs inhaled as needed for wheeze",
        )],
    },
    Problem {
        snomed: "235595009",
        display: "Gastroesophageal reflux disease",
        drugs: &[drug("Omeprazole 20 mg capsule", "20 mg orally once daily")],
    },
    Problem {
        snomed: "64859006",
        display: "Osteoporosis",
        drugs: &[drug(
            "Alendronic acid 70 mg tablet",
            "70 mg orally once weekly on Mondays",
        )],
    },
    Problem {
        snomed: "52448006",
        display: "Dementia",
        drugs: &[drug("Donepezil 10 mg tablet", "10 mg orally at night")],
    },
    Problem {
        snomed: "49049000",
        display: "Parkinson's disease",
        drugs: &[drug(
            "Co-careldopa 25 mg/100 mg tablet",
            "1 tablet orally three times daily",
        )],
    },
    Problem {
        snomed: "90560007",
        display: "Gout",
        drugs: &[drug(
            "Allopurinol 100 mg tablet",
            "100 mg orally once daily",
        )],
    },
    Problem {
        snomed: "84757009",
        display: "Epilepsy",
        drugs: &[drug(
            "Levetiracetam 500 mg tablet",
            "500 mg orally twice daily",
        )],
    },
    Problem {
        snomed: "271737000",
        display: "Anemia",
        drugs: &[drug(
            "Ferrous sulfate 200 mg tablet",
            "200 mg orally once daily",
        )],
    },
    Problem {
        snomed: "414916001",
        display: "Obesity",
        drugs: &[],
    },
    Problem {
        snomed: "22298006",
        display: "Myocardial infarction",
        drugs: &[
            drug("Clopidogrel 75 mg tablet", "75 mg orally once daily"),
            drug("Ramipril 2.5 mg capsule", "2.5 mg orally once daily"),
        ],
    },
];

/// Severity codes (SNOMED CT) for Condition.severity.
pub(crate) const MODERATE: (&str, &str) = ("6736007", "Moderate");
pub(crate) const SEVERE: (&str, &str) = ("24484000", "Severe");

/// An allergy or intolerance and, when recorded, the reaction.
pub(crate) struct AllergySpec {
    pub substance: &'static str,
    /// `food`, `medication`, `environment`.
    pub category: &'static str,
    /// `allergy` or `intolerance`.
    pub kind: &'static str,
    /// `low` or `high`.
    pub criticality: &'static str,
    /// Manifestation and severity (`mild`, `moderate`, `severe`).
    pub reaction: (&'static str, &'static str),
    pub note: Option<&'static str>,
}

pub(crate) const ALLERGIES: &[AllergySpec] = &[
    AllergySpec {
        substance: "Penicillin",
        category: "medication",
        kind: "allergy",
        criticality: "high",
        reaction: ("Anaphylaxis", "severe"),
        note: Some("Avoid all penicillins; cephalosporins given with caution."),
    },
    AllergySpec {
        substance: "Amoxicillin",
        category: "medication",
        kind: "allergy",
        criticality: "low",
        reaction: ("Urticaria", "moderate"),
        note: None,
    },
    AllergySpec {
        substance: "Sulfonamide antibiotics",
        category: "medication",
        kind: "allergy",
        criticality: "low",
        reaction: ("Rash", "mild"),
        note: None,
    },
    AllergySpec {
        substance: "Codeine",
        category: "medication",
        kind: "intolerance",
        criticality: "low",
        reaction: ("Nausea and vomiting", "mild"),
        note: None,
    },
    AllergySpec {
        substance: "Ibuprofen",
        category: "medication",
        kind: "allergy",
        criticality: "low",
        reaction: ("Wheezing", "moderate"),
        note: None,
    },
    AllergySpec {
        substance: "Latex",
        category: "environment",
        kind: "allergy",
        criticality: "low",
        reaction: ("Contact dermatitis", "mild"),
        note: Some("Use latex-free gloves."),
    },
    AllergySpec {
        substance: "Peanut",
        category: "food",
        kind: "allergy",
        criticality: "high",
        reaction: ("Angioedema", "severe"),
        note: Some("Carries an adrenaline auto-injector."),
    },
    AllergySpec {
        substance: "Shellfish",
        category: "food",
        kind: "allergy",
        criticality: "low",
        reaction: ("Hives", "mild"),
        note: None,
    },
    AllergySpec {
        substance: "Iodinated contrast media",
        category: "medication",
        kind: "allergy",
        criticality: "high",
        reaction: ("Bronchospasm", "moderate"),
        note: None,
    },
    AllergySpec {
        substance: "Morphine",
        category: "medication",
        kind: "intolerance",
        criticality: "low",
        reaction: ("Pruritus", "mild"),
        note: None,
    },
    AllergySpec {
        substance: "Egg",
        category: "food",
        kind: "allergy",
        criticality: "low",
        reaction: ("Abdominal pain", "mild"),
        note: None,
    },
];

/// Insurers: name and the prefix of their member numbers.
pub(crate) const PAYORS: &[(&str, &str)] = &[
    ("Harbourside Health Fund", "HHF"),
    ("Northbridge Mutual", "NBM"),
    ("Crescent Care Insurance", "CCI"),
    ("Public Hospital Scheme", "PHS"),
];

pub(crate) const PLANS: &[&str] = &[
    "Standard Hospital Cover",
    "Gold Hospital Cover",
    "Senior Plus",
    "Essential Care",
];

/// Employers for group plans.
pub(crate) const GROUPS: &[&str] = &[
    "Meridian Logistics Ltd",
    "Riverside Borough Council",
    "Aldgate Teaching Trust",
];
