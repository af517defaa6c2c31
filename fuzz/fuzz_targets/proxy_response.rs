//! Proxy response head and Proxy-Authenticate parsing, then building an answer: total (no
//! panic on any input), and a complete head never claims more bytes than given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::proxy;
use sstp_proto::secret::Secret;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((resp, used))) = proxy::parse_response(data) {
        assert!(used <= data.len());
        assert!(used <= proxy::MAX_HEAD);
        assert!(resp.status_line.starts_with("HTTP/1."));
        let creds = proxy::Credentials {
            user: "u".into(),
            password: Secret::from("p".to_string()),
        };
        let _ = proxy::authorization(&resp.challenges, &creds, "CONNECT", "h:1", "c", 1);
    }
    let text = String::from_utf8_lossy(data);
    let _ = proxy::parse_challenges(&text);
    let _ = proxy::no_proxy_matches(&text, "vpn.example.com", 443);
});
