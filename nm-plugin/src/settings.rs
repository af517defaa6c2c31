//! The connection NM hands us, parsed once into typed values.
//!
//! Every `vpn.data` value is checked here; a bad one is an error whose message names the key.
//! [`Settings::helper_args`] then maps the result to sstp-helper and pppd options. No secret
//! ever ends up in an argument list: the password travels through a pipe.

use crate::keys::{self, secret_flags};
use sstp_proto::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// The parts of NM's `a{sa{sv}}` connection we use, already unpacked from D-Bus.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConnInput {
    /// `connection.id`.
    pub id: Option<String>,
    /// `connection.uuid`.
    pub uuid: Option<String>,
    /// `vpn.service-type`.
    pub service_type: Option<String>,
    /// `vpn.user-name` (fallback for `user`).
    pub user_name: Option<String>,
    /// `vpn.data`.
    pub data: BTreeMap<String, String>,
    /// `vpn.secrets`.
    pub secrets: BTreeMap<String, String>,
    /// `ipv4.method` (absent means auto).
    pub ipv4_method: Option<String>,
    /// `ipv4.ignore-auto-dns`.
    pub ipv4_ignore_auto_dns: bool,
    /// `ipv6.method` (absent means auto).
    pub ipv6_method: Option<String>,
}

/// A bad setting: which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The `vpn.data` key (or `ipv4.method`...).
    pub key: String,
    /// What is wrong.
    pub why: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting '{}': {}", self.key, self.why)
    }
}
impl std::error::Error for SettingError {}

fn err(key: &str, why: impl Into<String>) -> SettingError {
    SettingError {
        key: key.into(),
        why: why.into(),
    }
}

/// How we log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// PAP / CHAP / MS-CHAP with a password.
    Password,
    /// EAP-TLS with a user certificate.
    Tls(TlsAuth),
}

/// EAP-TLS settings (pppd's options; the outer TLS is separate).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsAuth {
    /// pppd `ca`.
    pub ca_cert: Option<PathBuf>,
    /// pppd `cert`.
    pub user_cert: Option<PathBuf>,
    /// pppd `key`.
    pub user_key: Option<PathBuf>,
    /// pppd `name` (identity, else subject name).
    pub identity: Option<String>,
    /// pppd `crl`.
    pub crl_file: Option<PathBuf>,
    /// pppd `tls-verify-method` + `remotename`.
    pub verify: Option<(String, Option<String>)>,
    /// pppd `tls-verify-key-usage`.
    pub verify_key_usage: bool,
    /// pppd `max-tls-version`.
    pub max_version: Option<String>,
}

/// `ipv4.method` as far as pppd cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ip4Method {
    /// Negotiate with IPCP (auto, and manual: NM adds manual addresses itself).
    Auto,
    /// `noip`.
    Disabled,
}

/// `ipv6.method` as far as pppd cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ip6Method {
    /// `+ipv6`: negotiate IPv6CP (link-local interface identifiers only).
    Auto,
    /// `noipv6`.
    Disabled,
}

/// The HTTP proxy (sstp-helper `--proxy`, `--proxy-user`, `--proxy-password-fd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host.
    pub server: String,
    /// Port (default 8080 like the network-manager-sstp editor).
    pub port: u16,
    /// User, if the proxy wants one.
    pub user: Option<String>,
}

/// Every setting, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Connection name (for logs).
    pub id: String,
    /// `host[:port]`, checked.
    pub gateway: String,
    /// PPP user name, `DOMAIN\user` if a domain is set.
    pub user: Option<String>,
    /// How we authenticate.
    pub auth: Auth,
    /// Outer TLS CA file.
    pub ca_cert: Option<PathBuf>,
    /// `ignore-cert-warn=yes`.
    pub insecure: bool,
    /// Our `cert-sha256` pin (64 hex digits).
    pub cert_sha256: Option<String>,
    /// SSTPCORRELATIONID: `{UUID}` of the connection.
    pub correlation_id: Option<String>,
    /// HTTP proxy.
    pub proxy: Option<Proxy>,
    /// Outer TLS: lowest version (`1.2`, `1.3`).
    pub tls_min: Option<String>,
    /// Outer TLS: highest version (`1.2`, `1.3`).
    pub tls_max: Option<String>,
    /// Outer TLS: cipher list for `--ciphers`.
    pub tls_ciphers: Option<String>,
    /// pppd `refuse-*` in order: eap, pap, chap, mschap, mschap-v2.
    pub refuse: [bool; 5],
    /// pppd `require-mppe`, `require-mppe-40`, `require-mppe-128`, `mppe-stateful`.
    pub mppe: [bool; 4],
    /// pppd `nobsdcomp`.
    pub nobsdcomp: bool,
    /// pppd `nodeflate`.
    pub nodeflate: bool,
    /// pppd `novj`.
    pub novj: bool,
    /// pppd `lcp-echo-failure` (0 = off).
    pub lcp_echo_failure: u32,
    /// pppd `lcp-echo-interval` (0 = off).
    pub lcp_echo_interval: u32,
    /// pppd `unit`.
    pub unit: Option<u32>,
    /// pppd `mtu`.
    pub mtu: u32,
    /// `ipv4.method`.
    pub ip4: Ip4Method,
    /// `ipv4.ignore-auto-dns`: do not ask the peer for DNS.
    pub ignore_auto_dns: bool,
    /// `ipv6.method`.
    pub ip6: Ip6Method,
    /// Keys we do not know (logged, ignored).
    pub unknown_keys: Vec<String>,
}

