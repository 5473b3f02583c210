//! Label and field selectors: parse, match, render back to the query form.
//!
//! A selector string from a user or a list call's `labelSelector` parameter is parsed
//! into a [`LabelSelector`] (a conjunction of requirements), which then matches objects'
//! labels in memory (listers) or renders back into its query form (list and watch
//! calls). [`FieldSelector`] does the same for field selectors: it parses any field path,
//! matches `metadata.name` and `metadata.namespace` on any object and other fields on an
//! object's JSON form; which fields a resource can be selected by is the server's to say.
//!
//! ```
//! use std::collections::BTreeMap;
//! use informer::selector::LabelSelector;
//!
//! let sel = LabelSelector::parse("app in (web,api), tier!=db, !canary").unwrap();
//! let labels: BTreeMap<String, String> =
//!     [("app".into(), "web".into()), ("tier".into(), "frontend".into())].into();
//! assert!(sel.matches(&labels));
//! assert_eq!(sel.to_string(), "app in (api,web),!canary,tier!=db");
//! ```

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::meta::{Object, StringMapRef};

/// Why a selector string could not be parsed. The message quotes the offending part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The syntax is wrong at the quoted part.
    #[error("invalid selector {selector:?}: {problem} at {near:?}")]
    Syntax {
        /// The whole selector.
        selector: String,
        /// What is wrong.
        problem: String,
        /// The offending part.
        near: String,
    },
    /// A label key is not a valid qualified name.
    #[error("invalid label key {key:?} in selector {selector:?}: {reason}")]
    InvalidKey {
        /// The whole selector.
        selector: String,
        /// The offending key.
        key: String,
        /// Kubernetes' rule that it breaks.
        reason: String,
    },
    /// A label value is not valid.
    #[error("invalid label value {value:?} in selector {selector:?}: {reason}")]
    InvalidValue {
        /// The whole selector.
        selector: String,
        /// The offending value.
        value: String,
        /// Kubernetes' rule that it breaks.
        reason: String,
    },
}

/// The operator of one label requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `key=value`
    Equals,
    /// `key==value`
    DoubleEquals,
    /// `key!=value`
    NotEquals,
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>n` (integer comparison)
    GreaterThan,
    /// `key<n` (integer comparison)
    LessThan,
}

/// One requirement: a key, an operator and its values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
}

impl Requirement {
    /// A requirement as given: the caller answers for its key, its values and their
    /// number.
    pub(crate) fn unchecked(
        key: String,
        operator: Operator,
        values: impl IntoIterator<Item = String>,
    ) -> Self {
        Requirement {
            key,
            operator,
            values: values.into_iter().collect(),
        }
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values (sorted); empty for `Exists` and `DoesNotExist`.
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: Option<StringMapRef<'_>>) -> bool {
        let value = labels.and_then(|l| l.get(&self.key));
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotEquals | Operator::NotIn => {
                !value.is_some_and(|v| self.values.contains(v))
            }
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.operator == Operator::GreaterThan => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let single = || self.values.first().map(String::as_str).unwrap_or_default();
        // A set holding only the empty value is written `(,)`: `()` would not parse.
        let set = || match self.values.iter().collect::<Vec<_>>().as_slice() {
            [only] if only.is_empty() => ",".to_owned(),
            values => values
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
        };
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, single()),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, single()),
            Operator::NotEquals => write!(f, "{}!={}", self.key, single()),
            Operator::In => write!(f, "{} in ({})", self.key, set()),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, set()),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
            Operator::GreaterThan => write!(f, "{}>{}", self.key, single()),
            Operator::LessThan => write!(f, "{}<{}", self.key, single()),
        }
    }
}

/// A label selector: requirements that must all hold. The empty selector matches
/// everything; [`LabelSelector::nothing`] (what a null `LabelSelector` of an object
/// means) matches no object.
///
/// ```
/// use std::collections::BTreeMap;
/// use informer::selector::LabelSelector;
///
/// let web: LabelSelector = "app=web,tier in (frontend,edge),!canary".parse().unwrap();
/// let labels = BTreeMap::from([
///     ("app".to_string(), "web".to_string()),
///     ("tier".to_string(), "edge".to_string()),
/// ]);
/// assert!(web.matches(&labels));
/// assert!(LabelSelector::everything().matches(&labels));
/// assert!(!LabelSelector::nothing().matches(&labels));
/// // Rendered back in its query form, for a list or watch call.
/// assert_eq!(web.to_string(), "app=web,!canary,tier in (edge,frontend)");
/// ```
///
/// A selector in an object (`spec.selector` of a Deployment, with `matchLabels` and
/// `matchExpressions`) converts with
/// [`label_selector_as_selector`](crate::meta::label_selector_as_selector) and back
/// with [`selector_as_label_selector`](crate::meta::selector_as_label_selector).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// Matches nothing (apimachinery's `labels.Nothing()`); `requirements` is empty.
    nothing: bool,
}

