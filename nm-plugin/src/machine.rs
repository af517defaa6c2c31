//! The service's state machine: pure, no D-Bus, no processes, no clock.
//!
//! Every input (a method call from NetworkManager, a status message or the exit of
//! sstp-helper, a timer) goes through [`Machine::handle`], which returns the method's reply
//! and a list of [`Action`]s for the caller to carry out in order. The state rules follow
//! libnm's `NMVpnServicePlugin` so NetworkManager sees what it expects from every VPN plugin.

use crate::keys::{failure, state};
use crate::settings::{needed_secrets, ConnInput, Ip4Method, Settings};
use sstp_proto::ipc::Msg;
use sstp_proto::secret::Secret;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

/// libnm's connect timer: a connection that is not up by then fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// libnm's quit timer: an idle service without a peer watch exits after this.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(180);
/// After SIGTERM, the helper gets this long before SIGKILL.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(4);

/// Timers the machine asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// The connection must be up before this fires.
    Connect,
    /// Go to STOPPED after a failed Connect (after its reply is sent).
    FailStop,
    /// SIGKILL the helper.
    Kill,
    /// Exit the process.
    Quit,
}

/// Log levels of [`Action::Log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Progress.
    Info,
    /// Details.
    Debug,
}

/// What the D-Bus layer and the helper supervisor feed in.
#[derive(Debug)]
pub enum Input {
    /// `Connect` / `ConnectInteractive`.
    Connect {
        /// The connection, unpacked.
        conn: Box<ConnInput>,
        /// ConnectInteractive (we may ask for secrets with SecretsRequired).
        interactive: bool,
    },
    /// `NewSecrets`.
    NewSecrets(Box<ConnInput>),
    /// `Disconnect`.
    Disconnect,
    /// `SetConfig` from another process (the signal is already re-emitted by the adapter).
    ExternalConfig {
        /// has-ip4.
        has_ip4: bool,
        /// has-ip6.
        has_ip6: bool,
    },
    /// `SetIp4Config` from another process.
    ExternalIp4,
    /// `SetIp6Config` from another process.
    ExternalIp6,
    /// `SetFailure`.
    SetFailure(String),
    /// A status frame from the helper's `--status-fd`.
    Helper(Msg),
    /// The helper exited (or could not be started).
    HelperExited {
        /// Exit code; `None` when killed by a signal or never started.
        code: Option<i32>,
        /// The last ERROR line of its stderr (or why it could not start).
        reason: Option<String>,
    },
    /// A timer fired.
    Timeout(Timer),
    /// NetworkManager (the Connect caller) left the bus.
    PeerVanished,
    /// We got SIGTERM / SIGINT.
    Shutdown,
}

/// How to run sstp-helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments (never a secret).
    pub args: Vec<String>,
    /// Written to the password pipe (`--password-fd`).
    pub password: Secret,
    /// Written to the proxy-password pipe (`--proxy-password-fd`), when there is one.
    pub proxy_password: Option<Secret>,
}

/// `Config` signal contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The ppp interface.
    pub tundev: String,
    /// The SSTP server's address (NM adds a host route to it).
    pub gateway: Option<IpAddr>,
    /// Interface MTU.
    pub mtu: u32,
    /// An Ip4Config follows.
    pub has_ip4: bool,
    /// An Ip6Config follows.
    pub has_ip6: bool,
}

/// One IPv4 route: NM's `aau` element `[dest, prefix, next-hop, metric]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route4 {
    /// Destination.
    pub dest: Ipv4Addr,
    /// Prefix length.
    pub prefix: u32,
    /// Next hop (unspecified = on-link).
    pub next_hop: Ipv4Addr,
    /// Metric (0 = NM's default).
    pub metric: u32,
}

/// `Ip4Config` signal contents (with libnm's copies of the generic config for old daemons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip4Config {
    /// Our address.
    pub address: Ipv4Addr,
    /// Always 32 on PPP.
    pub prefix: u32,
    /// The peer, unless pppd made it up.
    pub ptp: Option<Ipv4Addr>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// WINS servers.
    pub nbns: Vec<Ipv4Addr>,
    /// Host routes to DNS / WINS servers that are not the peer.
    pub routes: Vec<Route4>,
    /// Copy of Config's tundev.
    pub tundev: String,
    /// Copy of Config's gateway when it is IPv4.
    pub gateway: Option<Ipv4Addr>,
    /// Copy of Config's mtu.
    pub mtu: u32,
}

