//! One test per validation rule: each feeds a small file and checks the path, the
//! line and a telling part of the message.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::media::Codec;

fn ok(text: &str) -> Config {
    match Config::from_toml(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("expected valid config, got:\n{e}"),
    }
}

fn errs(text: &str) -> Vec<ConfigError> {
    match Config::from_toml(text, "test.toml") {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.errors,
    }
}

/// Exactly one error, at `path` on `line`, whose message contains `needle`.
fn one(text: &str, path: &str, line: usize, needle: &str) {
    let e = errs(text);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    assert_eq!(e[0].path, path, "{e:#?}");
    assert_eq!(e[0].line, Some(line), "{e:#?}");
    assert!(
        e[0].message.contains(needle),
        "message {:?} lacks {needle:?}",
        e[0].message
    );
}

#[test]
fn empty_file_gives_all_defaults() {
    let c = ok("");
    assert_eq!(c.sip, sip::default_sip());
    assert_eq!(c.emergency, emergency::default_emergency());
    assert_eq!(c.media, media::default_media());
    assert_eq!(c.sip.listen_udp, vec!["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!(c.sip.max_message_bytes, 65536);
    assert_eq!(c.sip.tcp_idle_timeout, Duration::from_secs(20));
    assert_eq!(c.sip.tcp_message_timeout, Duration::from_secs(20));
    assert_eq!(c.sip.max_tcp_connections_per_ip, 64);
    assert_eq!(c.sip.user_agent, "cc112");
    let numbers: Vec<&str> = c
        .emergency
        .numbers
        .iter()
        .map(|n| n.number.as_str())
        .collect();
    assert_eq!(numbers, ["112", "110", "113", "115", "118", "119"]);
    assert_eq!(c.emergency.service_urns, ["urn:service:sos"]);
    assert_eq!(c.media.codecs, [Codec::Pcmu, Codec::Pcma, Codec::G722, Codec::Opus]);
    assert_eq!((c.media.port_min, c.media.port_max), (10000, 19999));
}

#[test]
fn embedded_default_matches_code_defaults() {
    let shipped = Config::embedded_default().unwrap_or_else(|e| panic!("{e}"));
    let empty = ok("");
    assert_eq!(shipped.sip, empty.sip);
    assert_eq!(shipped.emergency, empty.emergency);
    assert_eq!(shipped.media, empty.media);
    assert_eq!(*shipped.routing, defaults::default_routing());
    assert_eq!(shipped.routing, empty.routing);
}

#[test]
fn version_is_short_content_hash() {
    let a = ok("");
    let b = ok("\n");
    assert_eq!(a.version.len(), 12);
    assert!(a.version.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a.version, b.version);
    assert_eq!(a.version, ok("").version);
}

#[test]
fn ipv6_listeners_parse() {
    let c = ok("[sip]\nlisten_udp = [\"[::1]:5060\", \"[::]:5070\"]\nlisten_tcp = []\n");
    assert_eq!(c.sip.listen_udp.len(), 2);
    assert!(c.sip.listen_udp[0].is_ipv6());
    assert!(c.sip.listen_tcp.is_empty());
}

#[test]
fn bad_listen_addr() {
    one(
        "[sip]\nlisten_udp = [\"127.0.0.1:5060\", \"abc\"]\n",
        "sip.listen_udp[1]",
        2,
        "\"abc\" is not an IP address:port like 127.0.0.1:5060",
    );
}

#[test]
fn listen_addr_hints() {
    one(
        "[sip]\nlisten_tcp = [\"::1:5060\"]\n",
        "sip.listen_tcp[0]",
        2,
        "brackets",
    );
    one(
        "[sip]\nlisten_tcp = [\"10.0.0.1\"]\n",
        "sip.listen_tcp[0]",
        2,
        "port is missing",
    );
    one(
        "[sip]\nlisten_tcp = [\"localhost:5060\"]\n",
        "sip.listen_tcp[0]",
        2,
        "host names",
    );
}

#[test]
fn duplicate_listener() {
    one(
        "[sip]\nlisten_udp = [\n  \"127.0.0.1:5060\",\n  \"127.0.0.1:5060\",\n]\n",
        "sip.listen_udp[1]",
        4,
        "listed twice (also at sip.listen_udp[0])",
    );
}

#[test]
fn wildcard_overlaps_specific_listener() {
    one(
        "[sip]\nlisten_udp = [\"0.0.0.0:5060\", \"10.1.1.1:5060\"]\n",
        "sip.listen_udp[1]",
        2,
        "wildcard",
    );
    // Different port or family: both can bind.
    ok("[sip]\nlisten_udp = [\"0.0.0.0:5060\", \"10.1.1.1:5061\", \"[::1]:5060\"]\n");
    // Port 0 means a fresh ephemeral port per bind.
    ok("[sip]\nlisten_udp = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n");
}

#[test]
fn no_listener_at_all() {
    one(
        "[sip]\nlisten_udp = []\nlisten_tcp = []\n",
        "sip",
        1,
        "no SIP listener",
    );
}

#[test]
fn max_message_bytes_bounds() {
    one(
        "[sip]\nmax_message_bytes = 4095\n",
        "sip.max_message_bytes",
        2,
        "between 4096 and 1048576",
    );
    one(
        "[sip]\nmax_message_bytes = 1048577\n",
        "sip.max_message_bytes",
        2,
        "1 MiB",
    );
    one(
        "[sip]\nmax_message_bytes = -1\n",
        "sip.max_message_bytes",
        2,
        "out of range",
    );
    assert_eq!(
        ok("[sip]\nmax_message_bytes = 4096\n")
            .sip
            .max_message_bytes,
        4096
    );
    assert_eq!(
        ok("[sip]\nmax_message_bytes = 1048576\n")
            .sip
            .max_message_bytes,
        1 << 20
    );
}

#[test]
fn durations() {
    assert_eq!(
        problems::parse_duration("500ms"),
        Ok(Duration::from_millis(500))
    );
    assert_eq!(problems::parse_duration("20s"), Ok(Duration::from_secs(20)));
    assert_eq!(problems::parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(
        problems::parse_duration("1h"),
        Ok(Duration::from_secs(3600))
    );
    assert!(problems::parse_duration("20").is_err());
    assert!(problems::parse_duration("s").is_err());
    assert!(problems::parse_duration("1.5s").is_err());
    let c = ok("[sip]\ntcp_idle_timeout = \"90s\"\ntcp_message_timeout = \"1500ms\"\n");
    assert_eq!(c.sip.tcp_idle_timeout, Duration::from_secs(90));
    assert_eq!(c.sip.tcp_message_timeout, Duration::from_millis(1500));
}

#[test]
fn duration_errors() {
    one(
        "[sip]\ntcp_idle_timeout = 20\n",
        "sip.tcp_idle_timeout",
        2,
        "no unit; expected a duration string like \"20s\"",
    );
    one(
        "[sip]\ntcp_idle_timeout = \"20 parsecs\"\n",
        "sip.tcp_idle_timeout",
        2,
        "not a duration",
    );
    one(
        "[sip]\ntcp_message_timeout = \"0s\"\n",
        "sip.tcp_message_timeout",
        2,
        "between 1s and 1h",
    );
    one(
        "[sip]\ntcp_message_timeout = true\n",
        "sip.tcp_message_timeout",
        2,
        "found a boolean",
    );
}

#[test]
fn tcp_connections_at_least_one() {
    one(
        "[sip]\nmax_tcp_connections_per_ip = 0\n",
        "sip.max_tcp_connections_per_ip",
        2,
        "between 1 and 65535",
    );
    assert_eq!(
        ok("[sip]\nmax_tcp_connections_per_ip = 1\n")
            .sip
            .max_tcp_connections_per_ip,
        1
    );
}

#[test]
fn user_agent_rules() {
    one("[sip]\nuser_agent = \"  \"\n", "sip.user_agent", 2, "empty");
    one(
        "[sip]\nuser_agent = \"a\\r\\nVia: x\"\n",
        "sip.user_agent",
        2,
        "control characters",
    );
    one(
        &format!("[sip]\nuser_agent = \"{}\"\n", "x".repeat(129)),
        "sip.user_agent",
        2,
        "at most 128",
    );
    assert_eq!(
        ok("[sip]\nuser_agent = \"cc112/0.1 Leitstelle\"\n")
            .sip
            .user_agent,
        "cc112/0.1 Leitstelle"
    );
}

#[test]
fn custom_numbers_replace_defaults() {
    let c = ok("[[emergency.numbers]]\nnumber = \"911\"\nlabel = \"emergency\"\n");
    assert_eq!(
        c.emergency.numbers,
        [EmergencyNumber {
            number: "911".into(),
            label: "emergency".into()
        }]
    );
    assert_eq!(c.emergency.service_urns, ["urn:service:sos"]);
}

#[test]
fn number_must_be_digits() {
    one(
        "[[emergency.numbers]]\nnumber = \"11a\"\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        2,
        "digits only",
    );
    one(
        "[[emergency.numbers]]\nnumber = \"+112\"\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        2,
        "digits only",
    );
}

#[test]
fn number_length() {
    one(
        "[[emergency.numbers]]\nnumber = \"1\"\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        2,
        "2 to 6 digits",
    );
    one(
        "[[emergency.numbers]]\nnumber = \"1234567\"\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        2,
        "2 to 6 digits",
    );
    ok("[[emergency.numbers]]\nnumber = \"11\"\nlabel = \"x\"\n[[emergency.numbers]]\nnumber = \"116117\"\nlabel = \"y\"\n");
}

#[test]
fn number_as_integer_gets_hint() {
    one(
        "[[emergency.numbers]]\nnumber = 112\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        2,
        "expected the number as a string: \"112\"",
    );
}

#[test]
fn duplicate_number() {
    one(
        "[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"a\"\n\n[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"b\"\n",
        "emergency.numbers[1].number",
        6,
        "listed twice (also at emergency.numbers[0])",
    );
}

#[test]
fn number_entry_needs_both_keys() {
    let e = errs("[emergency]\nnumbers = [\n  { number = \"112\" },\n  { label = \"x\" },\n]\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(
        (e[0].path.as_str(), e[0].line),
        ("emergency.numbers[0]", Some(3))
    );
    assert!(e[0].message.contains("missing key `label`"));
    assert_eq!(
        (e[1].path.as_str(), e[1].line),
        ("emergency.numbers[1]", Some(4))
    );
    assert!(e[1].message.contains("missing key `number`"));
}

#[test]
fn label_rules() {
    one(
        "[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"\"\n",
        "emergency.numbers[0].label",
        3,
        "empty",
    );
}

#[test]
fn service_urns_lowercased_and_checked() {
    let c = ok("[emergency]\nservice_urns = [\"URN:Service:SOS\", \"urn:service:sos.fire\"]\n");
    assert_eq!(
        c.emergency.service_urns,
        ["urn:service:sos", "urn:service:sos.fire"]
    );
    one(
        "[emergency]\nservice_urns = [\"sos\"]\n",
        "emergency.service_urns[0]",
        2,
        "starting with urn:service:",
    );
    one(
        "[emergency]\nservice_urns = [\"urn:service:\"]\n",
        "emergency.service_urns[0]",
        2,
        "invalid service name",
    );
    one(
        "[emergency]\nservice_urns = [\"urn:service:sos..x\"]\n",
        "emergency.service_urns[0]",
        2,
        "invalid service name",
    );
    one(
        "[emergency]\nservice_urns = [\"urn:service:sos\", \"urn:service:SOS\"]\n",
        "emergency.service_urns[1]",
        2,
        "listed twice",
    );
}

#[test]
fn at_least_one_emergency_identity() {
    one(
        "[emergency]\nnumbers = []\nservice_urns = []\n",
        "emergency",
        1,
        "no emergency identity",
    );
    ok("[emergency]\nnumbers = []\n");
    ok("[emergency]\nservice_urns = []\n");
}

#[test]
fn media_address_rules() {
    assert_eq!(
        ok("[media]\naddress = \"::1\"\n").media.address,
        "::1".parse::<IpAddr>().unwrap()
    );
    one(
        "[media]\naddress = \"abc\"\n",
        "media.address",
        2,
        "not an IP address",
    );
    one(
        "[media]\naddress = \"127.0.0.1:4000\"\n",
        "media.address",
        2,
        "without a port",
    );
    one(
        "[media]\naddress = \"0.0.0.0\"\n",
        "media.address",
        2,
        "wildcard",
    );
    one(
        "[media]\naddress = \"239.1.1.1\"\n",
        "media.address",
        2,
        "multicast",
    );
}

#[test]
fn odd_port_min() {
    one(
        "[media]\nport_min = 10001\n",
        "media.port_min",
        2,
        "odd; expected an even port",
    );
}

#[test]
fn port_bounds() {
    one(
        "[media]\nport_min = 80\n",
        "media.port_min",
        2,
        "between 1024 and 65534",
    );
    one(
        "[media]\nport_max = 70000\n",
        "media.port_max",
        2,
        "between 1025 and 65535",
    );
    one(
        "[media]\nport_min = 20000\nport_max = 20000\n",
        "media.port_max",
        3,
        "port_max greater than port_min",
    );
    // Only port_min written: the default port_max is below it, blame the written key.
    one(
        "[media]\nport_min = 30000\n",
        "media.port_min",
        2,
        "30000..=19999 is empty",
    );
    // A bad port_min does not also produce a range error.
    one(
        "[media]\nport_min = 30001\nport_max = 30000\n",
        "media.port_min",
        2,
        "odd",
    );
    let c = ok("[media]\nport_min = 30000\nport_max = 30999\n");
    assert_eq!((c.media.port_min, c.media.port_max), (30000, 30999));
}

#[test]
fn codec_rules() {
    assert_eq!(
        ok("[media]\ncodecs = [\"pcma\"]\n").media.codecs,
        [Codec::Pcma]
    );
    assert_eq!(
        ok("[media]\ncodecs = [\"OPUS\", \"g722\", \"PCMA\"]\n").media.codecs,
        [Codec::Opus, Codec::G722, Codec::Pcma]
    );
    one(
        "[media]\ncodecs = [\"PCMU\", \"G729\"]\n",
        "media.codecs[1]",
        2,
        "\"G729\" is not a supported codec",
    );
    one(
        "[media]\ncodecs = [\"PCMU\", \"pcmu\"]\n",
        "media.codecs[1]",
        2,
        "listed twice",
    );
    one("[media]\ncodecs = []\n", "media.codecs", 2, "no codec");
}

#[test]
fn unknown_keys_everywhere() {
    one("bogus = 1\n", "bogus", 1, "unknown key `bogus`");
    one(
        "[sip]\nlisten_upd = []\n",
        "sip.listen_upd",
        2,
        "unknown key `listen_upd`, expected one of",
    );
    one(
        "[emergency]\nnumber = []\n",
        "emergency.number",
        2,
        "unknown key",
    );
    one(
        "[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"x\"\nlang = \"de\"\n",
        "emergency.numbers[0].lang",
        4,
        "unknown key",
    );
    one(
        "[media]\n\naddr = \"1.2.3.4\"\n",
        "media.addr",
        3,
        "unknown key",
    );
}

#[test]
fn type_errors_have_path_and_line() {
    one(
        "[sip]\n\nmax_message_bytes = \"big\"\n",
        "sip.max_message_bytes",
        3,
        "expected an integer",
    );
    one(
        "[sip]\nlisten_udp = \"127.0.0.1:5060\"\n",
        "sip.listen_udp",
        2,
        "expected an array",
    );
    one("sip = 3\n", "sip", 1, "expected a table");
    one(
        "[media]\nport_min = 99999999999999999999\n",
        "media.port_min",
        2,
        "99999999999999999999 is too large",
    );
    one(
        "[media]\ncodecs = [\"PCMU\", 8]\n",
        "media.codecs[1]",
        2,
        "invalid type",
    );
}

#[test]
fn syntax_errors_have_line() {
    let e = errs("[sip]\nuser_agent = \"cc112\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, Some(2));
    assert_eq!(e[0].path, "sip.user_agent");
    assert!(e[0].message.starts_with("TOML syntax error"), "{e:#?}");
    let e = errs("[sip]\nmax_message_bytes = 1\nmax_message_bytes = 2\n");
    assert_eq!(e[0].line, Some(3), "{e:#?}");
}

#[test]
fn all_semantic_problems_reported_together() {
    let e = errs(
        "[sip]\nlisten_udp = [\"nope\"]\nmax_message_bytes = 1\n\n[media]\nport_min = 3\ncodecs = [\"G729\"]\n",
    );
    let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "sip.listen_udp[0]",
            "sip.max_message_bytes",
            "media.port_min",
            "media.codecs[0]"
        ]
    );
}

#[test]
fn display_format() {
    let errors = ConfigErrors {
        origin: "a.toml".into(),
        errors: vec![
            ConfigError {
                path: "sip.x".into(),
                line: Some(3),
                message: "bad".into(),
            },
            ConfigError {
                path: "media".into(),
                line: None,
                message: "worse".into(),
            },
            ConfigError {
                path: String::new(),
                line: None,
                message: "cannot read".into(),
            },
        ],
    };
    assert_eq!(
        errors.to_string(),
        "a.toml:3: sip.x: bad\na.toml: media: worse\na.toml: cannot read"
    );
    let e: &dyn std::error::Error = &errors;
    assert!(e.source().is_none());
}

#[test]
fn load_reports_io_error() {
    let err = match Config::load(Path::new("/nonexistent/cc112.toml")) {
        Ok(_) => panic!("loaded a missing file"),
        Err(e) => e,
    };
    assert_eq!(err.origin, "/nonexistent/cc112.toml");
    assert_eq!(err.errors.len(), 1);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/cc112.toml: cannot read:"),
        "{err}"
    );
}

#[test]
fn summary_mentions_everything() {
    let c = ok("");
    let s = c.summary();
    for needle in [
        "127.0.0.1:5060",
        "112 (general emergency)",
        "urn:service:sos",
        "10000-19999",
        "PCMU, PCMA",
        &c.version,
    ] {
        assert!(s.contains(needle), "summary lacks {needle:?}:\n{s}");
    }
}

#[test]
fn dotted_and_inline_tables_locate_like_headers() {
    one(
        "sip.listen_udp = []\nsip.listen_tcp = []\n",
        "sip",
        1,
        "no SIP listener",
    );
    one(
        "\n\nsip = { listen_udp = [], listen_tcp = [] }\n",
        "sip",
        3,
        "no SIP listener",
    );
    one(
        "media = { codecs = [\"x\"] }\n",
        "media.codecs[0]",
        1,
        "not a supported codec",
    );
}

#[test]
fn bom_and_crlf_keep_line_numbers() {
    one(
        "\u{feff}[sip]\r\n\r\nuser_agent = \"\"\r\n",
        "sip.user_agent",
        3,
        "empty",
    );
}

#[test]
fn duplicate_tables_are_syntax_errors_with_line() {
    let e = errs("[sip]\n[media]\n[sip]\n");
    assert_eq!((e[0].path.as_str(), e[0].line), ("sip", Some(3)), "{e:#?}");
    assert!(e[0].message.contains("duplicate key"), "{e:#?}");
}

// ------------------------------------------------------------------------ routing

const TWO_QUEUES: &str = "[[queues]]\nid = \"medical\"\nname = \"Medis\"\n\n[[queues]]\nid = \"general\"\nname = \"Umum\"\n";

#[test]
fn default_routing_is_surabaya() {
    let r = ok("").routing;
    assert_eq!(r.default_language(), Some(&Lang::new("id")));
    assert_eq!(r.fallback_queue, "general");
    assert_eq!(r.utc_offset, UtcOffset::WIB);
    let main = r.menu(&r.root_menu).unwrap_or_else(|| panic!("no root"));
    let keys: String = main.options.iter().map(|o| o.digit).collect();
    assert_eq!(keys, "12345690*");
    assert_eq!(
        main.option('9'),
        Some(&MenuAction::Language(Lang::new("en")))
    );
    assert_eq!(r.direct_queue("115"), Some(&QueueId::new("fire")));
    assert_eq!(r.direct_queue("112"), None);
    assert!(r.queues.iter().all(|q| q.open.is_none()));
    // Every queue but the fallback overflows to it; the fallback to nothing.
    for q in &r.queues {
        let expected = (q.id != "general").then(|| QueueId::new("general"));
        assert_eq!(q.overflow, expected, "{}", q.id);
    }
    assert_eq!(
        r.prompt_file(&Lang::new("en"), &PromptId::new("no_choice")),
        Some("no_choice.wav")
    );
}

#[test]
fn default_menu_naming_a_dropped_queue_is_reported_without_line() {
    let e = errs(&format!("[routing]\ndirect = []\n\n{TWO_QUEUES}"));
    let paths: Vec<(&str, Option<usize>)> = e.iter().map(|e| (e.path.as_str(), e.line)).collect();
    assert_eq!(
        paths,
        [
            ("ivr.menus.main.options[1].queue", None),
            ("ivr.menus.main.options[2].queue", None),
            ("ivr.menus.main.options[3].queue", None),
            ("ivr.menus.main.options[4].queue", None),
            ("ivr.menus.main.options[5].queue", None),
        ]
    );
    assert!(e[0].message.contains("queue fire is not defined"), "{e:#?}");
    assert!(e[0].message.contains("default menu"), "{e:#?}");
}

#[test]
fn default_direct_numbers_follow_the_emergency_numbers() {
    let c = ok("[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"x\"\n\n[[emergency.numbers]]\nnumber = \"118\"\nlabel = \"y\"\n");
    let numbers: Vec<&str> = c.routing.direct.iter().map(|d| d.number.as_str()).collect();
    assert_eq!(numbers, ["118"]);
    // Written ones are checked strictly, and not when the emergency table is broken.
    one(
        "[routing]\ndirect = [{ number = \"113\", queue = \"fire\" }]\n[[emergency.numbers]]\nnumber = \"112\"\nlabel = \"x\"\n",
        "routing.direct[0].number",
        2,
        "113 is not an emergency number",
    );
    one(
        "[routing]\ndirect = [{ number = \"113\", queue = \"fire\" }]\n[[emergency.numbers]]\nnumber = \"11x\"\nlabel = \"x\"\n",
        "emergency.numbers[0].number",
        4,
        "not a dialable number",
    );
}

#[test]
fn one_language_only_keeps_its_default_prompts() {
    let c = ok("[ivr]\nlanguages = [\"id\"]\n\n[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"0\", queue = \"general\" }]\n");
    assert_eq!(c.routing.languages.len(), 1);
    // The default menu's key 9 names English, which is then not spoken.
    let e = errs("[ivr]\nlanguages = [\"id\"]\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].path, "ivr.menus.main.options[6].language");
    assert_eq!(e[0].line, None);
}

#[test]
fn time_rules_parse_into_typed_windows() {
    let c = ok(
        "[[queues]]\nid = \"medical\"\nname = \"Medis\"\nopen = [{ days = [\"mon-fri\", \"sab\"], from = 07:00:00, until = \"24:00\" }, { from = \"23:00\", until = \"07:00\" }]\n\n[[queues]]\nid = \"general\"\nname = \"Umum\"\n[routing]\nutc_offset = \"UTC-03:30\"\ndirect = [{ number = \"118\", queue = \"medical\" }]\n[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", queue = \"medical\" }]\n"
    );
    let q = c
        .routing
        .queue(&QueueId::new("medical"))
        .unwrap_or_else(|| panic!("no queue"));
    let rules = q.open.clone().unwrap_or_default();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].to_string(), "mon,tue,wed,thu,fri,sat 07:00-24:00");
    assert_eq!(rules[1].to_string(), "daily 23:00-07:00");
    assert!(rules[1].spans_midnight());
    assert_eq!(c.routing.utc_offset.seconds(), -12_600);
    assert!(
        c.summary().contains(
            "medical (open mon,tue,wed,thu,fri,sat 07:00-24:00, daily 23:00-07:00; else general)"
        ),
        "{}",
        c.summary()
    );
}

