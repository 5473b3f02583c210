//! Prometheus metrics of informers, work queues and controllers (feature `metrics`),
//! through the `prometheus-client` crate.
//!
//! A [`MetricsCollector`] is registered once in a `prometheus_client` [`Registry`]; the
//! informers, work queues and controllers added to it are read at every scrape from the
//! counters they keep anyway ([`SharedIndexInformer::metrics`], [`WorkQueue::metrics`],
//! [`Controller::metrics`]), so that collecting costs nothing between scrapes.
//!
//! Names follow client-go where it has them, with its `name` label: the work queue's
//! `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
//! `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds`,
//! `workqueue_unfinished_work_seconds` and `workqueue_longest_running_processor_seconds`,
//! and the reflector's `reflector_lists_total`, `reflector_watches_total` and
//! `reflector_last_resource_version`. The two durations are histograms with only the
//! `+Inf` bucket (the queue keeps a count, a sum and a maximum, no buckets): their
//! `_sum / _count` is the mean. Controllers use controller-runtime's names
//! (`controller_runtime_reconcile_total`, `..._errors_total`, `..._panics_total`,
//! `controller_runtime_active_workers`, label `controller`). What client-go has no name
//! for is prefixed `reflector_` or `informer_`. A [`RestClient`]'s requests are
//! `rest_client_requests_total` (`code`, `host`, `method`) and
//! `rest_client_request_duration_seconds` (`host`, `verb`), as client-go's.
//!
//! ```
//! use informer::metrics::MetricsCollector;
//! use informer::workqueue::WorkQueue;
//! use prometheus_client::registry::Registry;
//!
//! let queue: WorkQueue<String> = WorkQueue::builder("pods").build();
//! queue.add("default/web".to_string());
//!
//! let collector = MetricsCollector::new();
//! collector.add_work_queue(&queue);
//! let mut registry = Registry::default();
//! collector.register(&mut registry);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains("workqueue_depth{name=\"pods\"} 1"), "{text}");
//! assert!(text.contains("workqueue_adds_total{name=\"pods\"} 1"), "{text}");
//! ```

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::cache::{InformerMetrics, SharedIndexInformer};
use crate::client::{ClientMetrics, RestClient};
use crate::meta::Object;
use crate::runtime::{Controller, ControllerMetrics};
use crate::workqueue::{QueueItem, QueueMetrics, WorkQueue};

type Source<T> = Box<dyn Fn() -> T + Send + Sync>;

/// Exports the metrics of the informers, work queues and controllers added to it; see
/// the [module docs](self). Cheap to clone: clones share what was added.
#[derive(Clone, Default)]
pub struct MetricsCollector {
    inner: Arc<Sources>,
}

#[derive(Default)]
struct Sources {
    informers: Mutex<Vec<Source<(String, InformerMetrics)>>>,
    queues: Mutex<Vec<Source<QueueMetrics>>>,
    controllers: Mutex<Vec<Source<(String, ControllerMetrics)>>>,
    clients: Mutex<Vec<Source<ClientMetrics>>>,
}

impl std::fmt::Debug for MetricsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCollector")
            .field("informers", &self.inner.informers.lock().len())
            .field("queues", &self.inner.queues.lock().len())
            .field("controllers", &self.inner.controllers.lock().len())
            .field("clients", &self.inner.clients.lock().len())
            .finish()
    }
}

impl MetricsCollector {
    /// A collector with nothing added yet.
    pub fn new() -> Self {
        MetricsCollector::default()
    }