/// A secret that must be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeededSecret {
    /// `password`.
    Password,
    /// `tls-user-key-secret`.
    KeySecret,
    /// `proxy-password`.
    ProxyPassword,
}

impl NeededSecret {
    /// Its `vpn.secrets` key.
    pub fn key(self) -> &'static str {
        match self {
            NeededSecret::Password => keys::PASSWORD,
            NeededSecret::KeySecret => keys::TLS_USER_KEY_SECRET,
            NeededSecret::ProxyPassword => keys::PROXY_PASSWORD,
        }
    }
    /// Label for a prompt.
    pub fn label(self) -> &'static str {
        match self {
            NeededSecret::Password => "Password:",
            NeededSecret::KeySecret => "Private key password:",
            NeededSecret::ProxyPassword => "HTTP proxy password:",
        }
    }
}

fn get<'a>(data: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    data.get(key).map(|s| s.as_str()).filter(|s| !s.is_empty())
}

/// network-manager-sstp writes `yes`; accept the usual spellings, reject anything else.
fn parse_bool(data: &BTreeMap<String, String>, key: &str) -> Result<bool, SettingError> {
    match get(data, key) {
        None => Ok(false),
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "on" => Ok(true),
            "no" | "false" | "0" | "off" => Ok(false),
            _ => Err(err(key, format!("'{v}' is not yes or no"))),
        },
    }
}

fn parse_u32(
    data: &BTreeMap<String, String>,
    key: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, SettingError> {
    match get(data, key) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Ok(n) => Err(err(key, format!("{n} is out of range {min}..{max}"))),
            Err(_) => Err(err(key, format!("'{v}' is not a number"))),
        },
    }
}

/// Secret flags: a missing or empty value is 0 (saved by NM).
pub fn parse_flags(data: &BTreeMap<String, String>, key: &str) -> Result<u32, SettingError> {
    Ok(parse_u32(data, key, 0, 0xff)?.unwrap_or(secret_flags::NONE))
}

/// A word that goes into pppd's or the helper's argv: no control characters, not empty.
fn plain(key: &str, v: &str) -> Result<String, SettingError> {
    if v.chars().any(|c| c.is_control()) {
        return Err(err(key, "contains control characters"));
    }
    Ok(v.to_string())
}

fn path(data: &BTreeMap<String, String>, key: &str) -> Result<Option<PathBuf>, SettingError> {
    match get(data, key) {
        None => Ok(None),
        Some(v) => {
            let v = plain(key, v)?;
            // The GNOME editor stores file choosers as paths; libnma may store file:// URIs.
            let v = v.strip_prefix("file://").map(str::to_string).unwrap_or(v);
            if !v.starts_with('/') {
                return Err(err(key, format!("'{v}' is not an absolute path")));
            }
            Ok(Some(PathBuf::from(v)))
        }
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
fn check_gateway(v: &str) -> Result<String, SettingError> {
    let k = keys::GATEWAY;
    let v = v.trim();
    if v.is_empty() {
        return Err(err(k, "is required"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(k, format!("'{v}' contains spaces")));
    }
    let host_port = v
        .strip_prefix("https://")
        .unwrap_or(v)
        .trim_end_matches('/');
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| err(k, format!("'{v}': missing ']'")))?;
        (h, tail.strip_prefix(':'))
    } else if host_port.matches(':').count() > 1 {
        (host_port, None)
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(err(k, format!("'{v}' has no host name")));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(err(k, format!("'{p}' is not a port number"))),
        }
    }
    Ok(v.to_string())
}

