//! `nm-sstp-auth-dialog`: what NetworkManager's secret agents (nmcli `--ask`, GNOME Shell,
//! nm-applet) run to learn which secrets an SSTP connection needs. No GTK, no display.
//!
//! Called as `nm-sstp-auth-dialog -u UUID -n NAME -s SERVICE [-i] [-r] [-t HINT]...
//! [--external-ui-mode]`, with the connection on stdin as `DATA_KEY=`/`DATA_VAL=`/`SECRET_KEY=`/
//! `SECRET_VAL=` lines up to `DONE` (a line starting with `=` continues the previous value).
//!
//! - External UI mode (what the agents use): print a key file, `[VPN Plugin UI]` with
//!   `Version=2`, `Description`, `Title`, then one group per secret with `Value`, `Label`,
//!   `IsSecret`, `ShouldAsk`; the agent prompts for the `ShouldAsk=true` ones itself.
//! - Plain mode: print `key\nvalue\n` pairs, an empty line, and wait for `QUIT`. Secrets that
//!   must be typed are read from the controlling terminal when there is one; otherwise the
//!   dialog exits 1 (cancelled).

use crate::keys::{self, secret_flags};
use crate::settings::{needed_secrets, parse_flags, NeededSecret};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Parsed command line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Args {
    /// `-u`.
    pub uuid: Option<String>,
    /// `-n`.
    pub name: Option<String>,
    /// `-s`.
    pub service: Option<String>,
    /// `-i`.
    pub allow_interaction: bool,
    /// `-r`.
    pub reprompt: bool,
    /// `-t`, repeated.
    pub hints: Vec<String>,
    /// `--external-ui-mode`.
    pub external_ui: bool,
}

/// Parse the agent's arguments (short and long forms, `--opt=value` too).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (opt, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let val = |it: &mut I::IntoIter| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or(format!("{opt} needs a value")),
            }
        };
        match opt.as_str() {
            "-u" | "--uuid" => a.uuid = Some(val(&mut it)?),
            "-n" | "--name" => a.name = Some(val(&mut it)?),
            "-s" | "--service" => a.service = Some(val(&mut it)?),
            "-t" | "--hint" => a.hints.push(val(&mut it)?),
            "-i" | "--allow-interaction" => a.allow_interaction = true,
            "-r" | "--reprompt" => a.reprompt = true,
            "--external-ui-mode" => a.external_ui = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(a)
}

/// `vpn.data` and `vpn.secrets` as the agent sent them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Details {
    /// Data items.
    pub data: BTreeMap<String, String>,
    /// Secrets.
    pub secrets: BTreeMap<String, String>,
    /// The agent already sent QUIT after DONE (nmcli does).
    pub quit_seen: bool,
}

/// Read the agent's records up to `DONE` (libnm's `nm_vpn_service_plugin_read_vpn_details`
/// format), and a `QUIT` right after it if present in what was already sent.
pub fn read_details<R: BufRead>(r: &mut R) -> Details {
    let mut d = Details::default();
    #[derive(PartialEq)]
    enum Cur {
        None,
        DataKey,
        DataVal,
        SecretKey,
        SecretVal,
    }
    let mut cur = Cur::None;
    let (mut key, mut val) = (String::new(), String::new());
    let mut in_secret = false;
    let mut line = String::new();
    let commit = |key: &mut String, val: &mut String, secret: bool, d: &mut Details| {
        if !key.is_empty() {
            let m = if secret { &mut d.secrets } else { &mut d.data };
            m.insert(std::mem::take(key), std::mem::take(val));
        }
        key.clear();
        val.clear();
    };
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let l = line.trim_end_matches('\n');
        if let Some(rest) = l.strip_prefix('=') {
            match cur {
                Cur::DataKey | Cur::SecretKey => {
                    key.push('\n');
                    key.push_str(rest);
                }
                Cur::DataVal | Cur::SecretVal => {
                    val.push('\n');
                    val.push_str(rest);
                }
                Cur::None => {}
            }
            continue;
        }
        if matches!(cur, Cur::DataVal | Cur::SecretVal) {
            commit(&mut key, &mut val, in_secret, &mut d);
            cur = Cur::None;
        }
        if l == "DONE" {
            break;
        } else if let Some(k) = l.strip_prefix("DATA_KEY=") {
            key = k.to_string();
            in_secret = false;
            cur = Cur::DataKey;
        } else if let Some(v) = l.strip_prefix("DATA_VAL=") {
            if cur == Cur::DataKey {
                val = v.to_string();
                cur = Cur::DataVal;
            }
        } else if let Some(k) = l.strip_prefix("SECRET_KEY=") {
            key = k.to_string();
            in_secret = true;
            cur = Cur::SecretKey;
        } else if let Some(v) = l.strip_prefix("SECRET_VAL=") {
            if cur == Cur::SecretKey {
                val = v.to_string();
                cur = Cur::SecretVal;
            }
        }
    }
    if matches!(cur, Cur::DataVal | Cur::SecretVal) {
        commit(&mut key, &mut val, in_secret, &mut d);
    }
    // nmcli sends "DONE\nQUIT\n" at once; look at what is already buffered, without blocking
    if let Ok(buf) = r.fill_buf() {
        if !buf.is_empty() {
            let s = String::from_utf8_lossy(buf).to_string();
            d.quit_seen = s.lines().any(|l| l.trim() == "QUIT");
        }
    }
    d
}