    /// Registers this collector in `registry`; add sources before or after.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(self.clone()));
    }

    /// Exports an informer's reflector, queue, cache and handler metrics, labelled with
    /// its [`name`](SharedIndexInformer::name). The collector keeps a handle to it.
    pub fn add_informer<K: Object + Send + Sync + 'static>(
        &self,
        informer: &SharedIndexInformer<K>,
    ) {
        let informer = informer.clone();
        self.inner.informers.lock().push(Box::new(move || {
            (informer.name().to_owned(), informer.metrics())
        }));
    }

    /// Exports a work queue's metrics, labelled with its name.
    pub fn add_work_queue<T: QueueItem>(&self, queue: &WorkQueue<T>) {
        let queue = queue.clone();
        self.inner
            .queues
            .lock()
            .push(Box::new(move || queue.metrics()));
    }

    /// Exports a REST client's requests (client-go's `rest_client_requests_total` by
    /// `code`, `host` and `method`, and `rest_client_request_duration_seconds` by `host`
    /// and `verb`). Clones of a client share their counts: add one of them.
    pub fn add_client(&self, client: &RestClient) {
        let client = client.clone();
        self.inner
            .clients
            .lock()
            .push(Box::new(move || client.metrics()));
    }

    /// Exports a controller's reconcile counts, labelled `controller=name`, and the
    /// metrics of its current work queue.
    pub fn add_controller<K: Object + Send + Sync + 'static>(
        &self,
        name: impl Into<String>,
        controller: Arc<Controller<K>>,
    ) {
        let name = name.into();
        self.inner
            .controllers
            .lock()
            .push(Box::new(move || (name.clone(), controller.metrics())));
    }
}

