//! Hand-written mirror of the pppd symbols and structures the plugin uses, and the only place
//! that knows which pppd version it is built for.
//!
//! Default: pppd 2.4.9, mirrored from its installed headers (`/usr/include/pppd/`, Debian
//! `ppp-dev 2.4.9-1+1.1`): `pppd.h`, `ipcp.h`, `ipv6cp.h`, `eui64.h`, `chap_ms.h`, `mppe.h`.
//! Struct layouts were checked against gcc's `offsetof`/`sizeof` on those headers and are pinned
//! by the `const` assertions below.
//!
//! `cfg(pppd25)` (set by `build.rs` for pppd >= 2.5): the 2.5 API (`ppp_add_notify`,
//! `ppp_add_options`, `mppe_get_send_key`, `ppp_ifname`, ...), mirrored from Debian 13's
//! `ppp-dev 2.5.2-1+1` headers; the struct layouts and constants below were checked with gcc's
//! `offsetof`/`sizeof` on those headers, and the plugin runs in pppd 2.5.2 in the `trixie` UML
//! scenario (`tests/uml/trixie.sh`).

#![allow(non_upper_case_globals)]

use sstp_proto::secret::Secret;
use std::ffi::{c_char, c_int, c_short, c_uint, c_void};
use std::mem::{offset_of, size_of};
use std::ptr::{addr_of, addr_of_mut};

/// The pppd version this plugin is built for (from `build.rs`).
pub const VERSION: &str = env!("SSTP_PPPD_VERSION");

const fn nul_terminated<const N: usize>(s: &str) -> [u8; N] {
    let b = s.as_bytes();
    assert!(b.len() + 1 == N);
    let mut out = [0u8; N];
    let mut i = 0;
    while i < b.len() {
        assert!(b[i] != 0);
        out[i] = b[i];
        i += 1;
    }
    out
}

/// Read by pppd's plugin loader with `dlsym("pppd_version")` and compared with `strcmp` to its
/// own version; a mismatch refuses the plugin. Must be a NUL-terminated char array.
#[no_mangle]
pub static pppd_version: [u8; VERSION.len() + 1] = nul_terminated(VERSION);

/// `MAXNAMELEN` (`pppd.h`): size of pppd's `user[]`.
pub const MAXNAMELEN: usize = 256;
/// `MAXSECRETLEN` (`pppd.h`): size of pppd's `passwd[]`; the CHAP hook's buffer is larger
/// (`MAXWORDLEN`), but no password longer than this is meaningful to pppd.
pub const MAXSECRETLEN: usize = 256;
/// `MAXIFNAMELEN` (`pppd.h`): size of pppd's `ifname[]`.
#[cfg(not(pppd25))]
pub const MAXIFNAMELEN: usize = 32;

/// `notify_func` (`pppd.h`); 2.5 `ppp_notify_fn`.
pub type NotifyFunc = unsafe extern "C" fn(ctx: *mut c_void, arg: c_int);
/// `int (*pap_check_hook)(void)`, `int (*chap_check_hook)(void)`.
pub type CheckHook = unsafe extern "C" fn() -> c_int;
/// `int (*pap_passwd_hook)(char *user, char *passwd)`, same for `chap_passwd_hook`.
pub type PasswdHook = unsafe extern "C" fn(user: *mut c_char, passwd: *mut c_char) -> c_int;

/// `option_t` (`pppd.h` 2.4.9; `struct option` in 2.5 `options.h`, same layout).
#[repr(C)]
pub struct OptionT {
    pub name: *const c_char,
    /// `enum opt_type`
    pub type_: c_uint,
    pub addr: *mut c_void,
    pub description: *const c_char,
    pub flags: c_uint,
    pub addr2: *mut c_void,
    pub upper_limit: c_int,
    pub lower_limit: c_int,
    pub source: *const c_char,
    pub priority: c_short,
    pub winner: c_short,
}
const _: () = assert!(size_of::<OptionT>() == 72 || size_of::<usize>() != 8);
const _: () = assert!(offset_of!(OptionT, flags) == 32 || size_of::<usize>() != 8);
const _: () = assert!(offset_of!(OptionT, winner) == 66 || size_of::<usize>() != 8);

