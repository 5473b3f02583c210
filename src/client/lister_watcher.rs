//! The client's side of the informer framework: [`Api<K>`] as a
//! [`ListerWatcher`](crate::cache::ListerWatcher), [`RestClient`] as the
//! [`InformerClient`](crate::cache::InformerClient) of a
//! [`SharedInformerFactory`](crate::cache::SharedInformerFactory), and the translation of
//! the client's [`Error`] into the [`ListWatchError`] a reflector acts on.
//!
//! The informer framework does not depend on the client: it speaks of list and watch
//! options ([`meta::ListParams`](crate::meta::ListParams)) and of failures by kind. This
//! file is where the two meet: calls pass through to [`Api::list_batched`] and
//! [`Api::watch`], and every error, including each error item of a watch stream, is
//! classified once, keeping the client's error underneath
//! ([`ListWatchError::get_ref`] downcasts to [`Error`]).

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;

use super::{Api, Error, RestClient};
use crate::cache::{
    InformerClient, ListWatchError, ListWatchErrorKind, ListerWatcher, WatchStream,
};
use crate::meta::{
    ApiResource, ListParams, Object, ObjectList, PartialObjectMetadata, WatchParams,
};

/// Classifies a client error for the reflector: the server's `Status` decides when there
/// is one; without one, a refused connection is told apart from every other failure to
/// get an answer.
impl From<Error> for ListWatchError {
    fn from(e: Error) -> Self {
        match e.status() {
            Some(status) => ListWatchError::with_status(status.clone(), e),
            None if e.is_connection_refused() => {
                ListWatchError::new(ListWatchErrorKind::ConnectionRefused, e)
            }
            None => ListWatchError::new(ListWatchErrorKind::Broken, e),
        }
    }
}

/// Lists and watches what the `Api` reaches (its resource, in its namespace or all).
impl<K> ListerWatcher<K> for Api<K>
where
    K: DeserializeOwned + Send + 'static,
{
    fn list<'a>(
        &'a self,
        params: &'a ListParams,
    ) -> BoxFuture<'a, Result<ObjectList<K>, ListWatchError>> {
        async move { Ok(Api::list(self, params).await?) }.boxed()
    }

    fn watch<'a>(
        &'a self,
        params: &'a WatchParams,
    ) -> BoxFuture<'a, Result<WatchStream<K>, ListWatchError>> {
        async move {
            let events = Api::watch(self, params).await?;
            Ok(events.map(|e| e.map_err(ListWatchError::from)).boxed())
        }
        .boxed()
    }

    fn list_batched<'a>(
        &'a self,
        params: &'a ListParams,
        batch: usize,
        on_batch: &'a mut (dyn FnMut(Vec<K>) + Send),
    ) -> BoxFuture<'a, Result<ObjectList<K>, ListWatchError>> {
        async move { Ok(Api::list_batched(self, params, batch, on_batch).await?) }.boxed()
    }
}

/// A factory over a `RestClient` lists and watches through an [`Api`] per resource.
impl InformerClient for RestClient {
    fn lister_watcher<K>(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> impl ListerWatcher<K> + 'static
    where
        K: Object + DeserializeOwned + Send + Sync + 'static,
    {
        match namespace {
            Some(ns) => Api::<K>::namespaced_with(self.clone(), ns, resource),
            None => Api::all_with(self.clone(), resource),
        }
    }

    fn metadata_lister_watcher(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> impl ListerWatcher<PartialObjectMetadata> + 'static {
        match namespace {
            Some(ns) => Api::namespaced_metadata(self.clone(), ns, resource),
            None => Api::all_metadata(self.clone(), resource),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Status;

    fn transport(kind: std::io::ErrorKind) -> Error {
        Error::transport(
            "GET https://127.0.0.1/api/v1/pods",
            std::io::Error::from(kind),
        )
    }

    #[test]
    fn client_errors_keep_their_status_and_are_classified() {
        let status = Status::failure(410, "Expired", "too old resource version");
        let e = ListWatchError::from(Error::Api(Box::new(status.clone())));
        assert_eq!(e.kind(), ListWatchErrorKind::Expired);
        assert_eq!(e.status(), Some(&status));
        assert!(e
            .get_ref()
            .downcast_ref::<Error>()
            .is_some_and(Error::is_expired));

        let refused = ListWatchError::from(transport(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.kind(), ListWatchErrorKind::ConnectionRefused);
        assert!(refused.status().is_none());

        let reset = ListWatchError::from(transport(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.kind(), ListWatchErrorKind::Broken);
        assert_eq!(
            reset.to_string(),
            transport(std::io::ErrorKind::ConnectionReset).to_string()
        );
    }
}
