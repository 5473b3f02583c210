//! `Api<K>`: typed (or dynamic) access to one resource, in one namespace or in all.
//!
//! An `Api` knows its [`ApiResource`] (statically from [`Resource`] for typed objects, or
//! given at run time for [`DynamicObject`](crate::meta::DynamicObject)s) and its
//! namespace, and turns each call into a URL (`/api/v1/namespaces/ns/pods/name`,
//! `/apis/group/version/...`), a query string from the params, and a JSON body. The
//! answer is decoded with serde straight into `K`, [`ObjectList<K>`] or, for watches, a
//! stream of [`WatchEvent<K>`] (see [`watch_stream`](super::watch_stream)).

use std::marker::PhantomData;

use futures::stream::BoxStream;
use futures::StreamExt;
use http::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::list_stream::ListDecoder;
use super::params::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, ToQuery, WatchParams,
};
use super::rest::Body;
use super::watch_stream::decode_watch;
use super::{Error, RestClient, Result};
use crate::meta::{
    ApiResource, ObjectList, PartialObjectMetadata, Resource, Scale, Status, WatchEvent,
};

/// What a delete answered: the object (still there while finalizers run, or as it was
/// deleted), or a `Status` of success.
// `T` is an object (usually kilobytes once decoded), so the `Status` variant is not the
// one that makes the enum large; clippy cannot see that through the type parameter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum DeleteResponse<T> {
    /// The object (or, for `delete_collection`, the list of objects).
    Object(T),
    /// A `Status` (`Success`).
    Status(Status),
}

impl<T> DeleteResponse<T> {
    /// The object, if the server returned one.
    pub fn object(self) -> Option<T> {
        match self {
            DeleteResponse::Object(o) => Some(o),
            DeleteResponse::Status(_) => None,
        }
    }
}

/// Access to one resource, namespaced or across all namespaces.
///
/// Typed for a `K: Resource` ([`Api::namespaced`], [`Api::all`]; with the feature
/// `k8s-openapi`, every k8s-openapi type), or dynamic for a
/// [`DynamicObject`](crate::meta::DynamicObject) and an [`ApiResource`] known at run time
/// ([`Api::namespaced_with`], [`Api::all_with`]).
///
/// ```
/// use informer::client::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
/// use informer::meta::{ApiResource, DynamicObject, Object};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let server = informer::testing::ApiServer::start().await?;
/// # let client = informer::client::RestClient::new(
/// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
/// # )?;
/// let config_maps = ApiResource::new("", "v1", "ConfigMap", "configmaps", true);
/// let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &config_maps);
///
/// let cm: DynamicObject = serde_json::from_value(serde_json::json!({
///     "apiVersion": "v1", "kind": "ConfigMap",
///     "metadata": {"name": "settings", "labels": {"app": "web"}},
///     "data": {"mode": "fast"},
/// }))?;
/// api.create(&PostParams::default(), &cm).await?;
///
/// let patch = Patch::Merge(serde_json::json!({"data": {"mode": "safe"}}));
/// let patched = api.patch("settings", &PatchParams::default(), &patch).await?;
/// assert_eq!(patched.data["data"]["mode"], "safe");
///
/// let listed = api.list(&ListParams::default().labels("app=web")).await?;
/// assert_eq!(listed.items.len(), 1);
///
/// api.delete("settings", &DeleteParams::default()).await?;
/// let gone = api.get("settings").await.unwrap_err();
/// assert!(gone.is_not_found());
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct Api<K> {
    client: RestClient,
    resource: ApiResource,
    namespace: Option<String>,
    /// Reads ask for `PartialObjectMetadata` (see [`Api::all_metadata`]).
    metadata_only: bool,
    _k: PhantomData<fn() -> K>,
}

/// The `Accept` of a metadata-only get or watch, then plain JSON (client-go's metadata
/// client sends the same, with protobuf first).
const ACCEPT_METADATA: &str =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
/// The `Accept` of a metadata-only list.
const ACCEPT_METADATA_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
/// The `Accept` of every other request.
const ACCEPT_JSON: &str = "application/json";

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            metadata_only: self.metadata_only,
            _k: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Api<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("resource", &self.resource)
            .field("namespace", &self.namespace)
            .field("metadata_only", &self.metadata_only)
            .finish_non_exhaustive()
    }
}