impl OptionT {
    /// The all-zero entry that ends an options array.
    pub const END: OptionT = OptionT {
        name: std::ptr::null(),
        type_: 0,
        addr: std::ptr::null_mut(),
        description: std::ptr::null(),
        flags: 0,
        addr2: std::ptr::null_mut(),
        upper_limit: 0,
        lower_limit: 0,
        source: std::ptr::null(),
        priority: 0,
        winner: 0,
    };
}

/// `o_string` in `enum opt_type`.
pub const O_STRING: c_uint = 5;
/// `OPT_PRIV`: privileged option.
pub const OPT_PRIV: c_uint = 0x1000;
/// `OPT_STATIC`: string goes into the static array at `addr`, at most `upper_limit` bytes.
pub const OPT_STATIC: c_uint = 0x2000;
/// `OPT_PRIO`: process option priorities.
pub const OPT_PRIO: c_uint = 0x80000;

/// `struct notifier` (`pppd.h` 2.4.9); only handled by pointer.
#[cfg(not(pppd25))]
#[repr(C)]
pub struct Notifier {
    _private: [u8; 0],
}

/// `ipcp_options` (`ipcp.h` 2.4.9): `bool` is `unsigned char`, addresses in network order.
#[cfg(not(pppd25))]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IpcpOptions {
    /// neg_addr .. req_dns2 (12 `bool`s)
    _flags: [u8; 12],
    _vj_protocol: c_int,
    _maxslotindex: c_int,
    _cflag: u8,
    pub ouraddr: u32,
    pub hisaddr: u32,
    pub dnsaddr: [u32; 2],
    pub winsaddr: [u32; 2],
}
#[cfg(not(pppd25))]
const _: () = {
    assert!(size_of::<IpcpOptions>() == 48);
    assert!(offset_of!(IpcpOptions, ouraddr) == 24);
    assert!(offset_of!(IpcpOptions, hisaddr) == 28);
    assert!(offset_of!(IpcpOptions, dnsaddr) == 32);
    assert!(offset_of!(IpcpOptions, winsaddr) == 40);
};

/// `ipcp_options` (`ipcp.h` 2.5): `req_wins1`, `req_wins2` were added after `req_dns2`.
#[cfg(pppd25)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IpcpOptions {
    /// neg_addr .. req_dns2, req_wins1, req_wins2 (14 C99 `bool`s)
    _flags: [u8; 14],
    _vj_protocol: c_int,
    _maxslotindex: c_int,
    _cflag: u8,
    pub ouraddr: u32,
    pub hisaddr: u32,
    pub dnsaddr: [u32; 2],
    pub winsaddr: [u32; 2],
}
#[cfg(pppd25)]
const _: () = {
    assert!(size_of::<IpcpOptions>() == 52);
    assert!(offset_of!(IpcpOptions, ouraddr) == 28);
    assert!(offset_of!(IpcpOptions, hisaddr) == 32);
    assert!(offset_of!(IpcpOptions, dnsaddr) == 36);
    assert!(offset_of!(IpcpOptions, winsaddr) == 44);
};

/// `eui64_t` (`eui64.h`): a union of `u_int8_t[8]`, `u_int16_t[4]`, `u_int32_t[2]`.
#[repr(C, align(4))]
#[derive(Clone, Copy)]
pub struct Eui64(pub [u8; 8]);

/// `ipv6cp_options` (`ipv6cp.h`): 2.4.9 has ten `int`s (neg_ifaceid .. neg_vj) before
/// `vj_protocol`; 2.5 added `default_route`, so eleven.
#[cfg(not(pppd25))]
const IPV6CP_INTS: usize = 10;
#[cfg(pppd25)]
const IPV6CP_INTS: usize = 11;

