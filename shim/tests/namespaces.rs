//! Namespaces are separate hosts: two runs of the seed server, each in its
//! own namespace, bind 127.0.0.1 on the same port at the same time, next to
//! a kernel socket holding that port too, and each client talks to its own
//! server. (Issue: "two test runs in parallel ... both bind 127.0.0.1:7777".)

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn shim() -> PathBuf {
    let p = root().join("target/release/libnetshim.so");
    assert!(p.exists(), "{} is missing: build with `cargo build --release` (make test does)", p.display());
    p
}

fn seed(name: &str) -> PathBuf {
    let status = Command::new("make").arg("-s").arg("-C").arg(root().join("tests/c")).status().expect("make");
    assert!(status.success(), "building the C programs failed");
    root().join("tests/c/build").join(name)
}

fn ns_file(ns: &str) -> String {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    format!("/dev/shm/netshim-{uid}-{ns}.v")
}

fn start_server(ns: &str, port: u16, reply: &str) -> Child {
    let mut c = Command::new(seed("server"))
        .args(["127.0.0.1", &port.to_string()])
        .env("LD_PRELOAD", shim())
        .env("NETSHIM_NS", ns)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server");
    writeln!(c.stdin.as_mut().unwrap(), "{reply}").unwrap();
    c
}

fn client(ns: &str, port: u16, msg: &str) -> String {
    let mut c = Command::new(seed("client"))
        .args(["127.0.0.1", &port.to_string()])
        .env("LD_PRELOAD", shim())
        .env("NETSHIM_NS", ns)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client");
    writeln!(c.stdin.as_mut().unwrap(), "{msg}\nq").unwrap();
    let out = c.wait_with_output().expect("client output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_namespaces_and_the_kernel_share_a_port() {
    // A kernel socket takes the port first (a fixed port, chosen per run).
    let (kernel, port) = (0..200)
        .find_map(|i| {
            let port = 20000 + ((std::process::id() as u16).wrapping_mul(7).wrapping_add(i) % 20000);
            TcpListener::bind(("127.0.0.1", port)).ok().map(|l| (l, port))
        })
        .expect("a free kernel port");
    let pid = std::process::id();
    let (a, b) = (format!("nstest-a-{pid}"), format!("nstest-b-{pid}"));
    let mut sa = start_server(&a, port, "reply from a");
    let mut sb = start_server(&b, port, "reply from b");
    std::thread::sleep(Duration::from_millis(300));
    let ca = client(&a, port, "hello a");
    let cb = client(&b, port, "hello b");
    // The kernel's listener is untouched and still works.
    let k = std::net::TcpStream::connect(("127.0.0.1", port)).expect("kernel connect");
    let accepted = kernel.accept().is_ok();
    drop(k);
    for s in [&mut sa, &mut sb] {
        let _ = s.kill();
        let _ = s.wait();
    }
    // The namespace files, whatever their layout version (and the FIFOs
    // beside them).
    for ns in [&a, &b] {
        let prefix = ns_file(ns);
        let (dir, name) = prefix.rsplit_once('/').expect("a path");
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    assert!(ca.contains("127.0.0.1 say: reply from a"), "client a got: {ca:?}");
    assert!(cb.contains("127.0.0.1 say: reply from b"), "client b got: {cb:?}");
    assert!(accepted, "the kernel listener on the same port accepted");
}
