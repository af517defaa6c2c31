//! nm-sstp-service: started by NetworkManager with `--bus-name org.freedesktop.NetworkManager.sstp.Connection_N`.

use nm_sstp_service::dbus::{Driver, Request, VpnPlugin};
use nm_sstp_service::helper::{find_helper, ProcessLauncher};
use nm_sstp_service::keys;
use nm_sstp_service::machine::{Env, Input, Machine};
use nm_sstp_service::nmlog;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

const USAGE: &str = "\
Usage: nm-sstp-service [--bus-name NAME] [--persist] [--debug]

NetworkManager VPN service for SSTP (drop-in for network-manager-sstp). NetworkManager starts
it; it runs sstp-helper (found next to this program, in /usr/libexec, /usr/lib/NetworkManager
or $PATH; NM_SSTP_HELPER=PATH overrides) for each connection.

  --bus-name NAME  D-Bus name to own (default org.freedesktop.NetworkManager.sstp)
  --persist        do not quit when the connection is over
  --debug          log debug messages and do not watch NetworkManager on the bus

Environment: NM_VPN_LOG_LEVEL (syslog level 0-7), NM_VPN_LOG_SYSLOG=1 (log to syslog).";

struct Opts {
    bus_name: String,
    persist: bool,
    debug: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        bus_name: keys::DBUS_SERVICE.into(),
        persist: false,
        debug: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--persist" => o.persist = true,
            "--debug" => o.debug = true,
            "--bus-name" => o.bus_name = it.next().ok_or("--bus-name needs a value")?,
            s if s.starts_with("--bus-name=") => o.bus_name = s["--bus-name=".len()..].into(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "-V" | "--version" => {
                println!("nm-sstp-service {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if !o.bus_name.starts_with(keys::DBUS_SERVICE) {
        return Err(format!(
            "--bus-name {} does not start with {}",
            o.bus_name,
            keys::DBUS_SERVICE
        ));
    }
    Ok(o)
}

async fn serve(o: Opts) -> Result<(), String> {
    let level = nmlog::level_from_env(std::env::var("NM_VPN_LOG_LEVEL").ok().as_deref(), o.debug);
    let helper = find_helper(
        std::env::var("NM_SSTP_HELPER").ok().as_deref(),
        std::env::current_exe().ok().as_deref(),
    );
    log::info!(
        "nm-sstp-service {} starting on {} (helper {})",
        env!("CARGO_PKG_VERSION"),
        o.bus_name,
        helper.display()
    );
    let env = Env {
        pid: std::process::id(),
        helper,
        helper_log_level: nmlog::helper_level(level).into(),
        pppd_debug: level >= log::LevelFilter::Debug,
        persist: o.persist,
        watch_peer: !o.debug,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Request>();
    let state = Arc::new(AtomicU32::new(keys::state::INIT));
    let iface = VpnPlugin::new(tx.clone(), state.clone());
    let conn = zbus::connection::Builder::system()
        .map_err(|e| format!("system bus: {e}"))?
        .serve_at(keys::DBUS_PATH, iface)
        .map_err(|e| format!("D-Bus object: {e}"))?
        .build()
        .await
        .map_err(|e| format!("system bus: {e}"))?;
    conn.request_name_with_flags(
        o.bus_name.as_str(),
        zbus::fdo::RequestNameFlags::DoNotQueue.into(),
    )
    .await
    .map_err(|e| format!("cannot own {}: {e}", o.bus_name))?;

    // SIGTERM / SIGINT: stop the helper (Call Disconnect), then exit
    for kind in [
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::interrupt(),
    ] {
        let mut s = tokio::signal::unix::signal(kind).map_err(|e| format!("signals: {e}"))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                let _ = tx.send(Request::Input(Input::Shutdown, None));
            }
        });
    }
    let (machine, start) = Machine::new(env);
    let driver = Driver::new(
        machine,
        conn.clone(),
        Box::new(ProcessLauncher),
        state,
        tx,
        !o.debug,
    );
    driver.run(start, rx).await;
    log::info!("exiting");
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("nm-sstp-service: {e}");
            std::process::exit(2);
        }
    };
    let level = nmlog::level_from_env(std::env::var("NM_VPN_LOG_LEVEL").ok().as_deref(), o.debug);
    let syslog = std::env::var("NM_VPN_LOG_SYSLOG").is_ok_and(|v| v == "1");
    nmlog::init(level, syslog);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(serve(o)) {
        log::error!("{e}");
        std::process::exit(1);
    }
}
