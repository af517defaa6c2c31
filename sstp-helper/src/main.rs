//! sstp-helper: SSTP VPN client. See `sstp-helper --help` and sstp-helper(8).

use clap::Parser;
use sstp_helper::cli::Args;
use sstp_helper::error::Error;
use sstp_helper::{password, run};
use std::io::Write;

fn init_logging(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format(|buf, r| {
            let ts = buf.timestamp_millis();
            if r.target() == "pppd" {
                writeln!(buf, "{ts} {:<5} pppd: {}", r.level(), r.args())
            } else {
                writeln!(buf, "{ts} {:<5} {}", r.level(), r.args())
            }
        })
        .init();
}

fn real_main(args: Args) -> Result<(), Error> {
    let pw = match (&args.password_file, args.password_fd) {
        (Some(f), _) => password::from_file(f)?,
        (None, Some(fd)) => password::from_fd(fd)?,
        (None, None) => {
            password::prompt(args.user.as_deref().unwrap_or("the VPN"))?.ok_or_else(|| {
                Error::Usage(
                    "no password: use --password-file FILE or --password-fd N, or run on a terminal"
                        .into(),
                )
            })?
        }
    };
    let settings = run::Settings::from_args(&args, pw)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("tokio runtime: {e}")))?;
    rt.block_on(run::run(settings))
}

fn main() {
    // `sstp-helper diagnose ...` is a mode of its own; everything else is a connection, so
    // the existing command line stays as it was.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("diagnose") {
        init_logging(log::LevelFilter::Warn);
        let code = sstp_helper::diagnose::main(argv[1..].to_vec());
        std::process::exit(code);
    }
    let args = Args::parse();
    init_logging(args.log_level);
    match real_main(args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            log::error!("{e}");
            std::process::exit(e.exit_code());
        }
    }
}
