//! Field management: `metadata.managedFields` and server-side apply.
//!
//! A real API server records, for every object, which manager set which fields, and
//! merges server-side apply patches by those records (structured-merge-diff). The
//! embedded server has no schemas, so every object is what structured-merge-diff calls
//! "deduced": maps merge key by key, and every other value (lists included) is one atomic
//! value, owned as a whole.
//!
//! How data flows: the storage calls [`track_update`] on every create, update and
//! non-apply patch, under its lock, with the version being replaced. The difference
//! between the two versions (computed from the stored bytes, parsing only the top-level
//! and metadata fields that changed) is what the writing manager now owns; every other
//! manager loses those fields. An apply patch goes through [`apply`] instead, which merges
//! the applied configuration into the live object, makes its fields the manager's
//! `Apply` set, removes fields the manager applied before and nobody owns any more, and
//! fails with `409 Conflict` when it would change a field another manager owns (unless
//! forced). Both write the records back as `managedFields` entries in `FieldsV1`
//! encoding, sorted as a real server sorts them.
//!
//! Fields a real server never tracks are left out of every set: `apiVersion`, `kind`,
//! `metadata.name`, `namespace`, `uid`, `resourceVersion`, `generation`,
//! `creationTimestamp`, `selfLink` and `managedFields` (the `metadata` map itself neither),
//! and `status` on the main resource of a type with a `status` subresource (a status
//! write tracks only `status`).
//!
//! Not reproduced: the cap of ten `Update` entries (a real server folds older ones into
//! `ancient-changes`), kubectl's `last-applied-configuration` annotation upgrade, list
//! merging by key (there are no schemas), and the `422` a real server answers for
//! malformed `managedFields` in a request (here they are ignored, and the stored ones
//! kept). An apply that would only change `status` through the main resource (or the
//! reverse) still refreshes the applier's time.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::errors;
use super::ids;
use super::raw_object::{same_as_bytes, RawObject};
use crate::meta::{Status, StatusCause, StatusDetails};

/// Longest field manager name a real server accepts, in bytes.
pub(crate) const MAX_MANAGER_LEN: usize = 128;

/// The manager of writes made in process ([`ApiServer::create`](super::ApiServer::create)
/// and friends), which have no `User-Agent`.
pub(crate) const IN_PROCESS_MANAGER: &str = "informer";

/// Metadata fields no manager owns.
const UNTRACKED_META: [&str; 9] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "clusterName",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// An update made in process, by [`IN_PROCESS_MANAGER`].
pub(crate) const IN_PROCESS: Tracking<'static> = Tracking::Update {
    manager: IN_PROCESS_MANAGER,
    subresource: "",
};

/// How a write is recorded in `managedFields`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tracking<'a> {
    /// An `Update` operation (create, replace, non-apply patch) by `manager`, through
    /// `subresource` (empty for the object itself).
    Update {
        /// The manager's name.
        manager: &'a str,
        /// `status`, `scale`, or empty.
        subresource: &'a str,
    },
    /// An apply: [`apply`] has already written the object's `managedFields`.
    Applied,
}

/// Which part of an object a write may touch, for the fields it tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The whole object.
    All,
    /// The object without `status` (a type with a `status` subresource).
    NoStatus,
    /// Only `status` (a write to the `status` subresource).
    StatusOnly,
}

/// The manager for a request: its `fieldManager`, or else the `User-Agent` up to the
/// first `/`, without unprintable characters and cut to [`MAX_MANAGER_LEN`] bytes.
pub(crate) fn manager_of(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_owned();
    }
    let prefix = user_agent
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default();
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// A set of field paths as a tree. Keys are `FieldsV1` keys (`f:name`); keys of other
/// kinds that a client sent (`k:`, `v:`, `i:`) are kept verbatim and never match a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    /// Whether the path of this node is itself in the set.
    member: bool,
    /// The paths below it.
    children: BTreeMap<String, FieldSet>,
}

fn field_key(name: &str) -> String {
    format!("f:{name}")
}

impl FieldSet {
    /// Whether the set holds no path.
    pub(crate) fn is_empty(&self) -> bool {
        !self.member && self.children.is_empty()
    }