impl Settings {
    /// Parse and check everything. Secrets are not looked at (see [`needed_secrets`]).
    pub fn parse(c: &ConnInput) -> Result<Settings, SettingError> {
        let d = &c.data;
        if let Some(st) = &c.service_type {
            if st != keys::DBUS_SERVICE {
                return Err(err(
                    "vpn.service-type",
                    format!("'{st}' is not {}", keys::DBUS_SERVICE),
                ));
            }
        }
        let gateway = check_gateway(get(d, keys::GATEWAY).unwrap_or(""))?;

        let user = match get(d, keys::USER).or(c.user_name.as_deref().filter(|s| !s.is_empty())) {
            None => None,
            Some(u) => {
                let u = plain(keys::USER, u)?;
                Some(match get(d, keys::DOMAIN) {
                    Some(dom) => format!("{}\\{u}", plain(keys::DOMAIN, dom)?),
                    None => u,
                })
            }
        };

        let auth = match get(d, keys::CONNECTION_TYPE) {
            None | Some(keys::CONTYPE_PASSWORD) => Auth::Password,
            Some(keys::CONTYPE_TLS) => {
                let verify = match get(d, keys::TLS_VERIFY_METHOD) {
                    None => None,
                    Some(m @ ("none" | "subject" | "name" | "suffix")) => Some((
                        m.to_string(),
                        get(d, keys::TLS_REMOTENAME)
                            .map(|r| plain(keys::TLS_REMOTENAME, r))
                            .transpose()?,
                    )),
                    Some(m) => {
                        return Err(err(
                            keys::TLS_VERIFY_METHOD,
                            format!("'{m}' is not none, subject, name or suffix"),
                        ))
                    }
                };
                let max_version = match get(d, keys::TLS_MAX_VERSION) {
                    None => None,
                    Some(v @ ("1.0" | "1.1" | "1.2" | "1.3")) => Some(v.to_string()),
                    Some(v) => {
                        return Err(err(
                            keys::TLS_MAX_VERSION,
                            format!("'{v}' is not 1.0, 1.1, 1.2 or 1.3"),
                        ))
                    }
                };
                let identity = match get(d, keys::TLS_IDENTITY) {
                    Some(i) => Some(plain(keys::TLS_IDENTITY, i)?),
                    None => get(d, keys::TLS_SUBJECT_NAME)
                        .map(|s| plain(keys::TLS_SUBJECT_NAME, s))
                        .transpose()?,
                };
                Auth::Tls(TlsAuth {
                    ca_cert: path(d, keys::TLS_CA_CERT)?,
                    user_cert: path(d, keys::TLS_USER_CERT)?,
                    user_key: path(d, keys::TLS_USER_KEY)?,
                    identity,
                    crl_file: path(d, keys::CRL_REVOCATION_FILE)?,
                    verify,
                    verify_key_usage: parse_bool(d, keys::TLS_VERIFY_KEY_USAGE)?,
                    max_version,
                })
            }
            Some(other) => {
                return Err(err(
                    keys::CONNECTION_TYPE,
                    format!("'{other}' is not password or tls"),
                ))
            }
        };

        let cert_sha256 = match get(d, keys::CERT_SHA256) {
            None => None,
            Some(v) => {
                let h: String = v.chars().filter(|c| *c != ':' && *c != ' ').collect();
                if h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(err(
                        keys::CERT_SHA256,
                        "wants 64 hex digits (a SHA-256 fingerprint)",
                    ));
                }
                Some(h.to_ascii_lowercase())
            }
        };