/// One secret the agent gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Secret key.
    pub key: &'static str,
    /// Known value ("" if none).
    pub value: String,
    /// Prompt label.
    pub label: &'static str,
    /// The agent must ask the user.
    pub should_ask: bool,
}

/// Decide, per secret the profile uses, whether it must be asked for.
pub fn entries(a: &Args, d: &Details) -> Vec<Entry> {
    let hinted: Vec<&str> = a
        .hints
        .iter()
        .map(String::as_str)
        .filter(|h| !h.starts_with("x-vpn-message:"))
        .collect();
    let mut want = needed_secrets(&d.data, &d.secrets, false);
    for h in &hinted {
        let n = match *h {
            keys::PASSWORD => Some(NeededSecret::Password),
            keys::TLS_USER_KEY_SECRET => Some(NeededSecret::KeySecret),
            keys::PROXY_PASSWORD => Some(NeededSecret::ProxyPassword),
            _ => None,
        };
        if let Some(n) = n {
            if !want.contains(&n) {
                want.push(n);
            }
        }
    }
    let flags_key = |n: NeededSecret| match n {
        NeededSecret::Password => keys::PASSWORD_FLAGS,
        NeededSecret::KeySecret => keys::TLS_USER_KEY_SECRET_FLAGS,
        NeededSecret::ProxyPassword => keys::PROXY_PASSWORD_FLAGS,
    };
    want.into_iter()
        .filter_map(|n| {
            let flags = parse_flags(&d.data, flags_key(n)).unwrap_or(0);
            if flags & secret_flags::NOT_REQUIRED != 0 {
                return None;
            }
            let value = d.secrets.get(n.key()).cloned().unwrap_or_default();
            let ask = value.is_empty()
                || a.reprompt
                || hinted.contains(&n.key())
                || flags & secret_flags::NOT_SAVED != 0;
            Some(Entry {
                key: n.key(),
                value,
                label: n.label(),
                should_ask: ask && a.allow_interaction,
            })
        })
        .collect()
}

/// GKeyFile value escaping.
fn kf_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            ' ' if i == 0 => o.push_str("\\s"),
            c => o.push(c),
        }
    }
    o
}

/// The external-UI key file.
pub fn external_ui(a: &Args, es: &[Entry]) -> String {
    let name = a.name.as_deref().unwrap_or("VPN");
    let desc = a
        .hints
        .iter()
        .find_map(|h| h.strip_prefix("x-vpn-message:"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!("You need to authenticate to access the Virtual Private Network '{name}'.")
        });
    let mut o = String::new();
    o.push_str("[VPN Plugin UI]\nVersion=2\n");
    o.push_str(&format!("Description={}\n", kf_escape(&desc)));
    o.push_str(&format!(
        "Title={}\n",
        kf_escape(&format!("Authenticate VPN {name}"))
    ));
    if es.is_empty() {
        o.push_str(&format!(
            "\n[{}]\nValue=true\nLabel=\nIsSecret=false\nShouldAsk=false\n",
            keys::NOSECRET
        ));
    }
    for e in es {
        o.push_str(&format!(
            "\n[{}]\nValue={}\nLabel={}\nIsSecret=true\nShouldAsk={}\n",
            e.key,
            kf_escape(&e.value),
            e.label,
            e.should_ask
        ));
    }
    o
}