    fn child(&mut self, key: String) -> &mut FieldSet {
        self.children.entry(key).or_default()
    }

    /// Decodes a `FieldsV1` object; `None` if it is not one.
    fn from_fields_v1(v: &Value) -> Option<FieldSet> {
        let Value::Object(m) = v else {
            return None;
        };
        let mut set = FieldSet::default();
        for (k, child) in m {
            if k == "." {
                set.member = true;
                continue;
            }
            let mut c = FieldSet::from_fields_v1(child)?;
            if c.children.is_empty() {
                c.member = true;
            }
            set.children.insert(k.clone(), c);
        }
        Some(set)
    }

    /// Encodes the set as `FieldsV1`: a leaf is `{}`, a member with children carries
    /// `".": {}`.
    fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        if self.member && !self.children.is_empty() {
            m.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (k, c) in &self.children {
            m.insert(k.clone(), c.to_fields_v1());
        }
        Value::Object(m)
    }

    /// Adds this path and every path inside `v` (what appears when `v` is added).
    fn insert_value(&mut self, v: &Value) {
        self.member = true;
        if let Value::Object(m) = v {
            for (k, c) in m {
                self.child(field_key(k)).insert_value(c);
            }
        }
    }

    /// Adds the leaves of `v` (what an applied configuration sets): values that are not
    /// maps, and not the maps around them; an empty map sets nothing.
    fn insert_leaves(&mut self, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    let mut child = FieldSet::default();
                    child.insert_leaves(c);
                    if !child.is_empty() {
                        self.child(field_key(k)).union(&child);
                    }
                }
            }
            _ => self.member = true,
        }
    }

    /// Adds every path of `other`.
    fn union(&mut self, other: &FieldSet) {
        self.member |= other.member;
        for (k, c) in &other.children {
            self.child(k.clone()).union(c);
        }
    }

    /// Removes every path of `other`.
    fn difference(&mut self, other: &FieldSet) {
        if other.member {
            self.member = false;
        }
        for (k, c) in &other.children {
            if let Some(mine) = self.children.get_mut(k) {
                mine.difference(c);
                if mine.is_empty() {
                    self.children.remove(k);
                }
            }
        }
    }

    /// The paths in both sets.
    fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(o) = other.children.get(k) {
                let both = c.intersection(o);
                if !both.is_empty() {
                    out.children.insert(k.clone(), both);
                }
            }
        }
        out
    }

    /// Every path of the set, rendered as `.a.b`, in the order structured-merge-diff
    /// walks a set: the members of a level (sorted), then the levels below.
    fn paths(&self, prefix: &str, out: &mut Vec<String>) {
        for (k, c) in &self.children {
            if c.member {
                out.push(format!("{prefix}{}", render_key(k)));
            }
        }
        for (k, c) in &self.children {
            if !c.children.is_empty() {
                c.paths(&format!("{prefix}{}", render_key(k)), out);
            }
        }
    }

    /// Leaves out what no manager owns (see the module documentation).
    fn strip(&mut self, scope: Scope) {
        self.member = false;
        self.children.remove("f:apiVersion");
        self.children.remove("f:kind");
        if let Some(meta) = self.children.get_mut("f:metadata") {
            meta.member = false;
            for f in UNTRACKED_META {
                meta.children.remove(&field_key(f));
            }
            if meta.is_empty() {
                self.children.remove("f:metadata");
            }
        }
        match scope {
            Scope::All => {}
            Scope::NoStatus => {
                self.children.remove("f:status");
            }
            Scope::StatusOnly => self.children.retain(|k, _| k == "f:status"),
        }
    }
}

/// `f:name` as a path element (`.name`); other kinds as structured-merge-diff prints them.
fn render_key(k: &str) -> String {
    match k.split_once(':') {
        Some(("f", name)) => format!(".{name}"),
        Some(("k", key)) => format!("[{key}]"),
        Some(("v", value)) => format!("[={value}]"),
        Some(("i", index)) => format!("[{index}]"),
        _ => format!(".{k}"),
    }
}

