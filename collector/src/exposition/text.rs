//! Prometheus text format 0.0.4 building blocks: label-value escaping with a
//! length cap, family headers and number formatting.

/// Longest label value kept, in characters (cut on a char boundary).
pub const LABEL_VALUE_MAX_CHARS: usize = 256;

/// Appends `raw` as a label value: capped at [`LABEL_VALUE_MAX_CHARS`]
/// characters, then escaped by [`escape_label_value`].
pub fn push_label_value(out: &mut String, raw: &str) {
    let capped = match raw.char_indices().nth(LABEL_VALUE_MAX_CHARS) {
        Some((end, _)) => &raw[..end],
        None => raw,
    };
    let mut bytes = std::mem::take(out).into_bytes();
    escape_label_value(&mut bytes, capped, capped.len());
    // Escaping only inserts ASCII and copies whole chars, so this cannot fail.
    *out = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Appends `value` escaped for a label value (`\\`, `\"`, `\n`), cut first
/// to at most `max_bytes` bytes on a char boundary. Other control characters
/// become spaces: legal, but they break terminals, log pipelines and some
/// scrapers, and carry no meaning in an inventory value.
pub fn escape_label_value(out: &mut Vec<u8>, value: &str, max_bytes: usize) {
    let mut end = value.len().min(max_bytes);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let value = &value[..end];
    // 0xC2 leads the C1 controls (U+0080..U+009F) in UTF-8.
    if !value
        .bytes()
        .any(|b| matches!(b, b'\\' | b'"' | 0..=0x1f | 0x7f | 0xc2))
    {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    let mut buf = [0u8; 4];
    for c in value.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '"' => out.extend_from_slice(b"\\\""),
            '\n' => out.extend_from_slice(b"\\n"),
            c if c.is_control() => out.push(b' '),
            c => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
        }
    }
}

/// Bytes buffered before a chunk is handed on while streaming.
pub const CHUNK_BYTES: usize = 1 << 20;

/// Where rendering writes: a growing buffer that, when streaming, hands on
/// a chunk whenever [`Sink::maybe_flush`] finds [`CHUNK_BYTES`] buffered, so a
/// 200 MiB scrape never sits in memory whole. Derefs to the buffer.
///
/// The receiver may go away (the scraper hung up): the flush callback says
/// so by returning false, the sink is then closed, and renderers stop at
/// their next [`Sink::maybe_flush`].
pub struct Sink<'a> {
    buf: Vec<u8>,
    flush: Option<&'a mut dyn FnMut(Vec<u8>) -> bool>,
    closed: bool,
}

impl<'a> Sink<'a> {
    /// Collects everything into one buffer (tests, small outputs).
    pub fn collecting(capacity: usize) -> Sink<'static> {
        Sink {
            buf: Vec::with_capacity(capacity),
            flush: None,
            closed: false,
        }
    }

    /// Hands on chunks of about [`CHUNK_BYTES`] to `flush`, which returns
    /// false once the receiver is gone.
    pub fn streaming(flush: &'a mut dyn FnMut(Vec<u8>) -> bool) -> Sink<'a> {
        Sink {
            buf: Vec::with_capacity(CHUNK_BYTES + 64 * 1024),
            flush: Some(flush),
            closed: false,
        }
    }

    /// Hands on the buffer if streaming and it is full enough; call it
    /// between samples (never in the middle of a line). False once the
    /// receiver is gone: stop rendering (what is written is discarded).
    pub fn maybe_flush(&mut self) -> bool {
        if self.closed {
            self.buf.clear();
            return false;
        }
        if self.buf.len() >= CHUNK_BYTES
            && let Some(flush) = self.flush.as_mut()
        {
            let chunk =
                std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 64 * 1024));
            if !flush(chunk) {
                self.closed = true;
                return false;
            }
        }
        true
    }

    /// Whether the receiver went away (rendering should stop).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Ends rendering: hands on the rest (streaming) or returns everything.
    pub fn finish(mut self) -> Vec<u8> {
        match self.flush.as_mut() {
            Some(flush) => {
                if !self.closed && !self.buf.is_empty() {
                    flush(std::mem::take(&mut self.buf));
                }
                Vec::new()
            }
            None => self.buf,
        }
    }
}

impl std::ops::Deref for Sink<'_> {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl std::ops::DerefMut for Sink<'_> {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

/// Metric type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyType {
    /// A gauge.
    Gauge,
    /// A counter.
    Counter,
}

