//! # informer
//!
//! Kubernetes client-go's informer/cache framework for async Rust.
//!
//! A [`Reflector`](cache::Reflector) lists and watches the API server and feeds a
//! [`DeltaFifo`](cache::DeltaFifo); a controller loop pops deltas into a thread-safe
//! [`Indexer`](cache::Indexer); a shared processor fans events out to every handler
//! registered with the [`SharedIndexInformer`](cache::SharedIndexInformer). Objects are
//! decoded once and shared as `Arc<K>` from the FIFO to the store, the indices and every
//! handler.
//!
//! ```text
//! API server --LIST/WATCH--> Reflector --deltas--> DeltaFifo --pop--> controller loop
//!                                                                    |            |
//!                         Lister / Indexer reads (never an API call) <-+            v
//!                                                      shared processor --> your handlers
//! ```
//!
//! # Example
//!
//! One informer on pods, shared through a factory, read through a lister. The example
//! runs against the embedded API server of the `testing` feature; against a real cluster,
//! build the client with [`RestClient::try_default`](client::RestClient::try_default)
//! (kubeconfig or in-cluster service account) instead.
//!
//! ```
//! use std::sync::Arc;
//! use informer::cache::{ResourceEventHandlerFuncs, SharedInformerFactory};
//! use informer::client::{Config, RestClient};
//! use informer::meta::{ApiResource, DynamicObject, Object};
//! use informer::selector::LabelSelector;
//! use informer::testing::ApiServer;
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ApiServer::start().await?;
//! let pods = ApiResource::new("", "v1", "Pod", "pods", true);
//! for (name, app) in [("web-1", "web"), ("web-2", "web"), ("db-1", "db")] {
//!     server.create(&pods, serde_json::json!({
//!         "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
//!     }))?;
//! }
//!
//! let client = RestClient::new(Config::from_kubeconfig_file(server.kubeconfig())?)?;
//! let factory = SharedInformerFactory::new(client);
//! let informer = factory.dynamic_informer(&pods);
//! informer.add_event_handler(
//!     ResourceEventHandlerFuncs::new()
//!         .add_func(|pod: Arc<DynamicObject>, _initial| println!("added {:?}", pod.name())),
//! )?;
//!
//! let stop = CancellationToken::new();
//! factory.start(&stop);
//! factory.wait_for_cache_sync(&stop).await;
//!
//! // Reads come from the cache, never from the server.
//! let lister = informer.lister()?;
//! let web = lister.namespace("default").list(&LabelSelector::parse("app=web")?);
//! assert_eq!(web.len(), 2);
//! assert!(lister.namespace("default").get("db-1").is_some());
//!
//! stop.cancel();
//! factory.shutdown().await;
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//!
//! | Module | What it holds | client-go |
//! |---|---|---|
//! | [`meta`] | the object model: [`ObjectMeta`](meta::ObjectMeta), the [`Object`](meta::Object) accessor trait, [`Resource`](meta::Resource) and [`ApiResource`](meta::ApiResource), [`DynamicObject`](meta::DynamicObject), lists, watch events, [`Status`](meta::Status) | `apimachinery/pkg/apis/meta/v1` |
//! | [`selector`] | label and field selectors: parse, match, render | `apimachinery/pkg/labels`, `fields` |
//! | [`client`] | [`Config`](client::Config) (kubeconfig, in-cluster), auth, TLS, [`RestClient`](client::RestClient), typed and dynamic [`Api<K>`](client::Api), [`Discovery`](client::Discovery), [`Error`](client::Error) | `rest`, `dynamic`, `discovery` |
//! | [`cache`] | the informer framework: keys, [`Indexer`](cache::Indexer), [`DeltaFifo`](cache::DeltaFifo) and [`InOrderFifo`](cache::InOrderFifo), [`ListerWatcher`](cache::ListerWatcher), [`Reflector`](cache::Reflector), [`SharedIndexInformer`](cache::SharedIndexInformer) and its [`SharedInformerFactory`](cache::SharedInformerFactory), handlers, [`Lister`](cache::Lister) | `tools/cache`, `informers` |
//! | [`workqueue`] | [`WorkQueue`](workqueue::WorkQueue): deduplicating, delaying, rate-limited, with rate limiters and metrics | `util/workqueue` |
//! | [`runtime`] | [`Controller`](runtime::Controller): informers, a work queue and workers calling an async reconcile function | controller-runtime |
//! | [`leaderelection`] | Lease-based [`LeaderElector`](leaderelection::LeaderElector), so that one replica works at a time | `tools/leaderelection` |
//! | [`events`] | the event [`Recorder`](events::Recorder): counts repeats, combines similar events, filters spam, never blocks; `kubectl describe` lists its events | `tools/record`, `tools/events` |
//! | [`clock`] | the clocks the elector and the recorder count time with, and [`ManualClock`](clock::ManualClock) for tests | `k8s.io/utils/clock` |
//! | `metrics` (feature `metrics`) | Prometheus metrics of informers, work queues and controllers | client-go's metric names |
//! | `testing` (feature `testing`) | an embedded API server (`testing::ApiServer`) and a fake lister-watcher for tests | `client-go/testing`, envtest |
//!
//! # Features
//!
//! - `k8s-openapi`: implements [`Object`](meta::Object) and [`Resource`](meta::Resource)
//!   for every k8s-openapi resource type. As with any library on k8s-openapi, the
//!   application picks the Kubernetes version feature of `k8s-openapi`.
//! - `metrics`: `metrics::MetricsCollector` exports informer, reflector, work-queue and
//!   controller metrics to Prometheus through `prometheus-client`.
//! - `derive`: `#[derive(Resource)]` ([`meta::Resource`]) for own types.
//! - `schema`: `meta::CustomResource::crd()`, the CustomResourceDefinition of a derived
//!   type with a `schemars` schema.
//! - `testing`: the embedded API server and the fake lister-watcher.
#![deny(missing_docs)]
// docs.rs builds with `--cfg docsrs` on nightly: each item gated by a feature is shown
// with that feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cache;
pub mod client;
pub mod clock;
pub mod events;
pub mod leaderelection;
pub mod meta;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod runtime;
pub mod selector;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod workqueue;

/// The README's example, compiled and run as a doc test.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
