//! Mapping an object to the key of the object that controls it, through its
//! `ownerReferences` (client-go's `metav1.GetControllerOf` and controller-runtime's
//! `EnqueueRequestForOwner` with `OnlyControllerOwner`).

use crate::meta::{ApiResource, Object};

use super::ObjectKey;

/// The key of the `owner`-kind object that controls `obj`: its owner reference with
/// `controller: true` whose kind and API group are the owner's. The owner is in `obj`'s
/// namespace when it is namespaced, cluster-scoped otherwise.
///
/// ```
/// use informer::meta::{ApiResource, DynamicObject, ObjectMeta, OwnerReference};
/// use informer::runtime::{controller_owner_key, ObjectKey};
/// let deployments = ApiResource::new("apps", "v1", "Deployment", "deployments", true);
/// let mut rs = DynamicObject::default();
/// rs.metadata = ObjectMeta {
///     name: Some("web-6f7d8c9b5".into()),
///     namespace: Some("shop".into()),
///     owner_references: Some(vec![OwnerReference {
///         api_version: "apps/v1".into(),
///         kind: "Deployment".into(),
///         name: "web".into(),
///         uid: "1234".into(),
///         controller: Some(true),
///         block_owner_deletion: None,
///     }]),
///     ..Default::default()
/// };
/// assert_eq!(controller_owner_key(&rs, &deployments), Some(ObjectKey::namespaced("shop", "web")));
/// ```
pub fn controller_owner_key<C: Object>(obj: &C, owner: &ApiResource) -> Option<ObjectKey> {
    let owner_ref = obj.owner_references().into_iter().find(|r| {
        r.controller == Some(true)
            && r.kind == owner.kind
            && group_of(&r.api_version) == owner.group
    })?;
    let namespace = if owner.namespaced {
        Some(obj.namespace().filter(|ns| !ns.is_empty())?.to_owned())
    } else {
        None
    };
    Some(ObjectKey {
        namespace,
        name: owner_ref.name,
    })
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group, `""`).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}
