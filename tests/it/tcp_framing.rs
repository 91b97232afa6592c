//! SIP-over-TCP framing against real captured streams: however TCP splits the bytes,
//! the framer must hand out the same messages. The streams live in the shared corpora
//! (never copied into this repository): `../shared/corpora` next to the crate, or the
//! directory named by `CC112_CORPORA`.

use crate::harness::corpora;

use cc112::sip::framing::{Frame, FrameError, Framer};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MAX: usize = 64 * 1024;


/// The plain-SIP streams listed in `index.tsv`. The WebSocket capture is skipped: after
/// its HTTP upgrade the bytes are WebSocket frames, which RFC 7118 frames differently.
fn streams() -> Vec<(String, Vec<u8>)> {
    let dir = corpora().join("traces/tcp-streams");
    let index = std::fs::read_to_string(dir.join("index.tsv"))
        .unwrap_or_else(|e| panic!("read {}/index.tsv: {e}", dir.display()));
    let mut out = Vec::new();
    for line in index.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(file), Some(pcap)) = (cols.next(), cols.next()) else {
            continue;
        };
        if pcap.contains("websocket") || file.contains("websocket") {
            continue;
        }
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
        out.push((file.to_string(), bytes));
    }
    assert!(
        out.len() >= 10,
        "expected the plain SIP streams, found {}",
        out.len()
    );
    out
}

type Outcome = (Vec<Result<Frame, FrameError>>, bool);

fn drain(framer: &mut Framer, out: &mut Vec<Result<Frame, FrameError>>) -> bool {
    loop {
        match framer.next_frame() {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => return true,
            Err(e) => {
                out.push(Err(e));
                return false;
            }
        }
    }
}

/// Feed `data` cut at `cuts` (ascending offsets); frames plus whether a partial remains.
fn run(data: &[u8], chunk_lens: impl IntoIterator<Item = usize>) -> Outcome {
    let mut framer = Framer::new(MAX);
    let mut out = Vec::new();
    let mut rest = data;
    let mut lens = chunk_lens.into_iter();
    while !rest.is_empty() {
        let n = lens.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        framer.push(chunk);
        if !drain(&mut framer, &mut out) {
            break;
        }
        assert!(framer.buffered_len() <= MAX + n);
    }
    (out, framer.has_partial())
}

fn is_sip_start_line(msg: &[u8]) -> bool {
    let line_end = msg.iter().position(|&b| b == b'\n').unwrap_or(msg.len());
    let line = String::from_utf8_lossy(&msg[..line_end]);
    let line = line.trim_end_matches('\r');
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let code = rest.get(..3).unwrap_or("");
        return code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
    }
    let parts: Vec<&str> = line.split(' ').collect();
    parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].bytes().all(|b| b.is_ascii_uppercase())
        && !parts[1].is_empty()
        && parts[2] == "SIP/2.0"
}

#[test]
fn corpus_streams_cut_identically_under_every_chunking() {
    for (name, data) in streams() {
        let whole = run(&data, [data.len()]);
        let (frames, _) = &whole;
        assert!(!frames.is_empty(), "{name}: no frames");
        let mut messages = 0;
        for frame in frames {
            match frame {
                Ok(Frame::Message(m)) => {
                    messages += 1;
                    assert!(
                        is_sip_start_line(m),
                        "{name}: frame does not start with a SIP line: {:?}",
                        String::from_utf8_lossy(&m[..m.len().min(80)])
                    );
                }
                Ok(Frame::KeepAlive) => {}
                Err(e) => panic!("{name}: framing error {e}"),
            }
        }
        assert!(messages > 0, "{name}");
        eprintln!(
            "{name}: {messages} messages, {} frames, partial tail: {}",
            frames.len(),
            whole.1
        );

        let bytewise = run(&data, std::iter::repeat(1));
        assert_eq!(bytewise, whole, "{name}: byte by byte");

        for seed in 0..100u64 {
            let mut rng = SmallRng::seed_from_u64(seed);
            let max_chunk = [2usize, 16, 300, 1500, 9000][(seed % 5) as usize];
            let lens: Vec<usize> = (0..data.len())
                .map(|_| rng.gen_range(1..=max_chunk))
                .collect();
            let got = run(&data, lens);
            assert_eq!(got, whole, "{name}: seed {seed}");
        }
    }
}

#[test]
fn corpus_streams_concatenated_keep_every_message() {
    // All streams back to back on one connection, with keep-alives between them.
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for (_, data) in streams() {
        let (frames, partial) = run(&data, [data.len()]);
        if partial {
            continue; // a capture cut mid-message would swallow the next stream
        }
        all.extend_from_slice(b"\r\n\r\n");
        expected.push(Ok(Frame::KeepAlive));
        all.extend_from_slice(&data);
        expected.extend(frames);
    }
    let (got, partial) = run(&all, std::iter::repeat(777));
    assert!(!partial);
    assert_eq!(got, expected);
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            "INVITE sip:112@a SIP/2.0",
            "SIP/2.0 200 OK",
            "ACK sip:x SIP/2.0",
        ]),
        prop::sample::select(vec![
            "Content-Length",
            "l",
            "content-length",
            "CONTENT-LENGTH",
        ]),
        prop::sample::select(vec!["\r\n", "\n"]),
        prop::collection::vec(any::<u8>(), 0..200),
        prop::sample::select(vec!["", "\r\n", "\r\n\r\n"]),
    )
        .prop_map(|(start, cl, eol, body, gap)| {
            let mut m = format!(
                "{gap}{start}{eol}Via: SIP/2.0/TCP h{eol}{cl} : {}{eol}{eol}",
                body.len()
            )
            .into_bytes();
            m.extend_from_slice(&body);
            m
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_in_arbitrary_chunks_never_panic_nor_overbuffer(
        data in prop::collection::vec(any::<u8>(), 0..4096),
        lens in prop::collection::vec(1usize..600, 1..64),
        max in 16usize..2048,
    ) {
        let mut framer = Framer::new(max);
        let mut rest = &data[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = lens[i % lens.len()].min(rest.len());
            i += 1;
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            framer.push(chunk);
            prop_assert!(framer.buffered_len() <= max + n);
            loop {
                match framer.next_frame() {
                    Ok(Some(Frame::Message(m))) => prop_assert!(m.len() <= max),
                    Ok(Some(Frame::KeepAlive)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            prop_assert!(framer.buffered_len() <= max);
        }
    }

    #[test]
    fn valid_messages_survive_any_chunking(
        msgs in prop::collection::vec(arb_message(), 1..8),
        lens in prop::collection::vec(1usize..300, 1..32),
    ) {
        let data: Vec<u8> = msgs.concat();
        let whole = run(&data, [data.len()]);
        let count = whole.0.iter().filter(|f| matches!(f, Ok(Frame::Message(_)))).count();
        prop_assert_eq!(count, msgs.len());
        prop_assert!(whole.0.iter().all(|f| f.is_ok()));
        let chunked = run(&data, lens.iter().copied().cycle());
        prop_assert_eq!(chunked, whole);
    }
}