/// `Ip6Config` signal contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip6Config {
    /// Our address.
    pub address: Ipv6Addr,
    /// Prefix length.
    pub prefix: u32,
    /// The peer.
    pub ptp: Option<Ipv6Addr>,
}

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Change the State property and emit StateChanged.
    State(u32),
    /// Emit Config.
    Config(Config),
    /// Emit Ip4Config.
    Ip4(Ip4Config),
    /// Emit Ip6Config.
    Ip6(Ip6Config),
    /// Emit Failure.
    Failure(u32),
    /// Emit SecretsRequired.
    SecretsRequired {
        /// Prompt.
        message: String,
        /// Secret keys wanted.
        hints: Vec<String>,
    },
    /// Start the helper.
    Spawn(HelperCommand),
    /// SIGTERM the helper.
    Terminate,
    /// SIGKILL the helper.
    Kill,
    /// (Re)start a timer.
    Start(Timer, Duration),
    /// Cancel a timer.
    Cancel(Timer),
    /// Write a line to NM's log.
    Log(Level, String),
    /// Exit the process.
    Quit,
}

/// `org.freedesktop.NetworkManager.VPN.Error.*` replies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginError {
    /// WrongState.
    WrongState(String),
    /// BadArguments.
    BadArguments(String),
    /// LaunchFailed.
    LaunchFailed(String),
    /// StoppingInProgress.
    StoppingInProgress,
    /// AlreadyStopped.
    AlreadyStopped,
}

/// Fixed facts about this process.
#[derive(Debug, Clone)]
pub struct Env {
    /// Our pid (pppd's ipparam).
    pub pid: u32,
    /// sstp-helper to run.
    pub helper: PathBuf,
    /// Its `--log-level`.
    pub helper_log_level: String,
    /// Add pppd's `debug`.
    pub pppd_debug: bool,
    /// `--persist`: never quit on our own.
    pub persist: bool,
    /// Not `--debug`: quit as soon as the connection is over (libnm's peer watch).
    pub watch_peer: bool,
}

/// The machine.
#[derive(Debug)]
pub struct Machine {
    env: Env,
    state: u32,
    helper_running: bool,
    waiting_for_secrets: Option<(Settings, Box<ConnInput>)>,
    settings: Option<Settings>,
    gateway: Option<IpAddr>,
    got_config: bool,
    has_ip4: bool,
    has_ip6: bool,
    got_ip4: bool,
    got_ip6: bool,
    quit_after_stop: bool,
}

/// Output of one step: the method reply (for method inputs) and the actions.
pub type Step = (Result<(), PluginError>, Vec<Action>);

/// Is this pppd's made-up peer address (10.64.64.64 + unit) for `ifname`?
fn made_up_peer(ifname: &str, a: Ipv4Addr) -> bool {
    let unit = ifname
        .strip_prefix("ppp")
        .and_then(|u| u.parse::<u32>().ok())
        .unwrap_or(0);
    u32::from(a) == 0x0a40_4040u32.wrapping_add(unit)
}

/// What an exit code of sstp-helper means (its man page).
pub fn helper_exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "disconnected on request",
        1 => "internal error",
        2 => "usage error or unreadable file",
        3 => "the server name could not be resolved",
        4 => "TCP connection failed",
        5 => "TLS handshake failed",
        6 => "server certificate rejected",
        7 => "HTTP exchange failed",
        8 => "SSTP negotiation failed",
        9 => "PPP authentication failed",
        10 => "pppd failed",
        11 => "connection lost",
        _ => "unknown exit status",
    }
}

impl Machine {
    /// A new machine in INIT; also returns the start-up actions (state, quit timer).
    pub fn new(env: Env) -> (Machine, Vec<Action>) {
        let m = Machine {
            env,
            state: state::INIT,
            helper_running: false,
            waiting_for_secrets: None,
            settings: None,
            gateway: None,
            got_config: false,
            has_ip4: false,
            has_ip6: false,
            got_ip4: false,
            got_ip6: false,
            quit_after_stop: false,
        };
        let mut acts = vec![Action::State(state::INIT)];
        if !m.env.persist {
            acts.push(Action::Start(Timer::Quit, QUIT_TIMEOUT));
        }
        (m, acts)
    }

    /// Current NMVpnServiceState.
    pub fn state(&self) -> u32 {
        self.state
    }

    fn set_state(&mut self, s: u32, a: &mut Vec<Action>) {
        if self.state == s {
            return;
        }
        self.state = s;
        a.push(Action::State(s));
        match s {
            state::STARTING => {
                a.push(Action::Cancel(Timer::Quit));
                a.push(Action::Cancel(Timer::FailStop));
            }
            state::STOPPED => {
                a.push(Action::Cancel(Timer::Connect));
                if self.quit_after_stop {
                    a.push(Action::Quit);
                } else if !self.env.persist {
                    if self.env.watch_peer {
                        a.push(Action::Quit);
                    } else {
                        a.push(Action::Start(Timer::Quit, QUIT_TIMEOUT));
                    }
                }
            }
            _ => {
                a.push(Action::Cancel(Timer::Connect));
                a.push(Action::Cancel(Timer::Quit));
                a.push(Action::Cancel(Timer::FailStop));
            }
        }
    }

