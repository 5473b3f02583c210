//! Watch decoding: a chunked response body of newline-delimited JSON in, a
//! `Stream<Item = Result<WatchEvent<K>>>` out.
//!
//! Chunks arrive as the network delivers them: one event may be cut across any number of
//! chunks, and one chunk may carry several events. [`LineFramer`] cuts the byte stream
//! into lines: lines that lie within one chunk are handed on without copying (as slices of
//! the chunk); only the unfinished tail of a chunk is copied into a buffer, which is
//! never rescanned. Each line is decoded once with `serde_json` into [`WatchEvent<K>`];
//! when a burst of lines is waiting (a replay, a busy server), they are decoded on
//! several threads at once and handed out in order.
//!
//! An `ERROR` event becomes an [`Error::Api`] item carrying its `Status`; a malformed line
//! becomes an [`Error::Decode`] item; a line longer than the size cap becomes
//! [`Error::EventTooLarge`]; a broken connection an [`Error::Transport`]. Each of these
//! ends the stream. A clean end of the body ends it without an error.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::parallel_decode::decode_pieces;
use super::{BoxError, Error, Result};
use crate::meta::WatchEvent;

/// Cuts a byte stream into newline-terminated lines.
#[derive(Debug)]
pub struct LineFramer {
    buf: BytesMut,
    max: usize,
}

impl LineFramer {
    /// A framer refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            buf: BytesMut::new(),
            max: max_line,
        }
    }

    /// Adds a chunk; every line it completes is appended to `lines` (without its newline).
    pub fn push(&mut self, mut chunk: Bytes, lines: &mut VecDeque<Bytes>) -> Result<()> {
        if !self.buf.is_empty() {
            match memchr(&chunk) {
                None => {
                    if self.buf.len() + chunk.len() > self.max {
                        return Err(Error::EventTooLarge { limit: self.max });
                    }
                    self.buf.extend_from_slice(&chunk);
                    return Ok(());
                }
                Some(pos) => {
                    if self.buf.len() + pos > self.max {
                        return Err(Error::EventTooLarge { limit: self.max });
                    }
                    self.buf.extend_from_slice(&chunk[..pos]);
                    lines.push_back(self.buf.split().freeze());
                    let _ = chunk.split_to(pos + 1);
                }
            }
        }
        while let Some(pos) = memchr(&chunk) {
            if pos > self.max {
                return Err(Error::EventTooLarge { limit: self.max });
            }
            let line = chunk.split_to(pos + 1);
            lines.push_back(line.slice(..pos));
        }
        if !chunk.is_empty() {
            if chunk.len() > self.max {
                return Err(Error::EventTooLarge { limit: self.max });
            }
            self.buf.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// The unterminated rest at the end of the stream, if any.
    pub fn finish(&mut self) -> Option<Bytes> {
        let rest = self.buf.split().freeze();
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

/// Decodes one line; `None` for a blank line.
pub fn decode_line<K: DeserializeOwned>(line: &[u8]) -> Option<Result<WatchEvent<K>>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    Some(match super::from_slice_exact::<WatchEvent<K>>(line) {
        Ok(WatchEvent::Error(status)) => Err(Error::Api(Box::new(status))),
        Ok(ev) => Ok(ev),
        Err(e) => Err(Error::decode(
            format!("malformed watch event ({} bytes)", line.len()),
            e,
        )),
    })
}

/// Lines decoded at most at once.
const MAX_BATCH: usize = 512;

struct State<S, K> {
    body: S,
    framer: LineFramer,
    lines: VecDeque<Bytes>,
    /// Lines decoded ahead (several at once when a burst arrived), in order.
    decoded: VecDeque<Option<Result<WatchEvent<K>>>>,
    /// An error to report once the complete lines before it are delivered.
    error: Option<Error>,
    done: bool,
    context: String,
}

/// Decodes a body of newline-delimited watch events. `context` names the watch in
/// errors and logs (for example its URL).
pub fn decode_watch<K, S, E>(
    body: S,
    max_event_size: usize,
    context: String,
) -> impl Stream<Item = Result<WatchEvent<K>>> + Send + 'static
where
    K: DeserializeOwned + Send + 'static,
    S: Stream<Item = std::result::Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError>,
{
    let state = State {
        body,
        framer: LineFramer::new(max_event_size),
        lines: VecDeque::new(),
        decoded: VecDeque::new(),
        error: None,
        done: false,
        context,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.decoded.is_empty() && !st.lines.is_empty() {
                let n = st.lines.len().min(MAX_BATCH);
                let batch: Vec<Bytes> = st.lines.drain(..n).collect();
                st.decoded = decode_pieces(batch, decode_line::<K>).await.into();
            }
            if let Some(decoded) = st.decoded.pop_front() {
                match decoded {
                    None => continue,
                    Some(Ok(ev)) => return Some((Ok(ev), st)),
                    Some(Err(e)) => {
                        if matches!(e, Error::Decode { .. }) {
                            tracing::warn!(watch = %st.context, error = %e, "malformed watch event; ending the watch");
                        }
                        st.done = true;
                        st.error = None;
                        st.lines.clear();
                        st.decoded.clear();
                        return Some((Err(e), st));
                    }
                }
            }
            if let Some(e) = st.error.take() {
                return Some((Err(e), st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = st.framer.push(chunk, &mut st.lines) {
                        tracing::warn!(watch = %st.context, error = %e, "ending the watch");
                        st.done = true;
                        st.error = Some(e);
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    st.error = Some(Error::transport(
                        format!("watch {} broke off", st.context),
                        e,
                    ));
                }
                None => {
                    st.done = true;
                    if let Some(rest) = st.framer.finish() {
                        st.lines.push_back(rest);
                    }
                }
            }
        }
    })
}
