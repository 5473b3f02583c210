//! An embedded Kubernetes API server and a fake lister-watcher for tests (feature
//! `testing`).
//!
//! [`ApiServer`] runs in process on `127.0.0.1` and speaks the real REST and watch wire
//! protocol for the built-in resources (namespaces, pods, configmaps, secrets,
//! services, nodes, events, deployments, replicasets, leases, both event APIs) and any
//! resource registered at run time (or by creating its CustomResourceDefinition): CRUD
//! with finalizers and the `status` subresource, server-side apply with
//! `managedFields`, lists with selectors, paging and resourceVersion semantics, watches
//! with history replay, bookmarks, timeouts and streaming initial lists, discovery, and
//! the exact `Status` bodies a real server sends (`410 Expired` included). [`Faults`]
//! injects failures. Optional TLS and bearer-token auth; a kubeconfig is written so
//! that `kubectl` or any client can connect.
//!
//! [`FakeListerWatcher`] serves the same list and watch semantics in memory, without
//! HTTP, as a [`ListerWatcher`](crate::cache::ListerWatcher), for fast unit tests of
//! the cache layer. It runs the server's own list and watch code on the same storage
//! (its own, or a running server's: see [`ApiServer::lister_watcher`]) and decodes the
//! results with the client's decoders.
//!
//! How data passes through it: a request is routed by URL (`rest`), a write goes to the
//! storage, which records who changed which fields in `managedFields` (`managed`, which
//! also merges server-side apply patches), assigns the next global resourceVersion,
//! serialises the object once and records an event in its bounded history; each open
//! watch receives the event and frames the stored bytes as one line of
//! newline-delimited JSON, which the server writes to the response and a fake
//! lister-watcher decodes into events.
//!
//! Where it differs from a real API server: JSON and YAML only (no protobuf; `Table`s
//! have the default columns only, for every type, and watches are never `Table`s;
//! errors are always JSON); HTTP/1.1 only; no OpenAPI documents (so `kubectl create`
//! needs `--validate=false`); server-side apply and `managedFields` treat every object
//! as schemaless (lists are atomic, never merged by key; no cap of ten `Update`
//! entries; no upgrade from kubectl's last-applied annotation); strategic merge patch
//! replaces lists instead of merging them by key; no admission, RBAC or defaulting;
//! deleting a namespace removes its contents at once; a watch without `timeoutSeconds`
//! (or with `0`, the server's default) has no deadline; initial events come in key
//! order (namespace, then name); `events` (core) and `events.k8s.io` events are two
//! stores, where a real server keeps one and converts between the forms. Field
//! selectors take the fields a real server's resource supports (`metadata.name`
//! everywhere, `metadata.namespace` on all but namespaces and nodes, a pod's
//! `spec.nodeName`, an event's `involvedObject.name`, ...; others answer `400`).
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use informer::testing::ApiServer;
//! let server = ApiServer::builder()
//!     .bookmark_interval(std::time::Duration::from_millis(100))
//!     .history_limit(1_000)
//!     .start()
//!     .await?;
//! println!("{} {}", server.url(), server.kubeconfig().display());
//! server.faults().compact();
//! server.shutdown().await;
//! # Ok(()) }
//! ```

// Handlers fail with the `Status` they answer with; it is large (344 bytes), but failures
// are the cold path of a test server and boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

mod crd;
mod discovery;
mod errors;
mod fake;
mod faults;
mod fields;
mod http;
mod ids;
mod kubeconfig;
mod list;
mod managed;
mod negotiation;
mod objects;
mod options;
mod patch;
mod query;
mod raw_object;
mod resources;
mod rest;
mod scale;
mod server;
mod storage;
mod tls;
mod validation;
mod watch;

pub use fake::{FakeListerWatcher, FakeListerWatcherBuilder};
pub use faults::{Failure, Faults, Verb};
pub use kubeconfig::CONTEXT;
pub use resources::{ResourceInfo, ScaleSubresource};
pub use server::{ApiServer, ApiServerBuilder};
