//! The shape several queries go out in (one Bundle, a few Bundles at once,
//! chunks, or concurrent GETs), and choosing it per server by timing the
//! candidates on a small sample of the real queries.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::FhirClient;
use crate::error::FhirError;
use crate::exec::Path;

/// How a run of several queries is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BatchShape {
    /// The run split evenly into `parts` batch Bundles, all sent at once
    /// (each at most the server's entry cap; `parts: 1` is one Bundle).
    Bundles {
        /// Bundles per run.
        parts: usize,
    },
    /// Batch Bundles of `size` entries, `in_flight` at a time.
    Chunks {
        /// Entries per Bundle.
        size: usize,
        /// Bundles in flight at once.
        in_flight: usize,
    },
    /// One GET per query, `in_flight` at a time.
    Gets {
        /// Requests in flight at once.
        in_flight: usize,
    },
}

/// The most Bundles or GETs a shape may have in flight.
pub const MAX_IN_FLIGHT: usize = 64;

impl BatchShape {
    /// Batch Bundles or GETs.
    pub fn path(self) -> Path {
        match self {
            BatchShape::Gets { .. } => Path::Concurrent,
            BatchShape::Bundles { .. } | BatchShape::Chunks { .. } => Path::Batch,
        }
    }

    /// A sentence for people: "one batch Bundle", "8 concurrent GETs".
    pub fn describe(self) -> String {
        match self {
            BatchShape::Bundles { parts: 1 } => "one batch Bundle".into(),
            BatchShape::Bundles { parts } => format!("{parts} batch Bundles at once"),
            BatchShape::Chunks { size, in_flight } => {
                format!("batch Bundles of {size} entries, {in_flight} at a time")
            }
            BatchShape::Gets { in_flight } => format!("{in_flight} concurrent GETs"),
        }
    }
}

/// `bundle`, `bundles:4`, `chunks:20x4`, `gets:8`.
impl fmt::Display for BatchShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BatchShape::Bundles { parts: 1 } => f.write_str("bundle"),
            BatchShape::Bundles { parts } => write!(f, "bundles:{parts}"),
            BatchShape::Chunks { size, in_flight } => write!(f, "chunks:{size}x{in_flight}"),
            BatchShape::Gets { in_flight } => write!(f, "gets:{in_flight}"),
        }
    }
}

/// Why a text is not a [`BatchShape`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a batch shape is bundle, bundles:N, chunks:SIZExN or gets:N (N from 1 to {MAX_IN_FLIGHT}, SIZE from 1 to 1000)")]
pub struct ShapeParseError;

impl FromStr for BatchShape {
    type Err = ShapeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let number = |t: &str, max: usize| -> Result<usize, ShapeParseError> {
            t.parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or(ShapeParseError)
        };
        if s == "bundle" {
            return Ok(BatchShape::Bundles { parts: 1 });
        }
        let (kind, rest) = s.split_once(':').ok_or(ShapeParseError)?;
        match kind {
            "bundles" => Ok(BatchShape::Bundles {
                parts: number(rest, MAX_IN_FLIGHT)?,
            }),
            "gets" => Ok(BatchShape::Gets {
                in_flight: number(rest, MAX_IN_FLIGHT)?,
            }),
            "chunks" => {
                let (size, in_flight) = rest.split_once('x').ok_or(ShapeParseError)?;
                Ok(BatchShape::Chunks {
                    size: number(size, 1000)?,
                    in_flight: number(in_flight, MAX_IN_FLIGHT)?,
                })
            }
            _ => Err(ShapeParseError),
        }
    }
}

