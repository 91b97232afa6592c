use super::*;

const RFC_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
const RFC_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
const RFC_REALM: &str = "http-auth@example.org";

fn rfc_header(alg: &str, response: &str) -> String {
    format!(
        "Digest username=\"Mufasa\",\r\n realm=\"{RFC_REALM}\", uri=\"/dir/index.html\",\
         algorithm={alg}, nonce=\"{RFC_NONCE}\", nc=00000001, cnonce=\"{RFC_CNONCE}\", \
         qop=auth, response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
    )
}

/// RFC 7616 §3.9.1, both algorithms (values checked against the RFC text).
#[test]
fn rfc7616_vectors() {
    for (alg, name, resp) in [
        (Algorithm::Md5, "MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        (
            Algorithm::Sha256,
            "SHA-256",
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
    ] {
        let c = parse_authorization(&rfc_header(name, resp)).unwrap();
        assert_eq!(c.algorithm, alg);
        assert_eq!(c.nc, 1);
        assert_eq!(c.username, "Mufasa");
        let h = ha1(alg, "Mufasa", RFC_REALM, "Circle of Life");
        assert_eq!(expected_response(&c, "GET", &h), resp);
        assert!(verify(&c, "GET", &h));
        assert!(!verify(&c, "POST", &h));
        assert!(!verify(
            &c,
            "GET",
            &ha1(alg, "Mufasa", RFC_REALM, "Circle of life")
        ));
    }
}

#[test]
fn tampered_response_fails() {
    let h = ha1(Algorithm::Md5, "Mufasa", RFC_REALM, "Circle of Life");
    let good = "8ca523f5e9506fed4657c9700eebdbec";
    for i in 0..good.len() {
        let mut t = good.as_bytes().to_vec();
        t[i] = if t[i] == b'0' { b'1' } else { b'0' };
        let c =
            parse_authorization(&rfc_header("MD5", std::str::from_utf8(&t).unwrap())).unwrap();
        assert!(!verify(&c, "GET", &h), "position {i}");
    }
    // Uppercase hex from a client is the same response.
    let c = parse_authorization(&rfc_header("MD5", &good.to_uppercase())).unwrap();
    assert!(verify(&c, "GET", &h));
}

#[test]
fn parser_refuses_what_we_do_not_support() {
    let ok = rfc_header("MD5", "8ca523f5e9506fed4657c9700eebdbec");
    assert!(parse_authorization(&ok).is_ok());
    assert_eq!(
        parse_authorization(&ok.replace("MD5", "MD5-sess")),
        Err(DigestError::Algorithm)
    );
    assert_eq!(
        parse_authorization(&ok.replace("qop=auth", "qop=auth-int")),
        Err(DigestError::Qop)
    );
    assert_eq!(
        parse_authorization(&ok.replace("qop=auth,", "")),
        Err(DigestError::Missing("qop"))
    );
    assert_eq!(
        parse_authorization(&ok.replace("Digest", "Basic")),
        Err(DigestError::NotDigest)
    );
    assert_eq!(
        parse_authorization(&ok.replace("nc=00000001", "nc=1")),
        Err(DigestError::NonceCount)
    );
    assert_eq!(
        parse_authorization(&ok.replace("nc=00000001", "nc=00000000")),
        Err(DigestError::NonceCount)
    );
    assert_eq!(
        parse_authorization(&format!("{ok}, username=\"x\"")),
        Err(DigestError::Duplicate("username"))
    );
    assert_eq!(
        parse_authorization(&format!("{ok}, userhash=true")),
        Err(DigestError::Userhash)
    );
    // Unknown parameters are extensions: ignored.
    assert!(parse_authorization(&format!("{ok}, foo=\"bar\"")).is_ok());
    // Case-insensitive scheme and names.
    assert!(parse_authorization(
        &ok.replace("Digest", "DIGEST")
            .replace("username", "UserName")
    )
    .is_ok());
}

#[test]
fn hostile_headers_do_not_panic() {
    let ok = rfc_header(
        "SHA-256",
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    );
    // Every prefix, and garbage, must give a result (usually an error), never a panic.
    for end in 0..ok.len() {
        if let Some(p) = ok.get(..end) {
            let _ = parse_authorization(p);
        }
    }
    for bad in [
        "",
        "Digest",
        "Digest ",
        "Digest =",
        "Digest a",
        "Digest a=",
        "Digest a=\"",
        "Digest a=\"\\",
        "Digest ,,,",
        "Digest a=b c=d",
        "Digest a=\"é\"",
        "Digest\u{0}a=b",
    ] {
        assert!(parse_authorization(bad).is_err(), "{bad:?}");
    }
    let many = format!(
        "Digest {}",
        (0..100)
            .map(|i| format!("p{i}=x"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(parse_authorization(&many), Err(DigestError::TooManyParams));
    let long = format!("Digest username=\"{}\"", "a".repeat(MAX_HEADER_LEN));
    assert_eq!(parse_authorization(&long), Err(DigestError::TooLong));
}

#[test]
fn challenges_offer_sha256_first() {
    let c = challenges("cc112", "abc", false);
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[0],
        "Digest realm=\"cc112\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\""
    );
    assert!(c[1].contains("algorithm=MD5"));
    assert!(challenge("cc112", "abc", Algorithm::Md5, true).ends_with(", stale=true"));
}

fn keeper() -> (Instant, NonceKeeper) {
    let t0 = Instant::now();
    (
        t0,
        NonceKeeper::new(t0, [7u8; 32], Duration::from_secs(300)),
    )
}

#[test]
fn nonces_expire_and_are_bound_to_address() {
    let (t0, mut k) = keeper();
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let other: IpAddr = "192.0.2.2".parse().unwrap();
    let n = k.issue(t0 + Duration::from_secs(5), ip);
    assert_eq!(n.len(), 56);
    assert_ne!(
        k.issue(t0 + Duration::from_secs(5), ip),
        n,
        "unique even in the same ms"
    );
    assert_eq!(
        k.check(t0 + Duration::from_secs(6), ip, &n),
        NonceStatus::Fresh
    );
    assert_eq!(
        k.check(t0 + Duration::from_secs(305), ip, &n),
        NonceStatus::Fresh
    );
    assert_eq!(
        k.check(t0 + Duration::from_secs(306), ip, &n),
        NonceStatus::Stale
    );
    assert_eq!(
        k.check(t0 + Duration::from_secs(6), other, &n),
        NonceStatus::Invalid
    );
    // A nonce from the future (forged timestamp) or with a flipped MAC bit is invalid.
    let mut forged = n.clone().into_bytes();
    forged[55] = if forged[55] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        k.check(
            t0 + Duration::from_secs(6),
            ip,
            std::str::from_utf8(&forged).unwrap()
        ),
        NonceStatus::Invalid
    );
    let later = k.issue(t0 + Duration::from_secs(100), ip);
    assert_eq!(
        k.check(t0 + Duration::from_secs(6), ip, &later),
        NonceStatus::Invalid
    );
    // Another secret (a restart) invalidates every nonce.
    let k2 = NonceKeeper::new(t0, [8u8; 32], Duration::from_secs(300));
    assert_eq!(
        k2.check(t0 + Duration::from_secs(6), ip, &n),
        NonceStatus::Invalid
    );
    assert_eq!(k.check(t0, ip, "zz"), NonceStatus::Invalid);
    assert_eq!(k.check(t0, ip, &"g".repeat(56)), NonceStatus::Invalid);
    // The counter is covered by the MAC too.
    let mut salted = n.clone().into_bytes();
    salted[20] = if salted[20] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        k.check(
            t0 + Duration::from_secs(6),
            ip,
            std::str::from_utf8(&salted).unwrap()
        ),
        NonceStatus::Invalid
    );
}

#[test]
fn nonce_count_replay_is_refused() {
    let (t0, mut k) = keeper();
    assert!(k.accept_nc(t0, "n1", 1));
    assert!(!k.accept_nc(t0, "n1", 1));
    assert!(k.accept_nc(t0, "n1", 2));
    assert!(!k.accept_nc(t0, "n1", 1));
    assert!(k.accept_nc(t0, "n2", 1));
}

#[test]
fn replay_table_is_bounded() {
    let (t0, k) = keeper();
    let mut k = k.with_max_tracked(100);
    for i in 0..1000 {
        assert!(k.accept_nc(t0, &format!("n{i}"), 1));
    }
    assert!(k.tracked() <= 100);
    // Expired entries go first.
    let later = t0 + Duration::from_secs(301);
    assert!(k.accept_nc(later, "fresh", 1));
    assert_eq!(k.tracked(), 1);
}

#[test]
fn hmac_matches_rfc4231_case_1() {
    // A 20-byte key is zero-padded to the block size, so 20 x 0x0b then 12 zeros is
    // the same key as RFC 4231 test case 1.
    let mut key = [0u8; 32];
    key[..20].fill(0x0b);
    assert_eq!(
        hex::encode(hmac_sha256(&key, b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"abcd"));
}