/// Records in `changed` (added or modified) and `removed` how `new` differs from `old`,
/// both at the path of those nodes.
fn diff(old: &Value, new: &Value, changed: &mut FieldSet, removed: &mut FieldSet) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => diff_maps(o, n, changed, removed),
        _ if old == new => {}
        _ => changed.insert_value(new),
    }
}

fn diff_maps(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    changed: &mut FieldSet,
    removed: &mut FieldSet,
) {
    for (k, n) in new {
        match old.get(k) {
            None => changed.child(field_key(k)).insert_value(n),
            Some(o) => diff_child(k, o, n, changed, removed),
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            removed.child(field_key(k)).insert_value(o);
        }
    }
}

fn diff_child(k: &str, o: &Value, n: &Value, changed: &mut FieldSet, removed: &mut FieldSet) {
    let (mut c, mut r) = (FieldSet::default(), FieldSet::default());
    diff(o, n, &mut c, &mut r);
    if !c.is_empty() {
        changed.children.insert(field_key(k), c);
    }
    if !r.is_empty() {
        removed.children.insert(field_key(k), r);
    }
}

fn corrupt(e: serde_json::Error) -> Status {
    errors::internal(format!("stored object is not valid JSON: {e}"))
}

/// The difference between a stored version and its replacement, reading only the
/// top-level and metadata fields whose bytes differ.
fn diff_stored(
    prev: &RawObject<'_>,
    new: &Value,
    scope: Scope,
) -> Result<(FieldSet, FieldSet), Status> {
    let (mut changed, mut removed) = (FieldSet::default(), FieldSet::default());
    let empty = Map::new();
    let new_map = new.as_object().unwrap_or(&empty);
    let compare = |old: Option<&serde_json::value::RawValue>,
                   key: &str,
                   value: Option<&Value>,
                   changed: &mut FieldSet,
                   removed: &mut FieldSet|
     -> Result<(), Status> {
        match (old, value) {
            (None, Some(v)) => changed.child(field_key(key)).insert_value(v),
            (Some(raw), Some(v)) if !same_as_bytes(raw.get().as_bytes(), v) => {
                let o: Value = serde_json::from_str(raw.get()).map_err(corrupt)?;
                diff_child(key, &o, v, changed, removed);
            }
            (Some(raw), None) => {
                let o: Value = serde_json::from_str(raw.get()).map_err(corrupt)?;
                removed.child(field_key(key)).insert_value(&o);
            }
            _ => {}
        }
        Ok(())
    };
    // What the scope leaves out is not compared at all (the storage copied it over).
    let skip_top = |k: &str| match scope {
        Scope::StatusOnly => k != "status",
        Scope::NoStatus => matches!(k, "apiVersion" | "kind" | "metadata" | "status"),
        Scope::All => matches!(k, "apiVersion" | "kind" | "metadata"),
    };
    for k in new_map.keys().filter(|k| !skip_top(k)) {
        compare(
            prev.raw_field(k),
            k,
            new_map.get(k),
            &mut changed,
            &mut removed,
        )?;
    }
    for k in prev.field_names().filter(|k| !skip_top(k)) {
        if !new_map.contains_key(k) {
            compare(prev.raw_field(k), k, None, &mut changed, &mut removed)?;
        }
    }
    if scope == Scope::StatusOnly {
        return Ok((changed, removed));
    }
    let new_meta = new_map
        .get("metadata")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (mut meta_changed, mut meta_removed) = (FieldSet::default(), FieldSet::default());
    let skip_meta = |k: &str| UNTRACKED_META.contains(&k);
    for k in new_meta.keys().filter(|k| !skip_meta(k)) {
        compare(
            prev.raw_meta(k),
            k,
            new_meta.get(k),
            &mut meta_changed,
            &mut meta_removed,
        )?;
    }
    for k in prev.meta_names().filter(|k| !skip_meta(k)) {
        if !new_meta.contains_key(k) {
            compare(
                prev.raw_meta(k),
                k,
                None,
                &mut meta_changed,
                &mut meta_removed,
            )?;
        }
    }
    if !meta_changed.is_empty() {
        changed
            .children
            .insert("f:metadata".to_owned(), meta_changed);
    }
    if !meta_removed.is_empty() {
        removed
            .children
            .insert("f:metadata".to_owned(), meta_removed);
    }
    Ok((changed, removed))
}