/// Metadata-only access (client-go's metadata client, kube-rs's `*_metadata` calls).
impl Api<PartialObjectMetadata> {
    /// Every namespace, metadata only: `get`, `list` and `watch` ask the server for
    /// [`PartialObjectMetadata`] instead of whole objects, which a metadata-only informer
    /// caches at a fraction of the memory (no `spec`, no `status`). Reads (and
    /// `delete`) are what it is for: a write would send a `PartialObjectMetadata` body,
    /// and the subresource reads (`get_status`, `get_scale`) ask for whole objects.
    ///
    /// ```
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let server = informer::testing::ApiServer::start().await?;
    /// # let client = informer::client::RestClient::new(
    /// #     informer::client::Config::from_kubeconfig_file(server.kubeconfig())?,
    /// # )?;
    /// use informer::client::{Api, ListParams};
    /// use informer::meta::ApiResource;
    ///
    /// let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    /// let api = Api::all_metadata(client, &pods);
    /// let list = api.list(&ListParams::default()).await?;
    /// assert_eq!(list.kind.as_deref(), Some("PartialObjectMetadataList"));
    /// # server.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn all_metadata(client: RestClient, resource: &ApiResource) -> Self {
        Api {
            metadata_only: true,
            ..Api::all_with(client, resource)
        }
    }

    /// One namespace (ignored for a cluster-scoped resource), metadata only.
    pub fn namespaced_metadata(
        client: RestClient,
        namespace: &str,
        resource: &ApiResource,
    ) -> Self {
        Api {
            metadata_only: true,
            ..Api::namespaced_with(client, namespace, resource)
        }
    }
}

impl<K: Resource> Api<K> {
    /// Every namespace (or a cluster-scoped resource).
    pub fn all(client: RestClient) -> Self {
        Api::all_with(client, &K::api_resource())
    }

    /// One namespace (ignored for a cluster-scoped resource).
    pub fn namespaced(client: RestClient, namespace: &str) -> Self {
        Api::namespaced_with(client, namespace, &K::api_resource())
    }

    /// The config's default namespace.
    pub fn default_namespaced(client: RestClient) -> Self {
        Api::default_namespaced_with(client, &K::api_resource())
    }
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters, `:` and `@`.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// A path segment, percent-encoded (UTF-8).
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

#[derive(Deserialize)]
struct KindProbe {
    #[serde(default)]
    kind: Option<String>,
}

impl<K> Api<K> {
    /// Every namespace, for a resource known at run time.
    pub fn all_with(client: RestClient, resource: &ApiResource) -> Self {
        Api {
            client,
            resource: resource.clone(),
            namespace: None,
            metadata_only: false,
            _k: PhantomData,
        }
    }

    /// One namespace, for a resource known at run time.
    pub fn namespaced_with(client: RestClient, namespace: &str, resource: &ApiResource) -> Self {
        Api {
            client,
            resource: resource.clone(),
            namespace: resource.namespaced.then(|| namespace.to_owned()),
            metadata_only: false,
            _k: PhantomData,
        }
    }

    /// The config's default namespace, for a resource known at run time.
    pub fn default_namespaced_with(client: RestClient, resource: &ApiResource) -> Self {
        let ns = client.default_namespace().to_owned();
        Api::namespaced_with(client, &ns, resource)
    }

    /// Whether reads ask for metadata only (an `Api` made by [`Api::all_metadata`]
    /// or [`Api::namespaced_metadata`]).
    pub fn is_metadata_only(&self) -> bool {
        self.metadata_only
    }

