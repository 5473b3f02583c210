//! Query-string parsing and the list/watch options a request carries.
//!
//! A request's query is percent-decoded into pairs, then read into [`ListOptions`] with
//! the parse errors a real server gives (`400 BadRequest` for a selector it cannot parse
//! or a field it cannot select on). The fake lister-watcher reads the client's
//! [`ListParams`] and [`WatchParams`] into the same [`ListOptions`], with the same rules
//! (an empty value is unset, a zero `limit` is no limit), so that both paths serve
//! exactly the same options.

use std::collections::HashMap;
use std::time::Duration;

use super::errors;
use crate::client::{ListParams, WatchParams};
use crate::meta::Status;
use crate::selector::{FieldSelector, LabelSelector};

/// Decoded query parameters; the last of repeated keys wins.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: HashMap<String, String>,
}

impl Query {
    /// Parses a raw query string (`application/x-www-form-urlencoded`: percent-escapes
    /// and `+` as a space are decoded, invalid UTF-8 is replaced).
    pub(crate) fn parse(raw: Option<&str>) -> Query {
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        Query { pairs }
    }

    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).map(String::as_str)
    }

    /// `key` as a boolean: `true`/`1` are true; absent is `None`.
    pub(crate) fn flag(&self, key: &str) -> Result<Option<bool>, Status> {
        match self.get(key) {
            None => Ok(None),
            Some("true" | "1" | "True") => Ok(Some(true)),
            Some("false" | "0" | "False" | "") => Ok(Some(false)),
            Some(other) => Err(errors::bad_request(format!(
                "invalid boolean value {other:?} for {key}"
            ))),
        }
    }

    /// `key` as a non-negative integer.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, Status> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                errors::bad_request(format!(
                    "invalid value {v:?} for {key}: not a non-negative integer"
                ))
            }),
        }
    }
}

