//! The SIP-over-TCP framer (`cc112::sip::framing::Framer`) on any byte stream.
//!
//! Checks, beyond "no panic", with a large and a small per-message cap:
//! - however TCP splits the stream (read sizes taken from the input, and byte by byte
//!   up to 8 KiB), the framer hands
//!   out the same frames, the same error and the same "partial message held" state as
//!   when it gets the stream in one read;
//! - it never returns more bytes than it was given: the messages are the stream's own
//!   bytes, in order, with only CR/LF between them; none is larger than the cap, and
//!   what it holds after a drain stays within the cap;
//! - where the parser reads a message it cut, both agree on its end: the parser's
//!   Content-Length is the body the framer cut (no request smuggling between them).
#![no_main]

use cc112::sip::framing::{Frame, FrameError, Framer};
use cc112::sip::{parse, Message};
use cc112_fuzz::read_sizes;
use libfuzzer_sys::fuzz_target;

type Outcome = (Vec<Result<Frame, FrameError>>, bool);

fuzz_target!(|data: &[u8]| {
    for max in [64 * 1024, 600] {
        let whole = feed(data, [data.len()], max);
        let cut = feed(data, read_sizes(data, data.len(), 1500), max);
        assert_eq!(whole, cut, "the frames depend on how the stream was split");
        if data.len() <= 8 * 1024 {
            let bytewise = feed(data, std::iter::repeat_n(1, data.len()), max);
            assert_eq!(whole, bytewise, "the frames differ when fed byte by byte");
        }
        check_frames(data, &whole.0, max);
    }
});

fn feed(data: &[u8], sizes: impl IntoIterator<Item = usize>, max: usize) -> Outcome {
    let mut framer = Framer::new(max);
    let mut out = Vec::new();
    let mut at = 0;
    for size in sizes {
        let Some(chunk) = data.get(at..at + size) else { break };
        at += size;
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    // Final: the same error again, and nothing held.
                    assert_eq!(framer.next_frame(), Err(e.clone()));
                    assert_eq!(framer.buffered_len(), 0);
                    out.push(Err(e));
                    return (out, false);
                }
            }
        }
        assert!(framer.buffered_len() <= max, "holds {} bytes past a cap of {max}", framer.buffered_len());
    }
    (out, framer.has_partial())
}

/// The messages are the input's own bytes, in order, separated by CR/LF only.
fn check_frames(data: &[u8], frames: &[Result<Frame, FrameError>], max: usize) {
    let mut at = 0;
    for frame in frames {
        let Ok(Frame::Message(m)) = frame else { continue };
        assert!(m.len() <= max);
        assert!(!m.is_empty());
        // Skip the CR/LF before this message.
        while matches!(data.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        assert_eq!(data.get(at..at + m.len()), Some(&m[..]), "a message that is not the stream's next bytes");
        at += m.len();
        check_parser_agrees(m);
    }
}

/// Where the parser reads a cut message, its body is exactly what follows the empty line.
fn check_parser_agrees(m: &[u8]) {
    let Ok(msg) = parse(m) else { return };
    let body = match &msg {
        Message::Request(r) => &r.body,
        Message::Response(r) => &r.body,
    };
    let head_end = head_end(m).expect("the framer cut a message without an empty line");
    assert_eq!(msg.head().content_length, Some(body.len()));
    assert_eq!(m.len() - head_end, body.len(), "framer and parser disagree on where the message ends");
}

/// Offset just past the first empty line (LF LF or LF CR LF).
fn head_end(m: &[u8]) -> Option<usize> {
    (0..m.len()).find_map(|i| match (m.get(i), m.get(i + 1), m.get(i + 2)) {
        (Some(b'\n'), Some(b'\n'), _) => Some(i + 2),
        (Some(b'\n'), Some(b'\r'), Some(b'\n')) => Some(i + 3),
        _ => None,
    })
}