impl LabelSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        LabelSelector::default()
    }

    /// The selector that matches no object, as a null `LabelSelector` in an object's spec
    /// does (apimachinery's `labels.Nothing()`). It has no query form: like
    /// apimachinery's, it renders as the empty string, which a server reads as
    /// everything, so check [`is_nothing`](Self::is_nothing) before listing with it.
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// Whether this selector matches every object.
    pub fn is_everything(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this is [`LabelSelector::nothing`], which matches no object.
    pub fn is_nothing(&self) -> bool {
        self.nothing
    }

    /// A selector of requirements already checked (keys, values, and the number of
    /// values for the operator).
    pub(crate) fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        LabelSelector {
            requirements,
            nothing: false,
        }
    }

    /// Parses Kubernetes' label selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
    /// `a notin (x)`, `a`, `!a`, `a>1`, `a<1`, joined by commas (AND).
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        Ok(LabelSelector::from_requirements(
            Parser::new(selector).parse()?,
        ))
    }

    /// A selector requiring every given label to equal its value (like `matchLabels`).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        LabelSelector::from_requirements(
            labels
                .into_iter()
                .map(|(k, v)| {
                    Requirement::unchecked(k.to_owned(), Operator::Equals, [v.to_owned()])
                })
                .collect(),
        )
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether `labels` satisfy every requirement: a `&BTreeMap<String, String>`, a
    /// `&StringMap` or a [`StringMapRef`].
    pub fn matches<'a>(&self, labels: impl Into<StringMapRef<'a>>) -> bool {
        self.matches_labels(Some(labels.into()))
    }

    /// Like [`LabelSelector::matches`], for objects that may have no labels at all.
    pub fn matches_labels(&self, labels: Option<StringMapRef<'_>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the object's labels satisfy every requirement.
    pub fn matches_object<K: Object>(&self, obj: &K) -> bool {
        self.matches_labels(obj.labels())
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, SelectorError> {
        LabelSelector::parse(s)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
    In,
    NotIn,
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    peeked: Option<(usize, Option<Token<'a>>)>,
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, ',' | '=' | '!' | '(' | ')' | '<' | '>')
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            pos: 0,
            peeked: None,
        }
    }

    fn error(&self, problem: impl Into<String>, at: usize) -> SelectorError {
        let rest = &self.input[at.min(self.input.len())..];
        SelectorError::Syntax {
            selector: self.input.to_owned(),
            problem: problem.into(),
            near: if rest.is_empty() {
                "end of input".to_owned()
            } else {
                rest.to_owned()
            },
        }
    }

    /// Reads the next token; returns its start offset too.
    fn lex(&mut self) -> (usize, Option<Token<'a>>) {
        let bytes = self.input.as_bytes();
        while self.pos < bytes.len() && (bytes[self.pos] as char).is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(c) = rest.chars().next() else {
            return (start, None);
        };
        let two = rest.get(..2);
        let (len, tok) = match (c, two) {
            (_, Some("==")) => (2, Token::DoubleEq),
            (_, Some("!=")) => (2, Token::NotEq),
            ('=', _) => (1, Token::Eq),
            ('!', _) => (1, Token::Bang),
            ('(', _) => (1, Token::Open),
            (')', _) => (1, Token::Close),
            (',', _) => (1, Token::Comma),
            ('>', _) => (1, Token::Gt),
            ('<', _) => (1, Token::Lt),
            _ => {
                let len = rest.find(is_special).unwrap_or(rest.len());
                let word = &rest[..len];
                let tok = match word {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                };
                (len, tok)
            }
        };
        self.pos = start + len;
        (start, Some(tok))
    }

    fn next(&mut self) -> (usize, Option<Token<'a>>) {
        self.peeked.take().unwrap_or_else(|| self.lex())
    }

    fn peek(&mut self) -> (usize, Option<Token<'a>>) {
        if self.peeked.is_none() {
            let t = self.lex();
            self.peeked = Some(t);
        }
        self.peeked.clone().unwrap_or((self.input.len(), None))
    }

    fn parse(mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut out = Vec::new();
        if self.peek().1.is_none() {
            return Ok(out);
        }
        loop {
            out.push(self.requirement()?);
            match self.next() {
                (_, None) => return Ok(out),
                (_, Some(Token::Comma)) => {
                    if self.peek().1.is_none() {
                        return Err(self.error("expected a requirement after ','", self.pos));
                    }
                }
                (at, Some(_)) => return Err(self.error("expected ',' or end of input", at)),
            }
        }
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.next() {
            (_, Some(Token::Ident(k))) => {
                validate_key(k).map_err(|reason| SelectorError::InvalidKey {
                    selector: self.input.to_owned(),
                    key: k.to_owned(),
                    reason,
                })?;
                Ok(k.to_owned())
            }
            (at, _) => Err(self.error("expected a label key", at)),
        }
    }

    fn value(&mut self, v: &str) -> Result<String, SelectorError> {
        validate_value(v).map_err(|reason| SelectorError::InvalidValue {
            selector: self.input.to_owned(),
            value: v.to_owned(),
            reason,
        })?;
        Ok(v.to_owned())
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        if let (_, Some(Token::Bang)) = self.peek() {
            self.next();
            let key = self.key()?;
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
                values: BTreeSet::new(),
            });
        }
        let key = self.key()?;
        let (at, op) = self.peek();
        let operator = match op {
            None | Some(Token::Comma) => {
                return Ok(Requirement {
                    key,
                    operator: Operator::Exists,
                    values: BTreeSet::new(),
                })
            }
            Some(Token::Eq) => Operator::Equals,
            Some(Token::DoubleEq) => Operator::DoubleEquals,
            Some(Token::NotEq) => Operator::NotEquals,
            Some(Token::In) => Operator::In,
            Some(Token::NotIn) => Operator::NotIn,
            Some(Token::Gt) => Operator::GreaterThan,
            Some(Token::Lt) => Operator::LessThan,
            Some(_) => {
                return Err(self.error(
                    "expected an operator (=, ==, !=, in, notin, >, <), ',' or end of input",
                    at,
                ))
            }
        };
        self.next();
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            Operator::GreaterThan | Operator::LessThan => {
                let (at, tok) = self.next();
                match tok {
                    Some(Token::Ident(v)) if v.parse::<i64>().is_ok() => {
                        BTreeSet::from([v.to_owned()])
                    }
                    _ => return Err(self.error("expected an integer", at)),
                }
            }
            _ => match self.peek() {
                (_, Some(Token::Ident(v))) => {
                    self.next();
                    BTreeSet::from([self.value(v)?])
                }
                // `a=` selects the empty value, as in Kubernetes.
                (_, None | Some(Token::Comma)) => BTreeSet::from([String::new()]),
                (at, _) => return Err(self.error("expected a label value", at)),
            },
        };
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    fn value_set(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let (at, tok) = self.next();
        if tok != Some(Token::Open) {
            return Err(self.error("expected '(' to open the set of values", at));
        }
        let open_at = at;
        let mut values = BTreeSet::new();
        let mut expect_value = true;
        loop {
            let (at, tok) = self.next();
            match tok {
                Some(Token::Ident(v)) if expect_value => {
                    values.insert(self.value(v)?);
                    expect_value = false;
                }
                Some(Token::Comma) => {
                    if expect_value {
                        values.insert(String::new());
                    }
                    expect_value = true;
                }
                Some(Token::Close) => {
                    if expect_value && !values.is_empty() {
                        values.insert(String::new());
                    }
                    if values.is_empty() {
                        return Err(self.error("the set of values must not be empty", open_at));
                    }
                    return Ok(values);
                }
                None => return Err(self.error("missing ')' to close the set of values", open_at)),
                _ => return Err(self.error("expected a value, ',' or ')'", at)),
            }
        }
    }
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// The rule for a qualified name (a label key's name part), in the API server's words.
const QUALIFIED_NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
     '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/// Checks a label key (also an annotation key or a finalizer name): an optional
