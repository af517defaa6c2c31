//! Starting the stock pppd on our pty, with our plugin.

use crate::error::Error;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Installed name of the plugin under `/usr/lib/pppd/<version>/`.
pub const PLUGIN_NAME: &str = "sstp-rs-pppd.so";
/// File name cargo gives the plugin in `target/<profile>/`.
pub const PLUGIN_BUILD_NAME: &str = "libsstp_rs_pppd.so";

/// pppd's arguments: ours first, the user's last (pppd lets later options win).
pub fn build_args(
    device: &Path,
    user: Option<&str>,
    plugin: &Path,
    socket: &Path,
    extra: &[String],
) -> Vec<String> {
    let mut a = vec![
        device.display().to_string(),
        "nodetach".into(),
        "noauth".into(),
        // No Deflate or BSD-Compress inside the TLS tunnel: compressing before encrypting
        // leaks plaintext through record lengths (as CRIME did in TLS), Windows servers
        // offer neither (RAS knows MPPC and STAC), and pppd probing the kernel for them
        // costs a module load per method before IPCP starts. MPPE (require-mppe) still
        // negotiates through CCP, and `deflate 15` / `bsdcomp 15` after `--` turn them on.
        "nodeflate".into(),
        "nobsdcomp".into(),
    ];
    if let Some(u) = user {
        a.push("user".into());
        a.push(u.into());
    }
    a.push("plugin".into());
    a.push(plugin.display().to_string());
    a.push("sstp-socket".into());
    a.push(socket.display().to_string());
    a.extend(extra.iter().cloned());
    a
}

/// The version the given pppd reports (`pppd --version` prints "pppd version 2.4.9").
pub fn pppd_version(pppd: &Path) -> Option<String> {
    let out = std::process::Command::new(pppd)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .map(str::to_string)
}

/// The plugin to load when `--plugin` is not given: the one built next to this program, else
/// the one installed for the running pppd's version.
pub fn default_plugin(pppd: &Path) -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join(PLUGIN_BUILD_NAME);
        if p.is_file() {
            return Ok(p);
        }
    }
    let Some(v) = pppd_version(pppd) else {
        return Err(Error::PppdStart(format!(
            "pppd: cannot run {} --version; is ppp installed? (or pass --pppd)",
            pppd.display()
        )));
    };
    let cands = installed_plugin_paths(&v);
    if let Some(p) = cands.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    Err(Error::PppdStart(format!(
        "pppd: no sstp-rs plugin for pppd {v} at {}; pass --plugin PATH",
        cands
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" or ")
    )))
}

/// Where packages install the plugin for pppd `version`: pppd's plugin directory,
/// `/usr/lib/pppd/<version>/` on Debian, `/usr/lib64/pppd/<version>/` on Fedora.
pub fn installed_plugin_paths(version: &str) -> Vec<PathBuf> {
    ["/usr/lib/pppd", "/usr/lib64/pppd"]
        .iter()
        .map(|d| Path::new(d).join(version).join(PLUGIN_NAME))
        .collect()
}

/// Start pppd: its own process group (a terminal's Ctrl-C reaches only the helper, which then
/// stops pppd in order), killed by the kernel if the helper dies, log output piped to us.
pub fn spawn(program: &Path, args: &[String]) -> Result<tokio::process::Child, Error> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| Error::PppdStart(format!("cannot start pppd ({}): {e}", program.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_plugin_paths_cover_debian_and_fedora() {
        assert_eq!(
            installed_plugin_paths("2.5.2"),
            vec![
                PathBuf::from("/usr/lib/pppd/2.5.2/sstp-rs-pppd.so"),
                PathBuf::from("/usr/lib64/pppd/2.5.2/sstp-rs-pppd.so"),
            ]
        );
    }

    #[test]
    fn args_order_and_no_secret() {
        let a = build_args(
            Path::new("/dev/pts/7"),
            Some("alice"),
            Path::new("/p/plugin.so"),
            Path::new("/run/x/plugin.sock"),
            &["refuse-eap".into(), "debug".into()],
        );
        assert_eq!(
            a,
            vec![
                "/dev/pts/7",
                "nodetach",
                "noauth",
                "nodeflate",
                "nobsdcomp",
                "user",
                "alice",
                "plugin",
                "/p/plugin.so",
                "sstp-socket",
                "/run/x/plugin.sock",
                "refuse-eap",
                "debug"
            ]
        );
        assert!(!a.iter().any(|x| x.contains("password")));
    }

    #[test]
    fn version_of_installed_pppd() {
        let p = Path::new("/usr/sbin/pppd");
        if !p.exists() {
            eprintln!("skipped: no /usr/sbin/pppd");
            return;
        }
        let v = pppd_version(p).expect("pppd reports a version");
        assert!(v.starts_with("2."), "{v}");
    }
}