/// `ipv6cp_options` (`ipv6cp.h`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Ipv6cpOptions {
    _ints: [c_int; IPV6CP_INTS],
    _vj_protocol: u16,
    pub ourid: Eui64,
    pub hisid: Eui64,
}
#[cfg(not(pppd25))]
const _: () = {
    assert!(size_of::<Ipv6cpOptions>() == 60);
    assert!(offset_of!(Ipv6cpOptions, ourid) == 44);
    assert!(offset_of!(Ipv6cpOptions, hisid) == 52);
};
#[cfg(pppd25)]
const _: () = {
    assert!(size_of::<Ipv6cpOptions>() == 64);
    assert!(offset_of!(Ipv6cpOptions, ourid) == 48);
    assert!(offset_of!(Ipv6cpOptions, hisid) == 56);
};

// Logging, the same in both versions (`pppd.h`: `void info(char *, ...)`; 2.5 takes
// `const char *`). printf-style: always called with "%s" and one C string.
//
// glibc also has `error` and `warn`, so the linker records these two imports as
// `error@GLIBC_2.2.5` / `warn@GLIBC_2.2.5` (Debian's own C plugins, e.g. pppoe.so, have the same
// imports). At run time the dynamic linker still binds them to pppd's unversioned definitions,
// because the executable comes first in the lookup scope; checked with pppd 2.4.9 (the lines
// came out in pppd's log format, while glibc's `error()` would have exited the process).
extern "C" {
    pub fn info(fmt: *const c_char, ...);
    pub fn warn(fmt: *const c_char, ...);
    pub fn error(fmt: *const c_char, ...);
    pub fn dbglog(fmt: *const c_char, ...);
}

// Authentication hooks and state, the same names in both versions (2.4.9 `pppd.h`; 2.5
// `upap.h`, `chap.h`). `static mut`: pppd writes them; Rust must never assume they are constant.
extern "C" {
    static mut pap_check_hook: Option<CheckHook>;
    static mut chap_check_hook: Option<CheckHook>;
    static mut pap_passwd_hook: Option<PasswdHook>;
    static mut chap_passwd_hook: Option<PasswdHook>;
    /// `ipcp_options ipcp_gotoptions[NUM_PPP]` (NUM_PPP = 1), what we negotiated for us.
    static mut ipcp_gotoptions: [IpcpOptions; 1];
    /// `ipcp_options ipcp_hisoptions[NUM_PPP]`, what the peer has.
    static mut ipcp_hisoptions: [IpcpOptions; 1];
    /// `ipv6cp_options ipv6cp_gotoptions[NUM_PPP]`, `ipv6cp_hisoptions[NUM_PPP]`.
    static mut ipv6cp_gotoptions: [Ipv6cpOptions; 1];
    static mut ipv6cp_hisoptions: [Ipv6cpOptions; 1];
}

#[cfg(not(pppd25))]
extern "C" {
    fn add_options(opts: *mut OptionT);
    fn add_notifier(list: *mut *mut Notifier, func: NotifyFunc, ctx: *mut c_void);
    fn netif_get_mtu(unit: c_int) -> c_int;
    static mut auth_up_notifier: *mut Notifier;
    static mut ip_up_notifier: *mut Notifier;
    static mut ipv6_up_notifier: *mut Notifier;
    static mut ifunit: c_int;
    static mut ifname: [u8; MAXIFNAMELEN];
    /// `chap_ms.h`: `u_char mppe_send_key[MPPE_MAX_KEY_LEN]` (16).
    static mut mppe_send_key: [u8; 16];
    static mut mppe_recv_key: [u8; 16];
    /// Non-zero once MS-CHAP(v2)/EAP-TLS derived keys.
    static mut mppe_keys_set: c_int;
}

/// `ppp_notify_t` values (`pppd.h` 2.5).
#[cfg(pppd25)]
const NF_IP_UP: c_int = 4;
#[cfg(pppd25)]
const NF_IPV6_UP: c_int = 6;
#[cfg(pppd25)]
const NF_AUTH_UP: c_int = 8;

