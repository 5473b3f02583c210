//! Metadata-only access against the embedded server over HTTP: `Api::all_metadata` asks
//! for `PartialObjectMetadata` on get, list and watch, and the factory's metadata-only
//! informer lists, watches, indexes and notifies with it like any informer.

mod support;

use futures::StreamExt;
use informer::cache::{namespace_index, Indexers, SharedInformerFactory, NAMESPACE_INDEX};
use informer::client::{Api, ListParams, WatchParams};
use informer::meta::{ApiResource, DynamicObject, Object, PartialObjectMetadata, WatchEvent};
use informer::selector::LabelSelector;
use informer::testing::ApiServer;
use support::*;
use tokio_util::sync::CancellationToken;

/// Starts a server with the namespaces `shop` and `blog`.
async fn server() -> ApiServer {
    let server = ApiServer::start().await.unwrap();
    let namespaces = ApiResource::new("", "v1", "Namespace", "namespaces", false);
    for ns in ["shop", "blog"] {
        server
            .create(&namespaces, serde_json::json!({"metadata": {"name": ns}}))
            .expect("namespace");
    }
    server
}

/// What the server sends a metadata-only client, as `PartialObjectMetadata` carries it.
fn is_partial(o: &PartialObjectMetadata) -> bool {
    o.kind == "PartialObjectMetadata" && o.api_version == "meta.k8s.io/v1"
}

#[test]
fn a_metadata_api_reads_partial_object_metadata() {
    bounded(async {
        let server = server().await;
        create(&server, "shop", "a", "web");
        create(&server, "blog", "b", "db");
        let api = Api::all_metadata(client(&server), &configmaps());
        assert!(api.is_metadata_only());

        let list = api.list(&ListParams::default()).await.expect("list");
        assert_eq!(list.kind.as_deref(), Some("PartialObjectMetadataList"));
        assert_eq!(list.api_version.as_deref(), Some("meta.k8s.io/v1"));
        assert_eq!(list.items.len(), 2);
        assert!(list.items.iter().all(is_partial), "{:?}", list.items);
        let a = list
            .items
            .iter()
            .find(|o| o.name() == Some("a"))
            .expect("a");
        let app = a.labels().and_then(|l| l.get("app"));
        assert_eq!(app, Some("web"));
        assert!(a.uid().is_some() && a.resource_version().is_some());

        let shop = Api::namespaced_metadata(client(&server), "shop", &configmaps());
        let got = shop.get("a").await.expect("get");
        assert!(is_partial(&got), "{got:?}");
        assert_eq!(got.metadata, a.metadata);

        let rv = list
            .metadata
            .resource_version
            .clone()
            .expect("a resourceVersion");
        let mut events = api
            .watch(&WatchParams::default().at(rv))
            .await
            .expect("watch");
        update(&server, "blog", "b", "cache");
        match events.next().await {
            Some(Ok(WatchEvent::Modified(o))) => {
                assert!(is_partial(&o), "{o:?}");
                let app = o.labels().and_then(|l| l.get("app"));
                assert_eq!(app, Some("cache"));
            }
            other => panic!("expected the modification, got {other:?}"),
        }

        // A plain Api of the same resource still reads whole objects.
        let whole: Api<DynamicObject> = Api::all_with(client(&server), &configmaps());
        assert!(!whole.is_metadata_only());
        let full = whole.list(&ListParams::default()).await.expect("list");
        assert!(full.items.iter().all(|o| o.data.get("data").is_some()));
        server.shutdown().await;
    });
}

#[test]
fn a_metadata_informer_syncs_indexes_and_notifies() {
    bounded(async {
        let server = server().await;
        create(&server, "shop", "a", "web");
        create(&server, "shop", "b", "db");
        create(&server, "blog", "c", "web");
        let factory = SharedInformerFactory::new(client(&server))
            .reflector_options(fast_reflector("ignored"))
            .drop_managed_fields();
        let informer = factory.metadata_informer(&configmaps());
        // The same informer whichever way it is asked for.
        let again = factory.informer_for::<PartialObjectMetadata>(&configmaps());
        informer
            .add_indexers(Indexers::new().with_fallible(NAMESPACE_INDEX, namespace_index))
            .expect("indexers before start");
        let rec = Recorder::default();
        again.add_event_handler(rec.clone()).expect("handler");
        let lister = informer.lister().expect("lister");

        let stop = CancellationToken::new();
        factory.start(&stop);
        let synced = factory.wait_for_cache_sync(&stop).await;
        assert_eq!(
            synced.into_iter().collect::<Vec<_>>(),
            [("v1/configmaps".to_owned(), true)]
        );
        wait_until("the initial adds", || rec.len() == 3).await;

        let cached = informer.get_indexer().list();
        assert!(cached.iter().all(|o| is_partial(o)), "{cached:?}");
        assert!(cached.iter().all(|o| o.metadata.managed_fields.is_none()));
        let web = LabelSelector::parse("app=web").expect("selector");
        let mut names: Vec<_> = lister.list(&web).iter().map(|o| key(&**o)).collect();
        names.sort();
        assert_eq!(names, ["blog/c", "shop/a"]);
        assert_eq!(
            lister
                .namespace("shop")
                .list(&LabelSelector::everything())
                .len(),
            2
        );

        update(&server, "shop", "b", "web");
        delete(&server, "blog", "c");
        create(&server, "blog", "d", "db");
        converged(&server, &informer, &rec).await;
        let b = informer
            .get_indexer()
            .get_by_key("shop/b")
            .expect("b cached");
        assert!(is_partial(&b), "{b:?}");
        let app = b.labels().and_then(|l| l.get("app"));
        assert_eq!(app, Some("web"));

        stop.cancel();
        factory.shutdown().await;
        server.shutdown().await;
    });
}
