//! Shared by the benches: realistic pods shaped like `tests/fixtures/pod.json`, and a
//! report that prints criterion's medians as ratios against the peer measured in the same
//! run.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;

/// The fixture pod: about 4.7 KiB of JSON with managedFields, ownerReferences and status.
pub const POD_TEMPLATE: &str = include_str!("../../tests/fixtures/pod.json");

/// Number of namespaces the generated pods spread over.
pub const NAMESPACES: usize = 100;
/// Number of distinct `app` label values.
pub const APPS: usize = 50;

/// Namespace of pod `i`: `ns-000` .. `ns-099`, so 100,000 pods give 1,000 per namespace.
pub fn namespace_of(i: usize) -> String {
    format!("ns-{:03}", i % NAMESPACES)
}

/// `app` label of pod `i`: 50 values, each present in every namespace.
pub fn app_of(i: usize) -> String {
    format!("app-{:02}", (i / NAMESPACES) % APPS)
}

/// The JSON of pod `i`: the fixture with its own name, namespace, uid, labels and
/// resourceVersion.
pub fn pod_json(
    template: &serde_json::Value,
    i: usize,
    resource_version: u64,
) -> serde_json::Value {
    let mut pod = template.clone();
    let meta = &mut pod["metadata"];
    meta["name"] = format!("web-7d4b9c8f6d-{i:06}").into();
    meta["namespace"] = namespace_of(i).into();
    meta["uid"] = format!("3f1c2a9e-8b7d-4c6e-9a1f-{i:012}").into();
    meta["resourceVersion"] = resource_version.to_string().into();
    meta["labels"]["app"] = app_of(i).into();
    meta["labels"]["tier"] = ["frontend", "backend", "cache"][i % 3].into();
    pod
}

/// The fixture pod as a `serde_json::Value`, the template of [`pod_json`].
pub fn pod_template() -> serde_json::Value {
    serde_json::from_str(POD_TEMPLATE).expect("fixture pod is valid JSON")
}

/// Pod `i` of [`pods`] decoded as `K`: its JSON is built as a `serde_json::Value` and
/// consumed by the decoding.
pub fn pod<K: serde::de::DeserializeOwned>(
    template: &serde_json::Value,
    i: usize,
    resource_version: u64,
) -> K {
    serde_json::from_value(pod_json(template, i, resource_version)).expect("generated pod decodes")
}

/// `n` decoded pods of type `K`, each with resourceVersion `base_version + i`.
pub fn pods<K: serde::de::DeserializeOwned>(n: usize, base_version: u64) -> Vec<K> {
    let template = pod_template();
    (0..n)
        .map(|i| pod(&template, i, base_version + i as u64))
        .collect()
}

/// Where criterion writes its results (and where [`median_ns`] reads them).
pub fn output_directory() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// Criterion configured for long, noisy, whole-collection iterations.
pub fn criterion() -> Criterion {
    Criterion::default()
        .output_directory(&output_directory())
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args()
}

/// Criterion's median (ns per iteration) of `group/function/parameter`, if that
/// benchmark has results.
pub fn median_ns(group: &str, function: &str, parameter: &str) -> Option<f64> {
    let path = output_directory()
        .join(group)
        .join(function)
        .join(parameter)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Prints, per operation, our median, the peer's median and the ratio ours/theirs, each
/// divided by `per_iteration` operations.
pub fn print_ratios(group: &str, ours: &str, theirs: &str, ops: &[(&str, u64)]) {
    println!();
    println!("{group}: medians per operation, {ours} vs {theirs} (ratio < 1: {ours} is faster)");
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "operation", ours, theirs, "ratio"
    );
    for (op, per_iteration) in ops {
        let per = *per_iteration as f64;
        let a = median_ns(group, op, ours).map(|v| v / per);
        let b = median_ns(group, op, theirs).map(|v| v / per);
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), format_ns);
        let ratio = match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        };
        println!("{:<28} {:>14} {:>14} {:>8}", op, fmt(a), fmt(b), ratio);
    }
}

/// A duration in ns as a short human string.
pub fn format_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