/// The whole dialog. Returns the exit code.
pub fn run<R: BufRead, W: Write>(
    argv: Vec<String>,
    stdin: &mut R,
    out: &mut W,
    ask: &mut dyn FnMut(&str) -> Option<String>,
) -> i32 {
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nm-sstp-auth-dialog: {e}");
            return 1;
        }
    };
    match a.service.as_deref() {
        Some(keys::DBUS_SERVICE) => {}
        other => {
            eprintln!(
                "nm-sstp-auth-dialog: this dialog is for {}, not {}",
                keys::DBUS_SERVICE,
                other.unwrap_or("(no -s)")
            );
            return 1;
        }
    }
    let d = read_details(stdin);
    let es = entries(&a, &d);
    if a.external_ui {
        let _ = out.write_all(external_ui(&a, &es).as_bytes());
        let _ = out.flush();
        return 0;
    }
    // plain mode
    let mut pairs: Vec<(String, String)> = Vec::new();
    for e in &es {
        if e.should_ask {
            let name = a.name.as_deref().unwrap_or("VPN");
            match ask(&format!("{} ({name}) ", e.label)) {
                Some(v) => pairs.push((e.key.into(), v)),
                None => return 1,
            }
        } else if !e.value.is_empty() {
            pairs.push((e.key.into(), e.value.clone()));
        }
    }
    if pairs.is_empty() {
        pairs.push((keys::NOSECRET.into(), "true".into()));
    }
    let mut s = String::new();
    for (k, v) in &pairs {
        s.push_str(&format!("{k}\n{v}\n"));
    }
    s.push_str("\n\n");
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
    if !d.quit_seen {
        wait_for_quit(stdin);
    }
    0
}