/// DNS-subdomain prefix and `/`, then a name of at most 63 characters of alphanumerics,
/// `-`, `_` and `.`, starting and ending alphanumeric. The error is the first problem,
/// worded as the API server words it.
pub fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((_, n)) if n.contains('/') => {
            return Err(format!(
                "a qualified name {QUALIFIED_NAME_RULE} with an optional DNS subdomain prefix \
                 and '/' (e.g. 'example.com/MyName')"
            ))
        }
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    match prefix {
        Some("") => return Err("prefix part must be non-empty".to_owned()),
        Some(p) if p.len() > 253 => {
            return Err("prefix part must be no more than 253 characters".to_owned())
        }
        Some(p) if !is_dns_subdomain(p) => {
            return Err(
                "prefix part a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                    .to_owned(),
            )
        }
        _ => {}
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_owned());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".to_owned());
    }
    if !is_name_part(name) {
        return Err(format!("name part {QUALIFIED_NAME_RULE}"));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters of alphanumerics, `-`, `_` and
/// `.`, starting and ending alphanumeric. The error is worded as the API server words it.
pub fn validate_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 {
        return Err("must be no more than 63 characters".to_owned());
    }
    if !is_name_part(value) {
        return Err(
            "a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character (e.g. \
             'MyValue',  or 'my_value',  or '12345', regex used for validation is \
             '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                .to_owned(),
        );
    }
    Ok(())
}