#[test]
fn routing_rules_with_one_error_each() {
    let menu1 = "[routing]\ndirect = []\n[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", queue = \"medical\" }]\n";
    one(
        &format!("{menu1}{TWO_QUEUES}[[queues]]\nid = \"x\"\nname = \"X\"\nopen = []\n"),
        "queues[2].open",
        16,
        "close the queue for good",
    );
    one(
        &format!("{menu1}{TWO_QUEUES}[[queues]]\nid = \"x\"\nname = \"X\"\noverflow = \"x\"\n"),
        "queues[2].overflow",
        16,
        "overflows to itself",
    );
    one(
        "[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"0\", repeat = false }]\n",
        "ivr.menus.main.options[0].repeat",
        3,
        "repeat = false does nothing",
    );
    one(
        "[ivr.menus.main]\nprompt = \"menu_main\"\noptions = []\n",
        "ivr.menus.main.options",
        3,
        "without options",
    );
    one(
        "[ivr]\nmax_time = \"15s\"\n",
        "ivr.max_time",
        2,
        "shorter than no_input_limit",
    );
    one(
        "[ivr]\nlanguages = [\"id\", \"en\", \"id\"]\n",
        "ivr.languages[2]",
        2,
        "listed twice",
    );
    one(
        "[ivr]\nlanguages = [\"ID\"]\n",
        "ivr.languages[0]",
        2,
        "not a language code",
    );
    one(
        "[ivr]\nbarge_in = \"yes\"\n",
        "ivr.barge_in",
        2,
        "invalid type",
    );
    one(
        "[[queues]]\nid = \"general\"\n",
        "queues[0]",
        1,
        "missing key `name`",
    );
}

