//! Plugin IPC decoder (bytes from the pppd plugin's socket): total, consumes no more than it
//! was given, and a decoded message re-encodes to one that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sstp_proto::ipc::Msg;

fuzz_target!(|data: &[u8]| {
    if let Ok((m, used)) = Msg::decode(data) {
        assert!(used <= data.len());
        let again = m.encode();
        let (m2, used2) = Msg::decode(&again).expect("re-encoded message decodes");
        assert_eq!(used2, again.len());
        assert_eq!(m2, m);
    }
});
