//! Decoding a burst of watch events on several threads, in order.
//!
//! Decoding dominates the cost of a watch of large objects (a 4.7 kB pod takes tens of
//! microseconds), and one event's line does not depend on another's. The pieces are
//! cut into contiguous runs, one per available core; each run is decoded on Tokio's
//! blocking pool (so the async runtime's workers stay free), and the results are joined
//! in their original order. Outside a Tokio runtime, or for few pieces, everything is
//! decoded on the calling thread.
//!
//! Lists are not decoded this way: measured on this project's machine
//! (`benches/informer.rs`), decoding one large list body on two threads was slower than
//! on one, as both threads fault in fresh memory for the objects they build.

use std::sync::OnceLock;

use bytes::Bytes;

/// Pieces below which a burst is decoded on the calling thread.
const MIN_PARALLEL: usize = 8;

fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Applies `decode` to every piece, on several threads when it pays; results in order.
pub(crate) async fn decode_pieces<R>(pieces: Vec<Bytes>, decode: fn(&[u8]) -> R) -> Vec<R>
where
    R: Send + 'static,
{
    let runs = threads().min(pieces.len() / MIN_PARALLEL).max(1);
    if runs == 1 || tokio::runtime::Handle::try_current().is_err() {
        return pieces.iter().map(|p| decode(p)).collect();
    }
    let per_run = pieces.len().div_ceil(runs);
    let mut pieces = pieces.into_iter();
    let tasks: Vec<_> = (0..runs)
        .map(|_| {
            let run: Vec<Bytes> = pieces.by_ref().take(per_run).collect();
            // The pieces are shared, not copied: kept to decode here if the task is
            // cancelled.
            let kept = run.clone();
            let task = tokio::task::spawn_blocking(move || {
                run.iter().map(|p| decode(p)).collect::<Vec<R>>()
            });
            (task, kept)
        })
        .collect();
    let mut out = Vec::new();
    for (task, kept) in tasks {
        match task.await {
            Ok(decoded) => out.extend(decoded),
            // Decoding does not panic on bad input (serde returns errors); a panic here is
            // a bug and is passed on as one.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: nothing is lost, the run is decoded here.
            Err(_) => out.extend(kept.iter().map(|p| decode(p))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn pieces_keep_their_order() {
        let pieces: Vec<Bytes> = (0..100).map(|i| Bytes::from(i.to_string())).collect();
        let out = decode_pieces(pieces, |p| serde_json::from_slice::<u32>(p).unwrap()).await;
        assert_eq!(out, (0..100).collect::<Vec<u32>>());
    }
}