#[test]
fn a_submenu_may_be_shared_but_not_circular() {
    // Two keys leading to the same submenu is a DAG, not a cycle.
    let shared = "[routing]\ndirect = []\n[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", menu = \"a\" }, { digit = \"2\", menu = \"a\" }]\n[ivr.menus.a]\nprompt = \"menu_main\"\noptions = [{ digit = \"0\", queue = \"general\" }, { digit = \"*\", back = true }]\n";
    let c = ok(shared);
    assert_eq!(c.routing.menus.len(), 2);
    one(
        "[ivr.menus.main]\nprompt = \"menu_main\"\noptions = [{ digit = \"1\", menu = \"main\" }, { digit = \"0\", queue = \"general\" }]\n",
        "ivr.menus.main.options[0].menu",
        3,
        "cycle (main -> main)",
    );
}

#[test]
fn shutdown_grace_defaults_to_15_minutes_and_takes_short_values() {
    let d = ok("");
    assert_eq!(d.shutdown.grace, Duration::from_secs(900));
    assert_eq!(Config::embedded_default().unwrap_or_else(|e| panic!("{e}")).shutdown, d.shutdown);
    assert_eq!(ok("[shutdown]\ngrace = \"2s\"\n").shutdown.grace, Duration::from_secs(2));
    assert_eq!(ok("[shutdown]\ngrace = \"0s\"\n").shutdown.grace, Duration::ZERO);
    one("[shutdown]\ngrace = \"25h\"\n", "shutdown.grace", 2, "between 0s and 24h");
    one("[shutdown]\ngrace = 60\n", "shutdown.grace", 2, "no unit");
    one("[shutdown]\ngrace_period = \"1m\"\n", "shutdown.grace_period", 2, "grace_period");
}