/// A field of a [`FieldSelector`] requirement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// `metadata.name`
    Name,
    /// `metadata.namespace`
    Namespace,
    /// Any other field, by its dotted path as the API names it (`spec.nodeName`,
    /// `involvedObject.uid`, `status.phase`).
    Path(String),
}

impl Field {
    /// The field as the query names it.
    pub fn as_str(&self) -> &str {
        match self {
            Field::Name => "metadata.name",
            Field::Namespace => "metadata.namespace",
            Field::Path(p) => p,
        }
    }

    fn parse(name: &str) -> Field {
        match name {
            "metadata.name" => Field::Name,
            "metadata.namespace" => Field::Namespace,
            other => Field::Path(other.to_owned()),
        }
    }
}

/// One field requirement: `field=value`, `field==value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    /// The field.
    pub field: Field,
    /// `true` for `!=`.
    pub negated: bool,
    /// The value compared with.
    pub value: String,
}

impl FieldRequirement {
    /// Whether a field whose value is `actual` satisfies this requirement.
    pub fn matches_value(&self, actual: &str) -> bool {
        (actual == self.value) != self.negated
    }
}

/// A field selector, as a list or watch call's `fieldSelector` takes it.
///
/// Resources can be selected by `metadata.name` and (all but namespaces and nodes)
/// `metadata.namespace`; built-in resources also by a few fields of their own (pods by
/// `spec.nodeName` and `status.phase`, events by `involvedObject.name`, ...). The server
/// checks the fields and answers `400` for one its resource does not support; parsing
/// accepts any path.
///
/// Matching in memory compares a missing field as `""`, where a server compares the Go
/// zero value of the field's type (`false` for a pod's missing `spec.hostNetwork`, `0`
/// for a number): a selector on a boolean or number that an object may leave out can
/// select differently here than on the server.
///
/// ```
/// use informer::selector::FieldSelector;
/// use informer::meta::{DynamicObject, ObjectMeta};
/// let sel = FieldSelector::parse("metadata.namespace=shop,metadata.name!=web").unwrap();
/// let obj = DynamicObject {
///     metadata: ObjectMeta { namespace: Some("shop".into()), name: Some("api".into()), ..Default::default() },
///     ..Default::default()
/// };
/// assert!(sel.matches(&obj));
///
/// // Other fields are read from the object's JSON form.
/// let sel = FieldSelector::parse("spec.nodeName=n1").unwrap();
/// let pod = serde_json::json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
/// assert!(sel.matches_json(&pod));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// Whether this selector matches every object.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Parses `field=value`, `field==value` and `field!=value` joined by commas. `\,`,
    /// `\=` and `\\` escape those characters in values.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if selector.trim().is_empty() {
            return Ok(FieldSelector { requirements });
        }
        for part in split_unescaped(selector, ',') {
            let syntax = |problem: &str| SelectorError::Syntax {
                selector: selector.to_owned(),
                problem: problem.to_owned(),
                near: part.to_owned(),
            };
            let (field, negated, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(syntax("expected field=value, field==value or field!=value"));
            };
            let field = field.trim();
            if field.is_empty() {
                return Err(syntax("missing field name"));
            }
            requirements.push(FieldRequirement {
                field: Field::parse(field),
                negated,
                value: unescape(value.trim()),
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The requirements, in the order given.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// Whether every requirement is on `metadata.name` or `metadata.namespace`, so that
    /// [`matches_fields`](Self::matches_fields) decides alone.
    pub fn is_metadata_only(&self) -> bool {
        self.requirements
            .iter()
            .all(|r| !matches!(r.field, Field::Path(_)))
    }

    /// Whether an object satisfies every requirement, given the value of each field
    /// (`None` for a field the object does not have, which compares as `""`).
    pub fn matches_with<'a>(&self, mut value: impl FnMut(&Field) -> Option<Cow<'a, str>>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = value(&r.field);
            r.matches_value(actual.as_deref().unwrap_or_default())
        })
    }

    /// Whether an object with this name and namespace satisfies every requirement; a
    /// cluster-scoped object has the namespace `""`.
    ///
    /// Only for a [metadata-only](Self::is_metadata_only) selector: a requirement on any
    /// other field compares that field as absent (`""`), so that `spec.nodeName!=x`
    /// matches every object. Use [`matches_json`](Self::matches_json) or
    /// [`matches`](Self::matches) for other selectors.
    pub fn matches_fields(&self, name: &str, namespace: &str) -> bool {
        self.matches_with(|f| match f {
            Field::Name => Some(Cow::Borrowed(name)),
            Field::Namespace => Some(Cow::Borrowed(namespace)),
            Field::Path(_) => None,
        })
    }

    /// Whether an object in its JSON form satisfies every requirement. A field path is
    /// followed through nested objects; strings compare as they are, numbers and booleans
    /// in their JSON text, and a missing field or `null` as `""`.
    pub fn matches_json(&self, obj: &serde_json::Value) -> bool {
        self.matches_with(|f| json_field(obj, f.as_str()))
    }

    /// Whether the object satisfies every requirement. Fields other than `metadata.name`
    /// and `metadata.namespace` are read from the object's JSON form, which is built only
    /// when the selector names such a field (and an object that cannot be serialised
    /// then matches nothing).
    pub fn matches<K: Object + serde::Serialize>(&self, obj: &K) -> bool {
        if self.is_metadata_only() {
            return self.matches_fields(
                obj.name().unwrap_or_default(),
                obj.namespace().unwrap_or_default(),
            );
        }
        match serde_json::to_value(obj) {
            Ok(json) => self.matches_json(&json),
            Err(_) => false,
        }
    }
}

