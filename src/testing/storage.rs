//! The server's state: objects, the global resourceVersion, the bounded event history and
//! the open watches.
//!
//! Everything that changes state goes through [`Storage`], under one lock, in the order
//! etcd would apply it: a write takes the next resourceVersion, stores the object
//! (serialised to JSON once, here), appends an [`Event`] to the history and hands the same
//! `Arc<Event>` to every watch of that resource. The HTTP handlers only translate requests
//! into these calls and the results into responses. Because a watch registers under the
//! same lock that writes take, it sees every event after its starting point exactly once.
//!
//! The history is bounded: when it is full, the oldest event is dropped and the
//! "compacted" resourceVersion moves up, after which lists at, watches from and continue
//! tokens for an older version answer `410 Expired`, as they do against etcd.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use super::errors::{self, FieldError};
use super::ids;
use super::managed::{self, Scope, Tracking};
use super::raw_object::{same_as_bytes, RawObject};
use super::resources::{self, ResourceInfo};
use super::validation;
use crate::meta::{ApiResource, Status};

/// A resource's identity in the storage: `(group, plural)`.
pub(crate) type ResKey = (String, String);

/// The key of a resource.
pub(crate) fn res_key(api: &ApiResource) -> ResKey {
    (api.group.clone(), api.plural.clone())
}

/// An object's place within its resource; ordered by namespace, then name, as etcd keys
/// are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ObjKey {
    /// Namespace, empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjKey {
    /// `namespace/name`, or `name` for cluster-scoped objects.
    pub(crate) fn encode(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    /// Inverts [`ObjKey::encode`].
    pub(crate) fn decode(s: &str) -> ObjKey {
        match s.split_once('/') {
            Some((ns, name)) => ObjKey {
                namespace: ns.to_owned(),
                name: name.to_owned(),
            },
            None => ObjKey {
                namespace: String::new(),
                name: s.to_owned(),
            },
        }
    }
}

/// The metadata fields the storage and the selectors read, decoded once per version.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredMeta {
    /// `metadata.name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `metadata.namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `metadata.uid`.
    #[serde(default)]
    pub uid: Option<String>,
    /// `metadata.generation`.
    #[serde(default)]
    pub generation: Option<i64>,
    /// `metadata.labels`.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// `metadata.finalizers`.
    #[serde(default)]
    pub finalizers: Option<Vec<String>>,
    /// `metadata.deletionTimestamp`.
    #[serde(default)]
    pub deletion_timestamp: Option<String>,
}

/// One stored version of an object: its bytes on the wire, made once and shared by every
/// list page and watch that sends it, and the metadata needed to select it. The JSON
/// value is parsed again from the bytes only when a write needs it, which keeps the
/// history small.
///
/// The object is serialised inside the watch line of the write that made it
/// (`{"type":"MODIFIED","object":...}\n`): `json` is a slice of that line, and a watch that
/// sees the write as it happened sends the line itself, without copying it.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The resourceVersion of this version.
    pub rv: u64,
    /// Decoded metadata, for keys and selectors.
    pub meta: StoredMeta,
    /// The object serialised.
    pub json: Bytes,
    /// The watch line of the write that made this version.
    line: Bytes,
    /// That write's event type.
    line_type: EventType,
    /// Where the top-level `apiVersion` and `kind` entries are in `json` (start and end,
    /// without commas; `(0, 0)` when absent), to list the object without them.
    type_entries: [(u32, u32); 2],
}

impl Stored {
    fn build(value: &Value, rv: u64, kind: EventType) -> Result<Stored, Status> {
        let meta = decode_meta(value)?;
        let mut line = Vec::with_capacity(4096);
        watch_line_start(&mut line, kind.as_str());
        let start = line.len();
        let type_entries = write_object(&mut line, value)?;
        let end = line.len();
        line.extend_from_slice(WATCH_LINE_END);
        // Kept for as long as the version is: without the spare capacity.
        line.shrink_to_fit();
        let line = Bytes::from(line);
        Ok(Stored {
            rv,
            meta,
            json: line.slice(start..end),
            line,
            line_type: kind,
            type_entries: type_entries.map(|(a, b)| {
                let offset = |at: usize| u32::try_from(at - start).unwrap_or(0);
                if a == b {
                    (0, 0)
                } else {
                    (offset(a), offset(b))
                }
            }),
        })
    }

    /// Appends the object as a list item: as stored or, with `untyped`, without its
    /// `apiVersion` and `kind` (as a real server lists the built-in types), cut out of the
    /// stored bytes.
    pub(crate) fn write_list_item(&self, untyped: bool, out: &mut Vec<u8>) {
        let json = &self.json[..];
        let mut cuts: Vec<(usize, usize)> = self
            .type_entries
            .iter()
            .filter(|(a, b)| a < b)
            .map(|(a, b)| (*a as usize, *b as usize))
            .collect();
        if !untyped || cuts.is_empty() || json.len() < 2 {
            out.extend_from_slice(json);
            return;
        }
        cuts.sort_unstable();
        // The entries left are the runs between the cuts, less the commas at their ends.
        let inner_end = json.len() - 1;
        let mut from = 1;
        let mut first = true;
        out.push(b'{');
        for (a, b) in cuts
            .into_iter()
            .chain(std::iter::once((inner_end, inner_end)))
        {
            let mut run = &json[from.min(a)..a];
            run = run.strip_prefix(b",").unwrap_or(run);
            run = run.strip_suffix(b",").unwrap_or(run);
            if !run.is_empty() {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(run);
                first = false;
            }
            from = b;
        }
        out.push(b'}');
    }