        let correlation_id = get(d, keys::UUID)
            .or(c.uuid.as_deref())
            .map(|u| {
                u.trim_matches(|c| c == '{' || c == '}')
                    .to_ascii_uppercase()
            })
            .filter(|u| {
                u.len() == 36
                    && u.char_indices().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => c == '-',
                        _ => c.is_ascii_hexdigit(),
                    })
            })
            .map(|u| format!("{{{u}}}"));

        let proxy = match get(d, keys::PROXY_SERVER) {
            None => None,
            Some(s) => Some(Proxy {
                server: plain(keys::PROXY_SERVER, s)?,
                port: parse_u32(d, keys::PROXY_PORT, 1, 65535)?.unwrap_or(8080) as u16,
                user: get(d, keys::PROXY_USER)
                    .map(|u| plain(keys::PROXY_USER, u))
                    .transpose()?,
            }),
        };

        let tls_version = |key: &str| -> Result<Option<String>, SettingError> {
            match get(d, key) {
                None => Ok(None),
                Some(v @ ("1.2" | "1.3")) => Ok(Some(v.to_string())),
                Some(v) => Err(err(key, format!("'{v}' is not 1.2 or 1.3"))),
            }
        };
        let tls_min = tls_version(keys::OUTER_TLS_MIN_VERSION)?;
        let tls_max = tls_version(keys::OUTER_TLS_MAX_VERSION)?;
        if let (Some(lo), Some(hi)) = (&tls_min, &tls_max) {
            if lo > hi {
                return Err(err(
                    keys::OUTER_TLS_MIN_VERSION,
                    format!("{lo} is above {} {hi}", keys::OUTER_TLS_MAX_VERSION),
                ));
            }
        }
        let tls_ciphers = match get(d, keys::OUTER_TLS_CIPHERS) {
            None => None,
            Some(v)
                if v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:+!@=.,".contains(c)) =>
            {
                Some(v.to_string())
            }
            Some(v) => {
                return Err(err(
                    keys::OUTER_TLS_CIPHERS,
                    format!("'{v}' is not an OpenSSL cipher list"),
                ))
            }
        };

        // validate flags even where unused, so a typo is reported
        parse_flags(d, keys::PASSWORD_FLAGS)?;
        parse_flags(d, keys::PROXY_PASSWORD_FLAGS)?;
        parse_flags(d, keys::TLS_USER_KEY_SECRET_FLAGS)?;
        parse_bool(d, keys::TLS_EXT)?;

        let ip4 = match c.ipv4_method.as_deref() {
            None | Some("" | "auto" | "manual" | "link-local" | "shared") => Ip4Method::Auto,
            Some("disabled") => Ip4Method::Disabled,
            Some(m) => return Err(err("ipv4.method", format!("unknown method '{m}'"))),
        };
        let ip6 = match c.ipv6_method.as_deref() {
            None | Some("" | "auto" | "dhcp" | "manual" | "link-local" | "shared") => {
                Ip6Method::Auto
            }
            Some("ignore" | "disabled") => Ip6Method::Disabled,
            Some(m) => return Err(err("ipv6.method", format!("unknown method '{m}'"))),
        };

        let unknown_keys = d
            .keys()
            .filter(|k| !keys::DATA_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();

        Ok(Settings {
            id: c.id.clone().unwrap_or_else(|| "SSTP".into()),
            gateway,
            user,
            auth,
            ca_cert: path(d, keys::CA_CERT)?,
            insecure: parse_bool(d, keys::IGN_CERT_WARN)?,
            cert_sha256,
            correlation_id,
            proxy,
            tls_min,
            tls_max,
            tls_ciphers,
            refuse: [
                parse_bool(d, keys::REFUSE_EAP)?,
                parse_bool(d, keys::REFUSE_PAP)?,
                parse_bool(d, keys::REFUSE_CHAP)?,
                parse_bool(d, keys::REFUSE_MSCHAP)?,
                parse_bool(d, keys::REFUSE_MSCHAPV2)?,
            ],
            mppe: [
                parse_bool(d, keys::REQUIRE_MPPE)?,
                parse_bool(d, keys::REQUIRE_MPPE_40)?,
                parse_bool(d, keys::REQUIRE_MPPE_128)?,
                parse_bool(d, keys::MPPE_STATEFUL)?,
            ],
            nobsdcomp: parse_bool(d, keys::NOBSDCOMP)?,
            nodeflate: parse_bool(d, keys::NODEFLATE)?,
            novj: parse_bool(d, keys::NO_VJ_COMP)?,
            lcp_echo_failure: parse_u32(d, keys::LCP_ECHO_FAILURE, 0, 1_000_000)?.unwrap_or(0),
            lcp_echo_interval: parse_u32(d, keys::LCP_ECHO_INTERVAL, 0, 1_000_000)?.unwrap_or(0),
            unit: parse_u32(d, keys::UNIT_NUM, 0, 65535)?,
            mtu: parse_u32(d, keys::MTU, 576, 65535)?.unwrap_or(keys::MTU_DEFAULT),
            ip4,
            ignore_auto_dns: c.ipv4_ignore_auto_dns,
            ip6,
            unknown_keys,
        })
    }

    /// What this build cannot do yet, as an error naming the key.
    pub fn check_supported(&self) -> Result<(), SettingError> {
        if let Auth::Tls(_) = self.auth {
            return Err(err(
                keys::CONNECTION_TYPE,
                "certificate (EAP-TLS) logins need pppd >= 2.5 for the crypto binding and are not supported yet",
            ));
        }
        if self.ip4 == Ip4Method::Disabled && self.ip6 == Ip6Method::Disabled {
            return Err(err("ipv4.method", "IPv4 and IPv6 are both disabled"));
        }
        Ok(())
    }

    /// sstp-helper's arguments (no secret among them). `pid` goes into pppd's ipparam;
    /// `log_level` is the helper's `--log-level`; `debug` adds pppd's `debug`.
    pub fn helper_args(&self, pid: u32, log_level: &str, debug: bool) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |s: &str| a.push(s.to_string());
        if let Some(u) = &self.user {
            push("--user");
            push(u);
        }
        push("--password-fd");
        push(&PASSWORD_FD.to_string());
        push("--status-fd");
        push(&STATUS_FD.to_string());
        if let Some(ca) = &self.ca_cert {
            push("--ca-cert");
            push(&ca.display().to_string());
        }
        if self.insecure {
            push("--insecure");
        }
        if let Some(pin) = &self.cert_sha256 {
            push("--cert-sha256");
            push(pin);
        }
        if let Some(u) = &self.correlation_id {
            push("--uuid");
            push(u);
        }
        match &self.proxy {
            // the profile decides: NetworkManager's own https_proxy must not leak in
            None => {
                push("--proxy");
                push("none");
            }
            Some(p) => {
                push("--proxy");
                let host = if p.server.contains(':') {
                    format!("[{}]", p.server)
                } else {
                    p.server.clone()
                };
                push(&format!("http://{host}:{}", p.port));
                if let Some(u) = &p.user {
                    push("--proxy-user");
                    push(u);
                    push("--proxy-password-fd");
                    push(&PROXY_PASSWORD_FD.to_string());
                }
            }
        }
        if let Some(v) = &self.tls_min {
            push("--tls-min");
            push(v);
        }
        if let Some(v) = &self.tls_max {
            push("--tls-max");
            push(v);
        }
        if let Some(v) = &self.tls_ciphers {
            push("--ciphers");
            push(v);
        }
        push("--log-level");
        push(log_level);
        push(&self.gateway);
        push("--");
        a.extend(self.pppd_options(pid, debug));
        a
    }

    /// The pppd options for NetworkManager (after sstp-helper's own: pty, nodetach, noauth,
    /// nodeflate, nobsdcomp, user, plugin).
    pub fn pppd_options(&self, pid: u32, debug: bool) -> Vec<String> {
        let mut o: Vec<String> = Vec::new();
        let mut push = |s: &str| o.push(s.to_string());
        if debug {
            push("debug");
        }
        // Debian's /etc/ppp/ip-up.d/0000usepeerdns leaves /etc/resolv.conf alone for this ipparam.
        push("ipparam");
        push(&format!("nm-sstp-service-{pid}"));
        match self.ip4 {
            Ip4Method::Auto => {
                if !self.ignore_auto_dns {
                    push("usepeerdns");
                }
                push("noipdefault");
            }
            Ip4Method::Disabled => push("noip"),
        }
        match self.ip6 {
            Ip6Method::Auto => push("+ipv6"),
            Ip6Method::Disabled => push("noipv6"),
        }
        push("nodefaultroute");
        push("nodefaultroute6");
        let names = [
            "refuse-eap",
            "refuse-pap",
            "refuse-chap",
            "refuse-mschap",
            "refuse-mschap-v2",
        ];
        for (on, n) in self.refuse.iter().zip(names) {
            if *on {
                push(n);
            }
        }
        let names = [
            "require-mppe",
            "require-mppe-40",
            "require-mppe-128",
            "mppe-stateful",
        ];
        for (on, n) in self.mppe.iter().zip(names) {
            if *on {
                push(n);
            }
        }
        if self.nobsdcomp {
            push("nobsdcomp");
        }
        if self.nodeflate {
            push("nodeflate");
        }
        if self.novj {
            push("novj");
        }
        push("lcp-echo-failure");
        push(&self.lcp_echo_failure.to_string());
        push("lcp-echo-interval");
        push(&self.lcp_echo_interval.to_string());
        if let Some(u) = self.unit {
            push("unit");
            push(&u.to_string());
        }
        push("mtu");
        push(&self.mtu.to_string());
        if let Auth::Tls(t) = &self.auth {
            push("need-peer-eap");
            for (opt, p) in [
                ("ca", &t.ca_cert),
                ("cert", &t.user_cert),
                ("key", &t.user_key),
                ("crl", &t.crl_file),
            ] {
                if let Some(p) = p {
                    push(opt);
                    push(&p.display().to_string());
                }
            }
            if let Some(i) = &t.identity {
                push("name");
                push(i);
            }
        }
        o
    }

    /// The secret handed to the helper's `--password-fd`.
    pub fn password(&self, c: &ConnInput) -> Secret {
        let key = match self.auth {
            Auth::Password => keys::PASSWORD,
            Auth::Tls(_) => keys::TLS_USER_KEY_SECRET,
        };
        Secret::new(c.secrets.get(key).cloned().unwrap_or_default().into_bytes())
    }

    /// The secret for the proxy-password pipe: only when the proxy has a user (the helper is
    /// then given `--proxy-password-fd`).
    pub fn proxy_password(&self, c: &ConnInput) -> Option<Secret> {
        self.proxy.as_ref()?.user.as_ref()?;
        Some(Secret::new(
            c.secrets
                .get(keys::PROXY_PASSWORD)
                .cloned()
                .unwrap_or_default()
                .into_bytes(),
        ))
    }
}

