//! Typed path parameters: a handler names what its address holds
//! (`(TeamId, ListId)`, `(TeamId, String)`) and gets it parsed, in route
//! order, or a refusal naming the parameter. The JSON API turns a bad one
//! into `invalid_id` with the parameter as `field`; a page into its "not
//! found" page naming what was looked for.

use rounds_core::{Id, IdKind};

/// Why a path parameter was refused.
#[derive(Debug)]
pub enum BadPath {
    /// The client's address holds something that is not what the route
    /// expects there.
    Param {
        /// The route's name for the parameter (`teamId`).
        key: String,
        /// What should have been there, for people ("team").
        what: &'static str,
        /// The parser's own words.
        reason: String,
    },
    /// The route and its handler disagree on the parameters: our bug.
    Mismatch(String),
}

/// One path parameter.
pub trait PathParam: Sized {
    fn parse_param(key: &str, raw: &str) -> Result<Self, BadPath>;
}

impl<K: IdKind> PathParam for Id<K> {
    fn parse_param(key: &str, raw: &str) -> Result<Self, BadPath> {
        raw.parse()
            .map_err(|e: rounds_core::InvalidId| BadPath::Param {
                key: key.to_owned(),
                what: K::NAME,
                reason: e.to_string(),
            })
    }
}

impl PathParam for String {
    fn parse_param(_key: &str, raw: &str) -> Result<Self, BadPath> {
        Ok(raw.to_owned())
    }
}

/// All of a route's path parameters, in order.
pub trait PathParams: Sized {
    fn from_params(params: &[(String, String)]) -> Result<Self, BadPath>;
}

fn expect_count(params: &[(String, String)], n: usize) -> Result<(), BadPath> {
    if params.len() == n {
        Ok(())
    } else {
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        Err(BadPath::Mismatch(format!(
            "the handler takes {n} path parameters, the route has {keys:?}"
        )))
    }
}

impl<T: PathParam> PathParams for T {
    fn from_params(params: &[(String, String)]) -> Result<Self, BadPath> {
        expect_count(params, 1)?;
        let (key, raw) = &params[0];
        T::parse_param(key, raw)
    }
}

macro_rules! tuple_params {
    ($n:literal; $($t:ident $i:tt),+) => {
        impl<$($t: PathParam),+> PathParams for ($($t,)+) {
            fn from_params(params: &[(String, String)]) -> Result<Self, BadPath> {
                expect_count(params, $n)?;
                Ok(($($t::parse_param(&params[$i].0, &params[$i].1)?,)+))
            }
        }
    };
}

tuple_params!(1; A 0);
tuple_params!(2; A 0, B 1);
tuple_params!(3; A 0, B 1, C 2);
tuple_params!(4; A 0, B 1, C 2, D 3);

#[cfg(test)]
mod tests {
    use super::*;
    use rounds_core::{ListId, TeamId};

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn ids_and_text_in_route_order() {
        let team = TeamId::new_random();
        let list = ListId::new_random();
        let got: (TeamId, ListId, String) = PathParams::from_params(&params(&[
            ("teamId", &team.to_string()),
            ("listId", &list.to_string()),
            ("columnKey", "ward"),
        ]))
        .unwrap();
        assert_eq!(got, (team, list, "ward".to_owned()));
    }

    #[test]
    fn a_bad_id_names_its_parameter_and_kind() {
        let team = TeamId::new_random().to_string();
        let err =
            <(TeamId, ListId)>::from_params(&params(&[("teamId", &team), ("listId", "nope")]))
                .unwrap_err();
        match err {
            BadPath::Param { key, what, reason } => {
                assert_eq!((key.as_str(), what), ("listId", "list"));
                assert!(reason.contains("\"nope\""), "{reason}");
            }
            BadPath::Mismatch(m) => panic!("{m}"),
        }
    }

    #[test]
    fn a_route_with_other_parameters_is_a_mismatch() {
        let err = TeamId::from_params(&params(&[("a", "x"), ("b", "y")])).unwrap_err();
        assert!(matches!(err, BadPath::Mismatch(_)));
    }
}
