//! The `scale` subresource over HTTP with the crate's client: deployments and a custom
//! resource whose definition declares one.

mod support;

use informer::client::{Api, Patch, PatchParams, PostParams};
use informer::meta::{ApiResource, DynamicObject};
use informer::testing::ApiServer;
use serde_json::json;
use support::bounded;

fn deployments() -> ApiResource {
    ApiResource::new("apps", "v1", "Deployment", "deployments", true)
}

#[test]
fn a_deployment_scales_through_its_scale_subresource() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        server
            .create(
                &deployments(),
                json!({"metadata": {"name": "web", "namespace": "default"},
                       "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"},
                                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe"]}]}},
                       "status": {"replicas": 1}}),
            )
            .expect("deployment");
        let api: Api<DynamicObject> =
            Api::namespaced_with(support::client(&server), "default", &deployments());

        let scale = api.get_scale("web").await.expect("get scale");
        assert_eq!(scale.kind.as_deref(), Some("Scale"));
        assert_eq!(scale.api_version.as_deref(), Some("autoscaling/v1"));
        assert_eq!(scale.spec.replicas, Some(2));
        let status = scale.status.clone().expect("status");
        assert_eq!(status.replicas, 1);
        assert_eq!(status.selector.as_deref(), Some("app=web,tier in (fe)"));

        let scaled = api
            .patch_scale(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": 5}})),
            )
            .await
            .expect("patch scale");
        assert_eq!(scaled.spec.replicas, Some(5));
        let stored = server
            .get(&deployments(), Some("default"), "web")
            .expect("get");
        assert_eq!(stored["spec"]["replicas"], 5);
        assert_eq!(
            stored["spec"]["selector"]["matchLabels"]["app"], "web",
            "rest kept"
        );

        // A replace is conditional on the Scale's resourceVersion.
        let mut stale = scale.clone();
        stale.spec.replicas = Some(7);
        let err = api
            .replace_scale("web", &PostParams::default(), &stale)
            .await
            .expect_err("stale");
        assert!(err.is_conflict(), "{err}");
        let mut current = scaled.clone();
        current.spec.replicas = Some(7);
        let replaced = api
            .replace_scale("web", &PostParams::default(), &current)
            .await
            .expect("replace scale");
        assert_eq!(replaced.spec.replicas, Some(7));

        current = replaced.clone();
        current.spec.replicas = Some(-1);
        let err = api
            .replace_scale("web", &PostParams::default(), &current)
            .await
            .expect_err("negative");
        assert!(err.is_invalid(), "{err}");
        // Resources without the subresource answer 404.
        let configmaps: Api<DynamicObject> =
            Api::namespaced_with(support::client(&server), "default", &support::configmaps());
        support::create(&server, "default", "c", "x");
        let err = configmaps.get_scale("c").await.expect_err("no scale");
        assert!(err.is_not_found(), "{err}");
        server.shutdown().await;
    });
}

#[test]
fn a_custom_resource_scales_by_the_paths_its_definition_names() {
    bounded(async {
        let server = ApiServer::start().await.expect("start");
        let crds = ApiResource::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        );
        server
            .create(
                &crds,
                json!({"metadata": {"name": "pools.example.com"},
                       "spec": {"group": "example.com", "scope": "Namespaced",
                                "names": {"kind": "Pool", "plural": "pools"},
                                "versions": [{"name": "v1", "served": true, "storage": true,
                                              "subresources": {"status": {}, "scale": {
                                                  "specReplicasPath": ".spec.size",
                                                  "statusReplicasPath": ".status.ready",
                                                  "labelSelectorPath": ".status.selector"}}}]}}),
            )
            .expect("definition");
        let pools = ApiResource::new("example.com", "v1", "Pool", "pools", true);
        server
            .create(
                &pools,
                json!({"apiVersion": "example.com/v1", "kind": "Pool",
                       "metadata": {"name": "p", "namespace": "default"},
                       "spec": {"size": 3}, "status": {"ready": 2, "selector": "pool=p"}}),
            )
            .expect("pool");
        let api: Api<DynamicObject> =
            Api::namespaced_with(support::client(&server), "default", &pools);
        let scale = api.get_scale("p").await.expect("get scale");
        assert_eq!(scale.spec.replicas, Some(3));
        let status = scale.status.expect("status");
        assert_eq!(
            (status.replicas, status.selector.as_deref()),
            (2, Some("pool=p"))
        );
        api.patch_scale(
            "p",
            &PatchParams::default(),
            &Patch::Json(json!([{"op": "replace", "path": "/spec/replicas", "value": 4}])),
        )
        .await
        .expect("json patch of the scale");
        let stored = server.get(&pools, Some("default"), "p").expect("get");
        assert_eq!(stored["spec"]["size"], 4);
        server.shutdown().await;
    });
}