    /// libnm's disconnect: STARTING/STARTED -> STOPPING, stop the helper; STOPPED once it is gone.
    fn stop(&mut self, a: &mut Vec<Action>) {
        self.set_state(state::STOPPING, a);
        self.waiting_for_secrets = None;
        if self.helper_running {
            a.push(Action::Terminate);
            a.push(Action::Start(Timer::Kill, KILL_TIMEOUT));
        } else {
            self.set_state(state::STOPPED, a);
        }
    }

    fn fail(&mut self, reason: u32, msg: String, a: &mut Vec<Action>) {
        a.push(Action::Log(Level::Error, msg));
        a.push(Action::Failure(reason));
        if matches!(self.state, state::STARTING | state::STARTED) {
            self.stop(a);
        }
    }

    fn spawn(&mut self, s: &Settings, c: &ConnInput, a: &mut Vec<Action>) {
        let args = s.helper_args(
            self.env.pid,
            &self.env.helper_log_level,
            self.env.pppd_debug,
        );
        a.push(Action::Log(
            Level::Info,
            format!("starting {} {}", self.env.helper.display(), args.join(" ")),
        ));
        a.push(Action::Spawn(HelperCommand {
            program: self.env.helper.clone(),
            args,
            password: s.password(c),
            proxy_password: s.proxy_password(c),
        }));
        self.helper_running = true;
        self.gateway = None;
        self.got_config = false;
        self.has_ip4 = false;
        self.has_ip6 = false;
        self.got_ip4 = false;
        self.got_ip6 = false;
        self.settings = Some(s.clone());
    }

    /// One input.
    pub fn handle(&mut self, input: Input) -> Step {
        let mut a = Vec::new();
        let reply = self.step(input, &mut a);
        (reply, a)
    }

