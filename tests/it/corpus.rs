//! The shared SIP corpora against our parser and against the running gateway.
//!
//! Every RFC 4475 / RFC 5118 torture message is classified here: does it parse, and what
//! does the gateway answer when it arrives in a UDP datagram (`manifest.tsv` gives the
//! RFC's and a 112 gateway's expected behaviour; the comment on each row says which part
//! of it we take when the manifest allows a choice). A corpus file missing from the
//! table fails the test, so new torture cases are never silently skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use cc112::engine::{Engine, Output};
use cc112::sip::{Peer, Transport};
use cc112::sip::{parse, Message};
use proptest::prelude::*;

use crate::harness::{corpora, Gateway};

/// (file, parses, final status the gateway sends over UDP or None = no answer).
const EXPECT: &[(&str, bool, Option<u16>)] = &[
    ("rfc4475/wsinv.dat", true, Some(481)), // parses; its To has a tag: no such dialog (§12.2.2)
    ("rfc4475/intmeth.dat", true, Some(501)),
    ("rfc4475/esc01.dat", true, Some(404)),
    ("rfc4475/escnull.dat", true, Some(401)), // REGISTER: challenged like every REGISTER
    ("rfc4475/esc02.dat", true, Some(501)),
    ("rfc4475/lwsdisp.dat", true, Some(200)),
    ("rfc4475/longreq.dat", true, Some(404)),
    ("rfc4475/dblreq.dat", true, Some(401)), // only the REGISTER; the trailing INVITE is noise
    ("rfc4475/semiuri.dat", true, Some(200)),
    ("rfc4475/transports.dat", true, Some(200)),
    ("rfc4475/mpart01.dat", true, Some(405)), // MESSAGE is not ours
    ("rfc4475/unreason.dat", true, None), // stray response
    ("rfc4475/noreason.dat", true, None),
    ("rfc4475/badinv01.dat", false, Some(400)),
    ("rfc4475/clerr.dat", false, Some(400)),
    ("rfc4475/ncl.dat", false, Some(400)),
    ("rfc4475/scalar02.dat", false, Some(400)),
    ("rfc4475/scalarlg.dat", false, None), // a response: dropped
    ("rfc4475/quotbal.dat", false, Some(400)),
    ("rfc4475/ltgtruri.dat", false, Some(400)),
    ("rfc4475/lwsruri.dat", false, Some(400)),
    ("rfc4475/lwsstart.dat", false, Some(400)), // strict: one SP between elements
    ("rfc4475/trws.dat", false, Some(400)),
    ("rfc4475/escruri.dat", false, Some(400)), // headers in a Request-URI never applied
    ("rfc4475/baddate.dat", true, Some(404)), // Date ignored; routing decides
    ("rfc4475/regbadct.dat", false, Some(400)),
    ("rfc4475/badaspec.dat", false, Some(400)),
    ("rfc4475/baddn.dat", false, Some(400)),
    ("rfc4475/badvers.dat", false, Some(505)),
    ("rfc4475/mismatch01.dat", false, Some(400)),
    ("rfc4475/mismatch02.dat", false, Some(400)),
    ("rfc4475/bigcode.dat", false, None),
    ("rfc4475/badbranch.dat", false, Some(400)),
    ("rfc4475/insuf.dat", false, Some(400)), // Via + CSeq suffice to answer
    ("rfc4475/unkscm.dat", true, Some(416)),
    ("rfc4475/novelsc.dat", true, Some(416)),
    ("rfc4475/unksm2.dat", true, Some(400)), // REGISTER of a non-SIP address of record
    ("rfc4475/bext01.dat", true, Some(420)),
    ("rfc4475/invut.dat", true, Some(415)),
    ("rfc4475/regaut01.dat", true, Some(401)),
    ("rfc4475/multi01.dat", false, Some(400)),
    ("rfc4475/mcl01.dat", false, Some(400)),
    ("rfc4475/bcast.dat", true, None),
    ("rfc4475/zeromf.dat", true, Some(200)),
    ("rfc4475/cparam01.dat", true, Some(401)),
    ("rfc4475/cparam02.dat", true, Some(401)),
    ("rfc4475/regescrt.dat", true, Some(401)),
    ("rfc4475/sdp01.dat", true, Some(406)),
    ("rfc4475/inv2543.dat", true, Some(404)), // accepted as a 2543 request; not 112
    ("rfc4475/test.dat", false, None), // no SIP version, no CSeq: dropped
    ("rfc4475-variants/baddn.final-crlf.dat", false, Some(400)),
    ("rfc5118/wire-crlf/ipv4-mapped-ipv6.dat", true, Some(404)),
    ("rfc5118/wire-crlf/ipv6-bad.dat", false, Some(400)),
    ("rfc5118/wire-crlf/ipv6-bug-abnf-3-colons.dat", true, Some(200)), // tolerated (§4.10)
    ("rfc5118/wire-crlf/ipv6-correct-abnf-2-colons.dat", true, Some(200)),
    ("rfc5118/wire-crlf/ipv6-good.dat", true, Some(401)),
    ("rfc5118/wire-crlf/ipv6-in-sdp.dat", true, Some(404)),
    ("rfc5118/wire-crlf/mult-ip-in-header.dat", true, Some(481)), // BYE outside a dialog
    ("rfc5118/wire-crlf/mult-ip-in-sdp.dat", true, Some(404)),
    ("rfc5118/wire-crlf/port-ambiguous.dat", true, Some(401)),
    ("rfc5118/wire-crlf/port-unambiguous.dat", true, Some(401)),
    ("rfc5118/wire-crlf/via-received-param-no-delim.dat", true, Some(200)),
    ("rfc5118/wire-crlf/via-received-param-with-delim.dat", true, Some(481)),
];

