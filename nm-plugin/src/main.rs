//! NetworkManager VPN service for SSTP. Not implemented yet: the core helper comes first.
fn main() {
    eprintln!("nm-sstp-service: the NetworkManager plugin is not implemented yet");
    std::process::exit(1);
}
