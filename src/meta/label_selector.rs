//! `LabelSelector` as objects carry it (`matchLabels` and `matchExpressions`, as in a
//! Deployment's `spec.selector`; apimachinery's `metav1.LabelSelector`), and its
//! conversion to and from the crate's [`selector::LabelSelector`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::selector::{self, validate_key, validate_value, Operator, Requirement};

/// A label selector in an object's spec: `matchLabels` and `matchExpressions`, all of
/// which must hold. An empty one matches every object; an absent (null) one matches none.
///
/// Convert it with [`label_selector_as_selector`] to match labels or to list, and back
/// with [`selector_as_label_selector`]. With the feature `k8s-openapi` it converts to
/// and from k8s-openapi's `LabelSelector` with `From`.
///
/// ```
/// use informer::meta::{label_selector_as_selector, LabelSelector};
///
/// let spec: LabelSelector = serde_json::from_value(serde_json::json!({
///     "matchLabels": {"app": "web"},
///     "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}],
/// })).unwrap();
/// let selector = label_selector_as_selector(Some(&spec)).unwrap();
/// assert_eq!(selector.to_string(), "app=web,tier notin (db)");
///
/// // Kubernetes' rules: empty matches everything, null matches nothing.
/// assert!(label_selector_as_selector(Some(&LabelSelector::default())).unwrap().is_everything());
/// assert!(label_selector_as_selector::<LabelSelector>(None).unwrap().is_nothing());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must have exactly these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements on labels, all of which must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
}

/// One `matchExpressions` entry: a key, an operator (`In`, `NotIn`, `Exists`,
/// `DoesNotExist`) and its values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values: at least one for `In` and `NotIn`, none for `Exists` and
    /// `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// Why a `LabelSelector` could not be converted. The message names the offending key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelSelectorError {
    /// A `matchExpressions` operator other than `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[error(
        "label selector: {operator:?} for key {key:?} is not a valid label selector operator \
         (use In, NotIn, Exists or DoesNotExist)"
    )]
    InvalidOperator {
        /// The key of the expression.
        key: String,
        /// The operator as written.
        operator: String,
    },
    /// The number of values does not fit the operator.
    #[error("label selector: key {key:?} with operator {operator}: {problem}")]
    InvalidValues {
        /// The key of the expression.
        key: String,
        /// The operator.
        operator: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
    /// A key that is not a valid label key.
    #[error("label selector: invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Kubernetes' rule that it breaks.
        reason: String,
    },
    /// A value that is not a valid label value.
    #[error("label selector: invalid value {value:?} for key {key:?}: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Kubernetes' rule that it breaks.
        reason: String,
    },
    /// A selector requirement (`>` or `<`) that a `LabelSelector` cannot express.
    #[error(
        "label selector: requirement {requirement:?} cannot be written as matchLabels or \
         matchExpressions (they have no integer comparisons)"
    )]
    Unsupported {
        /// The requirement in query form.
        requirement: String,
    },
}

/// Converts a `LabelSelector` of an object into a [`selector::LabelSelector`], with
/// apimachinery's rules (`metav1.LabelSelectorAsSelector`): `None` (a null selector)
/// matches nothing, an empty selector matches everything, and every `matchLabels` entry
/// and `matchExpressions` entry becomes one requirement. Keys, values, operators and the
/// number of values are checked; the first fault is the error.
///
/// Takes this crate's [`LabelSelector`] or, with the feature `k8s-openapi`, k8s-openapi's.
pub fn label_selector_as_selector<'a, S>(
    selector: Option<&'a S>,
) -> Result<selector::LabelSelector, LabelSelectorError>
where
    &'a S: TryInto<selector::LabelSelector, Error = LabelSelectorError>,
{
    match selector {
        None => Ok(selector::LabelSelector::nothing()),
        Some(s) => s.try_into(),
    }
}

