//! Decoding a list response while it arrives: the items of the top-level `items` array
//! are cut out of the body chunk by chunk and decoded one by one, so that receiving,
//! decoding and (in the caller) storing overlap, and neither the whole body nor the
//! whole decoded list has to be held at once.
//!
//! The splitter tracks only strings and nesting (no parsing); serde decodes each item
//! and, at the end, the rest of the document (the "shell": kind, apiVersion, metadata,
//! with an empty `items` array), so every byte is still validated by serde.
//! [`ListDecoder`] puts both together: chunks in, batches of decoded items out, and at
//! the end the list's metadata, checked to be a list.

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;

use super::{Error, Result};
use crate::meta::{ObjectList, Status};

/// Decodes a list answer that arrives in chunks: items are decoded as soon as they are
/// complete and handed over in batches, so neither the body nor the decoded list is
/// held whole. No item (and not the document around the items) may be longer than the
/// cap. At the end the document must be a list: a kind ending in `List` and a
/// `metadata.resourceVersion`, as client-go requires; a `Status` that is not a success
/// is the error it carries. Errors name the request (`context`) and give byte offsets
/// in the whole body.
///
/// ```
/// use informer::client::list_stream::ListDecoder;
/// use informer::meta::DynamicObject;
///
/// let body = br#"{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"}}]}"#;
/// let mut decoder = ListDecoder::<DynamicObject>::new("GET /api/v1/pods", 1 << 20, 100);
/// let mut items = Vec::new();
/// for chunk in body.chunks(10) {
///     decoder.push(chunk, &mut |batch| items.extend(batch)).unwrap();
/// }
/// let list = decoder.finish(&mut |batch| items.extend(batch)).unwrap();
/// assert_eq!(list.metadata.resource_version.as_deref(), Some("7"));
/// assert_eq!(items.len(), 1);
/// ```
pub struct ListDecoder<K> {
    splitter: ListSplitter,
    pieces: Vec<(usize, Bytes)>,
    decoded: Vec<K>,
    count: usize,
    batch: usize,
    max: usize,
    context: String,
}

impl<K> std::fmt::Debug for ListDecoder<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListDecoder")
            .field("context", &self.context)
            .field("items", &self.count)
            .finish_non_exhaustive()
    }
}

impl<K: DeserializeOwned> ListDecoder<K> {
    /// A decoder for the answer to `context` (for example `GET https://…/api/v1/pods`),
    /// refusing items over `max_object_size` bytes, handing items over `batch` at a time.
    pub fn new(context: impl Into<String>, max_object_size: usize, batch: usize) -> Self {
        ListDecoder {
            splitter: ListSplitter::new(max_object_size),
            pieces: Vec::new(),
            decoded: Vec::new(),
            count: 0,
            batch: batch.max(1),
            max: max_object_size,
            context: context.into(),
        }
    }

    /// Adds the next chunk of the body; hands every full batch to `on_batch`.
    pub fn push(&mut self, chunk: &[u8], on_batch: &mut dyn FnMut(Vec<K>)) -> Result<()> {
        self.splitter
            .push(chunk, &mut self.pieces)
            .map_err(|e| split_error(e, &self.context, self.max))?;
        for (offset, piece) in self.pieces.drain(..) {
            let item = super::from_slice_exact::<K>(&piece).map_err(|e| {
                Error::decode(
                    format!(
                        "decoding the answer to {} (item {}, which begins at byte {offset})",
                        self.context, self.count
                    ),
                    e,
                )
            })?;
            self.count += 1;
            self.decoded.push(item);
            if self.decoded.len() >= self.batch {
                on_batch(std::mem::take(&mut self.decoded));
            }
        }
        Ok(())
    }

    /// The body is complete: checks that it was a list, hands over the last batch, and
    /// returns the list's metadata (without items).
    pub fn finish(self, on_batch: &mut dyn FnMut(Vec<K>)) -> Result<ObjectList<K>> {
        let shell = self
            .splitter
            .finish()
            .map_err(|e| split_error(e, &self.context, self.max))?;
        let mut list = decode_list_shell::<K>(&shell, &self.context)?;
        if !self.decoded.is_empty() {
            on_batch(self.decoded);
        }
        if !list.items.is_empty() {
            // `items` was not a plain array of objects at the top level (the splitter
            // found none): hand over what serde decoded.
            on_batch(std::mem::take(&mut list.items));
        }
        Ok(list)
    }
}

