//! The properties the fuzz targets check, shared by the cargo-fuzz targets in
//! `fuzz_targets/` (run for hours with `cargo +nightly fuzz run <target>` from `fuzz/`)
//! and by `tests/fuzz.rs`, which runs them on stable as property tests: a bounded number
//! of cases from a fixed seed, in CI.
//!
//! Every check takes raw bytes. Its first byte, where a check cuts its input into
//! chunks, chooses the chunk size; the rest is the input. Beyond "never panics", each
//! check compares two ways of doing the same thing.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};

use informer::client::list_stream::ListDecoder;
use informer::client::watch_stream::{decode_line, LineFramer};
use informer::client::{KubeConfigOptions, Kubeconfig};
use informer::meta::{DynamicObject, ObjectList};
use informer::selector::{FieldSelector, LabelSelector};

/// Starting points for the stable property tests' mutations.
pub const WATCH_SEEDS: &[&[u8]] = &[
    b"\x07{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"a\",\"namespace\":\"d\",\"resourceVersion\":\"5\"},\"data\":{\"k\":\"v\"}}}\n{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"9\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n",
    b"\x03{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (2)\",\"reason\":\"Expired\",\"code\":410}}\n",
    b"\x10{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"x\\u0041\",\"labels\":{\"a\":\"b\"}}}}\n\n{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"y\"}}}",
];

/// Starting points for list bodies.
pub const LIST_SEEDS: &[&[u8]] = &[
    b"\x05{\"kind\":\"ConfigMapList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"12\",\"continue\":\"tok\"},\"items\":[{\"metadata\":{\"name\":\"a\",\"namespace\":\"d\"},\"data\":{\"x\":\"}]\\\"\"}},{\"metadata\":{\"name\":\"b\"}}]}",
    b"\x01{\"items\":null,\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"}}",
    b"\x40{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"no\",\"code\":200}",
    b"\x02{}",
];

/// Starting points for selectors (label selector, a newline, field selector).
pub const SELECTOR_SEEDS: &[&[u8]] = &[
    b"\x00app=web,tier!=db,env in (prod, staging),!legacy,release notin (1,2),x\nmetadata.name=a,metadata.namespace!=kube-system",
    b"\x00example.com/key==v_1.2-x,k\nspec.nodeName=",
];

/// Starting points for kubeconfigs.
pub const KUBECONFIG_SEEDS: &[&[u8]] = &[
    b"\x00apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context: {cluster: c, user: u, namespace: ns}\n",
    b"\x00{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"c\",\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"http://h\"}}],\"users\":[{\"name\":\"u\",\"user\":{\"exec\":{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"command\":\"x\",\"args\":[\"a\"]}}}],\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"c\",\"user\":\"u\"}}]}",
];

/// The chunk size (1..=256) and the input.
fn split(data: &[u8]) -> (usize, &[u8]) {
    match data.split_first() {
        Some((size, rest)) => (*size as usize + 1, rest),
        None => (1, data),
    }
}

/// The lines a framer with this cap cuts `body` into when it arrives in chunks of
/// `size`, and whether it refused a line as too long.
fn frame(body: &[u8], size: usize, cap: usize) -> (Vec<Vec<u8>>, bool) {
    let mut framer = LineFramer::new(cap);
    let mut lines = VecDeque::new();
    for chunk in body.chunks(size.max(1)) {
        if framer
            .push(bytes::Bytes::copy_from_slice(chunk), &mut lines)
            .is_err()
        {
            return (lines.into_iter().map(|l| l.to_vec()).collect(), true);
        }
    }
    let mut out: Vec<Vec<u8>> = lines.into_iter().map(|l| l.to_vec()).collect();
    out.extend(framer.finish().map(|l| l.to_vec()));
    (out, false)
}

