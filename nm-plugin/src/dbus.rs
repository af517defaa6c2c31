//! The D-Bus side: `org.freedesktop.NetworkManager.VPN.Plugin`, a thin adapter.
//!
//! Method calls are unpacked into [`Input`]s and queued to one driver task, which owns the
//! [`Machine`], carries out its [`Action`]s (signals, the helper, timers) and answers the call.

use crate::helper::{Launcher, Running};
use crate::keys::{self, DBUS_PATH};
use crate::machine::{
    Action, Config, Input, Ip4Config, Ip6Config, Level, Machine, PluginError, Timer,
};
use crate::settings::{needed_secrets, ConnInput};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedValue, Value};

/// NM's connection argument.
pub type ConnDict = HashMap<String, HashMap<String, OwnedValue>>;
/// An `a{sv}`.
pub type VarDict = HashMap<String, OwnedValue>;

/// `org.freedesktop.NetworkManager.VPN.Error.*`.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.freedesktop.NetworkManager.VPN.Error")]
pub enum VpnError {
    /// Transport error.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// General.
    General(String),
    /// WrongState.
    WrongState(String),
    /// BadArguments.
    BadArguments(String),
    /// LaunchFailed.
    LaunchFailed(String),
    /// StoppingInProgress.
    StoppingInProgress(String),
    /// AlreadyStopped.
    AlreadyStopped(String),
    /// InvalidConnection.
    InvalidConnection(String),
}

impl From<PluginError> for VpnError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::WrongState(s) => VpnError::WrongState(s),
            PluginError::BadArguments(s) => VpnError::BadArguments(s),
            PluginError::LaunchFailed(s) => VpnError::LaunchFailed(s),
            PluginError::StoppingInProgress => VpnError::StoppingInProgress(
                "Could not process the request because the VPN connection is already being stopped."
                    .into(),
            ),
            PluginError::AlreadyStopped => VpnError::AlreadyStopped(
                "Could not process the request because no VPN connection was active.".into(),
            ),
        }
    }
}

fn str_of(v: &OwnedValue) -> Option<String> {
    <&str>::try_from(v).ok().map(str::to_string)
}

fn map_of(v: &OwnedValue) -> std::collections::BTreeMap<String, String> {
    v.try_clone()
        .ok()
        .and_then(|v| HashMap::<String, String>::try_from(v).ok())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}

/// Unpack NM's `a{sa{sv}}`.
pub fn conn_input(c: &ConnDict) -> ConnInput {
    let mut out = ConnInput::default();
    if let Some(s) = c.get("connection") {
        out.id = s.get("id").and_then(str_of);
        out.uuid = s.get("uuid").and_then(str_of);
    }
    if let Some(v) = c.get("vpn") {
        out.service_type = v.get("service-type").and_then(str_of);
        out.user_name = v.get("user-name").and_then(str_of);
        if let Some(d) = v.get("data") {
            out.data = map_of(d);
        }
        if let Some(d) = v.get("secrets") {
            out.secrets = map_of(d);
        }
    }
    if let Some(s) = c.get("ipv4") {
        out.ipv4_method = s.get("method").and_then(str_of);
        out.ipv4_ignore_auto_dns = s
            .get("ignore-auto-dns")
            .and_then(|v| bool::try_from(v).ok())
            .unwrap_or(false);
    }
    if let Some(s) = c.get("ipv6") {
        out.ipv6_method = s.get("method").and_then(str_of);
    }
    out
}

fn be(a: std::net::Ipv4Addr) -> u32 {
    // NM wants IPv4 addresses as u32 in network byte order
    u32::from_ne_bytes(a.octets())
}

/// `Config` as `a{sv}`.
pub fn config_dict(c: &Config) -> HashMap<&'static str, Value<'static>> {
    let mut m: HashMap<&'static str, Value<'static>> = HashMap::new();
    m.insert("tundev", Value::from(c.tundev.clone()));
    match c.gateway {
        Some(std::net::IpAddr::V4(a)) => {
            m.insert("gateway", Value::U32(be(a)));
        }
        Some(std::net::IpAddr::V6(a)) => {
            m.insert("gateway", Value::from(a.octets().to_vec()));
        }
        None => {}
    }
    m.insert("mtu", Value::U32(c.mtu));
    m.insert("has-ip4", Value::Bool(c.has_ip4));
    m.insert("has-ip6", Value::Bool(c.has_ip6));
    m
}