/// One metric family: a name, a help text, a type, and one value per label set.
fn family<V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    metric_type: MetricType,
    rows: &[(Vec<(&str, String)>, V)],
    encode: impl Fn(&V, MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, None, metric_type)?;
    for (labels, value) in rows {
        let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        encode(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counter(v: &u64, m: MetricEncoder) -> Result<(), std::fmt::Error> {
    ConstCounter::new(*v).encode(m)
}

fn gauge(v: &f64, m: MetricEncoder) -> Result<(), std::fmt::Error> {
    ConstGauge::new(*v).encode(m)
}

/// `(count, sum in seconds)` as a histogram with the `+Inf` bucket only.
fn histogram(v: &(u64, f64), mut m: MetricEncoder) -> Result<(), std::fmt::Error> {
    m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
        v.1,
        v.0,
        &[(f64::INFINITY, v.0)],
        None,
    )
}

type Rows<V> = Vec<(Vec<(&'static str, String)>, V)>;

/// A metric's name, help text and how to read its value from a snapshot.
type Spec<'a, M, V> = (&'static str, &'static str, &'a dyn Fn(&M) -> V);

fn encode_informers(
    encoder: &mut DescriptorEncoder,
    informers: &[(String, InformerMetrics)],
) -> Result<(), std::fmt::Error> {
    let by_name = |f: &dyn Fn(&InformerMetrics) -> u64| -> Rows<u64> {
        informers
            .iter()
            .map(|(n, m)| (vec![("name", n.clone())], f(m)))
            .collect()
    };
    let counters: [Spec<InformerMetrics, u64>; 5] = [
        (
            "reflector_lists",
            "Completed lists, the first included.",
            &|m| m.reflector.lists,
        ),
        (
            "reflector_relists",
            "Completed lists after the first.",
            &|m| m.reflector.relists,
        ),
        ("reflector_watches", "Watches opened.", &|m| {
            m.reflector.watches
        }),
        (
            "reflector_watch_errors",
            "Lists and watches that failed and were retried after a backoff.",
            &|m| m.reflector.watch_errors,
        ),
        ("reflector_resyncs", "Resyncs queued.", &|m| {
            m.reflector.resyncs
        }),
    ];
    for (name, help, f) in counters {
        family(
            encoder,
            name,
            help,
            MetricType::Counter,
            &by_name(f),
            counter,
        )?;
    }
    let events: Rows<u64> = informers
        .iter()
        .flat_map(|(n, m)| {
            let r = &m.reflector;
            [
                ("ADDED", r.events_added),
                ("MODIFIED", r.events_modified),
                ("DELETED", r.events_deleted),
                ("BOOKMARK", r.bookmarks),
            ]
            .map(|(t, v)| (vec![("name", n.clone()), ("type", t.to_owned())], v))
        })
        .collect();
    family(
        encoder,
        "reflector_watch_events",
        "Watch events received, by type.",
        MetricType::Counter,
        &events,
        counter,
    )?;
    let last_rv: Rows<f64> = informers
        .iter()
        .filter_map(|(n, m)| {
            let rv = m.last_resource_version.parse::<u64>().ok()?;
            Some((vec![("name", n.clone())], rv as f64))
        })
        .collect();
    family(
        encoder,
        "reflector_last_resource_version",
        "The resourceVersion the informer has reached (when it is a number).",
        MetricType::Gauge,
        &last_rv,
        gauge,
    )?;
    let gauges: [Spec<InformerMetrics, usize>; 2] = [
        (
            "informer_queue_depth",
            "Keys waiting between the reflector and the cache.",
            &|m| m.queue_depth,
        ),
        ("informer_cache_size", "Objects in the cache.", &|m| {
            m.cache_size
        }),
    ];
    for (name, help, f) in gauges {
        let rows: Rows<f64> = informers
            .iter()
            .map(|(n, m)| (vec![("name", n.clone())], f(m) as f64))
            .collect();
        family(encoder, name, help, MetricType::Gauge, &rows, gauge)?;
    }
    let pending: Rows<f64> = informers
        .iter()
        .flat_map(|(n, m)| {
            m.handler_pending.iter().enumerate().map(|(i, p)| {
                (
                    vec![("name", n.clone()), ("handler", i.to_string())],
                    *p as f64,
                )
            })
        })
        .collect();
    family(
        encoder,
        "informer_handler_pending",
        "Notifications waiting in a handler's buffer (handlers by registration order).",
        MetricType::Gauge,
        &pending,
        gauge,
    )
}

fn encode_queues(
    encoder: &mut DescriptorEncoder,
    queues: &[QueueMetrics],
) -> Result<(), std::fmt::Error> {
    let rows = |f: &dyn Fn(&QueueMetrics) -> f64| -> Rows<f64> {
        queues
            .iter()
            .map(|q| (vec![("name", q.name.clone())], f(q)))
            .collect()
    };
    let gauges: [Spec<QueueMetrics, f64>; 3] = [
        (
            "workqueue_depth",
            "Current depth of the work queue.",
            &|q| q.depth as f64,
        ),
        (
            "workqueue_unfinished_work_seconds",
            "Seconds of work in progress not yet observed by work_duration.",
            &|q| q.unfinished_work.as_secs_f64(),
        ),
        (
            "workqueue_longest_running_processor_seconds",
            "Seconds the longest running item has been processed.",
            &|q| q.longest_running_processor.as_secs_f64(),
        ),
    ];
    for (name, help, f) in gauges {
        family(encoder, name, help, MetricType::Gauge, &rows(f), gauge)?;
    }
    let counters: [Spec<QueueMetrics, u64>; 3] = [
        ("workqueue_adds", "Adds handled by the work queue.", &|q| {
            q.adds
        }),
        (
            "workqueue_retries",
            "Retries handled by the work queue.",
            &|q| q.retries,
        ),
        (
            "workqueue_dropped",
            "Items dropped after their retry limit.",
            &|q| q.dropped,
        ),
    ];
    for (name, help, f) in counters {
        let rows: Rows<u64> = queues
            .iter()
            .map(|q| (vec![("name", q.name.clone())], f(q)))
            .collect();
        family(encoder, name, help, MetricType::Counter, &rows, counter)?;
    }
    let durations: [Spec<QueueMetrics, (u64, f64)>; 2] = [
        (
            "workqueue_queue_duration_seconds",
            "How long an item stays in the work queue before being requested.",
            &|q| (q.queue_latency.count, q.queue_latency.sum.as_secs_f64()),
        ),
        (
            "workqueue_work_duration_seconds",
            "How long processing an item takes.",
            &|q| (q.work_duration.count, q.work_duration.sum.as_secs_f64()),
        ),
    ];
    for (name, help, f) in durations {
        let rows: Rows<(u64, f64)> = queues
            .iter()
            .map(|q| (vec![("name", q.name.clone())], f(q)))
            .collect();
        family(encoder, name, help, MetricType::Histogram, &rows, histogram)?;
    }
    Ok(())
}

fn encode_controllers(
    encoder: &mut DescriptorEncoder,
    controllers: &[(String, ControllerMetrics)],
) -> Result<(), std::fmt::Error> {
    let counters: [Spec<ControllerMetrics, u64>; 3] = [
        (
            "controller_runtime_reconcile",
            "Reconciles finished, successful or not.",
            &|c| c.reconciles,
        ),
        (
            "controller_runtime_reconcile_errors",
            "Reconciles that returned an error.",
            &|c| c.errors,
        ),
        (
            "controller_runtime_reconcile_panics",
            "Reconciles that panicked.",
            &|c| c.panics,
        ),
    ];
    for (name, help, f) in counters {
        let rows: Rows<u64> = controllers
            .iter()
            .map(|(n, c)| (vec![("controller", n.clone())], f(c)))
            .collect();
        family(encoder, name, help, MetricType::Counter, &rows, counter)?;
    }
    let active: Rows<f64> = controllers
        .iter()
        .map(|(n, c)| (vec![("controller", n.clone())], c.active as f64))
        .collect();
    family(
        encoder,
        "controller_runtime_active_workers",
        "Reconciles running now.",
        MetricType::Gauge,
        &active,
        gauge,
    )
}

fn encode_clients(
    encoder: &mut DescriptorEncoder,
    clients: &[ClientMetrics],
) -> Result<(), std::fmt::Error> {
    let requests: Rows<u64> = clients
        .iter()
        .flat_map(|c| {
            c.requests.iter().map(|(method, code, n, _)| {
                (
                    vec![
                        ("code", code.clone()),
                        ("host", c.host.clone()),
                        ("method", method.clone()),
                    ],
                    *n,
                )
            })
        })
        .collect();
    family(
        encoder,
        "rest_client_requests",
        "Requests sent (each attempt), by status code (<error> without an answer), host and method.",
        MetricType::Counter,
        &requests,
        counter,
    )?;
    let mut durations: std::collections::BTreeMap<(String, String), (u64, f64)> =
        Default::default();
    for c in clients {
        for (method, _, n, took) in &c.requests {
            let d = durations
                .entry((c.host.clone(), method.clone()))
                .or_default();
            d.0 += n;
            d.1 += took.as_secs_f64();
        }
    }
    let durations: Rows<(u64, f64)> = durations
        .into_iter()
        .map(|((host, verb), d)| (vec![("host", host), ("verb", verb)], d))
        .collect();
    family(
        encoder,
        "rest_client_request_duration_seconds",
        "Time from sending a request to its answer's headers, by host and verb.",
        MetricType::Histogram,
        &durations,
        histogram,
    )
}

impl Collector for MetricsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // Snapshots first, so that no lock of this collector is held while encoding.
        let informers: Vec<_> = self.inner.informers.lock().iter().map(|f| f()).collect();
        let controllers: Vec<_> = self.inner.controllers.lock().iter().map(|f| f()).collect();
        let mut queues: Vec<_> = self.inner.queues.lock().iter().map(|f| f()).collect();
        let clients: Vec<_> = self.inner.clients.lock().iter().map(|f| f()).collect();
        queues.extend(controllers.iter().filter_map(|(_, c)| c.queue.clone()));
        encode_informers(&mut encoder, &informers)?;
        encode_queues(&mut encoder, &queues)?;
        encode_clients(&mut encoder, &clients)?;
        encode_controllers(&mut encoder, &controllers)
    }
}