/// Writes `# HELP` and `# TYPE` once for a family.
pub fn header(out: &mut Vec<u8>, name: &str, kind: FamilyType, help: &str) {
    out.extend_from_slice(b"# HELP ");
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(help.as_bytes());
    out.extend_from_slice(b"\n# TYPE ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(match kind {
        FamilyType::Gauge => b" gauge\n",
        FamilyType::Counter => b" counter\n",
    });
}

/// Writes `name{labels} ` (the value follows).
pub fn sample_start(out: &mut Vec<u8>, name: &str, labels: &[&str]) {
    // One reservation for the whole line keeps the copies below free of
    // capacity checks that could reallocate.
    let len = name.len() + labels.iter().map(|l| l.len() + 1).sum::<usize>() + 48;
    out.reserve(len);
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(l.as_bytes());
    }
    out.extend_from_slice(b"} ");
}

/// Writes `parts` back to back, e.g. a whole sample line `[prefix, id,
/// suffix, value, b"\n"]`: the family's constant `name{device_id="`, the
/// escaped id, the constant rest of the label set, the value. One
/// reservation, then straight copies: a scrape writes millions of these.
#[inline]
pub fn line<const N: usize>(out: &mut Vec<u8>, parts: [&[u8]; N]) {
    out.reserve(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// The escaped device ids of a scrape's devices, back to back in one buffer,
/// built once per scrape: every family pass reads each id, and reading them
/// from one contiguous buffer instead of one heap string per device keeps
/// those passes out of cache misses.
pub struct DeviceIds {
    bytes: Vec<u8>,
    /// `ends[i]` is where id `i` ends (and id `i + 1` starts).
    ends: Vec<usize>,
}

impl DeviceIds {
    /// Collects `ids` (already escaped), in order.
    pub fn new<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> Self {
        let mut ends = Vec::with_capacity(ids.len());
        let mut bytes = Vec::with_capacity(ids.len() * 24);
        for id in ids {
            bytes.extend_from_slice(id.as_bytes());
            ends.push(bytes.len());
        }
        DeviceIds { bytes, ends }
    }

    /// The `i`th escaped id.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// Writes an integer value and the newline.
pub fn value_int(out: &mut Vec<u8>, v: impl itoa::Integer) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
    out.push(b'\n');
}

/// A float as Prometheus spells it (`NaN`, `+Inf`, `-Inf`), formatted in
/// `buf`.
pub fn float_text(buf: &mut ryu::Buffer, v: f64) -> &[u8] {
    if v.is_nan() {
        b"NaN"
    } else if v.is_infinite() {
        if v > 0.0 { b"+Inf" } else { b"-Inf" }
    } else {
        buf.format_finite(v).as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(raw: &str) -> String {
        let mut s = String::new();
        push_label_value(&mut s, raw);
        s
    }

    #[test]
    fn escapes_backslash_quote_newline() {
        assert_eq!(escaped(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escaped("l1\nl2"), "l1\\nl2");
        assert_eq!(escaped("tab\there\r\0"), "tab here  ");
        assert_eq!(escaped("Zürich-Büro ✓"), "Zürich-Büro ✓");
    }

    #[test]
    fn caps_on_a_char_boundary() {
        let long = "é".repeat(1000);
        let s = escaped(&long);
        assert_eq!(s.chars().count(), LABEL_VALUE_MAX_CHARS);
        // Escaping happens after the cap: an escape sequence is never cut.
        let quotes = "\"".repeat(1000);
        assert_eq!(escaped(&quotes), "\\\"".repeat(LABEL_VALUE_MAX_CHARS));
    }

    #[test]
    fn a_closed_stream_stops_taking_chunks() {
        let mut chunks = 0;
        let mut flush = |_: Vec<u8>| {
            chunks += 1;
            false
        };
        let mut sink = Sink::streaming(&mut flush);
        let mut written = 0;
        for _ in 0..10 * CHUNK_BYTES / 100 {
            if !sink.maybe_flush() {
                break;
            }
            sink.extend_from_slice(&[b'x'; 100]);
            written += 100;
        }
        assert!(sink.is_closed());
        assert!(
            written <= CHUNK_BYTES + 100,
            "stopped after the first refused chunk"
        );
        sink.finish();
        assert_eq!(chunks, 1);
    }

    #[test]
    fn floats_and_ints() {
        let mut out = Vec::new();
        let mut buf = ryu::Buffer::new();
        for v in [0.25, f64::INFINITY, f64::NAN] {
            out.extend_from_slice(float_text(&mut buf, v));
            out.push(b'\n');
        }
        value_int(&mut out, -5i64);
        assert_eq!(String::from_utf8(out).unwrap(), "0.25\n+Inf\nNaN\n-5\n");
    }
}