/// `Ip4Config` as `a{sv}`.
pub fn ip4_dict(c: &Ip4Config) -> HashMap<&'static str, Value<'static>> {
    let mut m: HashMap<&'static str, Value<'static>> = HashMap::new();
    m.insert("address", Value::U32(be(c.address)));
    m.insert("prefix", Value::U32(c.prefix));
    if let Some(p) = c.ptp {
        m.insert("ptp", Value::U32(be(p)));
    }
    if !c.dns.is_empty() {
        m.insert(
            "dns",
            Value::from(c.dns.iter().map(|a| be(*a)).collect::<Vec<u32>>()),
        );
    }
    if !c.nbns.is_empty() {
        m.insert(
            "nbns",
            Value::from(c.nbns.iter().map(|a| be(*a)).collect::<Vec<u32>>()),
        );
    }
    if !c.routes.is_empty() {
        let r: Vec<Vec<u32>> = c
            .routes
            .iter()
            .map(|r| vec![be(r.dest), r.prefix, be(r.next_hop), r.metric])
            .collect();
        m.insert("routes", Value::from(r));
    }
    // libnm copies these from Config for older daemons
    m.insert("tundev", Value::from(c.tundev.clone()));
    if let Some(g) = c.gateway {
        m.insert("gateway", Value::U32(be(g)));
    }
    m.insert("mtu", Value::U32(c.mtu));
    m
}

/// `Ip6Config` as `a{sv}`.
pub fn ip6_dict(c: &Ip6Config) -> HashMap<&'static str, Value<'static>> {
    let mut m: HashMap<&'static str, Value<'static>> = HashMap::new();
    m.insert("address", Value::from(c.address.octets().to_vec()));
    m.insert("prefix", Value::U32(c.prefix));
    if let Some(p) = c.ptp {
        m.insert("ptp", Value::from(p.octets().to_vec()));
    }
    m
}

/// A queued request for the driver.
pub enum Request {
    /// An input, and where to send the method's reply.
    Input(Input, Option<oneshot::Sender<Result<(), PluginError>>>),
    /// A timer fired (with its generation, to drop stale ones).
    Timer(Timer, u64),
    /// Start watching this bus name (NM) for disappearance.
    WatchPeer(String),
}

/// The exported object.
pub struct VpnPlugin {
    tx: mpsc::UnboundedSender<Request>,
    state: Arc<AtomicU32>,
}

impl VpnPlugin {
    /// New object feeding `tx`.
    pub fn new(tx: mpsc::UnboundedSender<Request>, state: Arc<AtomicU32>) -> Self {
        VpnPlugin { tx, state }
    }

    async fn call(&self, i: Input) -> Result<(), VpnError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Input(i, Some(tx)))
            .map_err(|_| VpnError::General("service is shutting down".into()))?;
        rx.await
            .map_err(|_| VpnError::General("service is shutting down".into()))?
            .map_err(VpnError::from)
    }

    fn watch(&self, hdr: &zbus::message::Header<'_>) {
        if let Some(s) = hdr.sender() {
            let _ = self.tx.send(Request::WatchPeer(s.to_string()));
        }
    }
}

#[zbus::interface(name = "org.freedesktop.NetworkManager.VPN.Plugin")]
impl VpnPlugin {
    #[zbus(name = "Connect")]
    async fn connect(
        &self,
        connection: ConnDict,
        #[zbus(header)] hdr: zbus::message::Header<'_>,
    ) -> Result<(), VpnError> {
        self.watch(&hdr);
        self.call(Input::Connect {
            conn: Box::new(conn_input(&connection)),
            interactive: false,
        })
        .await
    }

    #[zbus(name = "ConnectInteractive")]
    async fn connect_interactive(
        &self,
        connection: ConnDict,
        _details: VarDict,
        #[zbus(header)] hdr: zbus::message::Header<'_>,
    ) -> Result<(), VpnError> {
        self.watch(&hdr);
        self.call(Input::Connect {
            conn: Box::new(conn_input(&connection)),
            interactive: true,
        })
        .await
    }

    #[zbus(name = "NeedSecrets")]
    async fn need_secrets(&self, settings: ConnDict) -> Result<String, VpnError> {
        let c = conn_input(&settings);
        if c.service_type
            .as_deref()
            .is_some_and(|s| s != keys::DBUS_SERVICE)
        {
            return Err(VpnError::InvalidConnection(format!(
                "The connection was invalid: service type is not {}",
                keys::DBUS_SERVICE
            )));
        }
        let need = needed_secrets(&c.data, &c.secrets, true);
        log::debug!(
            "NeedSecrets: {}",
            if need.is_empty() {
                "none".to_string()
            } else {
                need.iter().map(|n| n.key()).collect::<Vec<_>>().join(", ")
            }
        );
        Ok(if need.is_empty() {
            String::new()
        } else {
            "vpn".into()
        })
    }

