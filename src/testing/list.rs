//! List semantics shared by the HTTP server and the fake lister-watcher: selectors,
//! resourceVersion semantics, paging and continue tokens.
//!
//! The request's options decide where the list reads (latest, exact version, or not older
//! than a version, waiting for the server to get there) and the storage returns one page
//! of pre-serialised objects ([`read`]). The server writes the page out by concatenating
//! their bytes ([`render`]); the fake decodes each object and builds the same
//! [`ListMeta`] ([`list_meta`]). A continue token is opaque to clients but shaped like a
//! real one: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"}`.

use std::time::Duration;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::errors;
use super::fields::FieldFilter;
use super::options;
use super::query::ListOptions;
use super::resources::ResourceInfo;
use super::storage::{ListAt, ListError, ObjKey, Page, Storage, Stored};
use crate::meta::{ListMeta, Status};

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    v: String,
    rv: i64,
    start: String,
}

/// A continue token for resuming after `key` at `rv` (`-1`: at the latest version).
pub(crate) fn encode_token(rv: i64, key: &ObjKey) -> String {
    let token = Token {
        v: "meta.k8s.io/v1".to_owned(),
        rv,
        start: format!("{}\u{0}", key.encode()),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

/// Decodes a continue token into its version and the key to resume after.
pub(crate) fn decode_token(token: &str) -> Result<(i64, ObjKey), Status> {
    let invalid = |why: &str| errors::bad_request(format!("continue key is not valid: {why}"));
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|e| invalid(&e.to_string()))?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|e| invalid(&e.to_string()))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(invalid(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let start = token.start.strip_suffix('\u{0}').unwrap_or(&token.start);
    if start.is_empty() {
        return Err(invalid("encoded start key is empty"));
    }
    Ok((token.rv, ObjKey::decode(start)))
}

/// Waits up to `wait` for the server to reach `rv`; `false` if it did not.
pub(crate) async fn wait_for_rv(storage: &Storage, rv: u64, wait: Duration) -> bool {
    let mut rx = storage.rv_receiver();
    tokio::time::timeout(wait, rx.wait_for(|v| *v >= rv))
        .await
        .is_ok_and(|r| r.is_ok())
}

/// Reads the page a list request asks for, or the `Status` the server answers it with.
pub(crate) async fn read(
    storage: &Storage,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
    too_large_wait: Duration,
) -> Result<Page, Status> {
    options::check_list(opts)?;
    let rv_text = opts.resource_version.as_deref();
    let rv_match = opts.resource_version_match.as_deref();
    if opts.continue_.is_some() && rv_text.is_some_and(|v| v != "0") {
        return Err(errors::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let rv = opts.rv_number()?;
    let labels = &opts.labels;
    let fields = FieldFilter::new(info, &opts.fields)?;
    let filter = |o: &Stored| {
        labels.matches_labels(o.meta.labels.as_ref().map(Into::into)) && fields.matches(o)
    };
    let count = !opts.has_selector();
    // resourceVersion=0 is served from the "cache": the whole list, limit ignored.
    let limit = if rv == Some(0) { None } else { opts.limit };

    if let Some(token) = opts.continue_.as_deref() {
        let (token_rv, after) = decode_token(token)?;
        let at = if token_rv < 0 {
            ListAt::Latest
        } else {
            ListAt::Exact(token_rv as u64)
        };
        return match storage.list(info, ns, at, Some(&after), limit, &filter, count) {
            Ok(page) => Ok(page),
            Err(ListError::TooOld) => Err(errors::continue_expired(encode_token(-1, &after))),
            Err(ListError::TooLarge(_)) => Err(errors::bad_request(
                "continue key is not valid: resource version is in the future",
            )),
        };
    }

    let at = match (rv, rv_match) {
        (None | Some(0), _) => ListAt::Latest,
        (Some(n), Some("Exact")) => ListAt::Exact(n),
        // The legacy rule real servers keep (KEP-2523): without resourceVersionMatch, a
        // version with a limit is read exactly, and is `410` once compacted.
        (Some(n), None) if limit.is_some() => ListAt::Exact(n),
        (Some(n), _) => {
            if storage.current_rv() < n && !wait_for_rv(storage, n, too_large_wait).await {
                return Err(errors::too_large_resource_version(n, storage.current_rv()));
            }
            ListAt::Latest
        }
    };
    match storage.list(info, ns, at, None, limit, &filter, count) {
        Ok(page) => Ok(page),
        Err(ListError::TooOld) => Err(errors::list_expired()),
        Err(ListError::TooLarge(_)) => {
            let ListAt::Exact(n) = at else {
                return Err(errors::internal("the latest state is never in the future"));
            };
            if !wait_for_rv(storage, n, too_large_wait).await {
                return Err(errors::too_large_resource_version(n, storage.current_rv()));
            }
            storage
                .list(info, ns, at, None, limit, &filter, count)
                .map_err(|_| errors::list_expired())
        }
    }
}

/// The list metadata of a page: its resourceVersion, the continue token when more
/// objects follow and, when counted, how many.
pub(crate) fn list_meta(page: &Page) -> ListMeta {
    ListMeta {
        resource_version: Some(page.rv.to_string()),
        continue_: page
            .next
            .as_ref()
            .map(|next| encode_token(page.rv as i64, next)),
        remaining_item_count: page.remaining,
        self_link: None,
    }
}

/// The kind of a list of `info`'s objects, for example `PodList`.
pub(crate) fn list_kind(info: &ResourceInfo) -> String {
    format!("{}List", info.api.kind)
}

/// Writes a page as `{kind}List` JSON, splicing the stored bytes of each object (less
/// their type, for the built-in types).
pub(crate) fn render(info: &ResourceInfo, page: &Page) -> Vec<u8> {
    let head = serde_json::json!({
        "kind": list_kind(info),
        "apiVersion": info.api.api_version(),
        "metadata": list_meta(page),
    });
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size: usize = page.items.iter().map(|o| o.json.len() + 1).sum();
    let mut out = Vec::with_capacity(head.len() + size + 16);
    // `head` ends with `}`: reopen it to append the items.
    out.extend_from_slice(&head[..head.len().saturating_sub(1)]);
    out.extend_from_slice(b",\"items\":[");
    // kube-apiserver lists its own types without each item's `apiVersion` and `kind`;
    // custom resources keep theirs.
    let untyped = info.builtin_group();
    for (i, obj) in page.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        obj.write_list_item(untyped, &mut out);
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let key = ObjKey {
            namespace: "shop".into(),
            name: "web-1".into(),
        };
        let t = encode_token(42, &key);
        assert_eq!(decode_token(&t).expect("valid"), (42, key));
        assert_eq!(decode_token("garbage!").expect_err("invalid").code, 400);
    }
}