#[test]
fn overload_defaults_and_limits() {
    let d = ok("");
    assert_eq!(d.overload.max_calls, 10_000);
    assert_eq!(d.overload.max_call_rate, 0, "no rate limit unless measured and set");
    assert_eq!(d.overload.max_delay, Duration::from_millis(200));
    assert_eq!(d.overload.retry_after, Duration::from_secs(10));
    let c = ok("[overload]\nmax_calls = 3\nmax_call_rate = 250\nmax_delay = \"50ms\"\nretry_after = \"2s\"\n");
    assert_eq!(c.overload.max_call_rate, 250);
    assert_eq!(c.overload.max_calls, 3);
    assert_eq!(c.overload.max_delay, Duration::from_millis(50));
    assert_eq!(c.overload.retry_after, Duration::from_secs(2));
    one("[overload]\nmax_calls = 0\n", "overload.max_calls", 2, "from 1 to 1000000");
    one("[overload]\nmax_call_rate = -1\n", "overload.max_call_rate", 2, "or 0 for no limit");
    one("[overload]\nmax_delay = \"5ms\"\n", "overload.max_delay", 2, "between 10ms and 10s");
    one("[overload]\nretry_after = \"500ms\"\n", "overload.retry_after", 2, "between 1s and 1h");
    one("[overload]\nmax_calls = 5\nmax_dely = \"1s\"\n", "overload.max_dely", 3, "max_dely");
}