    #[zbus(name = "Disconnect")]
    async fn disconnect(&self) -> Result<(), VpnError> {
        self.call(Input::Disconnect).await
    }

    #[zbus(name = "SetConfig")]
    async fn set_config(
        &self,
        config: VarDict,
        #[zbus(signal_emitter)] e: SignalEmitter<'_>,
    ) -> Result<(), VpnError> {
        let b = |k: &str| {
            config
                .get(k)
                .and_then(|v| bool::try_from(v).ok())
                .unwrap_or(false)
        };
        let (has_ip4, has_ip6) = (b("has-ip4"), b("has-ip6"));
        Self::config(&e, config).await?;
        self.call(Input::ExternalConfig { has_ip4, has_ip6 }).await
    }

    #[zbus(name = "SetIp4Config")]
    async fn set_ip4_config(
        &self,
        config: VarDict,
        #[zbus(signal_emitter)] e: SignalEmitter<'_>,
    ) -> Result<(), VpnError> {
        Self::ip4_config(&e, config).await?;
        self.call(Input::ExternalIp4).await
    }

    #[zbus(name = "SetIp6Config")]
    async fn set_ip6_config(
        &self,
        config: VarDict,
        #[zbus(signal_emitter)] e: SignalEmitter<'_>,
    ) -> Result<(), VpnError> {
        Self::ip6_config(&e, config).await?;
        self.call(Input::ExternalIp6).await
    }

    #[zbus(name = "SetFailure")]
    async fn set_failure(&self, reason: String) -> Result<(), VpnError> {
        self.call(Input::SetFailure(reason)).await
    }

    #[zbus(name = "NewSecrets")]
    async fn new_secrets(&self, connection: ConnDict) -> Result<(), VpnError> {
        self.call(Input::NewSecrets(Box::new(conn_input(&connection))))
            .await
    }

    /// NMVpnServiceState.
    #[zbus(property, name = "State")]
    async fn state(&self) -> u32 {
        self.state.load(Ordering::SeqCst)
    }

