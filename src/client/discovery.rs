//! `Discovery`: what the server serves — its version, API groups, and the resources of
//! each group-version — and the lookup of a kind (GVK) or plural (GVR) to an
//! [`ApiResource`] for dynamic use.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use parking_lot::RwLock;
use serde::Deserialize;

use super::{RestClient, Result};
use crate::meta::ApiResource;

/// `/version`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerVersion {
    /// Major version, for example `1`.
    #[serde(default)]
    pub major: String,
    /// Minor version, for example `33`.
    #[serde(default)]
    pub minor: String,
    /// Full version, for example `v1.33.0`.
    #[serde(default)]
    pub git_version: String,
    /// `os/arch`.
    #[serde(default)]
    pub platform: String,
}

/// One API group and its versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiGroupInfo {
    /// Group name, empty for the core group.
    pub name: String,
    /// Versions served, preferred first.
    pub versions: Vec<String>,
    /// The preferred version.
    pub preferred_version: String,
}

/// One served resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredResource {
    /// Where it lives.
    pub api: ApiResource,
    /// Verbs it supports (`get`, `list`, `watch`, ...).
    pub verbs: Vec<String>,
    /// Short names (`po` for pods).
    pub short_names: Vec<String>,
    /// Subresources (`status`, `scale`, ...).
    pub subresources: Vec<String>,
}

impl DiscoveredResource {
    /// Whether it supports this verb.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

#[derive(Deserialize)]
struct ApiVersions {
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    groups: Vec<GroupDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupDoc {
    name: String,
    #[serde(default)]
    versions: Vec<VersionDoc>,
    #[serde(default)]
    preferred_version: Option<VersionDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionDoc {
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceListDoc {
    #[serde(default)]
    resources: Vec<ResourceDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDoc {
    name: String,
    #[serde(default)]
    namespaced: bool,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    short_names: Vec<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Default)]
struct Snapshot {
    version: ServerVersion,
    groups: Vec<ApiGroupInfo>,
    /// Keyed by group-version (`v1`, `apps/v1`).
    resources: BTreeMap<String, Vec<DiscoveredResource>>,
}

/// Cached discovery of one server.
///
/// # How it works
///
/// The first query fetches `/version`, `/api`, `/apis` and every group-version's resource
/// list (the legacy, non-aggregated documents every server serves) into a snapshot that
/// later queries read; [`Discovery::refresh`] fetches a new one. A lookup that misses
/// refreshes once (a CRD may have been added since). A group-version whose list fails
/// (an unavailable aggregated API, say) is skipped with a warning rather than failing
/// the whole discovery, as client-go does.
#[derive(Debug, Clone)]
pub struct Discovery {
    client: RestClient,
    snapshot: Arc<RwLock<Option<Arc<Snapshot>>>>,
}

fn gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    }
}

impl Discovery {
    /// Discovery through this client; nothing is fetched until the first query.
    pub fn new(client: RestClient) -> Self {
        Discovery {
            client,
            snapshot: Arc::new(RwLock::new(None)),
        }
    }

