//! The pppd-facing side: exported symbols, the `sstp-socket` option, hooks and notifiers.
//!
//! Every function pppd calls is `extern "C"` and runs its body inside `catch_unwind`, so a
//! panic becomes a logged error and a safe return value instead of unwinding into C. All the
//! version-specific declarations live in [`sys`]; the conversation with the helper is in
//! [`crate::relay`]. pppd is single-threaded: every entry point runs on its main thread.
//!
//! Failure policy: when the helper answers `Error`, times out or cannot be reached, the plugin
//! logs through pppd's `error()` and returns (a password hook reports "no password"). It does
//! not call `die()`: `sstp-helper` owns the session and kills pppd itself; a second,
//! independent teardown path here would only race with it. Without a binding acknowledgement
//! the SSTP server drops all data anyway, so nothing is exposed by returning.

#![allow(unsafe_code)]

mod sys;

use crate::relay::{self, IpConfig, Session, Timeouts};
use std::ffi::{c_char, c_int, c_void, CString};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Size of the `sstp-socket` buffer (`upper_limit` of the option; a Unix socket path is < 108).
const SOCKET_PATH_MAX: usize = 256;

/// The buffer pppd copies the `sstp-socket` value into (leaked in `plugin_init`).
static SOCKET_PATH: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// The plugin's state: path and connection.
static SESSION: Mutex<Option<Session>> = Mutex::new(None);

/// Set once the "no sstp-socket" warning was logged.
static WARNED: AtomicBool = AtomicBool::new(false);

const PREFIX: &str = "sstp-rs: ";

fn log_with(f: unsafe extern "C" fn(*const c_char, ...), msg: &str) {
    log_raw(f, &format!("{PREFIX}{msg}"))
}

fn log_raw(f: unsafe extern "C" fn(*const c_char, ...), text: &str) {
    let text = text.replace('\0', "\\0");
    let Ok(text) = CString::new(text) else {
        return;
    };
    // SAFETY: pppd's logger is printf-style; the format is the literal "%s" and the one
    // argument is a valid NUL-terminated string that outlives the call.
    unsafe { f(c"%s".as_ptr(), text.as_ptr()) }
}

fn log_info(msg: &str) {
    log_with(sys::info, msg)
}
fn log_warn(msg: &str) {
    log_with(sys::warn, msg)
}
fn log_error(msg: &str) {
    log_with(sys::error, msg)
}
fn log_debug(msg: &str) {
    log_with(sys::dbglog, msg)
}

/// Run an entry point's body; a panic is logged and turned into `default`.
fn guard<T>(what: &str, default: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            // Logging itself must not unwind into pppd either.
            let _ = catch_unwind(|| log_error(&format!("internal error (panic) in {what}")));
            default
        }
    }
}

/// The `sstp-socket` value pppd stored, if any.
fn socket_path() -> Option<PathBuf> {
    let buf = SOCKET_PATH.load(Ordering::Acquire);
    if buf.is_null() {
        return None;
    }
    // SAFETY: `buf` is the leaked, zero-initialised SOCKET_PATH_MAX-byte buffer from
    // plugin_init; pppd writes it only while parsing options (strlcpy, always NUL-terminated),
    // on this same thread, never during this read.
    let bytes = unsafe { std::slice::from_raw_parts(buf, SOCKET_PATH_MAX) };
    let end = bytes.iter().position(|&b| b == 0)?;
    (end > 0).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&bytes[..end])))
}

/// The session, with the path refreshed from the option buffer.
fn session() -> MutexGuard<'static, Option<Session>> {
    let mut s = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    let path = socket_path();
    s.get_or_insert_with(|| Session::new(None, Timeouts::default()))
        .set_path(path);
    if !s.as_ref().is_some_and(Session::configured) && !WARNED.swap(true, Ordering::Relaxed) {
        log_warn("no sstp-socket option given: the plugin does nothing");
    }
    s
}

fn configured() -> bool {
    session().as_ref().is_some_and(Session::configured)
}

