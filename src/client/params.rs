//! Request options: what a list, watch, create, patch or delete asks of the server.
//!
//! These are plain data (no HTTP): [`Api`](super::Api) renders them into the query string
//! or, for deletions, into a `DeleteOptions` body. List and watch options are part of the
//! object model (the informer framework speaks in them too): they live in
//! [`meta`](crate::meta) and are re-exported here. Selectors may be given as strings or as
//! [`LabelSelector`](crate::selector::LabelSelector) /
//! [`FieldSelector`](crate::selector::FieldSelector), whose `Display` is the query form.

use super::Error;
use serde::Serialize;

pub use crate::meta::{ListParams, ResourceVersionMatch, WatchParams};

/// Renders list and watch options into a request's query string.
pub(crate) trait ToQuery {
    /// Appends the options' query parameters.
    fn query(&self, q: &mut form_urlencoded::Serializer<'_, String>);
}

impl ToQuery for ListParams {
    fn query(&self, q: &mut form_urlencoded::Serializer<'_, String>) {
        if let Some(s) = &self.label_selector {
            q.append_pair("labelSelector", s);
        }
        if let Some(s) = &self.field_selector {
            q.append_pair("fieldSelector", s);
        }
        if let Some(l) = self.limit.filter(|l| *l > 0) {
            q.append_pair("limit", &l.to_string());
        }
        if let Some(c) = self.continue_token.as_deref().filter(|c| !c.is_empty()) {
            q.append_pair("continue", c);
        }
        if let Some(rv) = &self.resource_version {
            q.append_pair("resourceVersion", rv);
        }
        if let Some(m) = self.resource_version_match {
            q.append_pair("resourceVersionMatch", m.as_str());
        }
        if let Some(t) = self.timeout_seconds {
            q.append_pair("timeoutSeconds", &t.to_string());
        }
    }
}

impl ToQuery for WatchParams {
    fn query(&self, q: &mut form_urlencoded::Serializer<'_, String>) {
        q.append_pair("watch", "true");
        if let Some(s) = &self.label_selector {
            q.append_pair("labelSelector", s);
        }
        if let Some(s) = &self.field_selector {
            q.append_pair("fieldSelector", s);
        }
        if let Some(rv) = &self.resource_version {
            q.append_pair("resourceVersion", rv);
        }
        if let Some(m) = self.resource_version_match {
            q.append_pair("resourceVersionMatch", m.as_str());
        }
        if let Some(t) = self.timeout_seconds {
            q.append_pair("timeoutSeconds", &t.to_string());
        }
        if self.allow_watch_bookmarks {
            q.append_pair("allowWatchBookmarks", "true");
        }
        if self.send_initial_events {
            q.append_pair("sendInitialEvents", "true");
        }
    }
}

/// Options of a create or replace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PostParams {
    /// Validate and answer without persisting.
    pub dry_run: bool,
    /// Name of the actor making the change, for managed fields.
    pub field_manager: Option<String>,
}

impl PostParams {
    pub(crate) fn query(&self, q: &mut form_urlencoded::Serializer<'_, String>) {
        if self.dry_run {
            q.append_pair("dryRun", "All");
        }
        if let Some(m) = &self.field_manager {
            q.append_pair("fieldManager", m);
        }
    }
}

/// A patch and its kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Patch<P> {
    /// JSON merge patch (RFC 7386), `application/merge-patch+json`.
    Merge(P),
    /// JSON patch (RFC 6902): an array of operations, `application/json-patch+json`.
    Json(P),
    /// Strategic merge patch, `application/strategic-merge-patch+json` (built-in kinds
    /// only).
    Strategic(P),
    /// Server-side apply, `application/apply-patch+yaml` (sent as JSON, which is YAML):
    /// the fully specified intent of one field manager, which the server merges into the
    /// object (creating it if needed) and records in `managedFields`. Needs
    /// [`PatchParams::field_manager`]; see [`PatchParams::apply`].
    Apply(P),
}

impl<P: Serialize> Patch<P> {
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Apply(_) => "application/apply-patch+yaml",
        }
    }

    pub(crate) fn body(&self) -> &P {
        match self {
            Patch::Merge(p) | Patch::Json(p) | Patch::Strategic(p) | Patch::Apply(p) => p,
        }
    }
}

/// Options of a patch.
///
/// ```
/// use informer::client::PatchParams;
/// let params = PatchParams::apply("my-controller").force();
/// assert_eq!(params.field_manager.as_deref(), Some("my-controller"));
/// assert!(params.force);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchParams {
    /// Validate and answer without persisting.
    pub dry_run: bool,
    /// Name of the actor making the change, for managed fields. Required for
    /// [`Patch::Apply`]; at most 128 bytes.
    pub field_manager: Option<String>,
    /// Server-side apply only: take ownership of fields other managers own instead of
    /// failing with `409 Conflict` (`force=true`).
    pub force: bool,
}

