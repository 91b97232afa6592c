use super::*;
use crate::config::Config;

fn errs(text: &str) -> Vec<crate::config::ConfigError> {
    match Config::from_toml(text, "t.toml") {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.errors,
    }
}

#[test]
fn shipped_config_has_defaults_and_no_operator() {
    let c = Config::embedded_default().unwrap();
    assert_eq!(c.acd, default_acd());
    assert_eq!(c.registrar, default_registrar());
    assert!(c.operators.is_empty());
}

#[test]
fn operator_hash_matches_digest_ha1() {
    let (md5, sha) = operator_hash("op-budi", "cc112", "secret-op-budi");
    assert_eq!(md5, "49bd104413a6ac244503d5d82b05b6bb");
    assert_eq!(
        sha,
        "ec32a0b162212944317e94e28fa842ccdd68ebc000057e9349ac1c20f4ca954c"
    );
}

#[test]
fn operators_parse_with_lowercased_hashes() {
    let c = Config::from_toml(
        "[[operators]]\nid = \"a\"\ndepartments = [\"fire\", \"general\"]\nha1_sha256 = \"EC32A0B162212944317E94E28FA842CCDD68EBC000057E9349AC1C20F4CA954C\"\n",
        "t.toml",
    )
    .unwrap();
    let op = &c.operators[0];
    assert_eq!(op.name, "a");
    assert_eq!(
        op.departments,
        vec![QueueId::new("fire"), QueueId::new("general")]
    );
    assert_eq!(
        op.ha1(Algorithm::Sha256),
        Some("ec32a0b162212944317e94e28fa842ccdd68ebc000057e9349ac1c20f4ca954c")
    );
    assert_eq!(op.ha1(Algorithm::Md5), None);
}

#[test]
fn password_is_refused_with_a_pointer_to_the_cli() {
    let e = errs("[[operators]]\nid = \"a\"\ndepartments = [\"fire\"]\npassword = \"x\"\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].path, "operators[0].password");
    assert!(e[0].message.contains("cc112 operator-hash"));
}

#[test]
fn departments_follow_the_written_queues() {
    let text = "\n\n\n\n[[operators]]\nid = \"a\"\ndepartments = [\"ambulans\", \"general\", \"general\"]\nha1_md5 = \"49bd104413a6ac244503d5d82b05b6bb\"\n";
    let e = errs(text);
    let paths: Vec<_> = e.iter().map(|e| (e.path.as_str(), e.line)).collect();
    assert_eq!(
        paths,
        vec![
            ("operators[0].departments[0]", Some(7)),
            ("operators[0].departments[2]", Some(7))
        ]
    );
    assert!(e[1].message.contains("twice"));
    // An empty list is refused too.
    let e = errs("[[operators]]\nid = \"a\"\ndepartments = []\nha1_md5 = \"49bd104413a6ac244503d5d82b05b6bb\"\n");
    assert_eq!(e[0].path, "operators[0].departments");
}

#[test]
fn expiry_cross_checks() {
    let e = errs(
        "[registrar]\nmin_expires = \"60s\"\nmax_expires = \"1h\"\ndefault_expires = \"30s\"\n",
    );
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].path.as_str(), e[0].line),
        ("registrar.default_expires", Some(4))
    );
    let e = errs("[registrar]\nrealm = \"a\\\"b\"\n");
    assert_eq!(e[0].path, "registrar.realm");
}

#[test]
fn the_per_user_limit_is_not_below_the_per_source_one() {
    let e = errs("[registrar]\nfailed_attempts = 8\nfailed_attempts_per_user = 6\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(
        (e[0].path.as_str(), e[0].line),
        ("registrar.failed_attempts_per_user", Some(3))
    );
    assert!(e[0].message.contains("below failed_attempts (8)"), "{}", e[0].message);
    let e = errs("[registrar]\nfailed_attempts_per_user = 0\n");
    assert_eq!(e[0].path, "registrar.failed_attempts_per_user");
    let c = Config::from_toml("[registrar]\nfailed_attempts = 30\n", "t.toml").unwrap();
    assert_eq!(c.registrar.failed_attempts_per_user, 30, "the default rises to it");
    let c = Config::from_toml("[registrar]\nfailed_attempts_per_user = 50\n", "t.toml").unwrap();
    assert_eq!(c.registrar.failed_attempts_per_user, 50);
}
