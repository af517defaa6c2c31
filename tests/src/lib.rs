//! In-repo SSTP test server (fault injection, benchmark) built on sstp-proto.
