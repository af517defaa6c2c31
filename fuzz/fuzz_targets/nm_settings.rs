//! NetworkManager settings parser: the auth-dialog record reader (`DATA_KEY=`/`SECRET_VAL=`
//! lines up to `DONE`) feeding `Settings::parse`, which checks every `vpn.data` key. Total on
//! any input, and the helper's and pppd's command lines never depend on a secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nm_sstp_service::auth_dialog::read_details;
use nm_sstp_service::settings::{needed_secrets, ConnInput, Settings};

fuzz_target!(|data: &[u8]| {
    let d = read_details(&mut &data[..]);
    let _ = needed_secrets(&d.data, &d.secrets, true);
    let c = ConnInput {
        data: d.data,
        secrets: d.secrets,
        ..ConnInput::default()
    };
    if let Ok(s) = Settings::parse(&c) {
        let _ = s.check_supported();
        let argv = |s: &Settings| -> Vec<String> {
            let mut v = s.helper_args(4242, "debug", true);
            v.extend(s.pppd_options(4242, true));
            v
        };
        // The command lines must not depend on the secrets at all: the same profile without
        // its secrets gives the same argv (so no secret can ever be on a command line).
        let bare = ConnInput {
            secrets: Default::default(),
            ..c.clone()
        };
        let s2 = Settings::parse(&bare).expect("secrets do not decide whether a profile parses");
        assert_eq!(argv(&s), argv(&s2), "a secret changed a command line");
    }
});
