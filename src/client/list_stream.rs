//! Decoding a list response while it arrives: the items of the top-level `items` array
//! are cut out of the body chunk by chunk and decoded one by one, so that receiving,
//! decoding and (in the caller) storing overlap, and neither the whole body nor the
//! whole decoded list has to be held at once.
//!
//! [`ListSplitter`] tracks only strings and nesting (no parsing); serde decodes each item
//! and, at the end, the rest of the document (the "shell": kind, apiVersion, metadata,
//! with an empty `items` array), so every byte is still validated by serde.

use bytes::{Bytes, BytesMut};

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
                                done.push((start, i + 1));
                            }
                        } else if self.depth == 1 {
                            self.phase = Phase::After;
                            self.shell_from = i;
                        }
                    }
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