    /// The watch line (`{"type":kind,"object":...}\n`) sending this version as `kind`:
    /// shared when `kind` is the type of the write that made it, framed anew otherwise.
    pub(crate) fn watch_line(&self, kind: EventType) -> Bytes {
        if kind == self.line_type {
            return self.line.clone();
        }
        let mut line = Vec::with_capacity(self.json.len() + 32);
        watch_line_start(&mut line, kind.as_str());
        line.extend_from_slice(&self.json);
        line.extend_from_slice(WATCH_LINE_END);
        Bytes::from(line)
    }

    /// The watch line sending this version as `kind`, stamped with resourceVersion `rv`:
    /// how a watch sends an object that left its selection, as it last matched, at the
    /// version of the write that moved it out.
    pub(crate) fn watch_line_at(&self, kind: EventType, rv: u64) -> Result<Bytes, Status> {
        let mut value = self.value()?;
        set_meta(&mut value, "resourceVersion", Value::String(rv.to_string()));
        let mut line = Vec::with_capacity(self.json.len() + 32);
        watch_line_start(&mut line, kind.as_str());
        serde_json::to_writer(&mut line, &value).map_err(|e| errors::internal(e.to_string()))?;
        line.extend_from_slice(WATCH_LINE_END);
        Ok(Bytes::from(line))
    }

    /// The object as JSON.
    pub(crate) fn value(&self) -> Result<Value, Status> {
        serde_json::from_slice(&self.json).map_err(|e| errors::internal(e.to_string()))
    }

    /// The object's key.
    pub(crate) fn key(&self) -> ObjKey {
        ObjKey {
            namespace: self.namespace().to_owned(),
            name: self.name().to_owned(),
        }
    }

    /// `metadata.name`.
    pub(crate) fn name(&self) -> &str {
        self.meta.name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, empty when cluster-scoped.
    pub(crate) fn namespace(&self) -> &str {
        self.meta.namespace.as_deref().unwrap_or_default()
    }
}

/// Serialises `value` into `out` exactly as `serde_json::to_writer` does, and returns
/// where its top-level `apiVersion` and `kind` entries are (absolute start and end in
/// `out`, equal when absent).
fn write_object(out: &mut Vec<u8>, value: &Value) -> Result<[(usize, usize); 2], Status> {
    let fail = |e: serde_json::Error| errors::internal(e.to_string());
    let Value::Object(map) = value else {
        serde_json::to_writer(&mut *out, value).map_err(fail)?;
        return Ok([(0, 0); 2]);
    };
    let mut found = [(0, 0); 2];
    out.push(b'{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let at = out.len();
        serde_json::to_writer(&mut *out, k).map_err(fail)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, v).map_err(fail)?;
        match k.as_str() {
            "apiVersion" => found[0] = (at, out.len()),
            "kind" => found[1] = (at, out.len()),
            _ => {}
        }
    }
    out.push(b'}');
    Ok(found)
}

/// Writes the start of a watch line, up to the object.
fn watch_line_start(line: &mut Vec<u8>, kind: &str) {
    line.extend_from_slice(b"{\"type\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(b"\",\"object\":");
}

/// The end of a watch line, after the object.
const WATCH_LINE_END: &[u8] = b"}\n";

/// What happened to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// The watch event type on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write, as the history and the watches see it.
#[derive(Debug)]
pub(crate) struct Event {
    /// The resourceVersion the write took.
    pub rv: u64,
    /// The resource written.
    pub res: ResKey,
    /// What happened.
    pub kind: EventType,
    /// The object after the write (for a deletion: its final state, at `rv`).
    pub obj: Arc<Stored>,
    /// The object before the write, if it existed.
    pub prev: Option<Arc<Stored>>,
}

/// What the storage sends to an open watch.
#[derive(Debug)]
pub(crate) enum WatchMsg {
    /// A write to the watched resource.
    Event(Arc<Event>),
    /// Fault: write one malformed line.
    Malformed,
    /// Fault: end the watch after this many more events.
    DropAfter(usize),
}

struct Watcher {
    id: u64,
    res: ResKey,
    tx: mpsc::UnboundedSender<WatchMsg>,
}

struct ResourceData {
    info: ResourceInfo,
    objects: BTreeMap<ObjKey, Arc<Stored>>,
}

struct Inner {
    rv: u64,
    compacted_rv: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    resources: BTreeMap<ResKey, ResourceData>,
    watchers: Vec<Watcher>,
    next_watcher_id: u64,
    /// Publishes `rv` to requests waiting for a future resourceVersion.
    rv_tx: watch::Sender<u64>,
}

/// Where a list reads: the latest state, or the state at an exact resourceVersion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListAt {
    /// The latest state.
    Latest,
    /// The state right after this resourceVersion.
    Exact(u64),
}

/// Why a list at an exact resourceVersion could not be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListError {
    /// The version is compacted.
    TooOld,
    /// The version is in the future; the current one is given.
    TooLarge(u64),
}

/// One page of a list.
#[derive(Debug)]
pub(crate) struct Page {
    /// The resourceVersion the page was read at.
    pub rv: u64,
    /// The objects, in key order.
    pub items: Vec<Arc<Stored>>,
    /// The key to continue after, when more objects follow.
    pub next: Option<ObjKey>,
    /// How many objects follow, when asked for and more follow.
    pub remaining: Option<i64>,
}