    /// Fetches everything again.
    pub async fn refresh(&self) -> Result<()> {
        let c = &self.client;
        let version: ServerVersion = c.request_json(Method::GET, "/version", None).await?;
        let core: ApiVersions = c.request_json(Method::GET, "/api", None).await?;
        let apis: GroupList = c.request_json(Method::GET, "/apis", None).await?;
        let mut groups = Vec::new();
        if !core.versions.is_empty() {
            groups.push(ApiGroupInfo {
                name: String::new(),
                preferred_version: core.versions[0].clone(),
                versions: core.versions.clone(),
            });
        }
        for g in apis.groups {
            let mut versions: Vec<String> = g.versions.into_iter().map(|v| v.version).collect();
            let preferred = g
                .preferred_version
                .map(|v| v.version)
                .or_else(|| versions.first().cloned())
                .unwrap_or_default();
            if let Some(i) = versions.iter().position(|v| *v == preferred) {
                let p = versions.remove(i);
                versions.insert(0, p);
            }
            groups.push(ApiGroupInfo {
                name: g.name,
                versions,
                preferred_version: preferred,
            });
        }
        let fetches = groups.iter().flat_map(|g| {
            g.versions.iter().map(move |v| {
                let group = g.name.clone();
                let version = v.clone();
                async move {
                    let path = if group.is_empty() {
                        format!("/api/{version}")
                    } else {
                        format!("/apis/{group}/{version}")
                    };
                    let doc: Result<ResourceListDoc> =
                        c.request_json(Method::GET, &path, None).await;
                    (group, version, doc)
                }
            })
        });
        let results = futures::future::join_all(fetches).await;
        let mut resources = BTreeMap::new();
        for (group, version, doc) in results {
            let doc = match doc {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(group_version = %gv(&group, &version), error = %e, "discovery of a group-version failed; skipping it");
                    continue;
                }
            };
            let mut list: Vec<DiscoveredResource> = Vec::new();
            for r in &doc.resources {
                if let Some((parent, sub)) = r.name.split_once('/') {
                    if let Some(p) = list.iter_mut().find(|p| p.api.plural == parent) {
                        p.subresources.push(sub.to_owned());
                    }
                    continue;
                }
                list.push(DiscoveredResource {
                    api: ApiResource::new(
                        r.group.as_deref().unwrap_or(&group),
                        r.version.as_deref().unwrap_or(&version),
                        &r.kind,
                        &r.name,
                        r.namespaced,
                    ),
                    verbs: r.verbs.clone(),
                    short_names: r.short_names.clone(),
                    subresources: Vec::new(),
                });
            }
            resources.insert(gv(&group, &version), list);
        }
        *self.snapshot.write() = Some(Arc::new(Snapshot {
            version,
            groups,
            resources,
        }));
        Ok(())
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        if let Some(s) = self.snapshot.read().clone() {
            return Ok(s);
        }
        self.refresh().await?;
        Ok(self.snapshot.read().clone().unwrap_or_default())
    }

    /// The server's version.
    pub async fn server_version(&self) -> Result<ServerVersion> {
        Ok(self.snapshot().await?.version.clone())
    }

    /// Every API group, the core group (`""`) first.
    pub async fn groups(&self) -> Result<Vec<ApiGroupInfo>> {
        Ok(self.snapshot().await?.groups.clone())
    }

    /// The resources of one group-version (`v1`, `apps/v1`); empty if not served.
    pub async fn resources(&self, group: &str, version: &str) -> Result<Vec<DiscoveredResource>> {
        Ok(self
            .snapshot()
            .await?
            .resources
            .get(&gv(group, version))
            .cloned()
            .unwrap_or_default())
    }

    async fn find(
        &self,
        group: &str,
        version: &str,
        pred: impl Fn(&DiscoveredResource) -> bool,
    ) -> Result<Option<DiscoveredResource>> {
        let look = |s: &Snapshot| {
            s.resources
                .get(&gv(group, version))
                .and_then(|l| l.iter().find(|r| pred(r)).cloned())
        };
        if let Some(r) = look(&*self.snapshot().await?) {
            return Ok(Some(r));
        }
        self.refresh().await?;
        Ok(self.snapshot.read().as_deref().and_then(look))
    }

    /// The resource of a kind (GVK → `ApiResource`); refreshes once on a miss.
    pub async fn resolve_gvk(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Result<Option<ApiResource>> {
        Ok(self
            .find(group, version, |r| r.api.kind == kind)
            .await?
            .map(|r| r.api))
    }

    /// The resource of a plural name or short name (GVR → `ApiResource`); refreshes once
    /// on a miss.
    pub async fn resolve_gvr(
        &self,
        group: &str,
        version: &str,
        resource: &str,
    ) -> Result<Option<ApiResource>> {
        Ok(self
            .find(group, version, |r| {
                r.api.plural == resource || r.short_names.iter().any(|s| s == resource)
            })
            .await?
            .map(|r| r.api))
    }
}
