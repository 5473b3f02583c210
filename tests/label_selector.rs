//! Property tests of the conversion between an object's `LabelSelector` (matchLabels,
//! matchExpressions) and the crate's selector, against a direct model of Kubernetes'
//! rules.

use std::collections::BTreeMap;

use informer::meta::{
    label_selector_as_selector, selector_as_label_selector, LabelSelector, LabelSelectorError,
    LabelSelectorRequirement,
};
use informer::selector;
use proptest::prelude::*;

const KEYS: [&str; 4] = ["app", "tier", "example.com/team", "z"];
const VALUES: [&str; 4] = ["", "web", "db", "v1.2"];
const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(&KEYS[..]).prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(&VALUES[..]).prop_map(str::to_owned)
}

fn expression() -> impl Strategy<Value = LabelSelectorRequirement> {
    (
        key(),
        prop::sample::select(&OPERATORS[..]),
        prop::collection::vec(value(), 1..4),
    )
        .prop_map(|(key, operator, values)| LabelSelectorRequirement {
            key,
            operator: operator.to_owned(),
            values: matches!(operator, "In" | "NotIn").then_some(values),
        })
}

fn label_selector() -> impl Strategy<Value = LabelSelector> {
    (
        prop::option::of(prop::collection::btree_map(key(), value(), 0..4)),
        prop::option::of(prop::collection::vec(expression(), 0..4)),
    )
        .prop_map(|(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        })
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(key(), value(), 0..5)
}

/// Kubernetes' meaning of a present `LabelSelector`, written out directly.
fn model(s: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let labels_hold = s
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_hold = s.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => !value.is_some_and(|v| values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("generator made operator {other}"),
        }
    });
    labels_hold && expressions_hold
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The converted selector matches exactly what Kubernetes' rules say, for any labels,
    /// also for objects without labels; a null selector matches nothing.
    #[test]
    fn converted_selector_matches_like_kubernetes(
        spec in label_selector(),
        objects in prop::collection::vec(labels(), 1..8),
    ) {
        let s = label_selector_as_selector(Some(&spec)).unwrap();
        let null = label_selector_as_selector::<LabelSelector>(None).unwrap();
        for labels in &objects {
            prop_assert_eq!(s.matches(labels), model(&spec, labels), "{} on {:?}", s, labels);
            prop_assert!(!null.matches(labels));
        }
        prop_assert_eq!(s.matches_labels(None), model(&spec, &BTreeMap::new()));
        let empty = spec.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && spec.match_expressions.as_ref().is_none_or(Vec::is_empty);
        prop_assert_eq!(s.is_everything(), empty);
    }

    /// Object form → selector → object form → selector gives the same selector, and the
    /// selector's query form parses back to it.
    #[test]
    fn round_trips(spec in label_selector()) {
        let s = label_selector_as_selector(Some(&spec)).unwrap();
        let back = selector_as_label_selector(&s).unwrap();
        let back = back.expect("a present selector stays present");
        prop_assert_eq!(&label_selector_as_selector(Some(&back)).unwrap(), &s);
        if !s.is_everything() {
            prop_assert_eq!(&selector::LabelSelector::parse(&s.to_string()).unwrap(), &s);
        }
        // The k8s-style JSON form survives serde as well.
        let json = serde_json::to_value(&back).unwrap();
        prop_assert_eq!(serde_json::from_value::<LabelSelector>(json).unwrap(), back);
    }

    /// A parsed selector string (without `>`/`<`) converts to the object form and back
    /// with the same meaning: `!=` becomes `NotIn`, a repeated `=` key an `In`.
    #[test]
    fn parsed_selectors_keep_their_meaning(
        parts in prop::collection::vec(
            (key(), prop::sample::select(&["=", "==", "!=", " in ", " notin ", "", "!"][..]), value()),
            1..5,
        ),
        objects in prop::collection::vec(labels(), 1..8),
    ) {
        let text: Vec<String> = parts
            .iter()
            .map(|(k, op, v)| match *op {
                "" => k.clone(),
                "!" => format!("!{k}"),
                " in " | " notin " => format!("{k}{op}({v},web)"),
                _ => format!("{k}{op}{v}"),
            })
            .collect();
        let s = selector::LabelSelector::parse(&text.join(",")).unwrap();
        let object_form = selector_as_label_selector(&s).unwrap().unwrap();
        let again = label_selector_as_selector(Some(&object_form)).unwrap();
        for labels in &objects {
            prop_assert_eq!(again.matches(labels), s.matches(labels), "{} vs {}", again, s);
            prop_assert_eq!(model(&object_form, labels), s.matches(labels));
        }
    }

    /// Any operator other than the four is refused, naming the operator.
    #[test]
    fn unknown_operators_are_refused(operator in "[A-Za-z=!<>]{0,12}", key in key()) {
        prop_assume!(!OPERATORS.contains(&operator.as_str()));
        let spec = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key,
                operator: operator.clone(),
                values: Some(vec!["web".into()]),
            }]),
        };
        let err = label_selector_as_selector(Some(&spec)).unwrap_err();
        prop_assert!(
            matches!(&err, LabelSelectorError::InvalidOperator { operator: o, .. } if *o == operator),
            "{err}"
        );
        let quoted = format!("{operator:?}");
        prop_assert!(err.to_string().contains(&quoted), "{}", err);
    }
}