/// Where a watch starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WatchStart {
    /// With the current state (resourceVersion unset or `"0"`, or a streaming list).
    State,
    /// After this resourceVersion, replaying the history.
    From(u64),
}

/// An open watch's view of the storage.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Identity, for [`Storage::unsubscribe`].
    pub id: u64,
    /// The resourceVersion the watch starts after.
    pub rv: u64,
    /// For [`WatchStart::State`]: the current objects, in key order.
    pub initial: Vec<Arc<Stored>>,
    /// For [`WatchStart::From`]: the history after the starting version.
    pub replay: Vec<Arc<Event>>,
    /// Further events.
    pub rx: mpsc::UnboundedReceiver<WatchMsg>,
}

/// Preconditions of a delete.
#[derive(Clone, Debug, Default)]
pub(crate) struct Preconditions {
    /// The uid the object must have.
    pub uid: Option<String>,
    /// The resourceVersion the object must have.
    pub resource_version: Option<String>,
}

/// The result of a write: the stored version, and its JSON value for callers that want
/// it without parsing the bytes again.
#[derive(Debug)]
pub(crate) struct Written {
    /// The version as stored.
    pub stored: Arc<Stored>,
    /// Its JSON value.
    pub value: Value,
}

/// A filter over stored objects (selectors).
pub(crate) type Filter<'a> = &'a dyn Fn(&Stored) -> bool;

/// The server's state. See the module documentation.
pub(crate) struct Storage {
    inner: Mutex<Inner>,
}

fn decode_meta(value: &Value) -> Result<StoredMeta, Status> {
    match value.get("metadata") {
        None | Some(Value::Null) => Ok(StoredMeta::default()),
        Some(m) => StoredMeta::deserialize(m)
            .map_err(|e| errors::bad_request(format!("invalid metadata: {e}"))),
    }
}