/// The error of a list body that could not be split into items.
fn split_error(e: SplitError, context: &str, max: usize) -> Error {
    match e {
        SplitError::Malformed(m) => Error::decode(
            format!("decoding the answer to {context}"),
            serde::de::Error::custom(m),
        ),
        SplitError::TooLarge => {
            Error::too_large(format!("an item of the answer to {context}"), max)
        }
    }
}

/// Decodes the document of a list without its items and checks that it is a list: its
/// kind ends in `List` and it has a resourceVersion (client-go refuses anything else). A
/// `Status` that is not a success, sent with `200`, is the error it describes.
fn decode_list_shell<K: DeserializeOwned>(shell: &[u8], context: &str) -> Result<ObjectList<K>> {
    let list: ObjectList<K> = serde_json::from_slice(shell)
        .map_err(|e| Error::decode(format!("decoding the answer to {context}"), e))?;
    let kind = list.kind.as_deref().unwrap_or_default();
    if kind == "Status" {
        if let Ok(status) = serde_json::from_slice::<Status>(shell) {
            if status.status.as_deref() != Some("Success") {
                return Err(Error::Api(Box::new(status)));
            }
        }
    }
    let problem = if !kind.ends_with("List") {
        Some(format!(
            "its kind is {kind:?}, but a list's kind ends in \"List\""
        ))
    } else if list
        .metadata
        .resource_version
        .as_deref()
        .is_none_or(str::is_empty)
    {
        Some("it has no metadata.resourceVersion".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::decode(
            format!("the answer to {context} is not a list"),
            serde::de::Error::custom(format!(
                "{p}; the server (or a proxy in front of it) did not answer with a list"
            )),
        )),
        None => Ok(list),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before the top-level `items` array: bytes belong to the shell.
    Before,
    /// Inside it: bytes belong to items (or separate them).
    Items,
    /// After it: bytes belong to the shell.
    After,
}

/// Cuts the items out of a list body that arrives in chunks.
#[derive(Debug)]
pub(crate) struct ListSplitter {
    buf: BytesMut,
    /// Next byte of `buf` to look at.
    scan: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    phase: Phase,
    /// Where the item being read began, in `buf`.
    item_start: Option<usize>,
    /// Where the top-level string being read began, in `buf` (to spot the `items` key).
    key_start: Option<usize>,
    /// 1: just read the key `"items"`; 2: and its `:`.
    items_key: u8,
    /// Where the shell bytes not yet copied begin, in `buf`, outside the array.
    shell_from: usize,
    shell: Vec<u8>,
    /// Bytes of the body dropped from the front of `buf` so far: `buf[0]` is body byte
    /// `base`, so that positions in errors count from the start of the body.
    base: usize,
    /// Largest item, and largest shell, accepted.
    max: usize,
    /// In the array: the last thing read was a complete item (a `,` or `]` must follow).
    item_done: bool,
    /// In the array: the last thing read was a `,` (an item must follow).
    need_item: bool,
}

/// Why a list body could not be split.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// The body is not the shape of a list; the message says where.
    Malformed(String),
    /// One item (or the document around the items) is longer than the cap.
    TooLarge,
}

