//! What the fuzz targets of `fuzz/` found (issue 13), each kept as a test that failed
//! before its fix. The inputs as the fuzzer wrote them are under `fuzz/regressions/TARGET/`
//! (`scripts/fuzz` also replays them as seeds); the tests spell out the smallest form.

use std::path::Path;

use cc112::sip::header::HeaderError;
use cc112::sip::{parse, Message, Outgoing, ParseErrorKind};

fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

const BARE_TAG_INVITE: &str = "INVITE sip:112@gw.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
From: <sip:0812@carrier.example>;tag=1\r\n\
To: <sip:112@gw.example>;tag\r\n\
Call-ID: bare-tag@192.0.2.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

/// sip_parse: `To: <sip:112@gw>;tag`, a tag without a value, read as "no tag"; our 200
/// then appended `;tag=...` behind the caller's bare one, and that answer's To read back
/// with no tag at all (the first `tag` wins). RFC 3261 §25.1 wants `tag=token`: now a 400
/// that names the header, in From as in To.
#[test]
fn a_from_or_to_tag_without_a_value_is_answered_400_not_tagged_twice() {
    let bare_from = BARE_TAG_INVITE
        .replace("To: <sip:112@gw.example>;tag\r\n", "To: <sip:112@gw.example>\r\n")
        .replace(";tag=1\r\n", ";tag=1;TAG\r\n");
    for (which, text) in [("To", BARE_TAG_INVITE.to_string()), ("From", bare_from)] {
        let e = match parse(text.as_bytes()) {
            Err(e) => e,
            Ok(Message::Request(req)) => {
                let ours = Outgoing::response(&req, 200, "OK", Some("gw1")).to_bytes();
                panic!("accepted; our 200 reads:\n{}", String::from_utf8_lossy(&ours))
            }
            Ok(other) => panic!("{other:?}"),
        };
        assert_eq!(e.kind, ParseErrorKind::Header(HeaderError::NameAddr(which, "tag parameter without a value")));
        assert_eq!(e.status(), 400);
        assert!(e.echo.is_some(), "the sender gets its 400");
    }
    // As the fuzzer found it, inside RFC 4475's torture INVITE.
    let e = parse(&regression("sip_parse", "crash-ec1334b86f33b11db80251bf4816780773c6a3d8")).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::Header(HeaderError::NameAddr("To", "tag parameter without a value")));
}

/// config: a shift named with a line break (`"ev\ning"`, a TOML escape) reached the
/// error message as it was written, and `check-config` printed that error on two lines:
/// an editor jumping by `file:line:` lines, or a log reader, saw a broken line. Every
/// error is now one printable line, whatever the file says.
#[test]
fn a_config_error_naming_a_value_with_a_line_break_is_still_one_line() {
    let text = String::from_utf8(regression("config", "crash-03f606a049c4b8683644e84b3c92bc14d2862360")).unwrap();
    let errors = cc112::config::Config::from_toml(&text, "fuzz.toml").expect_err("the shifts leave a gap");
    let printed = errors.to_string();
    assert_eq!(printed.lines().count(), errors.errors.len(), "not one line per error:\n{printed}");
    assert!(printed.contains("ev\\ning"), "the name shown, escaped: {printed}");
}