/// Manifest rows for the files fed to a parser (the LF-only archive copies are not wire bytes).
fn manifest() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(corpora().join("manifest.tsv")).expect("corpora/manifest.tsv");
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            Some((cols.next()?.to_string(), cols.next()?.to_string()))
        })
        .filter(|(f, _)| !f.starts_with("rfc5118/archive-lf/"))
        .collect()
}

#[test]
fn every_torture_message_is_classified_and_parses_as_expected() {
    let manifest = manifest();
    let table: BTreeSet<&str> = EXPECT.iter().map(|(f, _, _)| *f).collect();
    let listed: BTreeSet<&str> = manifest.keys().map(String::as_str).collect();
    assert_eq!(table, listed, "every manifest file is classified here, and only those");
    for (file, parses, _) in EXPECT {
        let bytes = std::fs::read(corpora().join(file)).unwrap();
        let result = parse(&bytes);
        assert_eq!(result.is_ok(), *parses, "{file}: {:?}", result.as_ref().err());
        if manifest[*file].starts_with("valid") {
            assert!(result.is_ok(), "{file} is valid per RFC and must parse");
        }
    }
}

#[test]
fn all_trace_messages_parse() {
    let mut n = 0;
    for dir in std::fs::read_dir(corpora().join("traces/sip")).unwrap() {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) != Some("sip") {
                continue;
            }
            let bytes = std::fs::read(&f).unwrap();
            if let Err(e) = parse(&bytes) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
    }
    assert_eq!(n, 594);
}

/// The transaction a corpus file would open: RFC 4475's files reuse branches
/// (`z9hG4bKkdjuw` in several), and a second request on the same branch and sent-by is,
/// rightly, a retransmission of the first. Such files go to different gateways.
fn transaction_key(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    text.lines()
        .skip(1)
        .find(|l| {
            let name = l.split(':').next().unwrap_or_default().trim();
            name == "via" || name == "v"
        })
        .map(|l| l.split_once(':').map(|(_, v)| v).unwrap_or_default().split_whitespace().collect::<String>())
        .unwrap_or_default()
}

