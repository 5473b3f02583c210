//! Programmatic reads and writes of objects by [`ApiResource`], as a test writes them: the
//! same storage calls the HTTP handlers make, without a request.
//!
//! [`ApiServer`](super::ApiServer) answers with JSON values and
//! [`FakeListerWatcher`](super::FakeListerWatcher) decodes the stored bytes into its
//! object type; both go through these functions, so that a write has the same effect
//! (resourceVersion, uid, generation, events to every watch) whichever handle made it. A
//! namespaced object without a namespace goes to `default`, as `kubectl` would send it.

use std::sync::Arc;

use serde_json::Value;

use super::crd;
use super::errors;
use super::managed::IN_PROCESS;
use super::resources::ResourceInfo;
use super::storage::{ListAt, Preconditions, Storage, Stored, Written};
use crate::meta::{ApiResource, Status};

/// The namespace a request for `api` uses: `ns`, or `default` when unset; none for a
/// cluster-scoped resource.
fn scope<'a>(api: &ApiResource, ns: Option<&'a str>) -> Option<&'a str> {
    if api.namespaced {
        Some(ns.unwrap_or("default"))
    } else {
        None
    }
}

/// The string at `pointer` in `obj`, if any.
fn field<'a>(obj: &'a Value, pointer: &str) -> Option<&'a str> {
    obj.pointer(pointer).and_then(Value::as_str)
}

/// The served resource `api` names; `404` when the storage does not serve it.
pub(crate) fn info(storage: &Storage, api: &ApiResource) -> Result<ResourceInfo, Status> {
    storage
        .lookup(&api.group, &api.version, &api.plural)
        .ok_or_else(errors::path_not_found)
}

/// Makes sure the storage serves `api`: registers it, with a `status` subresource, unless
/// it is built in or already registered.
pub(crate) fn ensure_served(storage: &Storage, api: &ApiResource) {
    if storage
        .lookup(&api.group, &api.version, &api.plural)
        .is_none()
    {
        storage.register(ResourceInfo::new(api.clone()));
    }
}

/// Creates an object as a `POST` would, in the namespace its metadata names.
pub(crate) fn create(storage: &Storage, api: &ApiResource, obj: Value) -> Result<Written, Status> {
    let info = info(storage, api)?;
    let ns = field(&obj, "/metadata/namespace").map(str::to_owned);
    let crd = obj.clone();
    crd::create_with(storage, &info, &crd, false, || {
        storage.create(&info, scope(api, ns.as_deref()), obj, false, IN_PROCESS)
    })
}

/// Replaces an object as a `PUT` would; a non-empty `metadata.resourceVersion` must be
/// current, and custom resources must carry one.
pub(crate) fn replace(storage: &Storage, api: &ApiResource, obj: Value) -> Result<Written, Status> {
    let info = info(storage, api)?;
    let ns = field(&obj, "/metadata/namespace").map(str::to_owned);
    let name = field(&obj, "/metadata/name").unwrap_or_default().to_owned();
    storage.update(
        &info,
        scope(api, ns.as_deref()),
        &name,
        obj,
        false,
        false,
        IN_PROCESS,
    )
}

/// Deletes an object as a `DELETE` without options would.
pub(crate) fn delete(
    storage: &Storage,
    api: &ApiResource,
    ns: Option<&str>,
    name: &str,
) -> Result<Written, Status> {
    let info = info(storage, api)?;
    storage.delete(
        &info,
        scope(api, ns),
        name,
        &Preconditions::default(),
        false,
    )
}

/// One object.
pub(crate) fn get(
    storage: &Storage,
    api: &ApiResource,
    ns: Option<&str>,
    name: &str,
) -> Result<Arc<Stored>, Status> {
    let info = info(storage, api)?;
    storage.get(&info, scope(api, ns), name)
}

/// Every object of a resource, in one namespace or (`None`) all, in key order.
pub(crate) fn list(
    storage: &Storage,
    api: &ApiResource,
    ns: Option<&str>,
) -> Result<Vec<Arc<Stored>>, Status> {
    let info = info(storage, api)?;
    let ns = if api.namespaced { ns } else { None };
    storage
        .list(&info, ns, ListAt::Latest, None, None, &|_| true, false)
        .map(|page| page.items)
        .map_err(|_| errors::internal("listing the latest state failed"))
}
