use super::*;
use proptest::prelude::*;

fn head(raw: &str) -> Result<Option<Head>, WireError> {
    parse_head(&mut BytesMut::from(raw))
}

/// Feeds `wire` to a decoder in pieces of `split` bytes; the decoded body, or the error.
fn decode_split(framing: Framing, wire: &[u8], split: usize) -> Result<Vec<u8>, WireError> {
    let mut dec = BodyDecoder::new(framing);
    let (mut input, mut out) = (BytesMut::new(), BytesMut::new());
    for piece in wire.chunks(split.max(1)) {
        input.extend_from_slice(piece);
        dec.decode(&mut input, &mut out)?;
    }
    dec.eof()?;
    Ok(out.to_vec())
}

fn chunked(pieces: &[&[u8]]) -> Vec<u8> {
    let mut wire = Vec::new();
    for p in pieces {
        wire.extend_from_slice(format!("{:x}\r\n", p.len()).as_bytes());
        wire.extend_from_slice(p);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

fn field<'a>(name: &'a str, value: &'a str) -> Field<'a> {
    Field {
        name,
        value: [value, ""],
    }
}

fn post<'a>(path: [&'a str; 2], body: &'a [u8]) -> Request<'a> {
    Request {
        method: &Method::POST,
        host: "up:8080",
        path,
        body,
    }
}

#[test]
fn request_is_one_buffer_with_its_length() {
    let auth = Field {
        name: "authorization",
        value: ["Bearer ", "sk-1"],
    };
    let wire = encode_request(&post(["/v1", "/chat?x=1"], b"{}"), [auth]).unwrap();
    assert_eq!(
        wire,
        b"POST /v1/chat?x=1 HTTP/1.1\r\nhost: up:8080\r\nauthorization: Bearer sk-1\r\n\
          content-length: 2\r\n\r\n{}"
    );
    let get = Request {
        method: &Method::GET,
        host: "up",
        path: ["", ""],
        body: b"",
    };
    assert_eq!(
        encode_request(&get, []).unwrap(),
        b"GET / HTTP/1.1\r\nhost: up\r\n\r\n"
    );
}

#[test]
fn request_that_would_break_the_head_is_refused() {
    let refused = |req: Request<'_>, f: Field<'_>| {
        matches!(encode_request(&req, [f]), Err(WireError::Request(_)))
    };
    let ok = field("accept", "*/*");
    assert!(refused(post(["/v1", "/a b"], b""), ok));
    assert!(refused(post(["/v1\r\nx: y", "/a"], b""), ok));
    let bad_host = Request {
        host: "up\r\nx: y",
        ..post(["/", ""], b"")
    };
    assert!(refused(bad_host, ok));
    assert!(refused(
        post(["/", ""], b""),
        field("x-api-key", "k\r\nx: y")
    ));
    assert!(refused(post(["/", ""], b""), field("x-api-key", "k\0")));
    assert!(refused(post(["/", ""], b""), field("bad name", "v")));
    assert!(refused(post(["/", ""], b""), field("", "v")));
    assert!(!refused(
        post(["/", ""], b""),
        field("x-api-key", "k \t\u{e9}")
    ));
}

#[test]
fn heads_choose_framing_and_reuse() {
    let h = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        .unwrap()
        .unwrap();
    assert_eq!(
        (h.status.as_u16(), h.framing, h.keep_alive),
        (200, Framing::Length(5), true)
    );
    let h =
        head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n")
            .unwrap()
            .unwrap();
    assert_eq!(h.framing, Framing::Chunked);
    let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
    let h = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
    assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
    let h = head("HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Empty);
    let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
    let h = head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(!h.keep_alive);
    let h = head("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(h.keep_alive);
    let h = head("HTTP/1.1 429 Too Many\r\nretry-after: 7\r\ncontent-length: 0\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.headers[header::RETRY_AFTER], "7");
}

#[test]
fn transfer_encoding_with_a_length_or_from_http10_is_read_then_closed() {
    let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 999999\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!(h.framing, Framing::Chunked);
    assert!(!h.keep_alive);
    assert!(
        h.headers.get(header::CONTENT_LENGTH).is_none(),
        "the stale length is dropped"
    );
    let h = head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
    let h = head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        .unwrap()
        .unwrap();
    assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
}

#[test]
fn interim_answers_are_skipped_and_partial_heads_wait() {
    let mut buf = BytesMut::from(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    );
    let h = parse_head(&mut buf).unwrap().unwrap();
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(&buf[..], b"ok");
    assert!(head("HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
}

#[test]
fn bad_heads_are_typed_errors() {
    assert!(matches!(
        head("SSH-2.0-OpenSSH\r\n\r\n"),
        Err(WireError::Head(_))
    ));
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n").unwrap_err(),
        WireError::ContentLength
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").unwrap_err(),
        WireError::ContentLength
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n").unwrap_err(),
        WireError::ContentLength
    );
    assert!(matches!(
        head("HTTP/1.1 101 Switching\r\n\r\n"),
        Err(WireError::Head(_))
    ));
    let many: String = (0..200).map(|i| format!("x-{i}: v\r\n")).collect();
    assert!(matches!(
        head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")),
        Err(WireError::Head(_))
    ));
    let huge = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD + 1));
    assert_eq!(head(&huge).unwrap_err(), WireError::HeadTooLarge);
}

#[test]
fn chunked_bodies_decode_with_extensions_and_trailers() {
    let wire = b"5;name=v\r\nhello\r\n1 \r\n!\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
    let mut dec = BodyDecoder::new(Framing::Chunked);
    let (mut input, mut out) = (BytesMut::from(&wire[..]), BytesMut::new());
    dec.decode(&mut input, &mut out).unwrap();
    assert!(dec.is_done());
    assert_eq!(&out[..], b"hello!");
    assert_eq!(
        &input[..],
        b"NEXT",
        "bytes after the body stay for the next answer"
    );
}

#[test]
fn bad_chunked_bodies_are_typed_errors() {
    for wire in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"5 junk\r\nhello\r\n0\r\n\r\n",
        b"1000000000000000\r\n",
        b"5\nhello\r\n0\r\n\r\n",
    ] {
        assert!(
            matches!(
                decode_split(Framing::Chunked, wire, 3),
                Err(WireError::Chunk(_))
            ),
            "{wire:?}"
        );
    }
    let long = vec![b'1'; MAX_SIZE_LINE + 10];
    assert!(matches!(
        decode_split(Framing::Chunked, &long, 64),
        Err(WireError::Chunk(_))
    ));
    let mut trailers = b"0\r\n".to_vec();
    trailers.extend(std::iter::repeat_n(b"x: y\r\n".as_slice(), MAX_TRAILERS).flatten());
    assert!(matches!(
        decode_split(Framing::Chunked, &trailers, 512),
        Err(WireError::Chunk(_))
    ));
}

#[test]
fn closing_early_is_truncation() {
    assert_eq!(
        decode_split(Framing::Length(10), b"short", 5).unwrap_err(),
        WireError::Truncated
    );
    assert_eq!(
        decode_split(Framing::Chunked, b"5\r\nhel", 5).unwrap_err(),
        WireError::Truncated
    );
    assert_eq!(
        decode_split(Framing::Close, b"all of it", 4).unwrap(),
        b"all of it"
    );
    let mut input = BytesMut::from("0123456789tail");
    let (mut dec, mut out) = (BodyDecoder::new(Framing::Length(10)), BytesMut::new());
    dec.decode(&mut input, &mut out).unwrap();
    assert!(dec.is_done());
    assert_eq!((&out[..], &input[..]), (&b"0123456789"[..], &b"tail"[..]));
}

proptest! {
    /// Any body, chunked any way, read in any split, decodes to itself.
    #[test]
    fn chunked_roundtrips_in_any_split(
        pieces in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..12),
        split in 1usize..64,
    ) {
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        let want: Vec<u8> = pieces.concat();
        prop_assert_eq!(decode_split(Framing::Chunked, &chunked(&refs), split).unwrap(), want);
    }

    /// Arbitrary bytes never panic the head parser or the chunked decoder.
    #[test]
    fn arbitrary_bytes_are_an_answer_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..600), split in 1usize..40) {
        let _ = head(&String::from_utf8_lossy(&bytes));
        let _ = parse_head(&mut BytesMut::from(&bytes[..]));
        let _ = decode_split(Framing::Chunked, &bytes, split);
    }
}