/// One `managedFields` entry.
#[derive(Clone, Debug)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn decode(v: &Value) -> Option<Entry> {
        let s = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_owned);
        if s("fieldsType").is_some_and(|t| t != "FieldsV1") {
            return None;
        }
        let fields = match v.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::default(),
            Some(f) => FieldSet::from_fields_v1(f)?,
        };
        Some(Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_default(),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource").unwrap_or_default(),
            fields,
        })
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".to_owned(), Value::String(self.manager.clone()));
        m.insert(
            "operation".to_owned(),
            Value::String(self.operation.clone()),
        );
        m.insert(
            "apiVersion".to_owned(),
            Value::String(self.api_version.clone()),
        );
        if let Some(t) = &self.time {
            m.insert("time".to_owned(), Value::String(t.clone()));
        }
        m.insert(
            "fieldsType".to_owned(),
            Value::String("FieldsV1".to_owned()),
        );
        m.insert("fieldsV1".to_owned(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert(
                "subresource".to_owned(),
                Value::String(self.subresource.clone()),
            );
        }
        Value::Object(m)
    }

    fn encode_at(mut self, time: Value) -> Value {
        self.time = time.as_str().map(str::to_owned);
        self.encode()
    }

    fn same_manager(&self, manager: &str, operation: &str, api_version: &str, sub: &str) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.api_version == api_version
            && self.subresource == sub
    }

    /// The manager as a conflict names it: `"name"`, with its subresource, and for an
    /// update the API version it used.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Decodes `managedFields`; `None` if they are not a list of valid entries.
fn decode_entries(v: &Value) -> Option<Vec<Entry>> {
    v.as_array()?.iter().map(Entry::decode).collect()
}

/// Whether `managedFields` asks for a reset: `[]` or `[{}]`.
fn is_reset(v: &Value) -> bool {
    match v.as_array().map(Vec::as_slice) {
        Some([]) => true,
        Some([Value::Object(m)]) => m.is_empty(),
        _ => false,
    }
}