    /// `metadata` when this `Api` reads metadata only, JSON otherwise.
    fn accept(&self, metadata: &'static str) -> &'static str {
        if self.metadata_only {
            metadata
        } else {
            ACCEPT_JSON
        }
    }

    /// The resource this accesses.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The client underneath.
    pub fn client(&self) -> &RestClient {
        &self.client
    }

    /// `/api/v1[/namespaces/ns]/plural` or `/apis/group/version[/namespaces/ns]/plural`.
    pub fn collection_path(&self) -> String {
        let r = &self.resource;
        let mut p = if r.group.is_empty() {
            format!("/api/{}", seg(&r.version))
        } else {
            format!("/apis/{}/{}", seg(&r.group), seg(&r.version))
        };
        if let Some(ns) = &self.namespace {
            p.push_str("/namespaces/");
            p.push_str(&seg(ns));
        }
        p.push('/');
        p.push_str(&seg(&r.plural));
        p
    }

    fn object_path(&self, name: &str, sub: Option<&str>) -> Result<String> {
        if name.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "an empty name was given for a {}",
                self.resource.kind
            )));
        }
        let mut p = self.collection_path();
        p.push('/');
        p.push_str(&seg(name));
        if let Some(s) = sub {
            p.push('/');
            p.push_str(s);
        }
        Ok(p)
    }

    fn need_namespace(&self, verb: &str) -> Result<()> {
        if self.resource.namespaced && self.namespace.is_none() {
            return Err(Error::InvalidRequest(format!(
                "{verb} of a {} needs a namespace: use Api::namespaced",
                self.resource.kind
            )));
        }
        Ok(())
    }
}

fn with_query(
    path: String,
    fill: impl FnOnce(&mut form_urlencoded::Serializer<'_, String>),
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    fill(&mut q);
    let q = q.finish();
    if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    }
}

