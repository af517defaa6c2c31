//! HTTP response head parser: total, and a complete head never claims more bytes than given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::http;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((resp, used))) = http::parse_response(data) {
        assert!(used <= data.len());
        assert!(used <= http::MAX_HEAD);
        assert_eq!(resp.status, 200);
        assert!(resp.status_line.starts_with("HTTP/1."));
    }
});
