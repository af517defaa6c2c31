//! The man page and `--help` describe the same options and exit codes.

use clap::CommandFactory;
use sstp_helper::cli::Args;

fn man() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/sstp-helper.8")).unwrap()
}

#[test]
fn every_option_is_in_the_man_page_and_back() {
    let man = man()
        .replace("\\-", "-")
        .replace("\\fR", " ")
        .replace("\\fI", " ")
        .replace("\\fB", " ");
    let cmd = Args::command();
    let mut longs = vec![];
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            longs.push(l.to_string());
            assert!(
                man.contains(&format!("--{l}")),
                "--{l} is in --help but not in sstp-helper.8"
            );
        }
    }
    longs.extend(["help".to_string(), "version".to_string()]);
    // Every option the man page lists under OPTIONS exists in the CLI.
    let opts = man.split(".SH OPTIONS").nth(1).unwrap();
    let opts = opts.split(".SH PPPD OPTIONS").next().unwrap();
    for w in opts.split(|c: char| c.is_whitespace() || c == '"' || c == ',') {
        if let Some(l) = w.strip_prefix("--") {
            let l = l.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            if !l.is_empty() {
                assert!(
                    longs.iter().any(|x| x == l),
                    "man page lists --{l}, the CLI has no such option"
                );
            }
        }
    }
}

#[test]
fn exit_codes_match() {
    let man = man();
    let help = Args::command().render_long_help().to_string();
    for code in 0..=12 {
        assert!(
            man.contains(&format!(".B {code}\n")),
            "exit {code} missing from the man page"
        );
        assert!(
            help.contains(&format!("\n  {code:>2}  ")) || help.contains(&format!("\n   {code}  ")),
            "exit {code} missing from --help"
        );
    }
}

#[test]
fn every_diagnose_option_is_in_the_man_page() {
    let man = man()
        .replace("\\-", "-")
        .replace("\\fB", " ")
        .replace("\\fR", " ");
    let diag = man.split(".SH DIAGNOSE").nth(1).unwrap();
    let diag = diag.split(".SH TIMERS").next().unwrap();
    for a in sstp_helper::diagnose::DiagArgs::command().get_arguments() {
        if let Some(l) = a.get_long() {
            if l.starts_with("proxy") || l == "help" || l == "version" {
                continue; // "the proxy options", described under OPTIONS
            }
            assert!(
                diag.contains(&format!("--{l}")),
                "diagnose --{l} is not in the DIAGNOSE section of sstp-helper.8"
            );
        }
    }
}