impl<K> Api<K>
where
    K: DeserializeOwned + Send + 'static,
{
    /// Reads one object.
    pub async fn get(&self, name: &str) -> Result<K> {
        self.need_namespace("get")?;
        let path = self.object_path(name, None)?;
        let accept = self.accept(ACCEPT_METADATA);
        self.client
            .request_json_as(Method::GET, &path, None, accept)
            .await
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the `status` subresource.
    pub async fn get_status(&self, name: &str) -> Result<K> {
        self.need_namespace("get")?;
        let path = self.object_path(name, Some("status"))?;
        self.client.request_json(Method::GET, &path, None).await
    }

    /// Reads the `scale` subresource: desired and observed replicas (client-go's scale
    /// client).
    ///
    /// ```no_run
    /// # async fn demo(client: informer::client::RestClient) -> informer::client::Result<()> {
    /// use informer::client::{Api, Patch, PatchParams};
    /// use informer::meta::{ApiResource, DynamicObject};
    /// let deployments = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
    /// let api: Api<DynamicObject> = Api::namespaced_with(client, "shop", &deployments);
    /// let scale = api.get_scale("web").await?;
    /// println!("{:?} of {:?}", scale.status.map(|s| s.replicas), scale.spec.replicas);
    /// api.patch_scale("web", &PatchParams::default(),
    ///     &Patch::Merge(serde_json::json!({"spec": {"replicas": 5}}))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_scale(&self, name: &str) -> Result<Scale> {
        self.need_namespace("get")?;
        let path = self.object_path(name, Some("scale"))?;
        self.client.request_json(Method::GET, &path, None).await
    }

    /// Replaces the `scale` subresource: sets the desired replicas, conditional on
    /// `scale.metadata.resourceVersion` when it is set.
    pub async fn replace_scale(
        &self,
        name: &str,
        params: &PostParams,
        scale: &Scale,
    ) -> Result<Scale> {
        self.need_namespace("replace")?;
        let path = with_query(self.object_path(name, Some("scale"))?, |q| params.query(q));
        let body = Body::json(scale)?;
        self.client
            .request_json(Method::PUT, &path, Some(body))
            .await
    }

    /// Patches the `scale` subresource (for example `{"spec": {"replicas": 5}}`).
    pub async fn patch_scale<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<Scale> {
        self.need_namespace("patch")?;
        params.validate(patch)?;
        let path = with_query(self.object_path(name, Some("scale"))?, |q| params.query(q));
        let body = Body::json_as(patch.body(), patch.content_type())?;
        self.client
            .request_json(Method::PATCH, &path, Some(body))
            .await
    }

    /// Lists objects (one page when `params.limit` is set).
    ///
    /// The answer must be a list: a kind ending in `List` and a
    /// `metadata.resourceVersion`, as client-go requires; anything else (`{}`, a `Status`
    /// sent with `200`) is an error, never an empty list. No item (nor the rest of the
    /// document) may be larger than [`Config::max_object_size`](super::Config).
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>> {
        let mut items = Vec::new();
        let mut list = self
            .list_batched(params, usize::MAX, &mut |batch| items.extend(batch))
            .await?;
        list.items = items;
        Ok(list)
    }

    /// Lists like [`list`](Self::list), but decodes the items while the answer arrives
    /// and hands them to `on_batch` in batches of up to `batch` (in order), so that a
    /// large list is never held whole, as bytes or decoded. Returns the list's metadata
    /// (with no items).
    ///
    /// The checks of [`list`](Self::list) apply; the shape of the document is known only
    /// at its end, so items decoded before a failure may already have been handed over.
    pub async fn list_batched(
        &self,
        params: &ListParams,
        batch: usize,
        on_batch: &mut (dyn FnMut(Vec<K>) + Send),
    ) -> Result<ObjectList<K>> {
        let path = with_query(self.collection_path(), |q| params.query(q));
        let context = format!("GET {}{}", self.client.base_url(), path);
        let mut decoder = ListDecoder::new(context, self.client.max_object_size(), batch);
        let accept = self.accept(ACCEPT_METADATA_LIST);
        let mut body = self.client.request_chunks(&path, accept).await?;
        while let Some(chunk) = body.next().await {
            // A broken or stalled body is a transport error, with its own context.
            decoder.push(&chunk?, on_batch)?;
        }
        decoder.finish(on_batch)
    }

    /// Watches objects: a stream of events that ends when the server ends the watch
    /// (cleanly), or with one error item.
    pub async fn watch(
        &self,
        params: &WatchParams,
    ) -> Result<BoxStream<'static, Result<WatchEvent<K>>>> {
        let path = with_query(self.collection_path(), |q| params.query(q));
        let accept = self.accept(ACCEPT_METADATA);
        let body = self.client.request_stream_as(&path, accept).await?;
        let context = format!("GET {}{}", self.client.base_url(), path);
        Ok(decode_watch(body, self.client.max_watch_event_size(), context).boxed())
    }

    /// Deletes one object.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<DeleteResponse<K>> {
        self.need_namespace("delete")?;
        let path = self.object_path(name, None)?;
        let body = Body::json(&params.body())?;
        let bytes = self
            .client
            .request_bytes(Method::DELETE, &path, Some(body))
            .await?;
        decode_delete(&bytes, &path)
    }

    /// Deletes every object matching `list` (in the namespace, or everywhere).
    pub async fn delete_collection(
        &self,
        params: &DeleteParams,
        list: &ListParams,
    ) -> Result<DeleteResponse<ObjectList<K>>> {
        let path = with_query(self.collection_path(), |q| list.query(q));
        let body = Body::json(&params.body())?;
        let bytes = self
            .client
            .request_bytes(Method::DELETE, &path, Some(body))
            .await?;
        decode_delete(&bytes, &path)
    }

    /// Patches one object.
    pub async fn patch<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        self.patch_sub(name, None, params, patch).await
    }

    /// Applies `obj` server side as the field manager of `params` (see
    /// [`PatchParams::apply`]): `obj` is that manager's whole intent for the object,
    /// which the server merges in, creating the object if it does not exist. Fields
    /// another manager owns with a different value fail with `409 Conflict` (see
    /// [`Error::is_conflict`](super::Error::is_conflict)) unless `params.force` is set.
    /// `obj` should carry `apiVersion`, `kind` and `metadata.name`.
    ///
    /// Shorthand for [`Api::patch`] with [`Patch::Apply`].
    pub async fn apply<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        obj: &P,
    ) -> Result<K> {
        self.patch_sub(name, None, params, &Patch::Apply(obj)).await
    }

    /// Patches the `status` subresource.
    pub async fn patch_status<P: Serialize>(
        &self,
        name: &str,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        self.patch_sub(name, Some("status"), params, patch).await
    }

    async fn patch_sub<P: Serialize>(
        &self,
        name: &str,
        sub: Option<&str>,
        params: &PatchParams,
        patch: &Patch<P>,
    ) -> Result<K> {
        self.need_namespace("patch")?;
        params.validate(patch)?;
        let path = with_query(self.object_path(name, sub)?, |q| params.query(q));
        let body = Body::json_as(patch.body(), patch.content_type())?;
        self.client
            .request_json(Method::PATCH, &path, Some(body))
            .await
    }
}

