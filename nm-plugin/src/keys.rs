//! Names shared with NetworkManager and network-manager-sstp, so existing profiles keep working.
//!
//! The `vpn.data` / `vpn.secrets` keys are network-manager-sstp's (`shared/nm-service-defines.h`);
//! the D-Bus names and enum values are libnm's (`nm-vpn-dbus-interface.h`).

/// D-Bus service name prefix; NM starts us with `--bus-name <this>.Connection_N`.
pub const DBUS_SERVICE: &str = "org.freedesktop.NetworkManager.sstp";
/// Object path of the VPN plugin interface.
pub const DBUS_PATH: &str = "/org/freedesktop/NetworkManager/VPN/Plugin";
/// The VPN plugin interface.
pub const DBUS_INTERFACE: &str = "org.freedesktop.NetworkManager.VPN.Plugin";

// ---- vpn.data keys
/// `host[:port]` of the SSTP server (required).
pub const GATEWAY: &str = "gateway";
/// Correlation id (network-manager-sstp copies the connection UUID here).
pub const UUID: &str = "uuid";
/// PPP user name.
pub const USER: &str = "user";
/// Windows domain: the user name becomes `DOMAIN\user`.
pub const DOMAIN: &str = "domain";
/// CA file for the outer (SSTP) TLS.
pub const CA_CERT: &str = "ca-cert";
/// `password` (default) or `tls` (EAP-TLS).
pub const CONNECTION_TYPE: &str = "connection-type";
/// `yes`: do not verify the server certificate.
pub const IGN_CERT_WARN: &str = "ignore-cert-warn";
/// `yes`: send SNI (we always do; see [`crate::settings`]).
pub const TLS_EXT: &str = "tls-ext";
/// Auth-dialog marker meaning "nothing needed".
pub const NOSECRET: &str = "no-secret";
/// pppd `refuse-eap`.
pub const REFUSE_EAP: &str = "refuse-eap";
/// pppd `refuse-pap`.
pub const REFUSE_PAP: &str = "refuse-pap";
/// pppd `refuse-chap`.
pub const REFUSE_CHAP: &str = "refuse-chap";
/// pppd `refuse-mschap`.
pub const REFUSE_MSCHAP: &str = "refuse-mschap";
/// pppd `refuse-mschap-v2`.
pub const REFUSE_MSCHAPV2: &str = "refuse-mschapv2";
/// pppd `require-mppe`.
pub const REQUIRE_MPPE: &str = "require-mppe";
/// pppd `require-mppe-40`.
pub const REQUIRE_MPPE_40: &str = "require-mppe-40";
/// pppd `require-mppe-128`.
pub const REQUIRE_MPPE_128: &str = "require-mppe-128";
/// pppd `mppe-stateful`.
pub const MPPE_STATEFUL: &str = "mppe-stateful";
/// pppd `nobsdcomp`.
pub const NOBSDCOMP: &str = "nobsdcomp";
/// pppd `nodeflate`.
pub const NODEFLATE: &str = "nodeflate";
/// pppd `novj`.
pub const NO_VJ_COMP: &str = "no-vj-comp";
/// pppd `lcp-echo-failure N`.
pub const LCP_ECHO_FAILURE: &str = "lcp-echo-failure";
/// pppd `lcp-echo-interval N`.
pub const LCP_ECHO_INTERVAL: &str = "lcp-echo-interval";
/// pppd `unit N`.
pub const UNIT_NUM: &str = "unit";
/// pppd `mtu N` (default [`MTU_DEFAULT`]).
pub const MTU: &str = "mtu";
/// HTTP proxy host.
pub const PROXY_SERVER: &str = "proxy-server";
/// HTTP proxy port.
pub const PROXY_PORT: &str = "proxy-port";
/// HTTP proxy user.
pub const PROXY_USER: &str = "proxy-user";
/// Outer (SSTP) TLS: lowest version, `1.2` or `1.3` (sstp-helper `--tls-min`). Ours.
pub const OUTER_TLS_MIN_VERSION: &str = "outer-tls-min-version";
/// Outer (SSTP) TLS: highest version, `1.2` or `1.3` (sstp-helper `--tls-max`). Ours.
pub const OUTER_TLS_MAX_VERSION: &str = "outer-tls-max-version";
/// Outer (SSTP) TLS: cipher list (sstp-helper `--ciphers`). Ours.
pub const OUTER_TLS_CIPHERS: &str = "outer-tls-ciphers";
/// pppd `crl FILE` (EAP-TLS).
pub const CRL_REVOCATION_FILE: &str = "crl-file";
/// pppd `ca FILE` (EAP-TLS, inner).
pub const TLS_CA_CERT: &str = "tls-ca-cert";
/// pppd `name ID` (EAP-TLS).
pub const TLS_IDENTITY: &str = "tls-identity";
/// pppd `name SUBJECT` when there is no identity (EAP-TLS).
pub const TLS_SUBJECT_NAME: &str = "tls-subject-name";
/// pppd `cert FILE` (EAP-TLS).
pub const TLS_USER_CERT: &str = "tls-user-cert";
/// pppd `key FILE` (EAP-TLS).
pub const TLS_USER_KEY: &str = "tls-user-key";
/// pppd `tls-verify-key-usage` (EAP-TLS, pppd > 2.4.9).
pub const TLS_VERIFY_KEY_USAGE: &str = "tls-verify-key-usage";
/// pppd `tls-verify-method` (EAP-TLS, pppd > 2.4.9).
pub const TLS_VERIFY_METHOD: &str = "tls-verify-method";
/// pppd `remotename` for the EAP-TLS check.
pub const TLS_REMOTENAME: &str = "tls-remotename";
/// pppd `max-tls-version` (EAP-TLS, pppd > 2.4.9).
pub const TLS_MAX_VERSION: &str = "tls-max-version";
/// Flags of `password`.
pub const PASSWORD_FLAGS: &str = "password-flags";
/// Flags of `proxy-password`.
pub const PROXY_PASSWORD_FLAGS: &str = "proxy-password-flags";
/// Flags of `tls-user-key-secret`.
pub const TLS_USER_KEY_SECRET_FLAGS: &str = "tls-user-key-secret-flags";
/// Our extension: SHA-256 pin of the server certificate (sstp-helper `--cert-sha256`).
pub const CERT_SHA256: &str = "cert-sha256";

