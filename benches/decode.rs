//! List and watch decoding of realistic pods (k8s-openapi `Pod`, the ~4.7 KiB fixture):
//! this crate's path against plain `serde_json::from_slice` of the same bytes into the
//! same types, so that the ratio is the cost of framing and streaming.
//!
//! - list: a 1,000-pod list body arriving in 16 KiB chunks, gathered and decoded as the
//!   client does, against `from_slice` of the contiguous body.
//! - watch: 1,000 `MODIFIED` events through `decode_watch`, arriving either one event per
//!   chunk (as the API server flushes them) or in 16 KiB chunks cut anywhere, against
//!   `from_slice` of each line already split.
//!
//! - forms: the same list decoded as `LeanObject` (typed metadata, the rest kept as
//!   JSON text), as `PartialObjectMetadata`, and only scanned (`IgnoredAny`), each
//!   paired against the typed decode. One run on the shared 2-core machine (medians of
//!   25 pairs over the 1,000-pod list): `LeanObject` 0.235x the typed decode's time
//!   (504 MB/s against 121), `PartialObjectMetadata` 0.214x, a bare scan 0.079x
//!   (1.5 GB/s); most of the lean decode is its typed metadata.
//!
//! - field_read: one field of one cached fixture pod, typed against `LeanObject`. One
//!   run (criterion medians): `spec.nodeName` 17 ns typed (a clone of the string) and
//!   3.1 us lean (`decode` of a one-field struct from `spec`: the scan to `spec` and
//!   through it); the whole `spec` 2.2 us typed (a clone) and 9.2 us lean (decoded into
//!   a `PodSpec`); `raw_field("status")` 1.8 us (the scan alone); `to_typed::<Pod>()`
//!   26.5 us.
//!
//! - exact capacity: the 1,000 pods decoded one by one with `from_slice_exact` (every
//!   vector allocated at its final size; about 29 KB per pod instead of 35 KB) against
//!   `serde_json::from_slice`. One paired run (median of 25 pairs) on the shared 2-core
//!   machine: 1.18x plain serde_json's time. The list and watch paths above decode their
//!   items this way since then; the watch pairs measured 1.39x and 1.53x in the same run.
//!
//! Target: at most 15% over plain serde_json. Prints MB/s and events/s.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use informer::client::watch_stream::decode_watch;
use informer::client::{from_slice_exact, BoxError};
use informer::meta::{LeanObject, ObjectList, PartialObjectMetadata, WatchEvent};
use k8s_openapi::api::core::v1::Pod;
use serde::de::IgnoredAny;

const N: usize = 1_000;
const CHUNK: usize = 16 * 1024;

fn chunks_of(data: &Bytes, size: usize) -> Vec<Bytes> {
    (0..data.len())
        .step_by(size)
        .map(|i| data.slice(i..(i + size).min(data.len())))
        .collect()
}