    #[zbus(signal, name = "StateChanged")]
    async fn sig_state_changed(e: &SignalEmitter<'_>, state: u32) -> zbus::Result<()>;

    #[zbus(signal, name = "SecretsRequired")]
    async fn secrets_required(
        e: &SignalEmitter<'_>,
        message: &str,
        secrets: Vec<String>,
    ) -> zbus::Result<()>;

    #[zbus(signal, name = "Config")]
    async fn config(e: &SignalEmitter<'_>, config: VarDict) -> zbus::Result<()>;

    #[zbus(signal, name = "Ip4Config")]
    async fn ip4_config(e: &SignalEmitter<'_>, ip4config: VarDict) -> zbus::Result<()>;

    #[zbus(signal, name = "Ip6Config")]
    async fn ip6_config(e: &SignalEmitter<'_>, ip6config: VarDict) -> zbus::Result<()>;

    #[zbus(signal, name = "LoginBanner")]
    async fn login_banner(e: &SignalEmitter<'_>, banner: &str) -> zbus::Result<()>;

    #[zbus(signal, name = "Failure")]
    async fn failure(e: &SignalEmitter<'_>, reason: u32) -> zbus::Result<()>;
}

fn owned(m: HashMap<&'static str, Value<'static>>) -> VarDict {
    m.into_iter()
        .filter_map(|(k, v)| OwnedValue::try_from(v).ok().map(|v| (k.to_string(), v)))
        .collect()
}

/// Runs the machine: one request at a time, actions in order, then the reply.
pub struct Driver {
    machine: Machine,
    conn: zbus::Connection,
    launcher: Box<dyn Launcher>,
    helper: Option<Box<dyn Running>>,
    state: Arc<AtomicU32>,
    tx: mpsc::UnboundedSender<Request>,
    timers: HashMap<Timer, (u64, tokio::task::JoinHandle<()>)>,
    generation: u64,
    watching: Option<tokio::task::JoinHandle<()>>,
    watch_peer: bool,
}

impl Driver {
    /// New driver.
    pub fn new(
        machine: Machine,
        conn: zbus::Connection,
        launcher: Box<dyn Launcher>,
        state: Arc<AtomicU32>,
        tx: mpsc::UnboundedSender<Request>,
        watch_peer: bool,
    ) -> Self {
        Driver {
            machine,
            conn,
            launcher,
            helper: None,
            state,
            tx,
            timers: HashMap::new(),
            generation: 0,
            watching: None,
            watch_peer,
        }
    }

    /// Carry out actions; returns true when the process should exit.
    pub async fn act(&mut self, actions: Vec<Action>) -> bool {
        let e = match SignalEmitter::new(&self.conn, DBUS_PATH) {
            Ok(e) => e,
            Err(err) => {
                log::error!("signal emitter: {err}");
                return true;
            }
        };
        let mut quit = false;
        for a in actions {
            let r = match a {
                Action::State(s) => {
                    log::debug!("state {s}");
                    self.state.store(s, Ordering::SeqCst);
                    VpnPlugin::sig_state_changed(&e, s).await
                }
                Action::Config(c) => {
                    log::debug!("Config {c:?}");
                    VpnPlugin::config(&e, owned(config_dict(&c))).await
                }
                Action::Ip4(c) => {
                    log::debug!("Ip4Config {c:?}");
                    VpnPlugin::ip4_config(&e, owned(ip4_dict(&c))).await
                }
                Action::Ip6(c) => VpnPlugin::ip6_config(&e, owned(ip6_dict(&c))).await,
                Action::Failure(f) => VpnPlugin::failure(&e, f).await,
                Action::SecretsRequired { message, hints } => {
                    VpnPlugin::secrets_required(&e, &message, hints).await
                }
                Action::Spawn(cmd) => {
                    let tx = self.tx.clone();
                    let (itx, mut irx) = mpsc::unbounded_channel();
                    tokio::spawn(async move {
                        while let Some(i) = irx.recv().await {
                            if tx.send(Request::Input(i, None)).is_err() {
                                break;
                            }
                        }
                    });
                    match self.launcher.spawn(cmd, itx.clone()) {
                        Ok(h) => self.helper = Some(h),
                        Err(err) => {
                            let _ = itx.send(Input::HelperExited {
                                code: None,
                                reason: Some(format!("cannot start sstp-helper: {err}")),
                            });
                        }
                    }
                    Ok(())
                }
                Action::Terminate => {
                    if let Some(h) = self.helper.as_mut() {
                        h.signal(libc::SIGTERM);
                    }
                    Ok(())
                }
                Action::Kill => {
                    if let Some(h) = self.helper.as_mut() {
                        h.signal(libc::SIGKILL);
                    }
                    Ok(())
                }
                Action::Start(t, d) => {
                    self.generation += 1;
                    let g = self.generation;
                    let tx = self.tx.clone();
                    let h = tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        let _ = tx.send(Request::Timer(t, g));
                    });
                    if let Some((_, old)) = self.timers.insert(t, (g, h)) {
                        old.abort();
                    }
                    Ok(())
                }
                Action::Cancel(t) => {
                    if let Some((_, h)) = self.timers.remove(&t) {
                        h.abort();
                    }
                    Ok(())
                }
                Action::Log(l, m) => {
                    match l {
                        Level::Error => log::error!("{m}"),
                        Level::Warn => log::warn!("{m}"),
                        Level::Info => log::info!("{m}"),
                        Level::Debug => log::debug!("{m}"),
                    }
                    Ok(())
                }
                Action::Quit => {
                    quit = true;
                    Ok(())
                }
            };
            if let Err(err) = r {
                log::warn!("D-Bus signal: {err}");
            }
        }
        quit
    }

    fn watch_peer(&mut self, name: String) {
        if !self.watch_peer || !name.starts_with(':') {
            return;
        }
        if let Some(h) = self.watching.take() {
            h.abort();
        }
        let conn = self.conn.clone();
        let tx = self.tx.clone();
        self.watching = Some(tokio::spawn(async move {
            use futures_lite::StreamExt;
            let Ok(p) = zbus::fdo::DBusProxy::new(&conn).await else {
                return;
            };
            let Ok(mut s) = p
                .receive_name_owner_changed_with_args(&[(0, name.as_str())])
                .await
            else {
                return;
            };
            while let Some(sig) = s.next().await {
                if let Ok(a) = sig.args() {
                    if a.new_owner().is_none() {
                        log::warn!("NetworkManager ({name}) left the bus; disconnecting");
                        let _ = tx.send(Request::Input(Input::PeerVanished, None));
                        return;
                    }
                }
            }
        }));
    }

    /// Serve until the machine says Quit.
    pub async fn run(mut self, start: Vec<Action>, mut rx: mpsc::UnboundedReceiver<Request>) {
        if self.act(start).await {
            return;
        }
        while let Some(req) = rx.recv().await {
            let (input, reply) = match req {
                Request::Input(i, r) => (i, r),
                Request::Timer(t, g) => match self.timers.get(&t) {
                    Some((cur, _)) if *cur == g => {
                        self.timers.remove(&t);
                        (Input::Timeout(t), None)
                    }
                    _ => continue,
                },
                Request::WatchPeer(n) => {
                    self.watch_peer(n);
                    continue;
                }
            };
            if let Input::HelperExited { .. } = input {
                self.helper = None;
            }
            let (r, actions) = self.machine.handle(input);
            let quit = self.act(actions).await;
            if let Some(tx) = reply {
                let _ = tx.send(r);
            }
            if quit {
                // let the last signals and the reply leave before the connection goes
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Route4;
    use std::net::Ipv4Addr;

    #[test]
    fn unpacks_nm_connection() {
        let mut vpn: VarDict = HashMap::new();
        let data: HashMap<String, String> = [("gateway", "10.99.0.1"), ("user", "test")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let secrets: HashMap<String, String> = [("password".to_string(), "pw".to_string())]
            .into_iter()
            .collect();
        vpn.insert(
            "data".into(),
            OwnedValue::try_from(Value::from(data)).unwrap(),
        );
        vpn.insert(
            "secrets".into(),
            OwnedValue::try_from(Value::from(secrets)).unwrap(),
        );
        vpn.insert(
            "service-type".into(),
            OwnedValue::try_from(Value::from(keys::DBUS_SERVICE)).unwrap(),
        );
        let mut con: VarDict = HashMap::new();
        con.insert("id".into(), OwnedValue::try_from(Value::from("x")).unwrap());
        con.insert(
            "uuid".into(),
            OwnedValue::try_from(Value::from("u")).unwrap(),
        );
        let mut ip4: VarDict = HashMap::new();
        ip4.insert(
            "method".into(),
            OwnedValue::try_from(Value::from("auto")).unwrap(),
        );
        ip4.insert("ignore-auto-dns".into(), OwnedValue::from(true));
        let mut c: ConnDict = HashMap::new();
        c.insert("vpn".into(), vpn);
        c.insert("connection".into(), con);
        c.insert("ipv4".into(), ip4);
        let i = conn_input(&c);
        assert_eq!(i.data.get("gateway").unwrap(), "10.99.0.1");
        assert_eq!(i.secrets.get("password").unwrap(), "pw");
        assert_eq!(i.id.as_deref(), Some("x"));
        assert_eq!(i.ipv4_method.as_deref(), Some("auto"));
        assert!(i.ipv4_ignore_auto_dns);
        assert_eq!(i.service_type.as_deref(), Some(keys::DBUS_SERVICE));
    }

    #[test]
    fn ip4_dict_network_byte_order_and_types() {
        let c = Ip4Config {
            address: Ipv4Addr::new(10, 77, 0, 2),
            prefix: 32,
            ptp: Some(Ipv4Addr::new(10, 77, 0, 1)),
            dns: vec![Ipv4Addr::new(10, 77, 0, 1)],
            nbns: vec![],
            routes: vec![Route4 {
                dest: Ipv4Addr::new(192, 0, 2, 53),
                prefix: 32,
                next_hop: Ipv4Addr::new(10, 77, 0, 1),
                metric: 0,
            }],
            tundev: "ppp0".into(),
            gateway: Some(Ipv4Addr::new(192, 0, 2, 1)),
            mtu: 1400,
        };
        let d = owned(ip4_dict(&c));
        let addr = u32::try_from(&d["address"]).unwrap();
        assert_eq!(addr.to_ne_bytes(), [10, 77, 0, 2]);
        assert_eq!(d["dns"].value_signature().to_string(), "au");
        assert_eq!(d["routes"].value_signature().to_string(), "aau");
        assert!(!d.contains_key("nbns"));
        let cfg = owned(config_dict(&Config {
            tundev: "ppp0".into(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            mtu: 1400,
            has_ip4: true,
            has_ip6: false,
        }));
        assert_eq!(
            u32::try_from(&cfg["gateway"]).unwrap().to_ne_bytes(),
            [192, 0, 2, 1]
        );
        assert!(!bool::try_from(&cfg["has-ip6"]).unwrap());
        let v6 = owned(config_dict(&Config {
            tundev: "ppp0".into(),
            gateway: Some("2001:db8::1".parse().unwrap()),
            mtu: 1400,
            has_ip4: true,
            has_ip6: false,
        }));
        assert_eq!(v6["gateway"].value_signature().to_string(), "ay");
    }
}