/// `plugin_init`: called by pppd right after loading the plugin (while parsing options).
#[no_mangle]
pub extern "C" fn plugin_init() {
    guard("plugin_init", (), || {
        let buf: &'static mut [u8; SOCKET_PATH_MAX] = Box::leak(Box::new([0u8; SOCKET_PATH_MAX]));
        let buf = buf.as_mut_ptr();
        SOCKET_PATH.store(buf, Ordering::Release);
        let options: &'static mut [sys::OptionT; 2] = Box::leak(Box::new([
            sys::OptionT {
                name: c"sstp-socket".as_ptr(),
                type_: sys::O_STRING,
                addr: buf.cast::<c_void>(),
                description: c"Unix socket of sstp-helper (set by sstp-helper)".as_ptr(),
                flags: sys::OPT_PRIO | sys::OPT_PRIV | sys::OPT_STATIC,
                addr2: std::ptr::null_mut(),
                upper_limit: SOCKET_PATH_MAX as c_int,
                lower_limit: 0,
                source: std::ptr::null(),
                priority: 0,
                winner: 0,
            },
            sys::OptionT::END,
        ]));
        // SAFETY: `options` is leaked (valid and writable for the process life) and ends with
        // the zero entry; its string buffer is SOCKET_PATH_MAX bytes == upper_limit. The hook
        // and notifier functions below are plain `extern "C"` functions of this library.
        unsafe {
            sys::register_options(options.as_mut_ptr());
            sys::install_auth_hooks(pap_check, chap_check, pap_passwd, chap_passwd);
            sys::add_notifiers(auth_up, ip_up, ipv6_up);
        }
        log_raw(
            sys::info,
            &format!("sstp-rs plugin loaded (built for pppd {})", sys::VERSION),
        );
    })
}

/// `pap_check_hook` / `chap_check_hook`: "do we have secrets?" -- yes, the helper has them
/// (1); without `sstp-socket`, -1 lets pppd fall back to its secrets files.
unsafe extern "C" fn pap_check() -> c_int {
    guard("pap_check_hook", -1, || if configured() { 1 } else { -1 })
}

unsafe extern "C" fn chap_check() -> c_int {
    guard("chap_check_hook", -1, || if configured() { 1 } else { -1 })
}

/// Ask the helper; log failures (never the password).
fn fetch_credentials() -> Option<relay::Credentials> {
    let mut s = session();
    let s = s.as_mut()?;
    match s.password() {
        Ok(c) => {
            log_debug("got the credentials from sstp-helper");
            Some(c)
        }
        Err(e) => {
            log_error(&format!("cannot get the password: {e}"));
            None
        }
    }
}

/// `pap_passwd_hook(user, passwd)`: pppd's `user[MAXNAMELEN]` and `passwd[MAXSECRETLEN]`.
/// `passwd == NULL` is pppd asking whether a password exists (auth.c `get_pap_passwd(NULL)`
/// from `auth_reset`): answer 1 without asking the helper. On failure return 0 ("no secret"),
/// not -1, because -1 would make pppd look for a password in /etc/ppp/pap-secrets instead.
unsafe extern "C" fn pap_passwd(user: *mut c_char, passwd: *mut c_char) -> c_int {
    guard("pap_passwd_hook", 0, || {
        if !configured() {
            return -1;
        }
        if passwd.is_null() {
            return 1;
        }
        let Some(creds) = fetch_credentials() else {
            return 0;
        };
        // SAFETY: pppd passes its global `passwd[MAXSECRETLEN]`, non-null (checked).
        let pw = unsafe { std::slice::from_raw_parts_mut(passwd.cast::<u8>(), sys::MAXSECRETLEN) };
        relay::copy_c_string(pw, creds.password.expose());
        if !creds.user.is_empty() && !user.is_null() {
            // SAFETY: pppd passes its global `user[MAXNAMELEN]`, non-null (checked).
            let u = unsafe { std::slice::from_raw_parts_mut(user.cast::<u8>(), sys::MAXNAMELEN) };
            relay::copy_c_string(u, creds.user.as_bytes());
        }
        1
    })
}