fn benches(c: &mut Criterion) {
    let template: serde_json::Value = serde_json::from_str(support::POD_TEMPLATE).unwrap();
    let pods: Vec<serde_json::Value> = (0..N)
        .map(|i| support::pod_json(&template, i, 1_000 + i as u64))
        .collect();

    // A list body.
    let list = serde_json::json!({
        "kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "5000"},
        "items": pods,
    });
    let list_bytes = Bytes::from(serde_json::to_vec(&list).unwrap());
    let list_chunks = chunks_of(&list_bytes, CHUNK);

    // A watch body: one line per event.
    let lines: Vec<Bytes> = pods
        .iter()
        .map(|p| {
            let mut l =
                serde_json::to_vec(&serde_json::json!({"type": "MODIFIED", "object": p})).unwrap();
            l.push(b'\n');
            Bytes::from(l)
        })
        .collect();
    let mut all = BytesMut::new();
    for l in &lines {
        all.extend_from_slice(l);
    }
    let watch_bytes = all.freeze();
    let watch_chunks = chunks_of(&watch_bytes, CHUNK);
    println!(
        "list body {} KiB, watch body {} KiB ({} events of ~{} B)",
        list_bytes.len() / 1024,
        watch_bytes.len() / 1024,
        N,
        watch_bytes.len() / N
    );

    field_reads(c, &pods[0]);

    let mut g = c.benchmark_group("decode_list");
    g.throughput(Throughput::Bytes(list_bytes.len() as u64));
    g.bench_function(BenchmarkId::new("serde_json", N), |b| {
        b.iter(|| {
            let l: ObjectList<Pod> = serde_json::from_slice(&list_bytes).unwrap();
            assert_eq!(l.items.len(), N);
        })
    });
    g.bench_function(BenchmarkId::new("informer", N), |b| {
        b.iter(|| {
            // Gather the chunks as the client's body collection does, then decode.
            let mut buf = BytesMut::with_capacity(list_chunks.iter().map(Bytes::len).sum());
            for ch in &list_chunks {
                buf.extend_from_slice(ch);
            }
            let l: ObjectList<Pod> = serde_json::from_slice(&buf).unwrap();
            assert_eq!(l.items.len(), N);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decode_watch");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("serde_json", N), |b| {
        b.iter(|| {
            let mut n = 0;
            for l in &lines {
                let ev: WatchEvent<Pod> = serde_json::from_slice(&l[..l.len() - 1]).unwrap();
                n += matches!(ev, WatchEvent::Modified(_)) as usize;
            }
            assert_eq!(n, N);
        })
    });
    for (name, chunks) in [
        ("informer_event_chunks", &lines),
        ("informer_16k_chunks", &watch_chunks),
    ] {
        g.bench_function(BenchmarkId::new(name, N), |b| {
            b.iter(|| {
                let body = futures::stream::iter(chunks.clone().into_iter().map(Ok::<_, BoxError>));
                let n = futures::executor::block_on(
                    decode_watch::<Pod, _, _>(body, 64 << 20, "bench".into())
                        .fold(0usize, |n, ev| async move {
                            n + matches!(ev, Ok(WatchEvent::Modified(_))) as usize
                        }),
                );
                assert_eq!(n, N);
            })
        });
    }
    g.finish();

    // Paired runs: the machine is shared and its load drifts over seconds, which skews
    // medians taken minutes apart. Alternating baseline and candidate and taking the
    // median of the per-pair ratios cancels most of that drift.
    let decode_list_plain = || {
        let l: ObjectList<Pod> = serde_json::from_slice(&list_bytes).unwrap();
        l.items.len()
    };
    let decode_list_ours = || {
        let mut buf = BytesMut::with_capacity(list_chunks.iter().map(Bytes::len).sum());
        for ch in &list_chunks {
            buf.extend_from_slice(ch);
        }
        let l: ObjectList<Pod> = serde_json::from_slice(&buf).unwrap();
        l.items.len()
    };
    let decode_watch_plain = || {
        lines
            .iter()
            .map(|l| serde_json::from_slice::<WatchEvent<Pod>>(&l[..l.len() - 1]).is_ok() as usize)
            .sum::<usize>()
    };
    let decode_watch_ours = |chunks: &Vec<Bytes>| {
        let body = futures::stream::iter(chunks.clone().into_iter().map(Ok::<_, BoxError>));
        futures::executor::block_on(
            decode_watch::<Pod, _, _>(body, 64 << 20, "bench".into())
                .fold(0usize, |n, ev| async move { n + ev.is_ok() as usize }),
        )
    };
    // The lighter forms, against the typed decode of the same list.
    let decode_list_lean = || {
        let l: ObjectList<LeanObject> = serde_json::from_slice(&list_bytes).unwrap();
        l.items.len()
    };
    let decode_list_metadata = || {
        let l: ObjectList<PartialObjectMetadata> = serde_json::from_slice(&list_bytes).unwrap();
        l.items.len()
    };
    let scan_list = || {
        let l: ObjectList<IgnoredAny> = serde_json::from_slice(&list_bytes).unwrap();
        l.items.len()
    };
    // Exact capacity: the same pods decoded with and without the array-length hints.
    let pieces: Vec<Vec<u8>> = pods
        .iter()
        .map(|p| serde_json::to_vec(p).unwrap())
        .collect();
    let pods_plain = || {
        pieces
            .iter()
            .map(|p| serde_json::from_slice::<Pod>(p).is_ok() as usize)
            .sum::<usize>()
    };
    let pods_exact = || {
        pieces
            .iter()
            .map(|p| from_slice_exact::<Pod>(p).is_ok() as usize)
            .sum::<usize>()
    };
    let rounds = 25;
    let pairs = [
        (
            "pods: from_slice_exact / from_slice",
            paired(rounds, &pods_plain, &pods_exact),
        ),
        (
            "list as LeanObject / as Pod",
            paired(rounds, &decode_list_plain, &decode_list_lean),
        ),
        (
            "list as PartialObjectMetadata / Pod",
            paired(rounds, &decode_list_plain, &decode_list_metadata),
        ),
        (
            "list scanned (IgnoredAny) / as Pod",
            paired(rounds, &decode_list_plain, &scan_list),
        ),
        (
            "list: chunks gathered + decode",
            paired(rounds, &decode_list_plain, &decode_list_ours),
        ),
        (
            "watch: one event per chunk",
            paired(rounds, &decode_watch_plain, &|| decode_watch_ours(&lines)),
        ),
        (
            "watch: 16 KiB chunks",
            paired(rounds, &decode_watch_plain, &|| {
                decode_watch_ours(&watch_chunks)
            }),
        ),
    ];
    REPORT.with(|r| {
        *r.borrow_mut() = Some((list_bytes.len(), watch_bytes.len(), pairs.to_vec()));
    });
}

/// Median of `ours / baseline` over `rounds` alternating pairs, and the medians of each.
fn paired(
    rounds: usize,
    baseline: &dyn Fn() -> usize,
    ours: &dyn Fn() -> usize,
) -> (f64, Duration, Duration) {
    let mut ratios = Vec::with_capacity(rounds);
    let mut a_times = Vec::with_capacity(rounds);
    let mut b_times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let time = |f: &dyn Fn() -> usize| {
            let start = std::time::Instant::now();
            assert_eq!(std::hint::black_box(f()), N);
            start.elapsed()
        };
        let (a, b) = if i % 2 == 0 {
            let a = time(baseline);
            (a, time(ours))
        } else {
            let b = time(ours);
            (time(baseline), b)
        };
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
        a_times.push(a);
        b_times.push(b);
    }
    ratios.sort_by(f64::total_cmp);
    a_times.sort();
    b_times.sort();
    (ratios[rounds / 2], a_times[rounds / 2], b_times[rounds / 2])
}

type Report = (usize, usize, Vec<(&'static str, (f64, Duration, Duration))>);

thread_local! {
    static REPORT: std::cell::RefCell<Option<Report>> = const { std::cell::RefCell::new(None) };
}

/// What a read of one field costs on a cached pod: a typed `Pod`'s field is a pointer
/// away (cloned here, as a handler that keeps it would), a `LeanObject`'s is a scan of
/// its JSON text plus the decode of that field.
fn field_reads(c: &mut Criterion, pod: &serde_json::Value) {
    let typed: Pod = serde_json::from_value(pod.clone()).unwrap();
    let lean: LeanObject = serde_json::from_value(pod.clone()).unwrap();
    let mut g = c.benchmark_group("field_read");
    g.bench_function("typed/spec.nodeName", |b| {
        b.iter(|| {
            std::hint::black_box(&typed)
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
        })
    });
    g.bench_function("lean/spec.nodeName", |b| {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct NodeName {
            node_name: Option<String>,
        }
        b.iter(|| {
            std::hint::black_box(&lean)
                .decode::<NodeName>("spec")
                .unwrap()
                .and_then(|s| s.node_name)
        })
    });
    g.bench_function("typed/spec", |b| {
        b.iter(|| std::hint::black_box(&typed).spec.clone())
    });
    g.bench_function("lean/spec", |b| {
        b.iter(|| {
            std::hint::black_box(&lean)
                .decode::<k8s_openapi::api::core::v1::PodSpec>("spec")
                .unwrap()
        })
    });
    g.bench_function("lean/status.raw", |b| {
        b.iter(|| {
            std::hint::black_box(&lean)
                .raw_field("status")
                .unwrap()
                .map(|r| r.get().len())
        })
    });
    g.bench_function("lean/to_typed", |b| {
        b.iter(|| std::hint::black_box(&lean).to_typed::<Pod>().unwrap())
    });
    g.finish();
}

fn main() {
    let mut c = support::criterion()
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
    let Some((list_len, watch_len, pairs)) = REPORT.with(|r| r.borrow().clone()) else {
        return;
    };
    let n = N.to_string();
    println!();
    println!(
        "{:<34} {:>12} {:>12} {:>14} {:>8}",
        "decode (median)", "per run", "MB/s", "events/s", "ratio"
    );
    let base_list = support::median_ns("decode_list", "serde_json", &n);
    for f in ["serde_json", "informer"] {
        if let Some(ns) = support::median_ns("decode_list", f, &n) {
            println!(
                "{:<34} {:>12} {:>12.0} {:>14.0} {:>8}",
                format!("list/{f}"),
                support::format_ns(ns),
                list_len as f64 / ns * 1e3,
                N as f64 / ns * 1e9,
                base_list.map_or("-".into(), |b| format!("{:.3}", ns / b))
            );
        }
    }
    let base_watch = support::median_ns("decode_watch", "serde_json", &n);
    for f in ["serde_json", "informer_event_chunks", "informer_16k_chunks"] {
        if let Some(ns) = support::median_ns("decode_watch", f, &n) {
            println!(
                "{:<34} {:>12} {:>12.0} {:>14.0} {:>8}",
                format!("watch/{f}"),
                support::format_ns(ns),
                watch_len as f64 / ns * 1e3,
                N as f64 / ns * 1e9,
                base_watch.map_or("-".into(), |b| format!("{:.3}", ns / b))
            );
        }
    }
    println!();
    println!(
        "paired runs (median of per-pair ratios, candidate / plain serde_json into Pod; \
         the first column names the candidate):"
    );
    for (name, (ratio, base, ours)) in pairs {
        let bytes = if name.starts_with("list") {
            list_len
        } else {
            watch_len
        };
        println!(
            "{:<34} ratio {:.3}   serde_json {:>9} ({:.0} MB/s)   informer {:>9} ({:.0} MB/s, {:.0} events/s)",
            name,
            ratio,
            support::format_ns(base.as_nanos() as f64),
            bytes as f64 / base.as_secs_f64() / 1e6,
            support::format_ns(ours.as_nanos() as f64),
            bytes as f64 / ours.as_secs_f64() / 1e6,
            N as f64 / ours.as_secs_f64(),
        );
    }
}