/// The value of the field at a dotted path of a JSON object, as a field selector
/// compares it: strings as they are, numbers and booleans in their JSON text; `None` when
/// missing or `null`.
pub(crate) fn json_field<'a>(obj: &'a serde_json::Value, path: &str) -> Option<Cow<'a, str>> {
    let mut at = obj;
    for part in path.split('.') {
        at = at.get(part)?;
    }
    match at {
        serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
        serde_json::Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

impl FromStr for FieldSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, SelectorError> {
        FieldSelector::parse(s)
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.negated { "!=" } else { "=" };
            write!(f, "{}{}{}", r.field.as_str(), op, escape(&r.value))?;
        }
        Ok(())
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_set_of_only_the_empty_value_renders_as_text_that_parses() {
        // Found by the fuzz check: `(,)` is the set {""}, which used to render as `()`.
        let sel = LabelSelector::parse("a notin (,)").unwrap();
        assert_eq!(sel.to_string(), "a notin (,)");
        assert_eq!(LabelSelector::parse(&sel.to_string()).unwrap(), sel);
        let sel = LabelSelector::parse("a in (,x)").unwrap();
        assert_eq!(LabelSelector::parse(&sel.to_string()).unwrap(), sel);
    }

    #[test]
    fn every_operator_parses_and_matches() {
        let l = labels(&[("app", "web"), ("tier", "frontend"), ("n", "5")]);
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=api", true),
            ("missing!=x", true),
            ("app in (web,api)", true),
            ("app in (api)", false),
            ("app notin (api)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("n>4", true),
            ("n<4", false),
            ("missing>1", false),
            ("app=web,tier=frontend", true),
            ("app=web,tier=backend", false),
            ("", true),
            ("  app  =  web  ,  !x ", true),
        ];
        for (sel, want) in cases {
            let s = LabelSelector::parse(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn empty_value_is_allowed() {
        let s = LabelSelector::parse("a=").unwrap();
        assert!(s.matches(&labels(&[("a", "")])));
        assert!(!s.matches(&labels(&[("a", "x")])));
    }

    #[test]
    fn no_labels_at_all() {
        assert!(LabelSelector::parse("!a").unwrap().matches_labels(None));
        assert!(LabelSelector::parse("a!=b").unwrap().matches_labels(None));
        assert!(!LabelSelector::parse("a").unwrap().matches_labels(None));
    }

    #[test]
    fn renders_sorted_query_form_that_parses_back() {
        for (input, rendered) in [
            ("b=1,a in (y,x)", "a in (x,y),b=1"),
            ("x==1", "x==1"),
            (
                "!z, y notin (q), x!=2, w, v>3, u<7",
                "u<7,v>3,w,x!=2,y notin (q),!z",
            ),
            ("example.com/app=web", "example.com/app=web"),
        ] {
            let s = LabelSelector::parse(input).unwrap();
            assert_eq!(s.to_string(), rendered);
            assert_eq!(LabelSelector::parse(&s.to_string()).unwrap(), s);
        }
    }

    #[test]
    fn malformed_selectors_quote_the_offending_part() {
        for (sel, near) in [
            ("a=b,", "end of input"),
            ("a in (b", "(b"),
            ("a in b", "b"),
            ("a in ()", "()"),
            ("a=b c", "c"),
            ("=b", "=b"),
            ("a>b", "b"),
            ("!", "end of input"),
            ("a==(b)", "(b)"),
        ] {
            match LabelSelector::parse(sel) {
                Err(SelectorError::Syntax { near: got, .. }) => assert_eq!(got, near, "{sel}"),
                other => panic!("{sel}: expected a syntax error, got {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_keys_and_values_are_rejected() {
        for sel in [
            "-a=b",
            "a-=b",
            "Example.com/a=b",
            "a/b/c=d",
            "/a=b",
            &format!("{}=b", "k".repeat(64)),
        ] {
            assert!(
                matches!(
                    LabelSelector::parse(sel),
                    Err(SelectorError::InvalidKey { .. })
                ),
                "{sel}"
            );
        }
        for sel in [
            "a=-b",
            "a in (b,c-)",
            &format!("a={}", "v".repeat(64)),
            "a=b/c",
        ] {
            let err = LabelSelector::parse(sel).unwrap_err();
            assert!(
                matches!(err, SelectorError::InvalidValue { .. }),
                "{sel}: {err:?}"
            );
            assert!(err.to_string().contains(sel), "{err}");
        }
        assert!(LabelSelector::parse(&format!("{}=b", "k".repeat(63))).is_ok());
        assert!(LabelSelector::parse("app.kubernetes.io/name=a_b.c-d").is_ok());
    }

    #[test]
    fn from_labels_matches_like_match_labels() {
        let s = LabelSelector::from_labels([("app", "web"), ("tier", "fe")]);
        assert_eq!(s.to_string(), "app=web,tier=fe");
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn field_selectors() {
        let s = FieldSelector::parse("metadata.name=web,metadata.namespace!=kube-system").unwrap();
        assert!(s.matches_fields("web", "shop"));
        assert!(!s.matches_fields("web", "kube-system"));
        assert!(!s.matches_fields("api", "shop"));
        assert_eq!(
            s.to_string(),
            "metadata.name=web,metadata.namespace!=kube-system"
        );
        let s = FieldSelector::parse("metadata.name==a\\,b").unwrap();
        assert!(s.matches_fields("a,b", ""));
        assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
        assert!(FieldSelector::parse("").unwrap().is_everything());
        let s = FieldSelector::parse("metadata.name=a,spec.nodeName=n1").unwrap();
        assert!(!s.is_metadata_only());
        assert_eq!(
            s.requirements()[1].field,
            Field::Path("spec.nodeName".into())
        );
        assert!(s.matches_json(&serde_json::json!({
            "metadata": {"name": "a"}, "spec": {"nodeName": "n1"}
        })));
        assert!(!s.matches_json(&serde_json::json!({"metadata": {"name": "a"}})));
        // A missing field compares as "", booleans and numbers by their JSON text.
        let s = FieldSelector::parse("spec.nodeName=,spec.hostNetwork=true,count!=3").unwrap();
        assert!(s.matches_json(&serde_json::json!({"spec": {"hostNetwork": true}, "count": 4})));
        assert!(!s.matches_json(&serde_json::json!({"spec": {"hostNetwork": false}})));
        assert!(!s.matches_json(&serde_json::json!({"spec": {"hostNetwork": true}, "count": 3})));
        assert_eq!(FieldSelector::parse(&s.to_string()).unwrap(), s);
        assert!(matches!(
            FieldSelector::parse("metadata.name"),
            Err(SelectorError::Syntax { .. })
        ));
    }
}