impl Serialize for BatchShape {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One candidate's time on the sample.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeTrial {
    /// The candidate.
    pub shape: BatchShape,
    /// Its best time over the rounds, in microseconds (None: it failed).
    pub micros: Option<u64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What [`FhirClient::measure_shapes`] found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeMeasurement {
    /// The fastest candidate that worked.
    pub chosen: BatchShape,
    /// Queries in the sample.
    pub queries: usize,
    /// Every candidate, in the order tried.
    pub trials: Vec<ShapeTrial>,
}

/// Patients a measurement reads (at most).
pub const SAMPLE_PATIENTS: usize = 4;

/// A candidate this close to the fastest (as a factor) is as good.
const NEAR_ENOUGH: f64 = 1.10;

/// Rounds per candidate (the best counts; the order alternates).
const ROUNDS: usize = 2;

impl FhirClient {
    /// The shapes worth trying on this server: Bundles (one, two, four at
    /// once) where batch may go out, GETs (half the bound, the bound) where
    /// they may.
    pub fn shape_candidates(&self) -> Vec<BatchShape> {
        let mut out = Vec::new();
        if self.exec.batch_allowed() {
            out.extend([1, 2, 4].map(|parts| BatchShape::Bundles { parts }));
        }
        if self.exec.gets_allowed() {
            let bound = self.exec.concurrency().min(MAX_IN_FLIGHT);
            let mut counts = vec![bound.div_ceil(2), bound];
            counts.dedup();
            out.extend(
                counts
                    .into_iter()
                    .map(|in_flight| BatchShape::Gets { in_flight }),
            );
        }
        out
    }

    /// Times each candidate shape on the queries of a few of `ids` (the
    /// first [`SAMPLE_PATIENTS`]), not on the whole list, and returns the
    /// fastest that answered every query it could (of those within a tenth
    /// of the fastest, the one with the fewest requests). The client is not
    /// changed: the caller sets the shape it wants ([`Self::set_shape`]).
    pub async fn measure_shapes(&self, ids: &[String]) -> Result<ShapeMeasurement, FhirError> {
        let sample: Vec<String> = ids.iter().take(SAMPLE_PATIENTS).cloned().collect();
        let queries = self.summary_queries(&sample);
        if queries.len() < 2 {
            return Err(FhirError::Config(
                "too few queries to measure a batch shape on".into(),
            ));
        }
        let candidates = self.shape_candidates();
        if candidates.is_empty() {
            return Err(FhirError::Config(
                "neither batch Bundles nor GETs may go out".into(),
            ));
        }
        self.open_connections(&queries).await;
        let mut tallies: Vec<Tally> = candidates.iter().map(|_| Tally::default()).collect();
        for round in 0..ROUNDS {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..candidates.len()).collect()
            } else {
                (0..candidates.len()).rev().collect()
            };
            for i in order {
                let (Some(&shape), Some(tally)) = (candidates.get(i), tallies.get_mut(i)) else {
                    continue;
                };
                self.time_shape(shape, &queries, tally).await;
            }
        }
        fail_the_worse(&mut tallies, queries.len());
        let trials: Vec<ShapeTrial> = candidates
            .iter()
            .zip(tallies)
            .map(|(&shape, tally)| ShapeTrial {
                shape,
                micros: if tally.error.is_some() {
                    None
                } else {
                    tally
                        .best
                        .map(|t| u64::try_from(t.as_micros()).unwrap_or(u64::MAX))
                },
                error: tally.error,
            })
            .collect();
        let chosen = choose(&trials)?;
        Ok(ShapeMeasurement {
            chosen,
            queries: queries.len(),
            trials,
        })
    }

    /// Untimed: opens the connections every candidate will reuse.
    async fn open_connections(&self, queries: &[String]) {
        let _ = self
            .exec
            .run_as(
                BatchShape::Gets {
                    in_flight: self.exec.concurrency(),
                },
                queries
                    .iter()
                    .take(self.exec.concurrency())
                    .cloned()
                    .collect(),
            )
            .await;
    }

    /// One timed run of `queries` in `shape`, added to its tally (nothing
    /// run once the shape has an error).
    async fn time_shape(&self, shape: BatchShape, queries: &[String], tally: &mut Tally) {
        if tally.error.is_some() {
            return;
        }
        if shape.path() == Path::Batch && self.exec.batch_refused() {
            tally.error = Some("the server refused a batch".to_owned());
            return;
        }
        let refused_before = self.exec.batch_refused();
        let started = Instant::now();
        let answers = self.exec.run_as(shape, queries.to_vec()).await;
        let took = started.elapsed();
        if shape.path() == Path::Batch && !refused_before && self.exec.batch_refused() {
            tally.error = Some("the server refused the batch".to_owned());
            return;
        }
        // Answers that are not answers (a timeout, a 5xx): counted, and
        // compared across shapes (`fail_the_worse`), since a query the
        // server fails whichever way it comes says nothing of the shape.
        let failed: Vec<&FhirError> = answers
            .iter()
            .filter_map(|a| a.as_ref().err())
            .filter(|e| e.status().is_none_or(|s| s >= 500 || s == 429))
            .collect();
        if failed.len() >= tally.failures {
            tally.failures = failed.len();
            if let Some(e) = failed.first() {
                tally.why = Some(e.to_string());
            }
        }
        tally.best = Some(tally.best.map_or(took, |b| b.min(took)));
    }

    /// Sets the shape later runs take (None: the configured chunks).
    pub fn set_shape(&self, shape: Option<BatchShape>) {
        self.exec.set_shape(shape);
    }

    /// The shape the next run takes, as it will be sent.
    pub fn shape(&self) -> BatchShape {
        self.exec.shape()
    }

    /// Whether the server refused a batch Bundle since the client connected
    /// (the client sends GETs since; a remembered shape is due for a new
    /// measurement).
    pub fn batch_refused(&self) -> bool {
        self.exec.batch_refused()
    }

    /// Entries one Bundle may hold on this server.
    pub fn max_batch_entries(&self) -> usize {
        self.exec.max_entries()
    }
}