/// Sorts entries as a real server does (operation, time, manager, version, subresource)
/// and writes them to `obj.metadata.managedFields` (removed when there are none).
fn store_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.sort_by(|a, b| {
        (
            &a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                &b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        let list = entries.iter().map(Entry::encode).collect();
        meta.insert("managedFields".to_owned(), Value::Array(list));
    }
}

/// Takes `metadata.managedFields` out of `obj`.
pub(crate) fn take(obj: &mut Value) -> Option<Value> {
    obj.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

/// What [`track_update`] found.
pub(crate) struct Tracked {
    /// Whether anything outside `metadata` and `status` changed (a spec change, which
    /// bumps `generation`).
    pub spec_changed: bool,
}

/// Records an `Update` by `manager` in `obj.metadata.managedFields`: `obj` replaces
/// `prev` (`None` for a create), and `requested` is the `managedFields` the request
/// carried (already taken out of `obj`).
///
/// The base records are the request's when it set some (`[]` or `[{}]` resets them),
/// else those of `prev`, as a real server chooses; a write to a subresource always keeps
/// those of `prev`.
///
/// This is on the path of every write, so it works on the entries as JSON, in place: it
/// walks only the parts of each entry's `FieldsV1` that the change touches, and entries
/// the change does not touch are neither decoded nor encoded again.
pub(crate) fn track_update(
    prev: Option<&RawObject<'_>>,
    obj: &mut Value,
    requested: Option<Value>,
    manager: &str,
    subresource: &str,
    api_version: &str,
    scope: Scope,
) -> Result<Tracked, Status> {
    let prev_fields = || -> Result<Option<Value>, Status> {
        match prev {
            Some(p) => p.meta("managedFields"),
            None => Ok(None),
        }
    };
    let base: Option<Value> = match requested {
        _ if !subresource.is_empty() => prev_fields()?,
        Some(r) if is_reset(&r) => None,
        Some(r) if plausible_entries(&r) => Some(r),
        _ => prev_fields()?.filter(plausible_entries),
    };
    let (mut changed, mut removed) = match prev {
        Some(p) => diff_stored(p, obj, scope)?,
        None => {
            let mut all = FieldSet::default();
            all.insert_value(obj);
            (all, FieldSet::default())
        }
    };
    let spec_changed = changed
        .children
        .keys()
        .chain(removed.children.keys())
        .any(|k| !matches!(k.as_str(), "f:metadata" | "f:status"));
    changed.strip(scope);
    removed.strip(scope);
    let mut entries = match base {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    };
    if changed.is_empty() && removed.is_empty() {
        if !entries.is_empty() {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("managedFields".to_owned(), Value::Array(entries));
            }
        }
        return Ok(Tracked { spec_changed });
    }
    let mut own = None;
    for (i, e) in entries.iter_mut().enumerate() {
        if is_entry_of(e, manager, "Update", api_version, subresource) {
            own = Some(i);
        }
        if let Some(fields) = e.get_mut("fieldsV1").and_then(Value::as_object_mut) {
            v1_difference(fields, &changed);
            v1_difference(fields, &removed);
        }
    }
    if !changed.is_empty() {
        let now = Value::String(ids::now_rfc3339());
        match own
            .and_then(|i| entries.get_mut(i))
            .and_then(Value::as_object_mut)
        {
            Some(e) => {
                e.insert("time".to_owned(), now);
                let fields = e
                    .entry("fieldsV1")
                    .or_insert_with(|| Value::Object(Map::new()));
                match fields {
                    Value::Object(f) => v1_union(f, &changed),
                    other => *other = changed.to_fields_v1(),
                }
            }
            None => entries.push(
                Entry {
                    manager: manager.to_owned(),
                    operation: "Update".to_owned(),
                    api_version: api_version.to_owned(),
                    time: None,
                    subresource: subresource.to_owned(),
                    fields: changed,
                }
                .encode_at(now),
            ),
        }
    }
    entries.retain(|e| {
        e.get("fieldsV1")
            .and_then(Value::as_object)
            .is_some_and(|f| !f.is_empty())
    });
    let text = |e: &Value, f: &str| {
        e.get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    entries.sort_by_cached_key(|e| {
        (
            text(e, "operation"),
            text(e, "time"),
            text(e, "manager"),
            text(e, "apiVersion"),
            text(e, "subresource"),
        )
    });
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".to_owned(), Value::Array(entries));
        }
    }
    Ok(Tracked { spec_changed })
}

/// Whether `v` looks like `managedFields` a real server would decode: a list of
/// objects whose `fieldsV1` (if any) is an object and whose `fieldsType` (if any) is
/// `FieldsV1`. An empty list does not count (it resets instead).
fn plausible_entries(v: &Value) -> bool {
    v.as_array().is_some_and(|entries| {
        !entries.is_empty()
            && entries.iter().all(|e| {
                e.is_object()
                    && e.get("fieldsV1").is_none_or(Value::is_object)
                    && e.get("fieldsType")
                        .is_none_or(|t| t.as_str() == Some("FieldsV1"))
            })
    })
}

fn is_entry_of(e: &Value, manager: &str, operation: &str, api_version: &str, sub: &str) -> bool {
    let s = |f: &str| e.get(f).and_then(Value::as_str).unwrap_or_default();
    s("manager") == manager
        && s("operation") == operation
        && s("apiVersion") == api_version
        && s("subresource") == sub
}

/// Removes the paths of `set` from the `FieldsV1` map `node`, in place.
fn v1_difference(node: &mut Map<String, Value>, set: &FieldSet) {
    for (k, s) in &set.children {
        let Some(Value::Object(child)) = node.get_mut(k) else {
            continue;
        };
        if child.is_empty() {
            // A leaf: a member without children.
            if s.member {
                node.remove(k);
            }
            continue;
        }
        if s.member {
            child.remove(".");
        }
        v1_difference(child, s);
        if child.is_empty() {
            node.remove(k);
        } else if child.len() == 1 && child.contains_key(".") {
            child.remove(".");
        }
    }
}