impl<K> Api<K>
where
    K: Serialize + DeserializeOwned + Send + 'static,
{
    /// Creates an object.
    pub async fn create(&self, params: &PostParams, obj: &K) -> Result<K> {
        self.need_namespace("create")?;
        let path = with_query(self.collection_path(), |q| params.query(q));
        let body = Body::json(obj)?;
        self.client
            .request_json(Method::POST, &path, Some(body))
            .await
    }

    /// Replaces an object (its `metadata.resourceVersion`, if set, must be current, or the
    /// server answers `409 Conflict`).
    pub async fn replace(&self, name: &str, params: &PostParams, obj: &K) -> Result<K> {
        self.replace_sub(name, None, params, obj).await
    }

    /// Replaces the `status` subresource.
    pub async fn replace_status(&self, name: &str, params: &PostParams, obj: &K) -> Result<K> {
        self.replace_sub(name, Some("status"), params, obj).await
    }

    async fn replace_sub(
        &self,
        name: &str,
        sub: Option<&str>,
        params: &PostParams,
        obj: &K,
    ) -> Result<K> {
        self.need_namespace("replace")?;
        let path = with_query(self.object_path(name, sub)?, |q| params.query(q));
        let body = Body::json(obj)?;
        self.client
            .request_json(Method::PUT, &path, Some(body))
            .await
    }
}

fn decode_delete<T: DeserializeOwned>(bytes: &[u8], path: &str) -> Result<DeleteResponse<T>> {
    let ctx = || format!("decoding the answer to DELETE {path}");
    let probe: KindProbe = serde_json::from_slice(bytes).map_err(|e| Error::decode(ctx(), e))?;
    if probe.kind.as_deref() == Some("Status") {
        serde_json::from_slice(bytes)
            .map(DeleteResponse::Status)
            .map_err(|e| Error::decode(ctx(), e))
    } else {
        serde_json::from_slice(bytes)
            .map(DeleteResponse::Object)
            .map_err(|e| Error::decode(ctx(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Config;
    use crate::meta::DynamicObject;

    #[test]
    fn paths() {
        let client = RestClient::new(Config::new("http://127.0.0.1:1").unwrap()).unwrap();
        let pods = ApiResource::new("", "v1", "Pod", "pods", true);
        let deploy = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
        let nodes = ApiResource::new("", "v1", "Node", "nodes", false);
        let a: Api<DynamicObject> = Api::namespaced_with(client.clone(), "shop", &pods);
        assert_eq!(a.collection_path(), "/api/v1/namespaces/shop/pods");
        assert_eq!(
            a.object_path("web 1", Some("status")).unwrap(),
            "/api/v1/namespaces/shop/pods/web%201/status"
        );
        let a: Api<DynamicObject> = Api::all_with(client.clone(), &deploy);
        assert_eq!(a.collection_path(), "/apis/apps/v1/deployments");
        let a: Api<DynamicObject> = Api::namespaced_with(client, "shop", &nodes);
        assert_eq!(a.collection_path(), "/api/v1/nodes");
    }

    #[test]
    fn path_segments_escape_everything_but_unreserved() {
        assert_eq!(seg("web-1.a_b~c:d@e"), "web-1.a_b~c:d@e");
        assert_eq!(seg("a/b?c#d%e f+g&h"), "a%2Fb%3Fc%23d%25e%20f%2Bg%26h");
        assert_eq!(seg("ü"), "%C3%BC");
        assert_eq!(seg(".."), "..");
        assert_eq!(seg(""), "");
    }
}