/// `value.metadata` as a mutable map, created if missing.
fn meta_map(value: &mut Value) -> &mut Map<String, Value> {
    let Value::Object(obj) = value else {
        unreachable!("objects are checked to be JSON objects before their metadata is set")
    };
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

fn set_meta(value: &mut Value, field: &str, v: Value) {
    meta_map(value).insert(field.to_owned(), v);
}

fn remove_meta(value: &mut Value, field: &str) {
    meta_map(value).remove(field);
}

/// Removes the metadata maps and lists that are empty (or `null`), as a real server's
/// encoding leaves them out: `labels: {}` or `finalizers: []` are never stored.
fn drop_empty_meta(value: &mut Value) {
    let Some(Value::Object(meta)) = value.get_mut("metadata") else {
        return;
    };
    for f in [
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "managedFields",
    ] {
        let empty = match meta.get(f) {
            Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if empty {
            meta.remove(f);
        }
    }
}

/// Which fields a write tracks: a write to the `status` subresource only `status`, a write
/// to an object with that subresource everything but `status`.
pub(crate) fn scope_of(info: &ResourceInfo, status_only: bool) -> Scope {
    if status_only {
        Scope::StatusOnly
    } else if info.status_subresource {
        Scope::NoStatus
    } else {
        Scope::All
    }
}

fn set_type(value: &mut Value, api: &ApiResource) {
    if let Value::Object(obj) = value {
        obj.insert("apiVersion".to_owned(), Value::String(api.api_version()));
        obj.insert("kind".to_owned(), Value::String(api.kind.clone()));
    }
}

impl Storage {
    /// A storage with the built-in resources and namespaces, keeping at most
    /// `history_limit` events.
    pub(crate) fn new(history_limit: usize) -> Storage {
        let resources = resources::builtins()
            .into_iter()
            .map(|info| {
                (
                    res_key(&info.api),
                    ResourceData {
                        info,
                        objects: BTreeMap::new(),
                    },
                )
            })
            .collect();
        let (rv_tx, _) = watch::channel(0);
        let storage = Storage {
            inner: Mutex::new(Inner {
                rv: 0,
                compacted_rv: 0,
                history: VecDeque::new(),
                history_limit,
                resources,
                watchers: Vec::new(),
                next_watcher_id: 0,
                rv_tx,
            }),
        };
        let namespaces = storage
            .lookup("", "v1", "namespaces")
            .unwrap_or_else(|| unreachable!("namespaces are built in"));
        for ns in resources::INITIAL_NAMESPACES {
            let body = serde_json::json!({"metadata": {"name": ns}});
            let tracking = Tracking::Update {
                manager: "kube-apiserver",
                subresource: "",
            };
            if let Err(e) = storage.create(&namespaces, None, body, false, tracking) {
                unreachable!("creating a built-in namespace failed: {e}");
            }
        }
        storage
    }

    /// Registers (or replaces the description of) a resource.
    pub(crate) fn register(&self, info: ResourceInfo) {
        let mut inner = self.inner.lock();
        let key = res_key(&info.api);
        match inner.resources.get_mut(&key) {
            Some(data) => data.info = info,
            None => {
                inner.resources.insert(
                    key,
                    ResourceData {
                        info,
                        objects: BTreeMap::new(),
                    },
                );
            }
        }
    }

    /// The resource served at `group/version/plural`.
    pub(crate) fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        let inner = self.inner.lock();
        inner
            .resources
            .get(&(group.to_owned(), plural.to_owned()))
            .filter(|d| d.info.api.version == version)
            .map(|d| d.info.clone())
    }

    /// Every registered resource.
    pub(crate) fn resources(&self) -> Vec<ResourceInfo> {
        let inner = self.inner.lock();
        inner.resources.values().map(|d| d.info.clone()).collect()
    }

    /// The current resourceVersion.
    pub(crate) fn current_rv(&self) -> u64 {
        self.inner.lock().rv
    }

    /// The highest compacted resourceVersion: watches must start at or after it.
    #[cfg(test)]
    pub(crate) fn compacted_rv(&self) -> u64 {
        self.inner.lock().compacted_rv
    }

    /// A receiver of the current resourceVersion, to wait for it to move.
    pub(crate) fn rv_receiver(&self) -> watch::Receiver<u64> {
        self.inner.lock().rv_tx.subscribe()
    }

    /// The object `ns/name`.
    pub(crate) fn get(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Arc<Stored>, Status> {
        let inner = self.inner.lock();
        let key = ObjKey {
            namespace: ns.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        inner
            .resources
            .get(&res_key(&info.api))
            .and_then(|d| d.objects.get(&key))
            .cloned()
            .ok_or_else(|| errors::not_found(&info.api, name))
    }

    /// Creates an object from a request body; with `dry_run`, answers as if it did,
    /// storing nothing.
    pub(crate) fn create(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        mut body: Value,
        dry_run: bool,
        tracking: Tracking<'_>,
    ) -> Result<Written, Status> {
        let api = &info.api;
        if !body.is_object() {
            return Err(errors::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let meta = decode_meta(&body)?;
        validation::check_type(info, meta.name.as_deref().unwrap_or_default(), &body)?;
        let namespace = if api.namespaced {
            let url_ns = ns.unwrap_or_default();
            match meta.namespace.as_deref() {
                Some(body_ns) if !body_ns.is_empty() && body_ns != url_ns => {
                    return Err(errors::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => url_ns.to_owned(),
            }
        } else {
            String::new()
        };
        let name = match meta.name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => n.to_owned(),
            None => match body
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .filter(|g| !g.is_empty())
            {
                Some(prefix) => format!("{prefix}{}", ids::name_suffix()),
                None => {
                    return Err(errors::invalid(
                        api,
                        "",
                        &[FieldError::required(
                            "metadata.name",
                            "name or generateName is required",
                        )],
                    ))
                }
            },
        };
        let check = if api.plural == "namespaces" && api.group.is_empty() {
            ids::validate_label(&name)
        } else {
            ids::validate_subdomain(&name)
        };
        if let Err(detail) = check {
            return Err(errors::invalid(
                api,
                &name,
                &[FieldError::invalid("metadata.name", &name, &detail)],
            ));
        }
        validation::check_meta(info, &name, &body)?;
        // A dry run never reaches the storage's own check.
        if !dry_run
            && body
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .is_some_and(|rv| !rv.is_empty())
        {
            return Err(errors::rv_set_on_create());
        }
        let key = ObjKey {
            namespace: namespace.clone(),
            name: name.clone(),
        };

        set_type(&mut body, api);
        set_meta(&mut body, "name", Value::String(name.clone()));
        if api.namespaced {
            set_meta(&mut body, "namespace", Value::String(namespace.clone()));
        } else {
            remove_meta(&mut body, "namespace");
        }
        set_meta(&mut body, "uid", Value::String(ids::new_uid()));
        set_meta(
            &mut body,
            "creationTimestamp",
            Value::String(ids::now_rfc3339()),
        );
        set_meta(&mut body, "generation", Value::from(1));
        for f in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            remove_meta(&mut body, f);
        }
        let requested = match tracking {
            Tracking::Update { .. } => managed::take(&mut body),
            Tracking::Applied => None,
        };
        drop_empty_meta(&mut body);
        if api.group.is_empty() && api.plural == "namespaces" {
            if let Value::Object(obj) = &mut body {
                obj.entry("status")
                    .or_insert_with(|| serde_json::json!({"phase": "Active"}));
            }
        }
        if let Tracking::Update {
            manager,
            subresource,
        } = tracking
        {
            managed::track_update(
                None,
                &mut body,
                requested,
                manager,
                subresource,
                &api.api_version(),
                scope_of(info, false),
            )?;
        }

        let mut inner = self.inner.lock();
        if api.namespaced && !inner.namespace_exists(&namespace) {
            return Err(errors::namespace_not_found(&namespace));
        }
        let rk = res_key(api);
        let exists = inner
            .resources
            .get(&rk)
            .map(|d| d.objects.contains_key(&key))
            .ok_or_else(errors::path_not_found)?;
        if exists {
            return Err(errors::already_exists(api, &name));
        }
        inner.commit(&rk, EventType::Added, body, None, dry_run)
    }

    /// Replaces `ns/name` (or its status when `status_only`) with a request body.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        body: Value,
        status_only: bool,
        dry_run: bool,
        tracking: Tracking<'_>,
    ) -> Result<Written, Status> {
        self.modify(info, ns, name, status_only, dry_run, tracking, |_| Ok(body))
    }

    /// Applies `change` to the current version of `ns/name` and stores the result as an
    /// update, atomically.
    ///
    /// The current version is read as a [`RawObject`]: only the metadata fields kept from
    /// it (and its status, for resources with a status subresource) are parsed. With
    /// `dry_run`, the answer is the same and nothing is stored. `tracking` says how the
    /// write is recorded in `managedFields`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn modify(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        status_only: bool,
        dry_run: bool,
        tracking: Tracking<'_>,
        change: impl FnOnce(&Stored) -> Result<Value, Status>,
    ) -> Result<Written, Status> {
        let api = &info.api;
        let key = ObjKey {
            namespace: ns.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        let rk = res_key(api);
        let mut inner = self.inner.lock();
        let old = inner
            .resources
            .get(&rk)
            .and_then(|d| d.objects.get(&key))
            .cloned()
            .ok_or_else(|| errors::not_found(api, name))?;
        let new = change(&old)?;
        if !new.is_object() {
            return Err(errors::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        validation::check_type(info, name, &new)?;
        let meta_str = |v: &'_ Value, f: &str| -> Option<String> {
            v.get("metadata")
                .and_then(|m| m.get(f))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(n) = meta_str(&new, "name") {
            if n != name {
                return Err(errors::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if let Some(n) = meta_str(&new, "namespace") {
            if api.namespaced && n != key.namespace {
                return Err(errors::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        match meta_str(&new, "resourceVersion") {
            Some(rv) if rv.parse::<u64>().ok() != Some(old.rv) => {
                return Err(errors::conflict(api, name, errors::STALE));
            }
            Some(_) => {}
            // A real server names the resource, not the kind, in this one error.
            None if !info.unconditional_update() => {
                return Err(errors::invalid_fields(
                    &api.group,
                    &api.plural,
                    name,
                    &[FieldError::raw_invalid(
                        "metadata.resourceVersion",
                        "0x0",
                        "must be specified for an update",
                    )],
                ));
            }
            None => {}
        }

        let prev = RawObject::parse(&old.json)?;
        let mut merged = if status_only {
            let mut merged = old.value()?;
            if let Value::Object(m) = &mut merged {
                match new.get("status") {
                    Some(s) => m.insert("status".to_owned(), s.clone()),
                    None => m.remove("status"),
                };
            }
            // An apply has computed the records of the whole object.
            if let (Tracking::Applied, Some(fields)) =
                (tracking, new.pointer("/metadata/managedFields"))
            {
                set_meta(&mut merged, "managedFields", fields.clone());
            }
            merged
        } else {
            let mut merged = new;
            for f in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ] {
                match prev.meta(f)? {
                    Some(v) => set_meta(&mut merged, f, v),
                    None => remove_meta(&mut merged, f),
                }
            }
            if info.status_subresource {
                let status = prev.field("status")?;
                if let Value::Object(m) = &mut merged {
                    match status {
                        Some(s) => m.insert("status".to_owned(), s),
                        None => m.remove("status"),
                    };
                }
            }
            merged
        };
        set_type(&mut merged, api);
        remove_meta(&mut merged, "selfLink");
        // Anything but metadata and status differing is a spec change, which bumps
        // `generation`. Tracking an update finds that out on the way.
        let spec_changed = match tracking {
            Tracking::Update {
                manager,
                subresource,
            } => {
                let requested = managed::take(&mut merged);
                drop_empty_meta(&mut merged);
                managed::track_update(
                    Some(&prev),
                    &mut merged,
                    requested,
                    manager,
                    subresource,
                    &api.api_version(),
                    scope_of(info, status_only),
                )?
                .spec_changed
            }
            Tracking::Applied => {
                drop_empty_meta(&mut merged);
                prev.differs(&merged, |k| {
                    matches!(k, "metadata" | "status" | "apiVersion" | "kind")
                })
            }
        };
        if spec_changed && !status_only {
            let generation = old.meta.generation.unwrap_or(1) + 1;
            set_meta(&mut merged, "generation", Value::from(generation));
        }
        if !status_only {
            validation::check_meta(info, name, &merged)?;
        }
        set_meta(
            &mut merged,
            "resourceVersion",
            Value::String(old.rv.to_string()),
        );
        if same_as_bytes(&old.json, &merged) {
            return Ok(Written {
                stored: old,
                value: merged,
            });
        }
        let finalizers = merged
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array);
        if old.meta.deletion_timestamp.is_some() && !status_only {
            let before = old.meta.finalizers.as_deref().unwrap_or_default();
            let added: Vec<String> = finalizers
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|f| !before.iter().any(|b| b == f))
                .map(|f| format!("{f:?}"))
                .collect();
            if !added.is_empty() {
                return Err(errors::invalid(
                    api,
                    name,
                    &[FieldError::forbidden(
                        "metadata.finalizers",
                        &format!(
                            "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                            added.join(", ")
                        ),
                    )],
                ));
            }
        }
        let finished =
            old.meta.deletion_timestamp.is_some() && finalizers.is_none_or(|f| f.is_empty());
        if !finished {
            return inner.commit(&rk, EventType::Modified, merged, Some(old), dry_run);
        }
        // The last finalizer is gone: as a real store, delete the stored version (the
        // `DELETED` event carries it, finalizers and all, at the deletion's version) and
        // answer with the update as sent, at the version it was made against.
        let answer = Arc::new(Stored::build(&merged, old.rv, EventType::Modified)?);
        let last = old.value()?;
        inner.commit(&rk, EventType::Deleted, last, Some(old), dry_run)?;
        Ok(Written {
            stored: answer,
            value: merged,
        })
    }

    /// Deletes `ns/name`: at once, or by setting `deletionTimestamp` while finalizers
    /// remain. A namespace takes everything in it along. With `dry_run`, the answer is
    /// the same and nothing changes.
    pub(crate) fn delete(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        pre: &Preconditions,
        dry_run: bool,
    ) -> Result<Written, Status> {
        let api = &info.api;
        let key = ObjKey {
            namespace: ns.unwrap_or_default().to_owned(),
            name: name.to_owned(),
        };
        let rk = res_key(api);
        let mut inner = self.inner.lock();
        let old = inner
            .resources
            .get(&rk)
            .and_then(|d| d.objects.get(&key))
            .cloned()
            .ok_or_else(|| errors::not_found(api, name))?;
        if let Some(uid) = pre.uid.as_deref() {
            let actual = old.meta.uid.as_deref().unwrap_or_default();
            if uid != actual {
                return Err(errors::conflict(
                    api,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = pre.resource_version.as_deref() {
            if rv.parse::<u64>().ok() != Some(old.rv) {
                return Err(errors::conflict(
                    api,
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        old.rv
                    ),
                ));
            }
        }
        if !old.meta.finalizers.as_ref().is_none_or(|f| f.is_empty()) {
            if old.meta.deletion_timestamp.is_some() {
                return Ok(Written {
                    value: old.value()?,
                    stored: old,
                });
            }
            let mut value = old.value()?;
            set_meta(
                &mut value,
                "deletionTimestamp",
                Value::String(ids::now_rfc3339()),
            );
            set_meta(&mut value, "deletionGracePeriodSeconds", Value::from(0));
            // Marking an object as being deleted is a change of its spec's lifecycle: a
            // real store bumps the generation.
            if let Some(generation) = old.meta.generation.filter(|g| *g > 0) {
                set_meta(&mut value, "generation", Value::from(generation + 1));
            }
            return inner.commit(&rk, EventType::Modified, value, Some(old), dry_run);
        }
        if api.group.is_empty() && api.plural == "namespaces" && !dry_run {
            inner.empty_namespace(name)?;
        }
        let value = old.value()?;
        inner.commit(&rk, EventType::Deleted, value, Some(old), dry_run)
    }

    /// Deletes every object in scope that `filter` accepts (with `dry_run`, none).
    pub(crate) fn delete_collection(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        filter: Filter<'_>,
        dry_run: bool,
    ) -> Result<Vec<Written>, Status> {
        let page = self
            .list(info, ns, ListAt::Latest, None, None, filter, false)
            .map_err(|_| errors::internal("listing the latest state failed"))?;
        let mut deleted = Vec::new();
        for obj in page.items {
            let ns = (!obj.namespace().is_empty()).then(|| obj.namespace());
            match self.delete(info, ns, obj.name(), &Preconditions::default(), dry_run) {
                Ok(d) => deleted.push(d),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// One page of the objects in scope that `filter` accepts, after `after`, at `at`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn list(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        at: ListAt,
        after: Option<&ObjKey>,
        limit: Option<usize>,
        filter: Filter<'_>,
        count_remaining: bool,
    ) -> Result<Page, ListError> {
        let inner = self.inner.lock();
        let rk = res_key(&info.api);
        let Some(data) = inner.resources.get(&rk) else {
            return Ok(Page {
                rv: inner.rv,
                items: Vec::new(),
                next: None,
                remaining: None,
            });
        };
        let rv = match at {
            ListAt::Latest => inner.rv,
            ListAt::Exact(n) if n > inner.rv => return Err(ListError::TooLarge(inner.rv)),
            ListAt::Exact(n) if n < inner.compacted_rv => return Err(ListError::TooOld),
            ListAt::Exact(n) => n,
        };
        let changed_since = inner
            .history
            .iter()
            .rev()
            .take_while(|e| e.rv > rv)
            .any(|e| e.res == rk);
        let (items, next, remaining) = if changed_since {
            let mut past = data.objects.clone();
            for e in inner.history.iter().rev().take_while(|e| e.rv > rv) {
                if e.res != rk {
                    continue;
                }
                match (&e.kind, &e.prev) {
                    (EventType::Added, _) | (_, None) => {
                        past.remove(&e.obj.key());
                    }
                    (_, Some(prev)) => {
                        past.insert(prev.key(), prev.clone());
                    }
                }
            }
            page(&past, ns, after, limit, filter, count_remaining)
        } else {
            page(&data.objects, ns, after, limit, filter, count_remaining)
        };
        Ok(Page {
            rv,
            items,
            next,
            remaining,
        })
    }

    /// Opens a watch of a resource. `Err` carries the compacted version when `start` is
    /// older than the history.
    pub(crate) fn subscribe(
        &self,
        info: &ResourceInfo,
        ns: Option<&str>,
        start: WatchStart,
    ) -> Result<Subscription, u64> {
        let mut inner = self.inner.lock();
        let rk = res_key(&info.api);
        let (rv, initial, replay) = match start {
            WatchStart::From(n) => {
                if n < inner.compacted_rv {
                    return Err(inner.compacted_rv);
                }
                let replay = inner
                    .history
                    .iter()
                    .filter(|e| e.rv > n && e.res == rk)
                    .cloned()
                    .collect();
                (n, Vec::new(), replay)
            }
            WatchStart::State => {
                let initial = match inner.resources.get(&rk) {
                    Some(data) => page(&data.objects, ns, None, None, &|_| true, false).0,
                    None => Vec::new(),
                };
                (inner.rv, initial, Vec::new())
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let id = inner.next_watcher_id;
        inner.next_watcher_id += 1;
        inner.watchers.push(Watcher { id, res: rk, tx });
        Ok(Subscription {
            id,
            rv,
            initial,
            replay,
            rx,
        })
    }

    /// Forgets a watch.
    pub(crate) fn unsubscribe(&self, id: u64) {
        self.inner.lock().watchers.retain(|w| w.id != id);
    }

    /// The number of open watches.
    pub(crate) fn watch_count(&self) -> usize {
        self.inner.lock().watchers.len()
    }

    /// Ends every open watch.
    pub(crate) fn drop_watchers(&self) {
        self.inner.lock().watchers.clear();
    }

    /// Sends a fault message to every open watch.
    pub(crate) fn broadcast(&self, make: impl Fn() -> WatchMsg) {
        let mut inner = self.inner.lock();
        inner.watchers.retain(|w| w.tx.send(make()).is_ok());
    }

    /// Drops the whole history: only watches from now on can be served.
    pub(crate) fn compact(&self) {
        let mut inner = self.inner.lock();
        inner.history.clear();
        inner.compacted_rv = inner.rv;
    }

    /// Drops the history up to and including `revision` (at most the current one), as
    /// etcd compacts: the versions from `revision` on can still be watched and listed.
    pub(crate) fn compact_to(&self, revision: u64) {
        let mut inner = self.inner.lock();
        let revision = revision.min(inner.rv);
        if revision <= inner.compacted_rv {
            return;
        }
        while inner.history.front().is_some_and(|e| e.rv <= revision) {
            inner.history.pop_front();
        }
        inner.compacted_rv = revision;
    }
}

impl Inner {
    fn namespace_exists(&self, ns: &str) -> bool {
        self.resources
            .get(&(String::new(), "namespaces".to_owned()))
            .is_some_and(|d| {
                d.objects.contains_key(&ObjKey {
                    namespace: String::new(),
                    name: ns.to_owned(),
                })
            })
    }

    /// Deletes every object in namespace `ns`.
    fn empty_namespace(&mut self, ns: &str) -> Result<(), Status> {
        let doomed: Vec<(ResKey, Arc<Stored>)> = self
            .resources
            .iter()
            .filter(|(_, d)| d.info.api.namespaced)
            .flat_map(|(rk, d)| {
                d.objects
                    .values()
                    .filter(|o| o.namespace() == ns)
                    .map(|o| (rk.clone(), o.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (rk, obj) in doomed {
            let value = obj.value()?;
            self.commit(&rk, EventType::Deleted, value, Some(obj), false)?;
        }
        Ok(())
    }

    /// Applies one write: next resourceVersion, stored object, history, watches. A dry
    /// run changes none of them: the answer keeps the version the object had (none for
    /// a creation), as a real server's dry run answers.
    fn commit(
        &mut self,
        rk: &ResKey,
        kind: EventType,
        mut value: Value,
        prev: Option<Arc<Stored>>,
        dry_run: bool,
    ) -> Result<Written, Status> {
        if dry_run {
            let rv = match &prev {
                Some(p) => {
                    set_meta(
                        &mut value,
                        "resourceVersion",
                        Value::String(p.rv.to_string()),
                    );
                    p.rv
                }
                None => {
                    remove_meta(&mut value, "resourceVersion");
                    0
                }
            };
            let stored = Arc::new(Stored::build(&value, rv, kind)?);
            return Ok(Written { stored, value });
        }
        let rv = self.rv + 1;
        set_meta(&mut value, "resourceVersion", Value::String(rv.to_string()));
        let stored = Arc::new(Stored::build(&value, rv, kind)?);
        let data = self
            .resources
            .get_mut(rk)
            .ok_or_else(errors::path_not_found)?;
        match kind {
            EventType::Deleted => {
                data.objects.remove(&stored.key());
            }
            EventType::Added | EventType::Modified => {
                data.objects.insert(stored.key(), stored.clone());
            }
        }
        self.rv = rv;
        let event = Arc::new(Event {
            rv,
            res: rk.clone(),
            kind,
            obj: stored.clone(),
            prev,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted_rv = old.rv;
            }
        }
        self.watchers
            .retain(|w| w.res != *rk || w.tx.send(WatchMsg::Event(event.clone())).is_ok());
        self.rv_tx.send_replace(rv);
        Ok(Written { stored, value })
    }
}

type PageParts = (Vec<Arc<Stored>>, Option<ObjKey>, Option<i64>);

fn page(
    map: &BTreeMap<ObjKey, Arc<Stored>>,
    ns: Option<&str>,
    after: Option<&ObjKey>,
    limit: Option<usize>,
    filter: Filter<'_>,
    count_remaining: bool,
) -> PageParts {
    let lower = match (after, ns) {
        (Some(k), _) => Bound::Excluded(k.clone()),
        (None, Some(ns)) => Bound::Included(ObjKey {
            namespace: ns.to_owned(),
            name: String::new(),
        }),
        (None, None) => Bound::Unbounded,
    };
    let mut iter = map
        .range((lower, Bound::Unbounded))
        .take_while(|(k, _)| ns.is_none_or(|ns| k.namespace == ns));
    let mut items = Vec::with_capacity(limit.unwrap_or(0).min(map.len()));
    let mut last = None;
    let limit = limit.unwrap_or(usize::MAX);
    if limit > 0 {
        for (k, obj) in iter.by_ref() {
            if filter(obj) {
                items.push(obj.clone());
                if items.len() >= limit {
                    last = Some(k.clone());
                    break;
                }
            }
        }
    }
    let Some(last) = last else {
        return (items, None, None);
    };
    if count_remaining {
        let rest = iter.count();
        if rest == 0 {
            (items, None, None)
        } else {
            (items, Some(last), Some(rest as i64))
        }
    } else if iter.next().is_some() {
        (items, Some(last), None)
    } else {
        (items, None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods(s: &Storage) -> ResourceInfo {
        s.lookup("", "v1", "pods").expect("pods are built in")
    }

    fn all(_: &Stored) -> bool {
        true
    }

    #[test]
    fn starts_with_namespaces() {
        let s = Storage::new(100);
        assert_eq!(s.current_rv(), 4);
        let ns = s.lookup("", "v1", "namespaces").expect("built in");
        let page = s
            .list(&ns, None, ListAt::Latest, None, None, &all, false)
            .expect("list");
        let names: Vec<_> = page.items.iter().map(|o| o.name().to_owned()).collect();
        assert_eq!(
            names,
            ["default", "kube-node-lease", "kube-public", "kube-system"]
        );
    }

    #[test]
    fn exact_list_sees_the_past() {
        let s = Storage::new(100);
        let p = pods(&s);
        let a = s
            .create(
                &p,
                Some("default"),
                json!({"metadata": {"name": "a"}}),
                false,
                managed::IN_PROCESS,
            )
            .expect("create");
        s.create(
            &p,
            Some("default"),
            json!({"metadata": {"name": "b"}}),
            false,
            managed::IN_PROCESS,
        )
        .expect("create");
        s.delete(&p, Some("default"), "a", &Preconditions::default(), false)
            .expect("delete");
        let now = s
            .list(&p, None, ListAt::Latest, None, None, &all, false)
            .expect("list");
        assert_eq!(now.items.len(), 1);
        let then = s
            .list(
                &p,
                None,
                ListAt::Exact(a.stored.rv),
                None,
                None,
                &all,
                false,
            )
            .expect("list");
        assert_eq!(then.items.len(), 1);
        assert_eq!(then.items[0].name(), "a");
    }

    #[test]
    fn history_is_bounded() {
        let s = Storage::new(2);
        let p = pods(&s);
        for i in 0..5 {
            s.create(
                &p,
                Some("default"),
                json!({"metadata": {"name": format!("p{i}")}}),
                false,
                managed::IN_PROCESS,
            )
            .expect("create");
        }
        assert_eq!(s.compacted_rv(), s.current_rv() - 2);
        assert!(s.subscribe(&p, None, WatchStart::From(1)).is_err());
        let sub = s
            .subscribe(&p, None, WatchStart::From(s.current_rv() - 2))
            .expect("subscribe");
        assert_eq!(sub.replay.len(), 2);
    }

    #[test]
    fn list_items_can_leave_out_their_type() {
        let cases = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}),
            json!({"apiVersion": "v1", "data": {"kind": "x"}, "kind": "ConfigMap"}),
            json!({"kind": "Pod"}),
            json!({"metadata": {}, "zeta": 1}),
            json!({"apiVersion": "v1", "kind": "Pod"}),
        ];
        for value in cases {
            let stored = Stored::build(&value, 1, EventType::Added).expect("build");
            assert_eq!(
                &stored.json[..],
                &serde_json::to_vec(&value).expect("serialise")[..],
                "bytes as serde_json writes them"
            );
            let mut typed = Vec::new();
            stored.write_list_item(false, &mut typed);
            assert_eq!(&typed[..], &stored.json[..]);
            let mut untyped = Vec::new();
            stored.write_list_item(true, &mut untyped);
            let mut expected = value.clone();
            if let Value::Object(m) = &mut expected {
                m.remove("apiVersion");
                m.remove("kind");
            }
            let got: Value = serde_json::from_slice(&untyped).expect("JSON");
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn compaction_to_a_revision_keeps_what_follows() {
        let s = Storage::new(100);
        let p = pods(&s);
        for i in 0..4 {
            let name = format!("p{i}");
            s.create(
                &p,
                Some("default"),
                json!({"metadata": {"name": name}}),
                false,
                managed::IN_PROCESS,
            )
            .expect("create");
        }
        let now = s.current_rv();
        s.compact_to(now - 2);
        assert_eq!(s.compacted_rv(), now - 2);
        assert!(s.subscribe(&p, None, WatchStart::From(now - 3)).is_err());
        let sub = s
            .subscribe(&p, None, WatchStart::From(now - 2))
            .expect("subscribe");
        assert_eq!(sub.replay.len(), 2);
        // Never backwards, never past the current version.
        s.compact_to(1);
        assert_eq!(s.compacted_rv(), now - 2);
        s.compact_to(now + 10);
        assert_eq!(s.compacted_rv(), now);
    }

    #[test]
    fn finalizers_delay_deletion() {
        let s = Storage::new(100);
        let p = pods(&s);
        s.create(
            &p,
            Some("default"),
            json!({"metadata": {"name": "f", "finalizers": ["x/y"]}}),
            false,
            managed::IN_PROCESS,
        )
        .expect("create");
        let d = s
            .delete(&p, Some("default"), "f", &Preconditions::default(), false)
            .expect("delete");
        assert!(d.stored.meta.deletion_timestamp.is_some());
        s.modify(
            &p,
            Some("default"),
            "f",
            false,
            false,
            managed::IN_PROCESS,
            |current| {
                let mut v = current.value()?;
                v["metadata"]["finalizers"] = json!([]);
                Ok(v)
            },
        )
        .expect("remove finalizer");
        assert!(s.get(&p, Some("default"), "f").is_err());
    }
}