/// Longest field manager name the API server accepts, in bytes.
const MAX_FIELD_MANAGER: usize = 128;

impl PatchParams {
    /// Options of a server-side apply as `manager`.
    pub fn apply(manager: &str) -> Self {
        PatchParams {
            field_manager: Some(manager.to_owned()),
            ..PatchParams::default()
        }
    }

    /// Forces a server-side apply: conflicting fields change owner instead of failing.
    #[must_use]
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Asks for a dry run: the server validates and answers without persisting.
    #[must_use]
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Refuses, before anything is sent, what the server would refuse: an apply without
    /// a field manager, `force` on any other patch, a field manager that is too long.
    pub(crate) fn validate<P>(&self, patch: &Patch<P>) -> Result<(), Error> {
        let apply = matches!(patch, Patch::Apply(_));
        let manager = self.field_manager.as_deref().filter(|m| !m.is_empty());
        if apply && manager.is_none() {
            return Err(Error::InvalidRequest(
                "a server-side apply needs a field manager: use PatchParams::apply(\"name\")"
                    .to_owned(),
            ));
        }
        if self.force && !apply {
            return Err(Error::InvalidRequest(
                "PatchParams::force only works with Patch::Apply".to_owned(),
            ));
        }
        if manager.is_some_and(|m| m.len() > MAX_FIELD_MANAGER) {
            return Err(Error::InvalidRequest(format!(
                "the field manager may be at most {MAX_FIELD_MANAGER} bytes long"
            )));
        }
        Ok(())
    }

    pub(crate) fn query(&self, q: &mut form_urlencoded::Serializer<'_, String>) {
        if self.dry_run {
            q.append_pair("dryRun", "All");
        }
        if let Some(m) = &self.field_manager {
            q.append_pair("fieldManager", m);
        }
        if self.force {
            q.append_pair("force", "true");
        }
    }
}

/// What happens to an object's dependents when it is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PropagationPolicy {
    /// Leave dependents alone.
    Orphan,
    /// Delete dependents in the background after the owner.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
}

/// Conditions the object must meet for a deletion to go ahead.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's uid must be this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The object's resourceVersion must be this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// Options of a delete, sent as a `DeleteOptions` body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteParams {
    /// Validate and answer without persisting.
    pub dry_run: bool,
    /// Seconds before the object is deleted; `0` deletes immediately.
    pub grace_period_seconds: Option<u32>,
    /// What happens to dependents.
    pub propagation_policy: Option<PropagationPolicy>,
    /// Conditions the object must meet (`409 Conflict` otherwise).
    pub preconditions: Option<Preconditions>,
}

impl DeleteParams {
    /// Deletes in the background (the default of most resources).
    pub fn background() -> Self {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..Default::default()
        }
    }

    /// Deletes dependents first.
    pub fn foreground() -> Self {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Foreground),
            ..Default::default()
        }
    }

    /// Orphans dependents.
    pub fn orphan() -> Self {
        DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..Default::default()
        }
    }

    /// Only deletes the object if its resourceVersion is still this.
    pub fn if_resource_version(mut self, rv: impl Into<String>) -> Self {
        self.preconditions
            .get_or_insert_with(Default::default)
            .resource_version = Some(rv.into());
        self
    }

    /// Only deletes the object if its uid is this.
    pub fn if_uid(mut self, uid: impl Into<String>) -> Self {
        self.preconditions.get_or_insert_with(Default::default).uid = Some(uid.into());
        self
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1"});
        if self.dry_run {
            body["dryRun"] = serde_json::json!(["All"]);
        }
        if let Some(g) = self.grace_period_seconds {
            body["gracePeriodSeconds"] = serde_json::json!(g);
        }
        if let Some(p) = self.propagation_policy {
            body["propagationPolicy"] = serde_json::json!(p);
        }
        if let Some(p) = &self.preconditions {
            body["preconditions"] = serde_json::json!(p);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(p: &PatchParams) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        p.query(&mut q);
        q.finish()
    }

    #[test]
    fn apply_params_render_and_validate() {
        let p = PatchParams::apply("ctl").force();
        assert_eq!(query(&p), "fieldManager=ctl&force=true");
        assert!(p.validate(&Patch::Apply(())).is_ok());
        assert!(p.validate(&Patch::Merge(())).is_err(), "force needs apply");
        let none = PatchParams::default();
        assert!(
            none.validate(&Patch::Apply(())).is_err(),
            "apply needs a manager"
        );
        assert!(none.validate(&Patch::Merge(())).is_ok());
        let long = PatchParams::apply(&"x".repeat(129));
        assert!(long.validate(&Patch::Apply(())).is_err());
        assert_eq!(
            Patch::Apply(()).content_type(),
            "application/apply-patch+yaml"
        );
    }
}