    fn step(&mut self, input: Input, a: &mut Vec<Action>) -> Result<(), PluginError> {
        match input {
            Input::Connect { conn, interactive } => self.connect(conn, interactive, a),
            Input::NewSecrets(conn) => {
                if self.state != state::STARTING {
                    return Err(PluginError::WrongState(format!(
                        "Could not accept new secrets: wrong plugin state {}",
                        self.state
                    )));
                }
                if let Some((s, mut old)) = self.waiting_for_secrets.take() {
                    for (k, v) in conn.secrets {
                        old.secrets.insert(k, v);
                    }
                    let missing = needed_secrets(&old.data, &old.secrets, true);
                    if !missing.is_empty() {
                        let e = format!(
                            "still missing secret '{}' after NewSecrets",
                            missing[0].key()
                        );
                        a.push(Action::Log(Level::Error, e.clone()));
                        a.push(Action::Start(Timer::FailStop, Duration::ZERO));
                        return Err(PluginError::BadArguments(e));
                    }
                    self.spawn(&s, &old, a);
                    a.push(Action::Start(Timer::Connect, CONNECT_TIMEOUT));
                }
                Ok(())
            }
            Input::Disconnect | Input::PeerVanished => match self.state {
                state::STOPPING => Err(PluginError::StoppingInProgress),
                state::STOPPED => Err(PluginError::AlreadyStopped),
                state::STARTING => {
                    a.push(Action::Failure(failure::CONNECT_FAILED));
                    self.stop(a);
                    Ok(())
                }
                state::STARTED => {
                    self.stop(a);
                    Ok(())
                }
                _ => {
                    self.set_state(state::STOPPED, a);
                    Ok(())
                }
            },
            Input::Shutdown => {
                self.quit_after_stop = true;
                if self.helper_running {
                    if self.state != state::STOPPING {
                        self.stop(a);
                    }
                } else {
                    a.push(Action::Quit);
                }
                Ok(())
            }
            Input::ExternalConfig { has_ip4, has_ip6 } => {
                self.got_config = true;
                self.has_ip4 = has_ip4;
                self.has_ip6 = has_ip6;
                self.maybe_started(a);
                Ok(())
            }
            Input::ExternalIp4 => {
                self.got_ip4 = true;
                if !self.got_config {
                    self.has_ip4 = true;
                }
                self.maybe_started(a);
                Ok(())
            }
            Input::ExternalIp6 => {
                self.got_ip6 = true;
                self.maybe_started(a);
                Ok(())
            }
            Input::SetFailure(reason) => {
                self.fail(failure::BAD_IP_CONFIG, format!("SetFailure: {reason}"), a);
                Ok(())
            }
            Input::Helper(msg) => {
                self.helper_msg(msg, a);
                Ok(())
            }
            Input::HelperExited { code, reason } => {
                self.helper_exited(code, reason, a);
                Ok(())
            }
            Input::Timeout(t) => {
                match t {
                    Timer::Connect => {
                        if self.state == state::STARTING {
                            self.fail(
                                failure::CONNECT_FAILED,
                                format!(
                                    "the connection was not up after {} s; giving up",
                                    CONNECT_TIMEOUT.as_secs()
                                ),
                                a,
                            );
                        }
                    }
                    Timer::FailStop => self.set_state(state::STOPPED, a),
                    Timer::Kill => {
                        if self.helper_running {
                            a.push(Action::Log(
                                Level::Warn,
                                format!(
                                    "sstp-helper still running {} s after SIGTERM; killing it",
                                    KILL_TIMEOUT.as_secs()
                                ),
                            ));
                            a.push(Action::Kill);
                        }
                    }
                    Timer::Quit => {
                        if !self.env.persist && !self.helper_running {
                            a.push(Action::Quit);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn connect(
        &mut self,
        conn: Box<ConnInput>,
        interactive: bool,
        a: &mut Vec<Action>,
    ) -> Result<(), PluginError> {
        if self.state != state::STOPPED && self.state != state::INIT {
            return Err(PluginError::WrongState(format!(
                "Could not start connection: wrong plugin state {}",
                self.state
            )));
        }
        self.quit_after_stop = false;
        let s = match Settings::parse(&conn).and_then(|s| s.check_supported().map(|()| s)) {
            Ok(s) => s,
            Err(e) => {
                a.push(Action::Log(Level::Error, e.to_string()));
                a.push(Action::Start(Timer::FailStop, Duration::ZERO));
                return Err(PluginError::BadArguments(e.to_string()));
            }
        };
        for k in &s.unknown_keys {
            a.push(Action::Log(
                Level::Warn,
                format!("ignoring unknown vpn.data key '{k}'"),
            ));
        }
        let missing = needed_secrets(&conn.data, &conn.secrets, true);
        if !missing.is_empty() {
            if interactive {
                self.set_state(state::STARTING, a);
                a.push(Action::SecretsRequired {
                    message: format!("A password is required to connect to '{}'.", s.id),
                    hints: missing.iter().map(|m| m.key().to_string()).collect(),
                });
                self.waiting_for_secrets = Some((s, conn));
                return Ok(());
            }
            let e = format!("no '{}' given", missing[0].key());
            a.push(Action::Log(Level::Error, e.clone()));
            a.push(Action::Start(Timer::FailStop, Duration::ZERO));
            return Err(PluginError::BadArguments(e));
        }
        self.spawn(&s, &conn, a);
        self.set_state(state::STARTING, a);
        a.push(Action::Start(Timer::Connect, CONNECT_TIMEOUT));
        Ok(())
    }

    fn maybe_started(&mut self, a: &mut Vec<Action>) {
        if self.state == state::STARTING
            && self.has_ip4 == self.got_ip4
            && self.has_ip6 == self.got_ip6
        {
            self.set_state(state::STARTED, a);
        }
    }

    fn helper_msg(&mut self, msg: Msg, a: &mut Vec<Action>) {
        match msg {
            Msg::Server(ip) => {
                a.push(Action::Log(
                    Level::Info,
                    format!("connected to the SSTP server at {ip}"),
                ));
                self.gateway = Some(ip);
            }
            Msg::IpUp {
                ifname,
                local,
                remote,
                dns,
                wins,
                mtu,
            } => {
                if self.state != state::STARTING {
                    a.push(Action::Log(
                        Level::Warn,
                        format!("IPCP up on {ifname} in state {}: ignored", self.state),
                    ));
                    return;
                }
                let ip4_wanted = self
                    .settings
                    .as_ref()
                    .map(|s| s.ip4 == Ip4Method::Auto)
                    .unwrap_or(true);
                if !ip4_wanted {
                    return;
                }
                if local.is_unspecified() || local.is_broadcast() || ifname.is_empty() {
                    self.fail(
                        failure::BAD_IP_CONFIG,
                        format!("unusable IP configuration from pppd: {local} on '{ifname}'"),
                        a,
                    );
                    return;
                }
                let gateway = self.gateway.or_else(|| {
                    self.settings
                        .as_ref()
                        .and_then(|s| s.gateway.parse::<IpAddr>().ok())
                });
                let ptp =
                    (!remote.is_unspecified() && !made_up_peer(&ifname, remote)).then_some(remote);
                let mut routes: Vec<Route4> = Vec::new();
                for d in dns.iter().chain(wins.iter()) {
                    if *d == local
                        || Some(*d) == ptp
                        || d.is_unspecified()
                        || routes.iter().any(|r| r.dest == *d)
                    {
                        continue;
                    }
                    routes.push(Route4 {
                        dest: *d,
                        prefix: 32,
                        next_hop: ptp.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        metric: 0,
                    });
                }
                a.push(Action::Log(
                    Level::Info,
                    format!(
                        "IPv4 up on {ifname}: {local} peer {remote}, DNS {dns:?}, WINS {wins:?}, MTU {mtu}"
                    ),
                ));
                let config = Config {
                    tundev: ifname.clone(),
                    gateway,
                    mtu,
                    has_ip4: true,
                    has_ip6: false,
                };
                self.got_config = true;
                self.has_ip4 = true;
                self.has_ip6 = false;
                a.push(Action::Config(config));
                a.push(Action::Ip4(Ip4Config {
                    address: local,
                    prefix: 32,
                    ptp,
                    dns,
                    nbns: wins,
                    routes,
                    tundev: ifname,
                    gateway: match gateway {
                        Some(IpAddr::V4(g)) => Some(g),
                        _ => None,
                    },
                    mtu,
                }));
                self.got_ip4 = true;
                self.maybe_started(a);
            }
            Msg::Ip6Up {
                ifname,
                local_id,
                remote_id,
            } => {
                // IPv6CP only negotiates interface identifiers: fe80::/64 addresses. NM rejects an
                // Ip6Config without a usable address and fails the whole VPN, so none is sent.
                a.push(Action::Log(
                    Level::Info,
                    format!(
                        "IPv6CP up on {ifname} with link-local identifiers only ({} / {}); no IPv6 configuration for NetworkManager",
                        hex(&local_id),
                        hex(&remote_id)
                    ),
                ));
                if self.state == state::STARTING
                    && self.settings.as_ref().map(|s| s.ip4) == Some(Ip4Method::Disabled)
                {
                    self.fail(
                        failure::BAD_IP_CONFIG,
                        "IPv4 is disabled and IPv6CP gave no routable address".into(),
                        a,
                    );
                }
            }
            Msg::Error(e) => a.push(Action::Log(Level::Warn, format!("sstp-helper: {e}"))),
            other => a.push(Action::Log(
                Level::Debug,
                format!("unexpected status message {other:?}"),
            )),
        }
    }

    fn helper_exited(&mut self, code: Option<i32>, reason: Option<String>, a: &mut Vec<Action>) {
        self.helper_running = false;
        a.push(Action::Cancel(Timer::Kill));
        let what = match code {
            Some(c) => format!("exit code {c}, {}", helper_exit_meaning(c)),
            None => "killed by a signal".to_string(),
        };
        let reason = reason.unwrap_or_else(|| "no reason given".into());
        match self.state {
            state::STARTING | state::STARTED => {
                let f = match code {
                    Some(9) => failure::LOGIN_FAILED,
                    _ => failure::CONNECT_FAILED,
                };
                let verb = if self.state == state::STARTING {
                    "connect failed"
                } else {
                    "connection ended"
                };
                self.fail(f, format!("{verb}: {reason} (sstp-helper {what})"), a);
            }
            state::STOPPING => {
                a.push(Action::Log(
                    Level::Info,
                    format!("disconnected (sstp-helper {what})"),
                ));
                self.set_state(state::STOPPED, a);
            }
            _ => a.push(Action::Log(
                Level::Debug,
                format!("sstp-helper ended ({what})"),
            )),
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    fn env() -> Env {
        Env {
            pid: 77,
            helper: "/usr/libexec/sstp-helper".into(),
            helper_log_level: "info".into(),
            pppd_debug: false,
            persist: false,
            watch_peer: true,
        }
    }

    fn conn(pw: Option<&str>) -> Box<ConnInput> {
        let mut c = ConnInput {
            id: Some("office".into()),
            uuid: Some("5dab5a8c-8c40-4847-baa0-bafd38af1afc".into()),
            service_type: Some(keys::DBUS_SERVICE.into()),
            ipv6_method: Some("auto".into()),
            ..Default::default()
        };
        for (k, v) in [
            ("gateway", "vpn.example.com"),
            ("user", "alice"),
            ("password-flags", "2"),
        ] {
            c.data.insert(k.into(), v.into());
        }
        if let Some(p) = pw {
            c.secrets.insert("password".into(), p.into());
        }
        Box::new(c)
    }

    fn ip_up() -> Msg {
        Msg::IpUp {
            ifname: "ppp0".into(),
            local: Ipv4Addr::new(10, 77, 0, 2),
            remote: Ipv4Addr::new(10, 77, 0, 1),
            dns: vec![Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(192, 0, 2, 53)],
            wins: vec![Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 137)],
            mtu: 1400,
        }
    }

    fn has(a: &[Action], want: &Action) -> bool {
        a.contains(want)
    }

    fn started(m: &mut Machine) {
        let (r, a) = m.handle(Input::Connect {
            conn: conn(Some("s3cret")),
            interactive: false,
        });
        assert_eq!(r, Ok(()));
        let spawn = a.iter().find_map(|x| match x {
            Action::Spawn(c) => Some(c.clone()),
            _ => None,
        });
        let spawn = spawn.expect("spawn");
        assert_eq!(spawn.password.expose(), b"s3cret");
        assert!(!spawn.args.iter().any(|x| x.contains("s3cret")));
        assert!(has(&a, &Action::State(state::STARTING)));
        assert!(has(&a, &Action::Start(Timer::Connect, CONNECT_TIMEOUT)));
        let _ = m.handle(Input::Helper(Msg::Server("192.0.2.1".parse().unwrap())));
        let (_, a) = m.handle(Input::Helper(ip_up()));
        assert!(has(&a, &Action::State(state::STARTED)), "{a:?}");
    }

    #[test]
    fn startup_then_connect_to_started_with_config() {
        let (mut m, a) = Machine::new(env());
        assert_eq!(
            a,
            vec![
                Action::State(state::INIT),
                Action::Start(Timer::Quit, QUIT_TIMEOUT)
            ]
        );
        let _ = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        let _ = m.handle(Input::Helper(Msg::Server("192.0.2.1".parse().unwrap())));
        let (_, a) = m.handle(Input::Helper(ip_up()));
        let cfg = a
            .iter()
            .find_map(|x| match x {
                Action::Config(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            cfg,
            Config {
                tundev: "ppp0".into(),
                gateway: Some("192.0.2.1".parse().unwrap()),
                mtu: 1400,
                has_ip4: true,
                has_ip6: false
            }
        );
        let ip4 = a
            .iter()
            .find_map(|x| match x {
                Action::Ip4(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(ip4.address, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(ip4.prefix, 32);
        assert_eq!(ip4.ptp, Some(Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(ip4.dns.len(), 2);
        assert_eq!(ip4.nbns.len(), 2);
        // host routes: not to the peer, each server once, via the peer
        let dests: Vec<_> = ip4.routes.iter().map(|r| r.dest.to_string()).collect();
        assert_eq!(dests, vec!["192.0.2.53", "192.0.2.137"]);
        assert!(ip4
            .routes
            .iter()
            .all(|r| r.prefix == 32 && r.next_hop == Ipv4Addr::new(10, 77, 0, 1)));
        assert_eq!(ip4.gateway, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert!(!a.iter().any(|x| matches!(x, Action::Ip6(_))));
        // Config before Ip4Config before STARTED
        let pos = |f: &dyn Fn(&Action) -> bool| a.iter().position(f).unwrap();
        assert!(pos(&|x| matches!(x, Action::Config(_))) < pos(&|x| matches!(x, Action::Ip4(_))));
        assert!(
            pos(&|x| matches!(x, Action::Ip4(_))) < pos(&|x| *x == Action::State(state::STARTED))
        );
        assert_eq!(m.state(), state::STARTED);
    }

    #[test]
    fn ipv6cp_link_local_never_becomes_an_ip6config() {
        let (mut m, _) = Machine::new(env());
        started(&mut m);
        let (_, a) = m.handle(Input::Helper(Msg::Ip6Up {
            ifname: "ppp0".into(),
            local_id: [1; 8],
            remote_id: [2; 8],
        }));
        assert!(!a
            .iter()
            .any(|x| matches!(x, Action::Ip6(_) | Action::Failure(_))));
        assert_eq!(m.state(), state::STARTED);
    }

    #[test]
    fn made_up_peer_is_not_ptp() {
        let (mut m, _) = Machine::new(env());
        let _ = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        let (_, a) = m.handle(Input::Helper(Msg::IpUp {
            ifname: "ppp3".into(),
            local: Ipv4Addr::new(10, 0, 0, 5),
            remote: Ipv4Addr::new(10, 64, 64, 67),
            dns: vec![Ipv4Addr::new(10, 0, 0, 1)],
            wins: vec![],
            mtu: 1400,
        }));
        let ip4 = a
            .iter()
            .find_map(|x| match x {
                Action::Ip4(c) => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(ip4.ptp, None);
        assert_eq!(ip4.routes[0].next_hop, Ipv4Addr::UNSPECIFIED);
        // no Server message: the gateway falls back to nothing (a name is not an address)
        assert_eq!(ip4.gateway, None);
    }

    #[test]
    fn unusable_address_is_bad_ip_config() {
        let (mut m, _) = Machine::new(env());
        let _ = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        let (_, a) = m.handle(Input::Helper(Msg::IpUp {
            ifname: "ppp0".into(),
            local: Ipv4Addr::UNSPECIFIED,
            remote: Ipv4Addr::new(10, 0, 0, 1),
            dns: vec![],
            wins: vec![],
            mtu: 1400,
        }));
        assert!(has(&a, &Action::Failure(failure::BAD_IP_CONFIG)));
        assert!(has(&a, &Action::Terminate));
        assert_eq!(m.state(), state::STOPPING);
    }

    #[test]
    fn wrong_password_is_login_failed_with_reason() {
        let (mut m, _) = Machine::new(env());
        let _ = m.handle(Input::Connect {
            conn: conn(Some("bad")),
            interactive: false,
        });
        let (_, a) = m.handle(Input::HelperExited {
            code: Some(9),
            reason: Some("authentication failed: MS-CHAPv2: E=691 R=1".into()),
        });
        assert_eq!(a[0], Action::Cancel(Timer::Kill));
        assert!(a.iter().any(|x| matches!(x, Action::Log(Level::Error, s)
            if s.contains("E=691") && s.contains("exit code 9"))));
        assert!(has(&a, &Action::Failure(failure::LOGIN_FAILED)));
        assert!(!has(&a, &Action::Failure(failure::CONNECT_FAILED)));
        assert!(has(&a, &Action::State(state::STOPPED)));
        assert!(has(&a, &Action::Quit));
    }

    #[test]
    fn server_down_is_connect_failed() {
        for code in [3, 4, 5, 6, 7, 8, 10, 11] {
            let (mut m, _) = Machine::new(env());
            let _ = m.handle(Input::Connect {
                conn: conn(Some("pw")),
                interactive: false,
            });
            let (_, a) = m.handle(Input::HelperExited {
                code: Some(code),
                reason: Some("cannot connect to 192.0.2.1:443: Connection refused".into()),
            });
            assert!(has(&a, &Action::Failure(failure::CONNECT_FAILED)), "{code}");
            assert!(a.iter().any(|x| matches!(x, Action::Log(Level::Error, s)
                if s.contains("Connection refused"))));
            assert_eq!(m.state(), state::STOPPED);
        }
    }

    #[test]
    fn disconnect_terminates_then_kills_then_stops() {
        let (mut m, _) = Machine::new(env());
        started(&mut m);
        let (r, a) = m.handle(Input::Disconnect);
        assert_eq!(r, Ok(()));
        assert_eq!(
            a,
            vec![
                Action::State(state::STOPPING),
                Action::Cancel(Timer::Connect),
                Action::Cancel(Timer::Quit),
                Action::Cancel(Timer::FailStop),
                Action::Terminate,
                Action::Start(Timer::Kill, KILL_TIMEOUT)
            ]
        );
        assert_eq!(
            m.handle(Input::Disconnect).0,
            Err(PluginError::StoppingInProgress)
        );
        let (_, a) = m.handle(Input::Timeout(Timer::Kill));
        assert!(has(&a, &Action::Kill));
        let (_, a) = m.handle(Input::HelperExited {
            code: None,
            reason: None,
        });
        assert!(has(&a, &Action::State(state::STOPPED)));
        assert!(!a.iter().any(|x| matches!(x, Action::Failure(_))));
        assert!(has(&a, &Action::Quit));
        assert_eq!(
            m.handle(Input::Disconnect).0,
            Err(PluginError::AlreadyStopped)
        );
    }

    #[test]
    fn persist_and_debug_quit_rules() {
        let mut e = env();
        e.persist = true;
        let (mut m, a) = Machine::new(e);
        assert_eq!(a, vec![Action::State(state::INIT)]);
        started(&mut m);
        let _ = m.handle(Input::Disconnect);
        let (_, a) = m.handle(Input::HelperExited {
            code: Some(0),
            reason: None,
        });
        assert!(!has(&a, &Action::Quit));
        // reconnect from STOPPED works
        started(&mut m);

        let mut e = env();
        e.watch_peer = false;
        let (mut m, _) = Machine::new(e);
        started(&mut m);
        let _ = m.handle(Input::Disconnect);
        let (_, a) = m.handle(Input::HelperExited {
            code: Some(0),
            reason: None,
        });
        assert!(has(&a, &Action::Start(Timer::Quit, QUIT_TIMEOUT)));
        let (_, a) = m.handle(Input::Timeout(Timer::Quit));
        assert_eq!(a, vec![Action::Quit]);
    }

    #[test]
    fn connect_in_wrong_state_and_bad_settings() {
        let (mut m, _) = Machine::new(env());
        started(&mut m);
        let (r, _) = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        assert!(matches!(r, Err(PluginError::WrongState(_))));

        let (mut m, _) = Machine::new(env());
        let mut c = conn(Some("pw"));
        c.data.insert("mtu".into(), "huge".into());
        let (r, a) = m.handle(Input::Connect {
            conn: c,
            interactive: false,
        });
        match r {
            Err(PluginError::BadArguments(s)) => assert!(s.contains("'mtu'")),
            other => panic!("{other:?}"),
        }
        assert!(!a.iter().any(|x| matches!(x, Action::Spawn(_))));
        assert!(has(&a, &Action::Start(Timer::FailStop, Duration::ZERO)));
        let (_, a) = m.handle(Input::Timeout(Timer::FailStop));
        assert!(has(&a, &Action::State(state::STOPPED)));
    }

    #[test]
    fn missing_password_interactive_asks_then_connects() {
        let (mut m, _) = Machine::new(env());
        let (r, a) = m.handle(Input::Connect {
            conn: conn(None),
            interactive: false,
        });
        assert!(matches!(r, Err(PluginError::BadArguments(_))));
        assert!(!a.iter().any(|x| matches!(x, Action::Spawn(_))));

        let (mut m, _) = Machine::new(env());
        let (r, a) = m.handle(Input::Connect {
            conn: conn(None),
            interactive: true,
        });
        assert_eq!(r, Ok(()));
        assert!(a
            .iter()
            .any(|x| matches!(x, Action::SecretsRequired { hints, .. }
            if hints == &vec!["password".to_string()])));
        assert_eq!(m.state(), state::STARTING);
        let mut s = ConnInput::default();
        s.secrets.insert("password".into(), "typed".into());
        let (r, a) = m.handle(Input::NewSecrets(Box::new(s)));
        assert_eq!(r, Ok(()));
        assert!(a
            .iter()
            .any(|x| matches!(x, Action::Spawn(c) if c.password.expose() == b"typed")));
    }

    #[test]
    fn connect_timer_fails_the_connection() {
        let (mut m, _) = Machine::new(env());
        let _ = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        let (_, a) = m.handle(Input::Timeout(Timer::Connect));
        assert!(has(&a, &Action::Failure(failure::CONNECT_FAILED)));
        assert!(has(&a, &Action::Terminate));
    }

    #[test]
    fn lost_connection_after_started() {
        let (mut m, _) = Machine::new(env());
        started(&mut m);
        let (_, a) = m.handle(Input::HelperExited {
            code: Some(11),
            reason: Some("connection lost: server sent Call Abort".into()),
        });
        assert!(has(&a, &Action::Failure(failure::CONNECT_FAILED)));
        assert_eq!(m.state(), state::STOPPED);
    }

    #[test]
    fn external_set_config_path_reaches_started() {
        let (mut m, _) = Machine::new(env());
        let _ = m.handle(Input::Connect {
            conn: conn(Some("pw")),
            interactive: false,
        });
        let _ = m.handle(Input::ExternalConfig {
            has_ip4: true,
            has_ip6: true,
        });
        let (_, a) = m.handle(Input::ExternalIp4);
        assert!(!has(&a, &Action::State(state::STARTED)));
        let (_, a) = m.handle(Input::ExternalIp6);
        assert!(has(&a, &Action::State(state::STARTED)));
        let (_, a) = m.handle(Input::SetFailure("bad".into()));
        assert!(has(&a, &Action::Failure(failure::BAD_IP_CONFIG)));
    }

    #[test]
    fn shutdown_stops_the_helper_then_quits() {
        let mut e = env();
        e.persist = true;
        let (mut m, _) = Machine::new(e);
        started(&mut m);
        let (_, a) = m.handle(Input::Shutdown);
        assert!(has(&a, &Action::Terminate));
        let (_, a) = m.handle(Input::HelperExited {
            code: Some(0),
            reason: None,
        });
        assert!(has(&a, &Action::Quit));
        let (mut m, _) = Machine::new(env());
        assert_eq!(m.handle(Input::Shutdown).1, vec![Action::Quit]);
    }
}