/// Watch streams: however the body is cut into chunks, the framer finds the same lines
/// (and refuses the same over-long one); decoding any line never panics, and a line that
/// decodes gives the same event when decoded again.
pub fn watch_lines(data: &[u8]) {
    let (size, body) = split(data);
    let cap = 256;
    let whole = frame(body, body.len(), cap);
    let chunked = frame(body, size, cap);
    assert_eq!(
        whole, chunked,
        "framing depends on chunking (chunks of {size})"
    );
    for line in &whole.0 {
        let first = decode_line::<DynamicObject>(line).map(|r| r.map_err(|e| e.to_string()));
        let again = decode_line::<DynamicObject>(line).map(|r| r.map_err(|e| e.to_string()));
        assert_eq!(first, again);
    }
}

/// What decoding a list gave: the list's version and items, or that it failed.
fn decode_list(body: &[u8], size: usize) -> Option<(Option<String>, Vec<DynamicObject>)> {
    let mut decoder = ListDecoder::<DynamicObject>::new("GET /fuzz", 1 << 20, 3);
    let mut items = Vec::new();
    for chunk in body.chunks(size.max(1)) {
        decoder.push(chunk, &mut |b| items.extend(b)).ok()?;
    }
    let list = decoder.finish(&mut |b| items.extend(b)).ok()?;
    Some((list.metadata.resource_version, items))
}

/// List bodies: the streaming decoder gives the same answer however the body is cut,
/// and the same as decoding the whole body at once with serde and checking that it is
/// a list (a kind ending in `List`, a resourceVersion).
pub fn list_body(data: &[u8]) {
    let (size, body) = split(data);
    let whole = decode_list(body, body.len());
    let chunked = decode_list(body, size);
    assert_eq!(
        whole, chunked,
        "decoding depends on chunking (chunks of {size})"
    );
    let serde = serde_json::from_slice::<ObjectList<DynamicObject>>(body)
        .ok()
        .filter(|l| l.kind.as_deref().is_some_and(|k| k.ends_with("List")))
        .filter(|l| {
            l.metadata
                .resource_version
                .as_deref()
                .is_some_and(|v| !v.is_empty())
        })
        .map(|l| (l.metadata.resource_version, l.items));
    assert_eq!(whole, serde, "the streaming decoder and serde disagree");
}

/// Selectors: parsing never panics; a selector that parses renders as text that parses
/// to the same selector and renders the same again; matching never panics.
pub fn selectors(data: &[u8]) {
    let (_, body) = split(data);
    let text = String::from_utf8_lossy(body);
    let (labels, fields) = text.split_once('\n').unwrap_or((&text, ""));
    let some_labels: BTreeMap<String, String> = [("app", "web"), ("tier", "db"), ("x", "")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(sel) = LabelSelector::parse(labels) {
        let rendered = sel.to_string();
        let again = LabelSelector::parse(&rendered)
            .unwrap_or_else(|e| panic!("{labels:?} rendered as {rendered:?}, which fails: {e}"));
        assert_eq!(again.to_string(), rendered);
        assert_eq!(again.matches(&some_labels), sel.matches(&some_labels));
    }
    if let Ok(sel) = FieldSelector::parse(fields) {
        let rendered = sel.to_string();
        let again = FieldSelector::parse(&rendered)
            .unwrap_or_else(|e| panic!("{fields:?} rendered as {rendered:?}, which fails: {e}"));
        assert_eq!(again.to_string(), rendered);
        assert_eq!(again.matches_fields("a", "d"), sel.matches_fields("a", "d"));
    }
}

/// Kubeconfigs: parsing and turning one into a config never panic (errors are fine).
/// No exec plugin runs: a config is only built, no client.
pub fn kubeconfig(data: &[u8]) {
    let (_, body) = split(data);
    let text = String::from_utf8_lossy(body);
    if let Ok(kc) = Kubeconfig::from_yaml(&text) {
        let _ = format!("{kc:?}");
        if let Ok(config) = kc.to_config(&KubeConfigOptions::default()) {
            let _ = format!("{config:?}");
        }
    }
}