#[cfg(pppd25)]
extern "C" {
    fn ppp_add_options(opts: *mut OptionT);
    fn ppp_add_notify(kind: c_int, func: NotifyFunc, ctx: *mut c_void);
    fn ppp_ifname() -> *const c_char;
    fn ppp_ifunit() -> c_int;
    fn ppp_get_mtu(unit: c_int) -> c_int;
    /// `mppe.h` 2.5: copy up to `length` key bytes, return the key length.
    fn mppe_get_send_key(key: *mut u8, length: c_int) -> c_int;
    fn mppe_get_recv_key(key: *mut u8, length: c_int) -> c_int;
    fn mppe_keys_isset() -> bool;
}

/// Register an options table.
///
/// # Safety
/// `opts` must point to a zero-terminated array that stays valid (and writable: pppd records
/// the option's source and priority in it) for the life of the process.
pub unsafe fn register_options(opts: *mut OptionT) {
    #[cfg(not(pppd25))]
    // SAFETY: the caller guarantees `opts`; called from plugin_init on pppd's only thread.
    unsafe {
        add_options(opts)
    }
    #[cfg(pppd25)]
    // SAFETY: as above.
    unsafe {
        ppp_add_options(opts)
    }
}

/// Install the four authentication hooks.
///
/// # Safety
/// Must run on pppd's thread (plugin_init); the functions must be valid for the process life.
pub unsafe fn install_auth_hooks(
    pap_check: CheckHook,
    chap_check: CheckHook,
    pap_passwd: PasswdHook,
    chap_passwd: PasswdHook,
) {
    // SAFETY: plain writes of function pointers into pppd's hook variables; pppd is
    // single-threaded and reads them only later, from its main loop.
    unsafe {
        *addr_of_mut!(pap_check_hook) = Some(pap_check);
        *addr_of_mut!(chap_check_hook) = Some(chap_check);
        *addr_of_mut!(pap_passwd_hook) = Some(pap_passwd);
        *addr_of_mut!(chap_passwd_hook) = Some(chap_passwd);
    }
}

/// Register the auth-up, ip-up and ipv6-up notifiers.
///
/// # Safety
/// Must run on pppd's thread (plugin_init); the functions must be valid for the process life.
pub unsafe fn add_notifiers(auth_up: NotifyFunc, ip_up: NotifyFunc, ipv6_up: NotifyFunc) {
    #[cfg(not(pppd25))]
    // SAFETY: `add_notifier` links a malloc'd node into the list whose head we pass by address;
    // the heads are pppd globals that live for the process.
    unsafe {
        add_notifier(
            addr_of_mut!(auth_up_notifier),
            auth_up,
            std::ptr::null_mut(),
        );
        add_notifier(addr_of_mut!(ip_up_notifier), ip_up, std::ptr::null_mut());
        add_notifier(
            addr_of_mut!(ipv6_up_notifier),
            ipv6_up,
            std::ptr::null_mut(),
        );
    }
    #[cfg(pppd25)]
    // SAFETY: `ppp_add_notify` takes the notifier kind by value and copies the pointers.
    unsafe {
        ppp_add_notify(NF_AUTH_UP, auth_up, std::ptr::null_mut());
        ppp_add_notify(NF_IP_UP, ip_up, std::ptr::null_mut());
        ppp_add_notify(NF_IPV6_UP, ipv6_up, std::ptr::null_mut());
    }
}

/// The MPPE keys pppd derived, or two empty secrets when it derived none (PAP, CHAP-MD5).
///
/// # Safety
/// Must run on pppd's thread, in the auth-up notifier (CCP clears the keys later).
pub unsafe fn mppe_keys() -> (Secret, Secret) {
    #[cfg(not(pppd25))]
    {
        // SAFETY: reads of pppd globals by value (no references), on pppd's only thread.
        let (set, mut send, mut recv) = unsafe {
            (
                addr_of!(mppe_keys_set).read(),
                addr_of!(mppe_send_key).read(),
                addr_of!(mppe_recv_key).read(),
            )
        };
        let keys = if set != 0 {
            (Secret::from(&send[..]), Secret::from(&recv[..]))
        } else {
            (Secret::default(), Secret::default())
        };
        send.fill(0);
        recv.fill(0);
        std::hint::black_box((&send, &recv));
        keys
    }
    #[cfg(pppd25)]
    {
        // SAFETY: plain call, no arguments.
        if !unsafe { mppe_keys_isset() } {
            return (Secret::default(), Secret::default());
        }
        let mut send = [0u8; 32];
        let mut recv = [0u8; 32];
        // SAFETY: the buffers are 32 bytes and we pass 32 as their length.
        let (ns, nr) = unsafe {
            (
                mppe_get_send_key(send.as_mut_ptr(), 32),
                mppe_get_recv_key(recv.as_mut_ptr(), 32),
            )
        };
        let ns = rfc3079_len(usize::try_from(ns).unwrap_or(0).min(32));
        let nr = rfc3079_len(usize::try_from(nr).unwrap_or(0).min(32));
        let keys = (Secret::from(&send[..ns]), Secret::from(&recv[..nr]));
        send.fill(0);
        recv.fill(0);
        std::hint::black_box((&send, &recv));
        keys
    }
}

