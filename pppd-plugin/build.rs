//! Detects the pppd version the plugin is built for.
//!
//! pppd refuses a plugin whose exported `pppd_version` string differs from its own (strcmp), and
//! the plugin API differs between 2.4.x and 2.5.x, so the version is fixed at build time:
//!
//! 1. `PPPD_VERSION` in the environment (override, e.g. for packaging or cross builds);
//! 2. `pkg-config --modversion pppd` (ppp-dev 2.5+ ships `pppd.pc`);
//! 3. Debian's `/usr/share/ppp-dev/substvars` (`ppp:PluginDir=/usr/lib/pppd/<version>`);
//! 4. `/usr/include/pppd/patchlevel.h` (`#define VERSION "2.4.9"`, 2.4.x);
//! 5. `/usr/include/pppd/pppdconf.h` (`#define PPPD_VERSION "2.5.x"`, 2.5.x without pkg-config).
//!
//! Emits `cargo:rustc-env=SSTP_PPPD_VERSION=<version>` and, for 2.5 and later, `cfg(pppd25)`.

use std::process::Command;

fn from_env() -> Option<(String, &'static str)> {
    let v = std::env::var("PPPD_VERSION").ok()?;
    Some((v.trim().to_string(), "environment variable PPPD_VERSION"))
}

fn from_pkg_config() -> Option<(String, &'static str)> {
    let out = Command::new("pkg-config")
        .args(["--modversion", "pppd"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8(out.stdout).ok()?;
    Some((v.trim().to_string(), "pkg-config --modversion pppd"))
}

fn from_substvars() -> Option<(String, &'static str)> {
    let path = "/usr/share/ppp-dev/substvars";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).ok()?;
    let dir = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("ppp:PluginDir="))?;
    let v = dir.trim().trim_end_matches('/').rsplit('/').next()?;
    Some((v.to_string(), "/usr/share/ppp-dev/substvars"))
}

/// Value of `#define NAME "value"` in a C header.
fn define_in(path: &str, name: &str) -> Option<String> {
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        if words.next()? != "#define" || words.next()? != name {
            return None;
        }
        let rest: String = words.collect::<Vec<_>>().join(" ");
        Some(rest.trim().trim_matches('"').to_string())
    })
}

fn from_headers() -> Option<(String, &'static str)> {
    if let Some(v) = define_in("/usr/include/pppd/patchlevel.h", "VERSION") {
        return Some((v, "/usr/include/pppd/patchlevel.h"));
    }
    define_in("/usr/include/pppd/pppdconf.h", "PPPD_VERSION")
        .map(|v| (v, "/usr/include/pppd/pppdconf.h"))
}

/// (major, minor) of a version like `2.4.9` or `2.5.0-rc1`.
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    let major = it.next()?.parse().ok()?;
    let minor: String = it
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    Some((major, minor.parse().ok()?))
}

fn main() {
    println!("cargo:rerun-if-env-changed=PPPD_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(pppd25)");

    let found = from_env()
        .or_else(from_pkg_config)
        .or_else(from_substvars)
        .or_else(from_headers);
    let Some((version, source)) = found else {
        panic!(
            "cannot find the pppd version to build the plugin for: install the pppd development \
             headers (Debian: ppp-dev) or set PPPD_VERSION=<exact pppd version, e.g. 2.4.9>"
        );
    };
    let valid = !version.is_empty()
        && version.len() < 32
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-+~_".contains(c));
    let Some((major, minor)) = major_minor(&version).filter(|_| valid) else {
        panic!("pppd version {version:?} (from {source}) is not a version string like 2.4.9");
    };
    if (major, minor) < (2, 4) {
        panic!("pppd {version} (from {source}) is too old; the plugin needs 2.4.9 or later");
    }
    if (major, minor) >= (2, 5) {
        println!("cargo:rustc-cfg=pppd25");
    }
    println!("cargo:rustc-env=SSTP_PPPD_VERSION={version}");
    println!("cargo:rustc-env=SSTP_PPPD_VERSION_SOURCE={source}");
}