// ---- vpn.secrets keys
/// PPP password.
pub const PASSWORD: &str = "password";
/// HTTP proxy password.
pub const PROXY_PASSWORD: &str = "proxy-password";
/// Private key password (EAP-TLS).
pub const TLS_USER_KEY_SECRET: &str = "tls-user-key-secret";

/// `connection-type` value for password logins.
pub const CONTYPE_PASSWORD: &str = "password";
/// `connection-type` value for EAP-TLS.
pub const CONTYPE_TLS: &str = "tls";

/// network-manager-sstp >= 1.3.1 limits the MTU to this unless `mtu` says otherwise.
pub const MTU_DEFAULT: u32 = 1400;

/// Every `vpn.data` key we understand (others are logged and ignored).
pub const DATA_KEYS: &[&str] = &[
    GATEWAY,
    UUID,
    USER,
    DOMAIN,
    CA_CERT,
    CONNECTION_TYPE,
    IGN_CERT_WARN,
    TLS_EXT,
    REFUSE_EAP,
    REFUSE_PAP,
    REFUSE_CHAP,
    REFUSE_MSCHAP,
    REFUSE_MSCHAPV2,
    REQUIRE_MPPE,
    REQUIRE_MPPE_40,
    REQUIRE_MPPE_128,
    MPPE_STATEFUL,
    NOBSDCOMP,
    NODEFLATE,
    NO_VJ_COMP,
    LCP_ECHO_FAILURE,
    LCP_ECHO_INTERVAL,
    UNIT_NUM,
    MTU,
    PROXY_SERVER,
    PROXY_PORT,
    PROXY_USER,
    OUTER_TLS_MIN_VERSION,
    OUTER_TLS_MAX_VERSION,
    OUTER_TLS_CIPHERS,
    CRL_REVOCATION_FILE,
    TLS_CA_CERT,
    TLS_IDENTITY,
    TLS_SUBJECT_NAME,
    TLS_USER_CERT,
    TLS_USER_KEY,
    TLS_VERIFY_KEY_USAGE,
    TLS_VERIFY_METHOD,
    TLS_REMOTENAME,
    TLS_MAX_VERSION,
    PASSWORD_FLAGS,
    PROXY_PASSWORD_FLAGS,
    TLS_USER_KEY_SECRET_FLAGS,
    CERT_SHA256,
];

/// Every `vpn.secrets` key.
pub const SECRET_KEYS: &[&str] = &[PASSWORD, PROXY_PASSWORD, TLS_USER_KEY_SECRET, NOSECRET];

/// `NMSettingSecretFlags`.
pub mod secret_flags {
    /// Stored by NM.
    pub const NONE: u32 = 0;
    /// Owned by an agent.
    pub const AGENT_OWNED: u32 = 1;
    /// Never saved: ask every time.
    pub const NOT_SAVED: u32 = 2;
    /// Not needed at all.
    pub const NOT_REQUIRED: u32 = 4;
}

/// `NMVpnServiceState`.
pub mod state {
    /// Unknown.
    pub const UNKNOWN: u32 = 0;
    /// Started, idle.
    pub const INIT: u32 = 1;
    /// Shutting down.
    pub const SHUTDOWN: u32 = 2;
    /// Connecting.
    pub const STARTING: u32 = 3;
    /// Connected.
    pub const STARTED: u32 = 4;
    /// Disconnecting.
    pub const STOPPING: u32 = 5;
    /// Disconnected.
    pub const STOPPED: u32 = 6;
}

/// `NMVpnPluginFailure`.
pub mod failure {
    /// Authentication failed.
    pub const LOGIN_FAILED: u32 = 0;
    /// Connecting failed.
    pub const CONNECT_FAILED: u32 = 1;
    /// The IP configuration was unusable.
    pub const BAD_IP_CONFIG: u32 = 2;
}