/// The options of a list or watch request.
#[derive(Debug, PartialEq)]
pub(crate) struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `resourceVersion`, absent when unset or empty.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`, absent when unset or empty.
    pub resource_version_match: Option<String>,
    /// `limit`, absent when unset or zero.
    pub limit: Option<usize>,
    /// `continue`, absent when unset or empty.
    pub continue_: Option<String>,
    /// `watch`.
    pub watch: bool,
    /// `allowWatchBookmarks`.
    pub allow_bookmarks: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
}

/// Parses a label selector as the server does (`400` when it cannot).
fn label_selector(s: Option<&str>) -> Result<LabelSelector, Status> {
    match s {
        Some(s) => LabelSelector::parse(s)
            .map_err(|e| errors::bad_request(format!("unable to parse requirement: {e}"))),
        None => Ok(LabelSelector::everything()),
    }
}

/// Parses a field selector as the server does (`400` when it cannot).
fn field_selector(s: Option<&str>) -> Result<FieldSelector, Status> {
    match s {
        Some(s) => FieldSelector::parse(s).map_err(|e| errors::bad_request(e.to_string())),
        None => Ok(FieldSelector::everything()),
    }
}

/// The value unless it is empty.
fn non_empty(v: Option<&str>) -> Option<String> {
    v.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A `limit` as the server reads it: zero is no limit.
fn page_limit(limit: Option<u64>) -> Option<usize> {
    limit
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
}

/// A `timeoutSeconds` as the server reads it: zero is the server's default, which here
/// is no deadline.
fn timeout(seconds: Option<u64>) -> Option<Duration> {
    seconds.filter(|s| *s > 0).map(Duration::from_secs)
}

impl ListOptions {
    /// Reads the options from a query.
    pub(crate) fn from_query(q: &Query) -> Result<ListOptions, Status> {
        Ok(ListOptions {
            labels: label_selector(q.get("labelSelector"))?,
            fields: field_selector(q.get("fieldSelector"))?,
            resource_version: non_empty(q.get("resourceVersion")),
            resource_version_match: non_empty(q.get("resourceVersionMatch")),
            limit: page_limit(q.number("limit")?),
            continue_: non_empty(q.get("continue")),
            watch: q.flag("watch")?.unwrap_or(false),
            allow_bookmarks: q.flag("allowWatchBookmarks")?.unwrap_or(false),
            timeout: timeout(q.number("timeoutSeconds")?),
            send_initial_events: q.flag("sendInitialEvents")?,
        })
    }

    /// Reads the options of a list call, as the server reads the query that
    /// [`Api::list`](crate::client::Api::list) sends for them.
    pub(crate) fn from_list_params(p: &ListParams) -> Result<ListOptions, Status> {
        Ok(ListOptions {
            labels: label_selector(p.label_selector.as_deref())?,
            fields: field_selector(p.field_selector.as_deref())?,
            resource_version: non_empty(p.resource_version.as_deref()),
            resource_version_match: p.resource_version_match.map(|m| m.as_str().to_owned()),
            limit: page_limit(p.limit.map(u64::from)),
            continue_: non_empty(p.continue_token.as_deref()),
            watch: false,
            allow_bookmarks: false,
            timeout: timeout(p.timeout_seconds.map(u64::from)),
            send_initial_events: None,
        })
    }

    /// Reads the options of a watch call, as the server reads the query that
    /// [`Api::watch`](crate::client::Api::watch) sends for them.
    pub(crate) fn from_watch_params(p: &WatchParams) -> Result<ListOptions, Status> {
        Ok(ListOptions {
            labels: label_selector(p.label_selector.as_deref())?,
            fields: field_selector(p.field_selector.as_deref())?,
            resource_version: non_empty(p.resource_version.as_deref()),
            resource_version_match: p.resource_version_match.map(|m| m.as_str().to_owned()),
            limit: None,
            continue_: None,
            watch: true,
            allow_bookmarks: p.allow_watch_bookmarks,
            timeout: timeout(p.timeout_seconds.map(u64::from)),
            // Only `true` goes on the wire.
            send_initial_events: p.send_initial_events.then_some(true),
        })
    }

    /// Whether any selector narrows the result (then `remainingItemCount` is not sent).
    pub(crate) fn has_selector(&self) -> bool {
        !self.labels.is_everything() || !self.fields.is_everything()
    }

    /// `resourceVersion` as a number; `400` when it is not one.
    pub(crate) fn rv_number(&self) -> Result<Option<u64>, Status> {
        match self.resource_version.as_deref() {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                errors::bad_request(format!("invalid resource version {v:?}: not a number"))
            }),
        }
    }
}

/// Whether a write is a dry run: `dryRun` holds `All` (a real server knows no other
/// value; anything else is `422 Invalid` on the request's options, `kind` being
/// `CreateOptions`, `UpdateOptions`, `PatchOptions` or `DeleteOptions`).
pub(crate) fn dry_run<'a>(
    values: impl IntoIterator<Item = &'a str>,
    kind: &str,
) -> Result<bool, Status> {
    let values: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
    if values.iter().all(|v| *v == "All") {
        return Ok(!values.is_empty());
    }
    let shown: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    Err(errors::invalid_options(
        kind,
        errors::FieldError::not_supported(
            "dryRun",
            &format!("[]string{{{}}}", shown.join(", ")),
            &["All"],
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb%2Ctier+in+%28a%29&a=100%&b=%zz&flag&&c=1&c=2",
        ));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert_eq!(q.get("a"), Some("100%"));
        assert_eq!(q.get("b"), Some("%zz"));
        assert_eq!(q.get("flag"), Some(""));
        assert_eq!(q.get("c"), Some("2"), "the last of repeated keys wins");
        assert_eq!(Query::parse(None).get("a"), None);
    }

    #[test]
    fn reads_options() {
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&limit=0&watch=1&resourceVersion=&timeoutSeconds=5",
        ));
        let o = ListOptions::from_query(&q).expect("valid");
        assert!(o.watch);
        assert_eq!(o.limit, None);
        assert_eq!(o.resource_version, None);
        assert_eq!(o.timeout, Some(Duration::from_secs(5)));
        assert!(o.has_selector());
        // Which fields a resource supports is checked where the resource is known.
        let q = Query::parse(Some("fieldSelector=spec.nodeName%3Dn1"));
        let o = ListOptions::from_query(&q).expect("any field parses");
        assert!(!o.fields.is_metadata_only());
        let q = Query::parse(Some("fieldSelector=spec.nodeName"));
        let e = ListOptions::from_query(&q).expect_err("no operator");
        assert_eq!(e.code, 400);
    }

    /// The query the client sends for some params, as the server parses it.
    fn over_http(fill: impl FnOnce(&mut form_urlencoded::Serializer<'_, String>)) -> Query {
        let mut q = form_urlencoded::Serializer::new(String::new());
        fill(&mut q);
        Query::parse(Some(&q.finish()))
    }

    #[test]
    fn client_params_read_as_their_query() {
        use crate::client::{ResourceVersionMatch, ToQuery};
        let lists = [
            ListParams::default(),
            ListParams::default()
                .labels("app in (a,b),!canary")
                .fields("metadata.name=x")
                .limit(0)
                .continue_token("")
                .at(""),
            ListParams::default()
                .limit(7)
                .continue_token("abc")
                .at("0")
                .matching(ResourceVersionMatch::Exact),
            ListParams {
                timeout_seconds: Some(9),
                ..ListParams::default()
            },
        ];
        for p in lists {
            let direct = ListOptions::from_list_params(&p).expect("valid");
            let wire = ListOptions::from_query(&over_http(|q| p.query(q))).expect("valid");
            assert_eq!(direct, wire, "{p:?}");
        }
        let watches = [
            WatchParams::default(),
            WatchParams::default()
                .labels("tier=web")
                .at("12")
                .timeout(30)
                .bookmarks(true),
            WatchParams::default().bookmarks(true).initial_events(true),
            WatchParams::default().at(""),
        ];
        for p in watches {
            let direct = ListOptions::from_watch_params(&p).expect("valid");
            let wire = ListOptions::from_query(&over_http(|q| p.query(q))).expect("valid");
            assert_eq!(direct, wire, "{p:?}");
        }
        let bad = ListParams::default().labels("app in (");
        assert_eq!(
            ListOptions::from_list_params(&bad).expect_err("bad").code,
            400
        );
    }
}