/// Converts a [`selector::LabelSelector`] into the `LabelSelector` of an object:
/// [`nothing`](selector::LabelSelector::nothing) becomes `None` (null), everything an
/// empty selector, `key=value` a `matchLabels` entry (an `In` expression when the key
/// already has another value there), `key!=value` a `NotIn` expression, and set and
/// existence requirements their expressions. `>` and `<` have no such form and are an
/// error.
pub fn selector_as_label_selector(
    selector: &selector::LabelSelector,
) -> Result<Option<LabelSelector>, LabelSelectorError> {
    if selector.is_nothing() {
        return Ok(None);
    }
    let mut match_labels = BTreeMap::new();
    let mut match_expressions = Vec::new();
    for r in selector.requirements() {
        let values = || Some(r.values().iter().cloned().collect::<Vec<_>>());
        let expression = |operator: &str, values: Option<Vec<String>>| LabelSelectorRequirement {
            key: r.key().to_owned(),
            operator: operator.to_owned(),
            values,
        };
        match r.operator() {
            Operator::Equals | Operator::DoubleEquals => {
                let value = r.values().first().cloned().unwrap_or_default();
                match match_labels.get(r.key()) {
                    Some(v) if *v != value => match_expressions.push(expression("In", values())),
                    Some(_) => {}
                    None => {
                        match_labels.insert(r.key().to_owned(), value);
                    }
                }
            }
            Operator::In => match_expressions.push(expression("In", values())),
            Operator::NotEquals | Operator::NotIn => {
                match_expressions.push(expression("NotIn", values()))
            }
            Operator::Exists => match_expressions.push(expression("Exists", None)),
            Operator::DoesNotExist => match_expressions.push(expression("DoesNotExist", None)),
            Operator::GreaterThan | Operator::LessThan => {
                return Err(LabelSelectorError::Unsupported {
                    requirement: r.to_string(),
                })
            }
        }
    }
    Ok(Some(LabelSelector {
        match_labels: (!match_labels.is_empty()).then_some(match_labels),
        match_expressions: (!match_expressions.is_empty()).then_some(match_expressions),
    }))
}

fn checked_key(key: &str) -> Result<String, LabelSelectorError> {
    validate_key(key).map_err(|reason| LabelSelectorError::InvalidKey {
        key: key.to_owned(),
        reason,
    })?;
    Ok(key.to_owned())
}

fn checked_value(key: &str, value: &str) -> Result<String, LabelSelectorError> {
    validate_value(value).map_err(|reason| LabelSelectorError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason,
    })?;
    Ok(value.to_owned())
}

/// The requirements of `matchLabels` and `matchExpressions`, checked; shared by both forms.
fn convert<'a>(
    match_labels: Option<&'a BTreeMap<String, String>>,
    match_expressions: impl Iterator<Item = (&'a str, &'a str, &'a [String])>,
) -> Result<selector::LabelSelector, LabelSelectorError> {
    let mut requirements = Vec::new();
    for (key, value) in match_labels.into_iter().flatten() {
        requirements.push(Requirement::unchecked(
            checked_key(key)?,
            Operator::Equals,
            [checked_value(key, value)?],
        ));
    }
    for (key, operator, values) in match_expressions {
        let (op, name, wants_values) = match operator {
            "In" => (Operator::In, "In", true),
            "NotIn" => (Operator::NotIn, "NotIn", true),
            "Exists" => (Operator::Exists, "Exists", false),
            "DoesNotExist" => (Operator::DoesNotExist, "DoesNotExist", false),
            _ => {
                return Err(LabelSelectorError::InvalidOperator {
                    key: key.to_owned(),
                    operator: operator.to_owned(),
                })
            }
        };
        let problem = match (wants_values, values.is_empty()) {
            (true, true) => Some("the values must not be empty"),
            (false, false) => Some("the values must be empty"),
            _ => None,
        };
        if let Some(problem) = problem {
            return Err(LabelSelectorError::InvalidValues {
                key: key.to_owned(),
                operator: name,
                problem,
            });
        }
        let values = values
            .iter()
            .map(|v| checked_value(key, v))
            .collect::<Result<Vec<_>, _>>()?;
        requirements.push(Requirement::unchecked(checked_key(key)?, op, values));
    }
    Ok(selector::LabelSelector::from_requirements(requirements))
}