/// Wait (at most 20 s, in a thread) for `QUIT` on stdin.
fn wait_for_quit<R: BufRead>(stdin: &mut R) {
    let (tx, rx) = std::sync::mpsc::channel();
    // the reader cannot be moved into a thread (it is borrowed), so read here with a watchdog
    std::thread::spawn(move || {
        if rx.recv_timeout(std::time::Duration::from_secs(20)).is_err() {
            std::process::exit(0);
        }
    });
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.trim() == "QUIT" => break,
            Ok(_) => {}
        }
    }
    let _ = tx.send(());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    /// nmcli's writer: continuation lines, `DONE\nQUIT\n`.
    const NMCLI_IN: &str = "DATA_KEY=connection-type\nDATA_VAL=password\nDATA_KEY=password-flags\nDATA_VAL=2\nDATA_KEY=gateway\nDATA_VAL=10.99.0.1\nDATA_KEY=user\nDATA_VAL=test\nDONE\nQUIT\n";

    fn kf(out: &[u8]) -> BTreeMap<String, BTreeMap<String, String>> {
        let mut m: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut g = String::new();
        for l in String::from_utf8_lossy(out).lines() {
            if let Some(n) = l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                g = n.to_string();
                m.entry(g.clone()).or_default();
            } else if let Some((k, v)) = l.split_once('=') {
                m.get_mut(&g).unwrap().insert(k.into(), v.into());
            }
        }
        m
    }

    fn no_tty(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn nmcli_ask_external_mode_asks_for_the_password() {
        let mut out = Vec::new();
        let rc = run(
            args("-u 16d13120-8120-4f49-97a1-a1b99f9005ef -n sstp-ask -s org.freedesktop.NetworkManager.sstp --external-ui-mode -i"),
            &mut NMCLI_IN.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        assert_eq!(rc, 0);
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(s.starts_with("[VPN Plugin UI]\nVersion=2\n"), "{s}");
        let k = kf(&out);
        assert_eq!(k["VPN Plugin UI"]["Title"], "Authenticate VPN sstp-ask");
        assert!(k["VPN Plugin UI"]["Description"].contains("sstp-ask"));
        assert_eq!(k["password"]["ShouldAsk"], "true");
        assert_eq!(k["password"]["IsSecret"], "true");
        assert_eq!(k["password"]["Value"], "");
    }

    #[test]
    fn stored_password_is_returned_without_asking() {
        let input = "DATA_KEY=password-flags\nDATA_VAL=0\nSECRET_KEY=password\nSECRET_VAL= s3\\cret\nDONE\nQUIT\n";
        let mut out = Vec::new();
        run(
            args("-u u -n office -s org.freedesktop.NetworkManager.sstp --external-ui-mode -i"),
            &mut input.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        let k = kf(&out);
        assert_eq!(k["password"]["ShouldAsk"], "false");
        assert_eq!(k["password"]["Value"], "\\ss3\\\\cret");
    }

    #[test]
    fn gnome_shell_style_input_hints_and_flags() {
        // blank line after each pair, DONE + blank line; hint with a message
        let input = "DATA_KEY=password-flags\nDATA_VAL=2\n\nSECRET_KEY=password\nSECRET_VAL=old\n\nDONE\n\n";
        let mut out = Vec::new();
        run(
            args("-u u -n office -s org.freedesktop.NetworkManager.sstp -i --external-ui-mode -t x-vpn-message:Token_please -t password"),
            &mut input.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        let k = kf(&out);
        assert_eq!(k["password"]["ShouldAsk"], "true");
        assert!(k["VPN Plugin UI"]["Description"].starts_with("Token"));
        // not required: nothing to ask, the no-secret group
        let input = "DATA_KEY=password-flags\nDATA_VAL=4\nDONE\n";
        let mut out = Vec::new();
        run(
            args("-n x -s org.freedesktop.NetworkManager.sstp -i --external-ui-mode"),
            &mut input.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        let k = kf(&out);
        assert_eq!(k["no-secret"]["Value"], "true");
        assert_eq!(k["no-secret"]["ShouldAsk"], "false");
        assert!(k["VPN Plugin UI"].contains_key("Title"));
    }

    #[test]
    fn no_interaction_never_asks() {
        let mut out = Vec::new();
        run(
            args("-n x -s org.freedesktop.NetworkManager.sstp --external-ui-mode"),
            &mut NMCLI_IN.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        assert_eq!(kf(&out)["password"]["ShouldAsk"], "false");
    }

    #[test]
    fn proxy_password_too() {
        let input = "DATA_KEY=proxy-server\nDATA_VAL=p\nDATA_KEY=proxy-user\nDATA_VAL=u\nSECRET_KEY=password\nSECRET_VAL=pw\nDONE\n";
        let mut out = Vec::new();
        run(
            args("-n x -s org.freedesktop.NetworkManager.sstp -i --external-ui-mode"),
            &mut input.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        let k = kf(&out);
        assert_eq!(k["password"]["ShouldAsk"], "false");
        assert_eq!(k["proxy-password"]["ShouldAsk"], "true");
        assert_eq!(k["proxy-password"]["Label"], "HTTP proxy password:");
    }

    #[test]
    fn plain_mode() {
        // stored: pairs, blank lines; QUIT already sent
        let input = "SECRET_KEY=password\nSECRET_VAL=s3cret\nDONE\n\nQUIT\n\n";
        let mut out = Vec::new();
        let rc = run(
            args("-n x -s org.freedesktop.NetworkManager.sstp -i"),
            &mut input.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        assert_eq!(rc, 0);
        assert_eq!(out, b"password\ns3cret\n\n\n");
        // must ask, no terminal: cancel
        let mut out = Vec::new();
        let rc = run(
            args("-n x -s org.freedesktop.NetworkManager.sstp -i"),
            &mut NMCLI_IN.as_bytes(),
            &mut out,
            &mut no_tty,
        );
        assert_eq!(rc, 1);
        // must ask, terminal answers
        let mut out = Vec::new();
        let rc = run(
            args("-n x -s org.freedesktop.NetworkManager.sstp -i"),
            &mut NMCLI_IN.as_bytes(),
            &mut out,
            &mut |p: &str| {
                assert!(p.starts_with("Password:"));
                Some("typed".into())
            },
        );
        assert_eq!(rc, 0);
        assert_eq!(out, b"password\ntyped\n\n\n");
        // nothing needed
        let mut out = Vec::new();
        run(
            args("-n x -s org.freedesktop.NetworkManager.sstp"),
            &mut "DATA_KEY=password-flags\nDATA_VAL=4\nDONE\nQUIT\n".as_bytes(),
            &mut out,
            &mut no_tty,
        );
        assert_eq!(out, b"no-secret\ntrue\n\n\n");
    }

    #[test]
    fn wrong_service_and_bad_args() {
        let mut out = Vec::new();
        assert_eq!(
            run(
                args("-n x -s org.freedesktop.NetworkManager.pptp --external-ui-mode"),
                &mut "DONE\n".as_bytes(),
                &mut out,
                &mut no_tty
            ),
            1
        );
        assert!(out.is_empty());
        assert!(parse_args(args("--bogus")).is_err());
        let a = parse_args(args(
            "--uuid=U --name=N --service=S --reprompt --hint=password",
        ))
        .unwrap();
        assert_eq!(a.uuid.as_deref(), Some("U"));
        assert!(a.reprompt);
        assert_eq!(a.hints, vec!["password".to_string()]);
    }

    #[test]
    fn continuation_lines() {
        let d = read_details(
            &mut "DATA_KEY=banner\nDATA_VAL=line1\n=line2\nDATA_KEY=gateway\nDATA_VAL=g\nDONE\n"
                .as_bytes(),
        );
        assert_eq!(d.data["banner"], "line1\nline2");
        assert_eq!(d.data["gateway"], "g");
    }
}