/// Adds the paths of `set` to the `FieldsV1` map `node`, in place.
fn v1_union(node: &mut Map<String, Value>, set: &FieldSet) {
    for (k, s) in &set.children {
        match node.get_mut(k) {
            Some(Value::Object(child)) => {
                if s.children.is_empty() {
                    // Adding a member: a leaf is one already, a map of children gets `.`.
                    if s.member && !child.is_empty() {
                        child.insert(".".to_owned(), Value::Object(Map::new()));
                    }
                    continue;
                }
                // A leaf is a member: it keeps that as `.` once it has children.
                if child.is_empty() || s.member {
                    child.insert(".".to_owned(), Value::Object(Map::new()));
                }
                v1_union(child, s);
            }
            _ => {
                node.insert(k.clone(), s.to_fields_v1());
            }
        }
    }
}

/// Merges `config` into `live`: maps key by key, anything else replaced.
fn merge(live: &mut Value, config: &Value) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, v) in c {
                match l.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (live, config) => *live = config.clone(),
    }
}

/// Removes from `value` the members of `remove` that `keep` holds neither as a path nor
/// as a path's prefix; a map emptied that way goes too, unless `keep` owns it.
fn prune(value: &mut Map<String, Value>, remove: &FieldSet, keep: Option<&FieldSet>) {
    for (k, r) in &remove.children {
        let Some(("f", name)) = k.split_once(':') else {
            continue;
        };
        let kept = keep.and_then(|s| s.children.get(k));
        if r.member && kept.is_none_or(FieldSet::is_empty) {
            value.remove(name);
            continue;
        }
        if r.children.is_empty() {
            continue;
        }
        let Some(Value::Object(child)) = value.get_mut(name) else {
            continue;
        };
        let was_empty = child.is_empty();
        prune(child, r, kept);
        if child.is_empty() && !was_empty && !kept.is_some_and(|s| s.member) {
            value.remove(name);
        }
    }
}

/// The `409 Conflict` of an apply: `conflicts` pairs each manager with the paths it owns
/// that the apply would change.
fn conflict_error(conflicts: &[(Entry, FieldSet)]) -> Status {
    let mut listed: Vec<(String, String)> = Vec::new();
    for (entry, set) in conflicts {
        let mut paths = Vec::new();
        set.paths("", &mut paths);
        listed.extend(paths.into_iter().map(|p| (entry.describe(), p)));
    }
    let message = match listed.as_slice() {
        [(manager, path)] => {
            format!("Apply failed with 1 conflict: conflict with {manager}: {path}")
        }
        _ => {
            let mut lines = Vec::new();
            let mut last: Option<&str> = None;
            for (manager, path) in &listed {
                if last != Some(manager.as_str()) {
                    lines.push(format!("conflicts with {manager}:"));
                    last = Some(manager);
                }
                lines.push(format!("- {path}"));
            }
            format!(
                "Apply failed with {} conflicts: {}",
                listed.len(),
                lines.join("\n")
            )
        }
    };
    let mut status = Status::failure(409, "Conflict", message);
    status.details = Some(StatusDetails {
        causes: listed
            .into_iter()
            .map(|(manager, path)| StatusCause {
                reason: Some("FieldManagerConflict".to_owned()),
                message: Some(format!("conflict with {manager}")),
                field: Some(path),
            })
            .collect(),
        ..StatusDetails::default()
    });
    status
}