/// File descriptor of the password pipe in the helper.
pub const PASSWORD_FD: i32 = 3;
/// File descriptor of the status pipe in the helper.
pub const STATUS_FD: i32 = 4;
/// File descriptor of the proxy-password pipe in the helper (only with a proxy user).
pub const PROXY_PASSWORD_FD: i32 = 5;

/// Does the PEM key file look encrypted? Unreadable counts as "yes" (we cannot tell).
pub fn key_is_encrypted(p: &std::path::Path) -> bool {
    match std::fs::read(p) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            s.contains("ENCRYPTED") || !(s.contains("-----BEGIN") || b.first() == Some(&0x30))
        }
        Err(_) => true,
    }
}

fn secret_needed(
    data: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    key: &str,
    flags_key: &str,
) -> bool {
    let flags = parse_flags(data, flags_key).unwrap_or(0);
    if flags & secret_flags::NOT_REQUIRED != 0 {
        return false;
    }
    !matches!(secrets.get(key), Some(v) if !v.is_empty())
}

/// Which secrets a connection still lacks (network-manager-sstp's rules): the password in
/// password mode, the key password in TLS mode if the key is encrypted, the proxy password if
/// the proxy has a user. With `check_present = false` every secret the profile uses is listed
/// (for an auth dialog that asks again).
pub fn needed_secrets(
    data: &BTreeMap<String, String>,
    secrets: &BTreeMap<String, String>,
    check_present: bool,
) -> Vec<NeededSecret> {
    let none = BTreeMap::new();
    let s = if check_present { secrets } else { &none };
    let mut out = Vec::new();
    match get(data, keys::CONNECTION_TYPE) {
        Some(keys::CONTYPE_TLS) => {
            let enc = get(data, keys::TLS_USER_KEY)
                .map(|p| key_is_encrypted(std::path::Path::new(p)))
                .unwrap_or(false);
            if enc
                && secret_needed(
                    data,
                    s,
                    keys::TLS_USER_KEY_SECRET,
                    keys::TLS_USER_KEY_SECRET_FLAGS,
                )
            {
                out.push(NeededSecret::KeySecret);
            }
        }
        _ => {
            if secret_needed(data, s, keys::PASSWORD, keys::PASSWORD_FLAGS) {
                out.push(NeededSecret::Password);
            }
        }
    }
    if get(data, keys::PROXY_SERVER).is_some()
        && get(data, keys::PROXY_USER).is_some()
        && secret_needed(data, s, keys::PROXY_PASSWORD, keys::PROXY_PASSWORD_FLAGS)
    {
        out.push(NeededSecret::ProxyPassword);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(pairs: &[(&str, &str)]) -> ConnInput {
        ConnInput {
            id: Some("office".into()),
            uuid: Some("5dab5a8c-8c40-4847-baa0-bafd38af1afc".into()),
            service_type: Some(keys::DBUS_SERVICE.into()),
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ipv6_method: Some("disabled".into()),
            ..Default::default()
        }
    }

    /// The profile network-manager-sstp writes (testbed sample-run/sstp-ca.nmconnection).
    fn debian_profile() -> ConnInput {
        let mut c = conn(&[
            ("ca-cert", "/etc/sstp-test/ca.crt"),
            ("connection-type", "password"),
            ("gateway", "10.99.0.1"),
            ("password-flags", "0"),
            ("refuse-eap", "yes"),
            ("user", "test"),
        ]);
        c.secrets.insert("password".into(), "test".into());
        c
    }

    #[test]
    fn debian_profile_maps_to_helper_args() {
        let c = debian_profile();
        let s = Settings::parse(&c).unwrap();
        s.check_supported().unwrap();
        assert_eq!(s.user.as_deref(), Some("test"));
        assert_eq!(s.mtu, 1400);
        let a = s.helper_args(42, "info", false);
        let want: Vec<String> = [
            "--user",
            "test",
            "--password-fd",
            "3",
            "--status-fd",
            "4",
            "--ca-cert",
            "/etc/sstp-test/ca.crt",
            "--uuid",
            "{5DAB5A8C-8C40-4847-BAA0-BAFD38AF1AFC}",
            "--proxy",
            "none",
            "--log-level",
            "info",
            "10.99.0.1",
            "--",
            "ipparam",
            "nm-sstp-service-42",
            "usepeerdns",
            "noipdefault",
            "noipv6",
            "nodefaultroute",
            "nodefaultroute6",
            "refuse-eap",
            "lcp-echo-failure",
            "0",
            "lcp-echo-interval",
            "0",
            "mtu",
            "1400",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(a, want);
        assert_eq!(s.password(&c).expose(), b"test");
        assert!(needed_secrets(&c.data, &c.secrets, true).is_empty());
    }

    #[test]
    fn every_pppd_option_key() {
        let c = conn(&[
            ("gateway", "vpn.example.com:8443"),
            ("user", "bob"),
            ("domain", "CORP"),
            ("refuse-eap", "yes"),
            ("refuse-pap", "yes"),
            ("refuse-chap", "yes"),
            ("refuse-mschap", "yes"),
            ("refuse-mschapv2", "no"),
            ("require-mppe", "yes"),
            ("require-mppe-40", "yes"),
            ("require-mppe-128", "yes"),
            ("mppe-stateful", "yes"),
            ("nobsdcomp", "yes"),
            ("nodeflate", "yes"),
            ("no-vj-comp", "yes"),
            ("lcp-echo-failure", "5"),
            ("lcp-echo-interval", "30"),
            ("unit", "7"),
            ("mtu", "1300"),
            ("ignore-cert-warn", "yes"),
            ("tls-ext", "yes"),
            ("cert-sha256", &"AB:".repeat(32)[..95]),
        ]);
        let s = Settings::parse(&c).unwrap();
        assert_eq!(s.user.as_deref(), Some("CORP\\bob"));
        let o = s.pppd_options(1, true).join(" ");
        assert_eq!(
            o,
            "debug ipparam nm-sstp-service-1 usepeerdns noipdefault noipv6 nodefaultroute \
             nodefaultroute6 refuse-eap refuse-pap refuse-chap refuse-mschap require-mppe \
             require-mppe-40 require-mppe-128 mppe-stateful nobsdcomp nodeflate novj \
             lcp-echo-failure 5 lcp-echo-interval 30 unit 7 mtu 1300"
        );
        let a = s.helper_args(1, "debug", true).join(" ");
        assert!(a.contains("--insecure"));
        assert!(a.contains(&format!("--cert-sha256 {}", "ab".repeat(32))));
        assert!(a.contains(" vpn.example.com:8443 -- "));
    }

    #[test]
    fn ip_methods() {
        let mut c = debian_profile();
        c.ipv6_method = Some("auto".into());
        c.ipv4_ignore_auto_dns = true;
        let o = Settings::parse(&c).unwrap().pppd_options(1, false);
        assert!(o.contains(&"+ipv6".to_string()));
        assert!(!o.contains(&"usepeerdns".to_string()));
        c.ipv6_method = None;
        assert_eq!(Settings::parse(&c).unwrap().ip6, Ip6Method::Auto);
        c.ipv4_method = Some("disabled".into());
        c.ipv6_method = Some("ignore".into());
        let s = Settings::parse(&c).unwrap();
        assert!(s.pppd_options(1, false).contains(&"noip".to_string()));
        assert_eq!(s.check_supported().unwrap_err().key, "ipv4.method");
        c.ipv6_method = Some("bogus".into());
        assert_eq!(Settings::parse(&c).unwrap_err().key, "ipv6.method");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str)] = &[
            ("gateway", ""),
            ("gateway", "vpn:http"),
            ("gateway", "vpn:0"),
            ("gateway", "a b"),
            ("gateway", "[::1"),
            ("refuse-eap", "maybe"),
            ("mtu", "big"),
            ("mtu", "100"),
            ("lcp-echo-interval", "-1"),
            ("unit", "70000"),
            ("password-flags", "x"),
            ("connection-type", "kerberos"),
            ("ca-cert", "relative.pem"),
            ("cert-sha256", "abcd"),
            ("proxy-port", "0"),
            ("user", "a\nb"),
        ];
        for (k, v) in cases {
            let mut c = conn(&[("gateway", "vpn"), ("proxy-server", "p")]);
            c.data.insert(k.to_string(), v.to_string());
            let e = Settings::parse(&c).expect_err(&format!("{k}={v:?} accepted"));
            assert_eq!(&e.key, k, "{k}={v:?}: {e}");
            assert!(e.to_string().contains(k));
        }
        let mut c = conn(&[("gateway", "vpn")]);
        c.service_type = Some("org.freedesktop.NetworkManager.pptp".into());
        assert_eq!(Settings::parse(&c).unwrap_err().key, "vpn.service-type");
    }

    #[test]
    fn gateway_forms() {
        for g in [
            "vpn",
            "vpn:443",
            "10.0.0.1",
            "[2001:db8::1]:443",
            "2001:db8::1",
        ] {
            let c = conn(&[("gateway", g)]);
            assert_eq!(Settings::parse(&c).unwrap().gateway, g);
        }
    }

    #[test]
    fn user_falls_back_to_vpn_user_name_and_unknown_keys_are_kept() {
        let mut c = conn(&[("gateway", "vpn"), ("future-key", "1")]);
        c.user_name = Some("carol".into());
        let s = Settings::parse(&c).unwrap();
        assert_eq!(s.user.as_deref(), Some("carol"));
        assert_eq!(s.unknown_keys, vec!["future-key".to_string()]);
        assert_eq!(s.id, "office");
    }

    #[test]
    fn proxy_and_outer_tls_keys_reach_the_helper() {
        let mut c = conn(&[
            ("gateway", "vpn"),
            ("proxy-server", "proxy.example"),
            ("proxy-port", "3128"),
            ("proxy-user", "pu"),
            ("outer-tls-min-version", "1.2"),
            ("outer-tls-max-version", "1.3"),
            (
                "outer-tls-ciphers",
                "ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384",
            ),
        ]);
        c.secrets
            .insert("proxy-password".into(), "proxy secret".into());
        let s = Settings::parse(&c).unwrap();
        s.check_supported().unwrap();
        let a = s.helper_args(1, "info", false).join(" ");
        assert!(
            a.contains(
                "--proxy http://proxy.example:3128 --proxy-user pu --proxy-password-fd 5 \
                 --tls-min 1.2 --tls-max 1.3 \
                 --ciphers ECDHE-RSA-AES256-GCM-SHA384:TLS_AES_256_GCM_SHA384"
            ),
            "{a}"
        );
        assert!(
            !a.contains("proxy secret"),
            "the proxy password is never an argument"
        );
        assert_eq!(s.proxy_password(&c).unwrap().expose(), b"proxy secret");
        // no proxy user: no password pipe
        let c2 = conn(&[("gateway", "vpn"), ("proxy-server", "::1")]);
        let s2 = Settings::parse(&c2).unwrap();
        assert!(s2.proxy_password(&c2).is_none());
        let a = s2.helper_args(1, "info", false).join(" ");
        assert!(a.contains("--proxy http://[::1]:8080 --log-level"), "{a}");
        for (k, v) in [
            ("outer-tls-min-version", "1.1"),
            ("outer-tls-max-version", "TLSv1.3"),
            ("outer-tls-ciphers", "AES128 SHA"),
        ] {
            let c = conn(&[("gateway", "vpn"), (k, v)]);
            assert_eq!(Settings::parse(&c).unwrap_err().key, k, "{k}={v}");
        }
        let c = conn(&[
            ("gateway", "vpn"),
            ("outer-tls-min-version", "1.3"),
            ("outer-tls-max-version", "1.2"),
        ]);
        assert_eq!(
            Settings::parse(&c).unwrap_err().key,
            "outer-tls-min-version"
        );
    }

    #[test]
    fn unsupported_modes_say_so() {
        let c = conn(&[
            ("gateway", "vpn"),
            ("proxy-server", "proxy"),
            ("proxy-port", "3128"),
        ]);
        let s = Settings::parse(&c).unwrap();
        assert_eq!(s.proxy.as_ref().unwrap().port, 3128);
        assert!(s.check_supported().is_ok());
        let c = conn(&[
            ("gateway", "vpn"),
            ("connection-type", "tls"),
            ("tls-user-cert", "/c.pem"),
            ("tls-user-key", "/k.pem"),
            ("tls-ca-cert", "/ca.pem"),
            ("tls-subject-name", "CN=me"),
            ("tls-verify-method", "name"),
            ("tls-max-version", "1.2"),
        ]);
        let s = Settings::parse(&c).unwrap();
        let o = s.pppd_options(1, false).join(" ");
        assert!(o.ends_with("need-peer-eap ca /ca.pem cert /c.pem key /k.pem name CN=me"));
        assert_eq!(s.check_supported().unwrap_err().key, "connection-type");
        let mut c2 = c.clone();
        c2.data.insert("tls-verify-method".into(), "all".into());
        assert_eq!(Settings::parse(&c2).unwrap_err().key, "tls-verify-method");
    }

    #[test]
    fn secrets_needed_per_connection_type() {
        let d = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = BTreeMap::new();
        // password mode
        let data = d(&[("gateway", "g"), ("password-flags", "2")]);
        assert_eq!(
            needed_secrets(&data, &none, true),
            vec![NeededSecret::Password]
        );
        let have = d(&[("password", "pw")]);
        assert!(needed_secrets(&data, &have, true).is_empty());
        assert_eq!(
            needed_secrets(&data, &have, false),
            vec![NeededSecret::Password]
        );
        let data = d(&[("gateway", "g"), ("password-flags", "4")]);
        assert!(needed_secrets(&data, &none, true).is_empty());
        // proxy with a user
        let data = d(&[("proxy-server", "p"), ("proxy-user", "u")]);
        assert_eq!(
            needed_secrets(&data, &have, true),
            vec![NeededSecret::ProxyPassword]
        );
        // TLS: an encrypted key needs its password, a plain one does not
        let dir = std::env::temp_dir().join(format!("nm-sstp-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let enc = dir.join("enc.pem");
        let plain_key = dir.join("plain.pem");
        std::fs::write(&enc, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA\n").unwrap();
        std::fs::write(&plain_key, "-----BEGIN PRIVATE KEY-----\nAA\n").unwrap();
        let data = d(&[
            ("connection-type", "tls"),
            ("tls-user-key", enc.to_str().unwrap()),
        ]);
        assert_eq!(
            needed_secrets(&data, &none, true),
            vec![NeededSecret::KeySecret]
        );
        let data = d(&[
            ("connection-type", "tls"),
            ("tls-user-key", plain_key.to_str().unwrap()),
        ]);
        assert!(needed_secrets(&data, &none, true).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
