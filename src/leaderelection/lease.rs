//! The Lease (coordination.k8s.io/v1) that candidates compete for, and the
//! [`LeaseLock`] that reads and writes it: client-go's `resourcelock.LeaseLock`.
//!
//! Every write is conditional: an update carries the resourceVersion it read, so two
//! candidates writing from the same read cannot both succeed (the second gets 409).

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::client::{Api, PostParams, RestClient, Result};
use crate::meta::{object_resource, ObjectMeta};

/// A Lease object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// `coordination.k8s.io/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Lease`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Standard metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The leader election record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<LeaseSpec>,
}

/// A Lease's spec: who holds it, since when, for how long.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    /// The identity of the holder; empty or absent when nobody holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    /// How long, in seconds, candidates wait for a renewal before taking over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    /// When the current holder acquired it (RFC 3339, microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<String>,
    /// When the holder last renewed it (RFC 3339, microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<String>,
    /// How many times it changed holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    /// Fields this crate does not interpret (`strategy`, `preferredHolder`), kept.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl LeaseSpec {
    /// The holder, if anyone holds the lease.
    pub fn holder(&self) -> Option<&str> {
        self.holder_identity.as_deref().filter(|h| !h.is_empty())
    }
}

object_resource!(Lease, "coordination.k8s.io", "v1", "Lease", "leases", true);

/// Where the leader election record lives (client-go's `resourcelock.Interface`).
/// [`LeaseLock`] is the implementation for a real server; tests wrap it to inject faults.
pub trait Lock: Send + Sync + 'static {
    /// The lock's name, for logs.
    fn describe(&self) -> String;
    /// The lease, or `None` when it does not exist.
    fn get(&self) -> BoxFuture<'_, Result<Option<Lease>>>;
    /// Creates the lease; fails with `AlreadyExists` when someone else did first.
    /// Returns the lease as stored, with its new `metadata.resourceVersion`.
    fn create(&self, lease: Lease) -> BoxFuture<'_, Result<Lease>>;
    /// Replaces the lease, conditional on its `metadata.resourceVersion`. Returns the
    /// lease as stored, with its new `metadata.resourceVersion`: the leader's next
    /// renewal writes on top of it without reading first (and reads first when it has
    /// none).
    fn update(&self, lease: Lease) -> BoxFuture<'_, Result<Lease>>;
}

/// A Lease named `name` in `namespace`, read and written through the API.
#[derive(Clone, Debug)]
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
}

impl LeaseLock {
    /// The Lease `namespace/name`, through `client`.
    pub fn new(client: RestClient, namespace: &str, name: &str) -> Self {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl Lock for LeaseLock {
    fn describe(&self) -> String {
        format!("lease {}/{}", self.namespace, self.name)
    }

    fn get(&self) -> BoxFuture<'_, Result<Option<Lease>>> {
        Box::pin(self.api.get_opt(&self.name))
    }

    fn create(&self, mut lease: Lease) -> BoxFuture<'_, Result<Lease>> {
        lease.api_version = Some("coordination.k8s.io/v1".to_owned());
        lease.kind = Some("Lease".to_owned());
        lease.metadata.name = Some(self.name.clone());
        lease.metadata.namespace = Some(self.namespace.clone());
        Box::pin(async move { self.api.create(&PostParams::default(), &lease).await })
    }

    fn update(&self, lease: Lease) -> BoxFuture<'_, Result<Lease>> {
        Box::pin(async move {
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
        })
    }
}