/// Every torture message arrives over UDP at a running gateway; each gets its own
/// socket so the answers cannot mix.
#[test]
fn gateway_answers_each_torture_message_over_udp_as_expected() {
    // Greedy grouping: no two files with the same transaction key share a gateway.
    type Group<'a> = (BTreeSet<String>, Vec<(&'a str, Option<u16>, Vec<u8>)>);
    let mut groups: Vec<Group> = Vec::new();
    for (file, _, want) in EXPECT {
        let bytes = std::fs::read(corpora().join(file)).unwrap();
        let key = transaction_key(&bytes);
        match groups.iter_mut().find(|(keys, _)| key.is_empty() || !keys.contains(&key)) {
            Some((keys, files)) => {
                keys.insert(key);
                files.push((*file, *want, bytes));
            }
            None => groups.push((BTreeSet::from([key]), vec![(*file, *want, bytes)])),
        }
    }
    assert!(groups.len() <= 6, "{} gateways", groups.len());
    let mut failures = Vec::new();
    for (_, files) in &groups {
        let gw = Gateway::start();
        let socks: Vec<(&str, Option<u16>, UdpSocket)> = files
            .iter()
            .map(|(file, want, bytes)| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.send_to(bytes, gw.sip).unwrap();
                (*file, *want, s)
            })
            .collect();
        // The gateway answers in well under a millisecond; INVITE finals are also
        // retransmitted after 500 ms, which is fine.
        std::thread::sleep(Duration::from_millis(600));
        for (file, want, s) in &socks {
            s.set_nonblocking(true).unwrap();
            let mut finals = BTreeSet::new();
            let mut cseq_methods = BTreeSet::new();
            let mut buf = vec![0u8; 65535];
            while let Ok(n) = s.recv(&mut buf) {
                // A 400 echoes the sender's own malformed headers, so read our part of
                // it: the status line (and the CSeq method when the whole parses).
                let text = String::from_utf8_lossy(&buf[..n]);
                let status = text.strip_prefix("SIP/2.0 ").and_then(|r| r.get(..3)).and_then(|c| c.parse::<u16>().ok());
                let Some(status) = status else {
                    failures.push(format!("{file}: the gateway sent something that is not a response: {text}"));
                    continue;
                };
                if let Ok(Message::Response(r)) = parse(&buf[..n]) {
                    cseq_methods.insert(r.head.cseq.method.to_string());
                }
                if status >= 200 {
                    finals.insert(status);
                }
            }
            let got: Vec<u16> = finals.into_iter().collect();
            let want: Vec<u16> = want.iter().copied().collect();
            if got != want {
                failures.push(format!("{file}: expected {want:?}, got {got:?}"));
            }
            if *file == "rfc4475/dblreq.dat" && cseq_methods.iter().any(|m| m != "REGISTER") {
                failures.push(format!("{file}: the trailing INVITE was answered: {cseq_methods:?}"));
            }
        }
        // Still alive and answering after all of that.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let probe = std::fs::read(corpora().join("rfc4475/zeromf.dat")).unwrap();
        let probe = String::from_utf8_lossy(&probe).replace("z9hG4bK", "z9hG4bKprobe");
        s.send_to(probe.as_bytes(), gw.sip).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).expect("gateway still answers");
        assert!(buf[..n].starts_with(b"SIP/2.0 200"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn all_corpus_messages() -> Vec<Vec<u8>> {
    EXPECT.iter().map(|(f, _, _)| std::fs::read(corpora().join(f)).unwrap()).collect()
}

fn engine_peer() -> Peer {
    Peer { transport: Transport::Udp, remote: "192.0.2.1:5060".parse().unwrap(), local: "127.0.0.1:5060".parse().unwrap(), conn: None }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn parser_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse(&bytes);
    }

    /// Corpus messages with bytes flipped, cut or repeated never panic the parser or the
    /// engine, and the engine's answers always parse.
    #[test]
    fn mutated_corpus_messages_never_panic_the_engine(
        pick in 0usize..64,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..8),
        cut in any::<usize>(),
    ) {
        let msgs = all_corpus_messages();
        let mut m = msgs[pick % msgs.len()].clone();
        for (pos, byte, kind) in edits {
            if m.is_empty() { break; }
            let p = pos % m.len();
            match kind {
                0 => m[p] = byte,
                1 => { m.remove(p); }
                _ => m.insert(p, byte),
            }
        }
        if !m.is_empty() && cut % 4 == 0 {
            m.truncate(cut % m.len());
        }
        let config = std::sync::Arc::new(cc112::config::Config::embedded_default().unwrap());
        let mut engine = Engine::new(config, 1);
        let now = Instant::now();
        engine.handle_sip(now, engine_peer(), &m);
        engine.handle_timeout(now + Duration::from_secs(64));
        let input_ok = parse(&m).is_ok();
        while let Some(o) = engine.poll_output() {
            if let Output::Send { bytes, .. } = o {
                if input_ok {
                    prop_assert!(parse(&bytes).is_ok(), "we sent something unparseable: {}", String::from_utf8_lossy(&bytes));
                } else {
                    // A 400/505 echoes the sender's own (possibly malformed) headers verbatim;
                    // our part of it — status line and framing — must still be sound.
                    let text = String::from_utf8_lossy(&bytes);
                    prop_assert!(text.starts_with("SIP/2.0 400 ") || text.starts_with("SIP/2.0 505 "), "{text}");
                    // Our status line is one line, ended by CRLF, with no stray CR or LF in it.
                    let status = text.split("\r\n").next().unwrap_or_default();
                    prop_assert!(text.len() > status.len() && !status.contains(['\r', '\n']), "{text}");
                    prop_assert!(text.ends_with("Content-Length: 0\r\n\r\n"), "{text}");
                }
            }
        }
    }
}