/// `chap_passwd_hook(client, secret)`: `client` is an input (the name pppd authenticates as);
/// `secret` is auth.c `get_secret`'s `secbuf[MAXWORDLEN]`, of which we fill at most
/// MAXSECRETLEN bytes. Returns -1 on failure (pppd: "Unable to obtain CHAP password").
unsafe extern "C" fn chap_passwd(_client: *mut c_char, secret: *mut c_char) -> c_int {
    guard("chap_passwd_hook", -1, || {
        if !configured() || secret.is_null() {
            return -1;
        }
        let Some(creds) = fetch_credentials() else {
            return -1;
        };
        // SAFETY: `secret` is non-null (checked) and at least MAXWORDLEN (1024) >= MAXSECRETLEN
        // bytes long (pppd 2.4.9 and 2.5 auth.c `get_secret`).
        let buf = unsafe { std::slice::from_raw_parts_mut(secret.cast::<u8>(), sys::MAXSECRETLEN) };
        relay::copy_c_string(buf, creds.password.expose());
        1
    })
}

/// Auth-up notifier: hand the MPPE keys to the helper and block until it acknowledges that
/// the SSTP Call Connected (crypto binding) is on the wire. pppd sends no NCP packet meanwhile.
unsafe extern "C" fn auth_up(_ctx: *mut c_void, _arg: c_int) {
    guard("auth_up notifier", (), || {
        let mut s = session();
        let Some(s) = s.as_mut().filter(|s| s.configured()) else {
            return;
        };
        // SAFETY: on pppd's thread, inside the auth-up notifier (before CCP clears the keys).
        let (send_key, recv_key) = unsafe { sys::mppe_keys() };
        let kind = if send_key.is_empty() {
            "no MPPE keys"
        } else {
            "MPPE keys"
        };
        log_debug(&format!(
            "authenticated ({kind}); waiting for sstp-helper to send the crypto binding"
        ));
        match s.auth_up(send_key, recv_key) {
            Ok(()) => log_info("crypto binding sent by sstp-helper"),
            Err(e) => log_error(&format!("crypto binding not acknowledged: {e}")),
        }
    })
}

/// IP-up notifier: report the IPCP result (no answer expected).
unsafe extern "C" fn ip_up(_ctx: *mut c_void, _arg: c_int) {
    guard("ip_up notifier", (), || {
        let mut s = session();
        let Some(s) = s.as_mut().filter(|s| s.configured()) else {
            return;
        };
        // SAFETY: on pppd's thread, in the ip-up notifier (interface and IPCP are up).
        let ((name, unit), (go, ho)) = unsafe { (sys::interface(), sys::ipcp_result()) };
        // SAFETY: as above.
        let mtu = unsafe { sys::interface_mtu(unit) };
        let config = IpConfig {
            ifname: relay::c_buffer_to_string(&name),
            local: relay::addr_from_network_u32(go.ouraddr),
            remote: relay::addr_from_network_u32(ho.hisaddr),
            dns: relay::nonzero_addrs(&go.dnsaddr),
            wins: relay::nonzero_addrs(&go.winsaddr),
            mtu: u32::try_from(mtu).unwrap_or(0),
        };
        log_debug(&format!(
            "ip-up on {}: {} -> {}, dns {:?}, mtu {}",
            config.ifname, config.local, config.remote, config.dns, config.mtu
        ));
        if let Err(e) = s.ip_up(config) {
            log_error(&format!("cannot report ip-up: {e}"));
        }
    })
}

/// IPv6-up notifier: report the interface identifiers (no answer expected).
unsafe extern "C" fn ipv6_up(_ctx: *mut c_void, _arg: c_int) {
    guard("ipv6_up notifier", (), || {
        let mut s = session();
        let Some(s) = s.as_mut().filter(|s| s.configured()) else {
            return;
        };
        // SAFETY: on pppd's thread, in the ipv6-up notifier.
        let (ids, (name, _)) = unsafe { (sys::ipv6cp_ids(), sys::interface()) };
        let Some((local_id, remote_id)) = ids else {
            return;
        };
        if let Err(e) = s.ip6_up(relay::c_buffer_to_string(&name), local_id, remote_id) {
            log_error(&format!("cannot report ipv6-up: {e}"));
        }
    })
}