/// pppd 2.5 stores MS-CHAPv2 MPPE keys as the whole 20-byte SHA-1 output
/// (`mppe_set_chapv2` -> `mppe_set_keys(.., SHA1_SIGNATURE_SIZE)`); RFC 3079 (and so the SSTP
/// HLAK, MS-SSTP 3.2.5.2.3) uses its first 16 bytes. EAP-TLS keys (32 bytes) stay whole.
#[cfg(pppd25)]
fn rfc3079_len(n: usize) -> usize {
    if n == 20 {
        16
    } else {
        n
    }
}

/// What IPCP negotiated: (ours, peer's) options.
///
/// # Safety
/// Must run on pppd's thread.
pub unsafe fn ipcp_result() -> (IpcpOptions, IpcpOptions) {
    // SAFETY: by-value copies of pppd's option structs (layout pinned above), no references.
    unsafe {
        (
            addr_of!(ipcp_gotoptions).cast::<IpcpOptions>().read(),
            addr_of!(ipcp_hisoptions).cast::<IpcpOptions>().read(),
        )
    }
}

/// The IPv6CP interface identifiers (ours, peer's); `None` where not supported.
///
/// # Safety
/// Must run on pppd's thread.
pub unsafe fn ipv6cp_ids() -> Option<([u8; 8], [u8; 8])> {
    // SAFETY: by-value copies of pppd's option structs (layout pinned above per version).
    let (go, ho) = unsafe {
        (
            addr_of!(ipv6cp_gotoptions).cast::<Ipv6cpOptions>().read(),
            addr_of!(ipv6cp_hisoptions).cast::<Ipv6cpOptions>().read(),
        )
    };
    Some((go.ourid.0, ho.hisid.0))
}

/// The interface name bytes (up to the NUL) and unit.
///
/// # Safety
/// Must run on pppd's thread.
pub unsafe fn interface() -> (Vec<u8>, c_int) {
    #[cfg(not(pppd25))]
    {
        // SAFETY: by-value copies of pppd globals.
        let (name, unit) = unsafe { (addr_of!(ifname).read(), addr_of!(ifunit).read()) };
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        (name[..end].to_vec(), unit)
    }
    #[cfg(pppd25)]
    {
        // SAFETY: plain calls; `ppp_ifname` returns pppd's static NUL-terminated buffer.
        let (name, unit) = unsafe { (ppp_ifname(), ppp_ifunit()) };
        let bytes = if name.is_null() {
            Vec::new()
        } else {
            // SAFETY: non-null, NUL-terminated, owned by pppd and not changed during the call.
            unsafe { std::ffi::CStr::from_ptr(name) }
                .to_bytes()
                .to_vec()
        };
        (bytes, unit)
    }
}

/// The MTU of interface `unit`.
///
/// # Safety
/// Must run on pppd's thread, with the interface up.
pub unsafe fn interface_mtu(unit: c_int) -> c_int {
    #[cfg(not(pppd25))]
    // SAFETY: plain call (an ioctl on pppd's socket).
    unsafe {
        netif_get_mtu(unit)
    }
    #[cfg(pppd25)]
    // SAFETY: as above.
    unsafe {
        ppp_get_mtu(unit)
    }
}