impl ListSplitter {
    /// A splitter accepting items (and a shell) of up to `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        ListSplitter {
            buf: BytesMut::new(),
            scan: 0,
            depth: 0,
            in_string: false,
            escaped: false,
            phase: Phase::Before,
            item_start: None,
            key_start: None,
            items_key: 0,
            shell_from: 0,
            shell: Vec::new(),
            base: 0,
            max,
            item_done: false,
            need_item: false,
        }
    }

    /// The body offset of byte `i` of `buf`.
    fn at(&self, i: usize) -> usize {
        self.base + i
    }

    /// Adds a chunk; appends every item it completes to `items`, with the body offset at
    /// which it began.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        items: &mut Vec<(usize, Bytes)>,
    ) -> Result<(), SplitError> {
        self.buf.extend_from_slice(chunk);
        let mut done: Vec<(usize, usize)> = Vec::new();
        let b = &self.buf[..];
        let mut i = self.scan;
        while i < b.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &b[i..]) {
                    None => {
                        i = b.len();
                        continue;
                    }
                    Some(off) => i += off,
                }
                if b[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if let Some(start) = self.key_start.take() {
                        if &b[start..=i] == b"\"items\"" {
                            self.items_key = 1;
                        }
                    }
                }
                i += 1;
                continue;
            }
            let c = b[i];
            if c.is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let items_key = std::mem::take(&mut self.items_key);
            match c {
                b'"' => {
                    if self.phase == Phase::Items && self.depth == 2 {
                        return Err(self.not_an_object(i));
                    }
                    self.in_string = true;
                    if self.phase == Phase::Before && self.depth == 1 {
                        self.key_start = Some(i);
                    }
                }
                b':' if items_key == 1 => self.items_key = 2,
                b'[' if items_key == 2 && self.phase == Phase::Before && self.depth == 1 => {
                    self.shell.extend_from_slice(&b[self.shell_from..=i]);
                    self.phase = Phase::Items;
                    self.depth += 1;
                }
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.phase == Phase::Items && self.depth == 3 {
                        if c != b'{' {
                            return Err(self.not_an_object(i));
                        }
                        if self.item_done {
                            return Err(self.malformed("a ',' is missing between two items", i));
                        }
                        self.item_start = Some(i);
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.checked_sub(1).ok_or_else(|| {
                        SplitError::Malformed(format!(
                            "unbalanced {:?} at byte {}",
                            c as char,
                            self.at(i)
                        ))
                    })?;
                    if self.phase == Phase::Items {
                        if self.depth == 2 {
                            if let Some(start) = self.item_start.take() {
                                if i + 1 - start > self.max {
                                    return Err(SplitError::TooLarge);
                                }
                                done.push((start, i + 1));
                                self.item_done = true;
                                self.need_item = false;
                            }
                        } else if self.depth == 1 {
                            if self.need_item {
                                return Err(self.malformed("a ',' ends the items", i));
                            }
                            self.phase = Phase::After;
                            self.shell_from = i;
                        }
                    }
                }
                b',' if self.phase == Phase::Items && self.depth == 2 => {
                    if !self.item_done {
                        return Err(self.malformed("a ',' is not preceded by an item", i));
                    }
                    self.item_done = false;
                    self.need_item = true;
                }
                b',' => {}
                _ if self.phase == Phase::Items && self.depth == 2 => {
                    return Err(self.not_an_object(i));
                }
                _ => {}
            }
            i += 1;
        }
        self.scan = i;

        // Hand out the completed items and drop what is no longer needed.
        let mut keep_from = self.scan;
        if let Some(s) = self.item_start {
            keep_from = keep_from.min(s);
        }
        if let Some(s) = self.key_start {
            keep_from = keep_from.min(s);
        }
        if self.phase != Phase::Items {
            keep_from = keep_from.min(self.shell_from);
        }
        let head = self.buf.split_to(keep_from).freeze();
        let base = self.base;
        items.extend(done.into_iter().map(|(s, e)| (base + s, head.slice(s..e))));
        self.base += keep_from;
        self.scan -= keep_from;
        self.item_start = self.item_start.map(|s| s - keep_from);
        self.key_start = self.key_start.map(|s| s - keep_from);
        self.shell_from = self.shell_from.saturating_sub(keep_from);
        // What is still held is one unfinished item, key or piece of the shell: none may
        // grow past the cap (a never-ending item must not take all memory).
        if self.buf.len() > self.max || self.shell.len() > self.max {
            return Err(SplitError::TooLarge);
        }
        Ok(())
    }

    fn malformed(&self, what: &str, i: usize) -> SplitError {
        SplitError::Malformed(format!("{what} at byte {} of the list", self.at(i)))
    }

    fn not_an_object(&self, i: usize) -> SplitError {
        SplitError::Malformed(format!(
            "the item at byte {} of the list is not an object",
            self.at(i)
        ))
    }

    /// The document without its items, once the body is complete.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, SplitError> {
        if self.phase == Phase::Items || self.in_string || self.item_start.is_some() {
            return Err(SplitError::Malformed(format!(
                "the list ended at byte {} before its items did",
                self.base + self.buf.len()
            )));
        }
        self.shell.extend_from_slice(&self.buf[self.shell_from..]);
        Ok(self.shell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_in_chunks(body: &[u8], size: usize) -> Result<(Vec<String>, String), SplitError> {
        let mut s = ListSplitter::new(1 << 20);
        let mut items = Vec::new();
        for chunk in body.chunks(size) {
            s.push(chunk, &mut items)?;
        }
        let shell = s.finish()?;
        Ok((
            items
                .iter()
                .map(|(_, i)| String::from_utf8(i.to_vec()).unwrap())
                .collect(),
            String::from_utf8(shell).unwrap(),
        ))
    }

    #[test]
    fn items_come_out_whole_however_the_body_is_cut() {
        let body = br#"{"kind":"L","metadata":{"items":[1],"x":"a\"items\":[{"},"items" : [ {"a":"}]\\"} , {"b":[{}],"c":"\u0041"} ],"z":{"items":[]}}"#;
        for size in 1..=body.len() {
            let (items, shell) = split_in_chunks(body, size).unwrap();
            assert_eq!(
                items,
                [r#"{"a":"}]\\"}"#, r#"{"b":[{}],"c":"\u0041"}"#],
                "chunks of {size}"
            );
            assert_eq!(
                shell,
                r#"{"kind":"L","metadata":{"items":[1],"x":"a\"items\":[{"},"items" : [],"z":{"items":[]}}"#,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn odd_shapes() {
        let (items, shell) = split_in_chunks(br#"{"items":null}"#, 3).unwrap();
        assert!(items.is_empty());
        assert_eq!(shell, r#"{"items":null}"#);
        let (items, shell) = split_in_chunks(br#"{"items":[]}"#, 1).unwrap();
        assert!(items.is_empty());
        assert_eq!(shell, r#"{"items":[]}"#);
        assert!(split_in_chunks(br#"{"items":[1]}"#, 4).is_err());
        assert!(split_in_chunks(br#"{"items":["x"]}"#, 4).is_err());
        assert!(split_in_chunks(br#"{"items":[{"a":1}"#, 4).is_err());
        // Commas: between items, and only there (found by the fuzz check).
        for bad in [
            &br#"{"items":[{}{}]}"#[..],
            br#"{"items":[{},]}"#,
            br#"{"items":[,{}]}"#,
            br#"{"items":[{},,{}]}"#,
        ] {
            for size in 1..=bad.len() {
                assert!(
                    split_in_chunks(bad, size).is_err(),
                    "{}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        assert_eq!(
            split_in_chunks(br#"{"items":[{} , {}]}"#, 2)
                .unwrap()
                .0
                .len(),
            2
        );
    }

    #[test]
    fn offsets_count_from_the_start_of_the_body() {
        let good = br#"{"kind":"L","items":[{"a":1},{"b":2}]}"#;
        let bad = br#"{"kind":"L","items":[{"a":1},{"b":2}, 7]}"#;
        let seven = bad.iter().position(|b| *b == b'7').unwrap();
        for size in 1..=bad.len() {
            let mut s = ListSplitter::new(1 << 20);
            let mut items = Vec::new();
            for chunk in good.chunks(size) {
                s.push(chunk, &mut items).unwrap();
            }
            let offsets: Vec<usize> = items.iter().map(|(o, _)| *o).collect();
            assert_eq!(offsets, [21, 29], "chunks of {size}");

            let mut s = ListSplitter::new(1 << 20);
            let err = bad
                .chunks(size)
                .find_map(|chunk| s.push(chunk, &mut items).err());
            assert_eq!(
                err,
                Some(SplitError::Malformed(format!(
                    "the item at byte {seven} of the list is not an object"
                ))),
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn an_item_longer_than_the_cap_is_refused_while_it_arrives() {
        let mut s = ListSplitter::new(64);
        let mut items = Vec::new();
        s.push(br#"{"kind":"L","items":[{"a":"#, &mut items)
            .unwrap();
        let mut result = Ok(());
        for _ in 0..10 {
            result = s.push(&[b'x'; 16], &mut items);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(SplitError::TooLarge));
        // Items under the cap pass.
        let mut s = ListSplitter::new(64);
        s.push(br#"{"items":[{"a":1},{"a":2}]}"#, &mut items)
            .unwrap();
        assert_eq!(items.len(), 2);
    }
}
