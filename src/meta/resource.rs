//! `Resource` and `ApiResource`: where a kind of object lives in the API.

use serde::{Deserialize, Serialize};

use super::Object;

/// Static description of an API resource: enough to build its URLs.
///
/// Typed objects get it from [`Resource::api_resource`]; dynamic use builds one at run
/// time (for example from discovery).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group, for example `v1`.
    pub version: String,
    /// Kind, for example `Pod`.
    pub kind: String,
    /// Lower-case plural used in URLs, for example `pods`.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ApiResource {
    /// Describes a resource by its group, version, kind, plural and scope.
    ///
    /// ```
    /// use informer::meta::ApiResource;
    /// let deployments = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
    /// assert_eq!(deployments.api_version(), "apps/v1");
    /// let pods = ApiResource::new("", "v1", "Pod", "pods", true);
    /// assert_eq!(pods.api_version(), "v1");
    /// ```
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
        }
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// An object type whose place in the API is known at compile time.
pub trait Resource: Object {
    /// Where objects of this type live in the API.
    fn api_resource() -> ApiResource;
}

/// Implements [`Object`] (over a `metadata: ObjectMeta` field) and [`Resource`] for one
/// of this crate's own object types, as `#[derive(Resource)]` does for users' types.
macro_rules! object_resource {
    ($ty:ty, $group:expr, $version:expr, $kind:expr, $plural:expr, $namespaced:expr) => {
        impl $crate::meta::Object for $ty {
            type Meta = $crate::meta::ObjectMeta;
            fn meta(&self) -> &$crate::meta::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut $crate::meta::ObjectMeta {
                &mut self.metadata
            }
        }

        impl $crate::meta::Resource for $ty {
            fn api_resource() -> $crate::meta::ApiResource {
                $crate::meta::ApiResource::new($group, $version, $kind, $plural, $namespaced)
            }
        }
    };
}
pub(crate) use object_resource;
