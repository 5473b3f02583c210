//! The resources the server serves: the built-in table and those registered at run time.
//!
//! A request path names a group, a version and a plural; the storage looks the triple up
//! here to learn the kind, the scope and whether the resource has a `status` subresource.

use crate::meta::ApiResource;

/// A resource the server serves, with what discovery and the handlers need beyond the
/// [`ApiResource`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// Group, version, kind, plural and scope.
    pub api: ApiResource,
    /// Whether `.../status` is a subresource: updates of the main resource then keep the
    /// stored `status`, and updates of `status` change nothing else.
    pub status_subresource: bool,
    /// Short names listed by discovery (`po`, `cm`, ...).
    pub short_names: Vec<String>,
    /// The `scale` subresource, when the resource has one.
    pub scale: Option<ScaleSubresource>,
}

/// Where a resource with a `scale` subresource keeps its replica counts and selector,
/// as a CustomResourceDefinition's `subresources.scale` names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleSubresource {
    /// The desired replicas: `.spec.replicas`.
    pub spec_replicas_path: String,
    /// The observed replicas: `.status.replicas`.
    pub status_replicas_path: String,
    /// The label selector, a string (as `.status.selector` of a custom resource) or a
    /// structured selector (as `.spec.selector` of a Deployment).
    pub label_selector_path: Option<String>,
}

impl ScaleSubresource {
    /// The paths of Deployments and ReplicaSets.
    pub fn workload() -> Self {
        ScaleSubresource {
            spec_replicas_path: ".spec.replicas".to_owned(),
            status_replicas_path: ".status.replicas".to_owned(),
            label_selector_path: Some(".spec.selector".to_owned()),
        }
    }
}

impl ResourceInfo {
    /// A resource with a `status` subresource and no short names, as most custom
    /// resources are.
    pub fn new(api: ApiResource) -> Self {
        ResourceInfo {
            api,
            status_subresource: true,
            short_names: Vec::new(),
            scale: None,
        }
    }

    /// Whether the resource is in one of Kubernetes' own groups rather than a custom
    /// resource's.
    pub(crate) fn builtin_group(&self) -> bool {
        matches!(
            self.api.group.as_str(),
            "" | "apps"
                | "coordination.k8s.io"
                | "batch"
                | "events.k8s.io"
                | "apiextensions.k8s.io"
        )
    }

    /// Whether the group speaks strategic merge patch (the built-in groups do, custom
    /// resources do not).
    pub(crate) fn strategic_merge(&self) -> bool {
        self.builtin_group()
    }

    /// Whether an update may leave out `metadata.resourceVersion` (the built-in types
    /// here allow it; custom resources require it).
    pub(crate) fn unconditional_update(&self) -> bool {
        self.builtin_group()
    }
}

fn builtin(
    group: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    status: bool,
    short: &[&str],
) -> ResourceInfo {
    ResourceInfo {
        api: ApiResource::new(group, "v1", kind, plural, namespaced),
        status_subresource: status,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        scale: None,
    }
}

impl From<ApiResource> for ResourceInfo {
    fn from(api: ApiResource) -> Self {
        ResourceInfo::new(api)
    }
}

/// The resources every server starts with.
pub(crate) fn builtins() -> Vec<ResourceInfo> {
    vec![
        builtin("", "Namespace", "namespaces", false, true, &["ns"]),
        builtin("", "Pod", "pods", true, true, &["po"]),
        builtin("", "ConfigMap", "configmaps", true, false, &["cm"]),
        builtin("", "Secret", "secrets", true, false, &[]),
        builtin("", "Service", "services", true, true, &["svc"]),
        builtin("", "Node", "nodes", false, true, &["no"]),
        builtin("", "Event", "events", true, false, &["ev"]),
        ResourceInfo {
            scale: Some(ScaleSubresource::workload()),
            ..builtin("apps", "Deployment", "deployments", true, true, &["deploy"])
        },
        ResourceInfo {
            scale: Some(ScaleSubresource::workload()),
            ..builtin("apps", "ReplicaSet", "replicasets", true, true, &["rs"])
        },
        builtin("coordination.k8s.io", "Lease", "leases", true, false, &[]),
        builtin("events.k8s.io", "Event", "events", true, false, &["ev"]),
        builtin(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
            true,
            &["crd", "crds"],
        ),
    ]
}

/// The namespaces every server starts with.
pub(crate) const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];