impl TryFrom<&LabelSelector> for selector::LabelSelector {
    type Error = LabelSelectorError;

    /// A present selector; see [`label_selector_as_selector`] for the null one.
    fn try_from(s: &LabelSelector) -> Result<Self, LabelSelectorError> {
        convert(
            s.match_labels.as_ref(),
            s.match_expressions.iter().flatten().map(|e| {
                (
                    e.key.as_str(),
                    e.operator.as_str(),
                    e.values.as_deref().unwrap_or_default(),
                )
            }),
        )
    }
}

#[cfg(feature = "k8s-openapi")]
mod k8s_openapi_impls {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as k8s;

    use super::{convert, LabelSelector, LabelSelectorError, LabelSelectorRequirement};
    use crate::selector;

    #[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
    impl TryFrom<&k8s::LabelSelector> for selector::LabelSelector {
        type Error = LabelSelectorError;

        /// A present selector; see
        /// [`label_selector_as_selector`](super::label_selector_as_selector) for the null
        /// one.
        fn try_from(s: &k8s::LabelSelector) -> Result<Self, LabelSelectorError> {
            convert(
                s.match_labels.as_ref(),
                s.match_expressions.iter().flatten().map(|e| {
                    (
                        e.key.as_str(),
                        e.operator.as_str(),
                        e.values.as_deref().unwrap_or_default(),
                    )
                }),
            )
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
    impl From<k8s::LabelSelector> for LabelSelector {
        fn from(s: k8s::LabelSelector) -> Self {
            LabelSelector {
                match_labels: s.match_labels,
                match_expressions: s.match_expressions.map(|v| {
                    v.into_iter()
                        .map(|e| LabelSelectorRequirement {
                            key: e.key,
                            operator: e.operator,
                            values: e.values,
                        })
                        .collect()
                }),
            }
        }
    }

    #[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
    impl From<LabelSelector> for k8s::LabelSelector {
        fn from(s: LabelSelector) -> Self {
            k8s::LabelSelector {
                match_labels: s.match_labels,
                match_expressions: s.match_expressions.map(|v| {
                    v.into_iter()
                        .map(|e| k8s::LabelSelectorRequirement {
                            key: e.key,
                            operator: e.operator,
                            values: e.values,
                        })
                        .collect()
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn with_expressions(e: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(e),
        }
    }

    #[test]
    fn empty_matches_everything_and_null_nothing() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let empty = label_selector_as_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.is_everything() && empty.matches(&labels));
        assert!(empty.matches_labels(None));
        // Empty maps and lists are empty too, as apimachinery counts lengths.
        let empty_parts = LabelSelector {
            match_labels: Some(BTreeMap::new()),
            match_expressions: Some(Vec::new()),
        };
        assert!(label_selector_as_selector(Some(&empty_parts))
            .unwrap()
            .is_everything());
        let null = label_selector_as_selector::<LabelSelector>(None).unwrap();
        assert!(null.is_nothing() && !null.is_everything());
        assert!(!null.matches(&labels) && !null.matches_labels(None));
        assert_eq!(selector_as_label_selector(&null).unwrap(), None);
        assert_eq!(
            selector_as_label_selector(&empty).unwrap(),
            Some(LabelSelector::default())
        );
    }

    #[test]
    fn deployment_selector_converts_and_matches() {
        let spec: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web", "team": "shop"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["frontend", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "team", "operator": "Exists"},
            ],
        }))
        .unwrap();
        let s = label_selector_as_selector(Some(&spec)).unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,!canary,team=shop,team,tier in (edge,frontend),zone notin (a)"
        );
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("team", "shop"),
            ("tier", "edge")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("team", "shop"),
            ("tier", "edge"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("team", "shop"),
            ("tier", "edge"),
            ("zone", "a")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "edge")])));
        // And back: the same requirements.
        let back = selector_as_label_selector(&s).unwrap().unwrap();
        assert_eq!(label_selector_as_selector(Some(&back)).unwrap(), s);
    }

    #[test]
    fn invalid_selectors_say_what_is_wrong() {
        let err = label_selector_as_selector(Some(&with_expressions(vec![expr(
            "app",
            "Equals",
            &["web"],
        )])))
        .unwrap_err();
        assert!(matches!(err, LabelSelectorError::InvalidOperator { .. }));
        assert!(err.to_string().contains("\"Equals\""), "{err}");
        assert!(err
            .to_string()
            .contains("In, NotIn, Exists or DoesNotExist"));
        // Operators are case-sensitive, as in apimachinery.
        assert!(label_selector_as_selector(Some(&with_expressions(vec![expr(
            "app",
            "in",
            &["web"]
        )])))
        .is_err());

        let err = label_selector_as_selector(Some(&with_expressions(vec![expr("app", "In", &[])])))
            .unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        let err = label_selector_as_selector(Some(&with_expressions(vec![expr(
            "app",
            "Exists",
            &["web"],
        )])))
        .unwrap_err();
        assert!(err.to_string().contains("must be empty"), "{err}");

        let bad_key = LabelSelector {
            match_labels: Some(BTreeMap::from([("-app".to_string(), "web".to_string())])),
            match_expressions: None,
        };
        let err = label_selector_as_selector(Some(&bad_key)).unwrap_err();
        assert!(matches!(err, LabelSelectorError::InvalidKey { ref key, .. } if key == "-app"));
        let err = label_selector_as_selector(Some(&with_expressions(vec![expr(
            "app",
            "NotIn",
            &["web", "not valid"],
        )])))
        .unwrap_err();
        assert!(
            matches!(err, LabelSelectorError::InvalidValue { ref value, .. } if value == "not valid")
        );
    }

    #[test]
    fn back_conversion_keeps_meaning() {
        let s = selector::LabelSelector::parse("a=1,a=2,b!=x,c==y").unwrap();
        let back = selector_as_label_selector(&s).unwrap().unwrap();
        assert_eq!(
            back.match_labels,
            Some(BTreeMap::from([
                ("a".to_string(), "1".to_string()),
                ("c".to_string(), "y".to_string())
            ]))
        );
        // `a=1,a=2` matches nothing; the second value must not be dropped.
        assert_eq!(
            back.match_expressions,
            Some(vec![expr("a", "In", &["2"]), expr("b", "NotIn", &["x"])])
        );
        let again = label_selector_as_selector(Some(&back)).unwrap();
        let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        assert!(!again.matches(&labels) && !s.matches(&labels));

        let err = selector_as_label_selector(&selector::LabelSelector::parse("n>3").unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("n>3"), "{err}");
    }

    #[test]
    fn serde_round_trip_keeps_absent_fields_absent() {
        let json = serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Exists"}]});
        let s: LabelSelector = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), json);
    }

    #[cfg(feature = "k8s-openapi")]
    #[test]
    fn k8s_openapi_selector_converts_both_ways() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1 as k8s;
        let k = k8s::LabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: Some(vec![k8s::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["db".into()]),
            }]),
        };
        let s = label_selector_as_selector(Some(&k)).unwrap();
        assert_eq!(s.to_string(), "app=web,tier notin (db)");
        let back: k8s::LabelSelector = selector_as_label_selector(&s).unwrap().unwrap().into();
        assert_eq!(back, k);
        assert!(label_selector_as_selector::<k8s::LabelSelector>(None)
            .unwrap()
            .is_nothing());
        let bad = k8s::LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![k8s::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Gt".into(),
                values: Some(vec!["1".into()]),
            }]),
        };
        assert!(matches!(
            selector::LabelSelector::try_from(&bad),
            Err(LabelSelectorError::InvalidOperator { .. })
        ));
    }
}
