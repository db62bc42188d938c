//! Response bodies: gzip decoding under the scrape's `body_size_limit`.

use std::io::Read;

use super::ExpoError;

/// The body to parse: `raw` itself unless `Content-Encoding` is exactly
/// `gzip` (as Prometheus compares it), else the decompressed bytes in
/// `scratch`, a buffer the caller reuses across scrapes. `limit` is
/// `body_size_limit` in bytes (0: none); as in Prometheus a body of `limit`
/// bytes or more is refused, and decompression stops there, so a gzip bomb
/// costs at most `limit` bytes.
pub fn decode_body<'a>(
    raw: &'a [u8],
    content_encoding: Option<&str>,
    limit: usize,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], ExpoError> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    if content_encoding != Some("gzip") {
        if raw.len() >= limit {
            return Err(ExpoError::BodySizeLimit);
        }
        return Ok(raw);
    }
    scratch.clear();
    let mut decoder = flate2::read::MultiGzDecoder::new(raw);
    // Read at most `limit` bytes: reaching it is the error, so one byte past
    // the allowed size is all that is ever inflated.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX);
    let n = (&mut decoder)
        .take(cap)
        .read_to_end(scratch)
        .map_err(|e| ExpoError::Gzip(e.to_string()))?;
    if n >= limit {
        scratch.clear();
        return Err(ExpoError::BodySizeLimit);
    }
    Ok(scratch.as_slice())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn identity_is_borrowed_and_gzip_inflated() {
        let mut scratch = Vec::new();
        assert_eq!(
            decode_body(b"up 1\n", None, 0, &mut scratch).unwrap(),
            b"up 1\n"
        );
        let z = gzip(b"up 1\n");
        assert_eq!(
            decode_body(&z, Some("gzip"), 0, &mut scratch).unwrap(),
            b"up 1\n"
        );
        // Two gzip members concatenate, as Go's reader does.
        let mut two = gzip(b"a 1\n");
        two.extend(gzip(b"b 2\n"));
        assert_eq!(
            decode_body(&two, Some("gzip"), 0, &mut scratch).unwrap(),
            b"a 1\nb 2\n"
        );
    }

    #[test]
    fn limits_and_damage() {
        let mut scratch = Vec::new();
        assert_eq!(
            decode_body(b"12345", None, 5, &mut scratch),
            Err(ExpoError::BodySizeLimit)
        );
        assert!(decode_body(b"1234", None, 5, &mut scratch).is_ok());
        let bomb = gzip(&vec![b'a'; 10 << 20]);
        assert_eq!(
            decode_body(&bomb, Some("gzip"), 1 << 20, &mut scratch),
            Err(ExpoError::BodySizeLimit)
        );
        assert!(scratch.capacity() <= 4 << 20);
        assert!(matches!(
            decode_body(b"not gzip", Some("gzip"), 0, &mut scratch),
            Err(ExpoError::Gzip(_))
        ));
    }
}