/// Applies `config` as `manager` to `live` (`None` when the object does not exist) and
/// returns the new object, its `managedFields` written. See the module documentation.
pub(crate) fn apply(
    live: Option<Value>,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    subresource: &str,
    scope: Scope,
) -> Result<Value, Status> {
    let mut live = live.unwrap_or_else(|| Value::Object(Map::new()));
    let live_fields = take(&mut live);
    let mut entries = live_fields
        .as_ref()
        .and_then(decode_entries)
        .unwrap_or_default();
    let mut merged = live.clone();
    merge(&mut merged, config);

    let mut applied = FieldSet::default();
    applied.insert_leaves(config);
    applied.strip(scope);
    let own = entries
        .iter()
        .position(|e| e.same_manager(manager, "Apply", api_version, subresource));
    let last = own.map(|i| entries.remove(i));
    let mut mine = Entry {
        manager: manager.to_owned(),
        operation: "Apply".to_owned(),
        api_version: api_version.to_owned(),
        time: last.as_ref().and_then(|e| e.time.clone()),
        subresource: subresource.to_owned(),
        fields: applied,
    };

    if let Some(last) = &last {
        let mut gone = last.fields.clone();
        gone.difference(&mine.fields);
        let mut owned = mine.fields.clone();
        for e in &entries {
            owned.union(&e.fields);
        }
        if let Value::Object(m) = &mut merged {
            prune(m, &gone, Some(&owned));
        }
    }

    let (mut changed, mut removed) = (FieldSet::default(), FieldSet::default());
    diff(&live, &merged, &mut changed, &mut removed);
    changed.strip(scope);
    removed.strip(scope);
    let mut conflicts = Vec::new();
    for e in &entries {
        let clash = e.fields.intersection(&changed);
        if !clash.is_empty() {
            conflicts.push((e.clone(), clash));
        }
    }
    if !force && !conflicts.is_empty() {
        conflicts.sort_by(|(a, _), (b, _)| {
            (&a.manager, &a.operation, &a.api_version, &a.subresource).cmp(&(
                &b.manager,
                &b.operation,
                &b.api_version,
                &b.subresource,
            ))
        });
        return Err(conflict_error(&conflicts));
    }
    for e in &mut entries {
        e.fields.difference(&changed);
        e.fields.difference(&removed);
    }
    if merged != live {
        mine.time = Some(ids::now_rfc3339());
    }
    entries.push(mine);
    entries.retain(|e| !e.fields.is_empty());
    if !merged.is_object() {
        return Err(errors::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    if merged.get("metadata").is_none_or(|m| !m.is_object()) {
        if let Value::Object(m) = &mut merged {
            m.insert("metadata".to_owned(), Value::Object(Map::new()));
        }
    }
    store_entries(&mut merged, entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}});
        let set = FieldSet::from_fields_v1(&v).expect("decodes");
        assert_eq!(set.to_fields_v1(), v);
        let mut paths = Vec::new();
        set.paths("", &mut paths);
        assert_eq!(paths, [".data", ".data.a", ".metadata.labels.x"]);
    }

    #[test]
    fn fields_v1_edits_in_place() {
        let mut v = json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:spec": {}});
        let mut set = FieldSet::default();
        set.insert_value(&json!({"data": {"a": "x"}}));
        let Value::Object(m) = &mut v else {
            unreachable!()
        };
        v1_difference(m, &set);
        assert_eq!(v, json!({"f:data": {"f:b": {}}, "f:spec": {}}));
        let Value::Object(m) = &mut v else {
            unreachable!()
        };
        v1_union(m, &set);
        let mut spec = FieldSet::default();
        spec.insert_value(&json!({"spec": {"x": 1}}));
        v1_union(m, &spec);
        assert_eq!(
            v,
            json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:spec": {".": {}, "f:x": {}}})
        );
    }

    #[test]
    fn user_agent_prefix() {
        assert_eq!(manager_of(None, Some("kubectl/v1.35.0 (linux)")), "kubectl");
        assert_eq!(manager_of(Some("mine"), Some("kubectl/v1")), "mine");
        assert_eq!(manager_of(None, None), "");
        let long = "x".repeat(200);
        assert_eq!(manager_of(None, Some(&long)).len(), MAX_MANAGER_LEN);
    }

    #[test]
    fn apply_conflicts_and_prunes() {
        let live = apply(
            None,
            &json!({"metadata": {"name": "a"}, "data": {"x": "1", "y": "2"}}),
            "one",
            false,
            "v1",
            "",
            Scope::All,
        )
        .expect("creates");
        let err = apply(
            Some(live.clone()),
            &json!({"metadata": {"name": "a"}, "data": {"x": "9"}}),
            "two",
            false,
            "v1",
            "",
            Scope::All,
        )
        .expect_err("conflicts");
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .data.x"
        );
        // Dropping y from the applied configuration removes it.
        let out = apply(
            Some(live),
            &json!({"metadata": {"name": "a"}, "data": {"x": "1"}}),
            "one",
            false,
            "v1",
            "",
            Scope::All,
        )
        .expect("applies");
        assert_eq!(out["data"], json!({"x": "1"}));
    }
}