/// What the measuring found of one candidate shape over its rounds.
#[derive(Default)]
struct Tally {
    /// The fastest round.
    best: Option<Duration>,
    /// Why the shape failed, if it did.
    error: Option<String>,
    /// The most queries a round failed, and the first failure of it.
    failures: usize,
    why: Option<String>,
}

/// A shape that failed more queries than another did failed.
fn fail_the_worse(tallies: &mut [Tally], queries: usize) {
    let least = tallies
        .iter()
        .filter(|t| t.error.is_none())
        .map(|t| t.failures)
        .min()
        .unwrap_or(0);
    for t in tallies.iter_mut() {
        if t.error.is_none() && t.failures > least {
            t.error = Some(format!(
                "{} of {queries} queries failed ({})",
                t.failures,
                t.why.take().unwrap_or_default()
            ));
        }
    }
}

/// The first candidate (fewest requests, fewest in flight) within a tenth
/// of the fastest: timing noise on a small sample does not split the list
/// for nothing.
fn choose(trials: &[ShapeTrial]) -> Result<BatchShape, FhirError> {
    let fastest = trials.iter().filter_map(|t| t.micros).min();
    trials
        .iter()
        .find(|t| {
            t.micros
                .zip(fastest)
                .is_some_and(|(m, f)| m as f64 <= f as f64 * NEAR_ENOUGH)
        })
        .map(|t| t.shape)
        .ok_or_else(|| {
            let why = trials
                .iter()
                .find_map(|t| t.error.clone())
                .unwrap_or_else(|| "no candidate answered".into());
            FhirError::Config(format!("no batch shape worked on this server: {why}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_as_text() {
        for (text, shape) in [
            ("bundle", BatchShape::Bundles { parts: 1 }),
            ("bundles:4", BatchShape::Bundles { parts: 4 }),
            (
                "chunks:20x4",
                BatchShape::Chunks {
                    size: 20,
                    in_flight: 4,
                },
            ),
            ("gets:8", BatchShape::Gets { in_flight: 8 }),
        ] {
            assert_eq!(text.parse::<BatchShape>(), Ok(shape));
            assert_eq!(shape.to_string(), text);
        }
        assert_eq!("bundles:1".parse(), Ok(BatchShape::Bundles { parts: 1 }));
        for bad in [
            "",
            "gets",
            "gets:0",
            "gets:65",
            "chunks:20",
            "chunks:0x1",
            "bundles:x",
            "auto",
        ] {
            assert!(bad.parse::<BatchShape>().is_err(), "{bad}");
        }
        assert_eq!(
            BatchShape::Gets { in_flight: 8 }.describe(),
            "8 concurrent GETs"
        );
    }
}
