//! `cargo bench -p sandgate-sandbox`: sandbox start + a `true` session vs a plain spawn of `true`
//! (median), and TCP connect + 4-byte request/response latency through the in-sandbox listener vs
//! host loopback (p50 over 2,000 pairs, measured by the same python client).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sandgate_sandbox::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

const RUNS: usize = 50;
const CLIENT: &str = "import socket,sys,time\nport=int(sys.argv[1]); ts=[]\nfor _ in range(2000):\n    t=time.perf_counter(); s=socket.create_connection(('127.0.0.1',port)); s.sendall(b'ping'); s.recv(4); s.close(); ts.append(time.perf_counter()-t)\nts.sort(); print('%.1f' % (ts[len(ts)//2]*1e6))";

fn helper() -> HelperCommand {
    HelperCommand {
        program: env!("CARGO_BIN_EXE_sandgate-sandbox-helper").into(),
        args: vec![HELPER_ARG.into()],
    }
}

fn spec(dir: &std::path::Path) -> SandboxSpec {
    SandboxSpec {
        name: "bench".into(),
        hide: vec!["/run".into(), "/home".into(), "/root".into(), "/tmp".into()],
        mounts: vec![],
        listen: Some("127.0.0.1:18789".parse().unwrap()),
        control: dir.join("init.sock"),
        gateway_port: Some(18789),
    }
}

fn null_fds() -> (OwnedFd, OwnedFd, OwnedFd) {
    let f = || {
        OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .unwrap(),
        )
    };
    (f(), f(), f())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn serve(listener: TcpListener) {
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let mut b = [0u8; 4];
            if s.read_exact(&mut b).is_ok() {
                let _ = s.write_all(&b);
            }
        }
    });
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path());
    let mut sandboxed = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        ensure_running(&spec, &helper()).unwrap();
        let (stdin, stdout, stderr) = null_fds();
        let cmd = SessionCommand {
            argv: vec!["/bin/true".into()],
            env: vec![],
            cwd: "/".into(),
            stdio: SessionStdio::Fds {
                stdin,
                stdout,
                stderr,
            },
            detach: false,
        };
        assert!(
            spawn_session(&spec.control, &cmd)
                .unwrap()
                .wait()
                .unwrap()
                .success()
        );
        sandboxed.push(t.elapsed());
        stop(&spec.control).unwrap();
    }
    let mut plain = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        assert!(
            std::process::Command::new("/bin/true")
                .status()
                .unwrap()
                .success()
        );
        plain.push(t.elapsed());
    }
    println!(
        "start sandbox + `true` session: median {:?} over {RUNS}",
        median(sandboxed)
    );
    println!(
        "plain Command::new(\"true\"):      median {:?} over {RUNS}",
        median(plain)
    );

    // Latency: the same client, inside the sandbox vs on the host.
    ensure_running(&spec, &helper()).unwrap();
    serve(take_listener(&spec.control).unwrap());
    let (stdin, _, stderr) = null_fds();
    let (out_r, out_w) = rustix::pipe::pipe().unwrap();
    let cmd = SessionCommand {
        argv: vec![
            "/usr/bin/python3".into(),
            "-c".into(),
            CLIENT.into(),
            "18789".into(),
        ],
        env: vec![],
        cwd: "/".into(),
        stdio: SessionStdio::Fds {
            stdin,
            stdout: out_w,
            stderr,
        },
        detach: false,
    };
    let s = spawn_session(&spec.control, &cmd).unwrap();
    drop(cmd); // our copy of the pipe's write end
    let mut inside = String::new();
    std::fs::File::from(out_r)
        .read_to_string(&mut inside)
        .unwrap();
    s.wait().unwrap();
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    serve(host);
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", CLIENT, &port.to_string()])
        .output()
        .unwrap();
    println!(
        "connect+request p50, in-sandbox listener: {} us",
        inside.trim()
    );
    println!(
        "connect+request p50, host loopback:       {} us",
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let _ = stop(&spec.control);
}
