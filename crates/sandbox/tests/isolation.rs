//! What a session sees from inside a Full-mode sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;
use std::io::{Read, Write};

#[test]
fn probe_reports_full_here() {
    let r = sandgate_sandbox::probe();
    assert_eq!(r.mode, sandgate_sandbox::IsolationMode::Full, "{r:?}");
    let json = serde_json_like(&r);
    assert!(
        json.contains(r#""mode":"full""#) && json.contains(r#""landlockAbi""#),
        "{json}"
    );
}

fn serde_json_like(r: &sandgate_sandbox::IsolationReport) -> String {
    // The crate's report is Serialize; check the wire names through the control-protocol encoder.
    String::from_utf8(serde_json_vec(r)).unwrap()
}

fn serde_json_vec<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

#[test]
fn hostname_pid_namespace_and_hidden_paths() {
    let mut b = TestBox::new("agent-one");
    b.start();
    let secret = b.path("state/secret");
    let script = format!(
        "hostname; echo pids:$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '); test -e {0} && echo visible || echo absent; ls /run | wc -l",
        secret.display()
    );
    let (code, out, err) = b.sh(&script);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "agent-one");
    let pids: Vec<u32> = lines[1]
        .trim_start_matches("pids:")
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        pids.contains(&1) && !pids.contains(&std::process::id()),
        "{pids:?}"
    );
    assert!(
        pids.iter().all(|p| *p < 100),
        "only the sandbox's own processes: {pids:?}"
    );
    assert_eq!(lines[2], "absent");
    assert_eq!(lines[3], "0", "/run is an empty tmpfs");
}

#[test]
fn read_only_system_writable_home_tmp_and_rw_mount() {
    let mut b = TestBox::new("fs");
    b.start();
    let (code, out, err) = b.sh(
        "touch /usr/x 2>/dev/null && echo usr-writable; touch /etc/x 2>/dev/null && echo etc-writable; \
         echo persisted > $HOME/file && echo home-ok; echo t > /tmp/t && echo tmp-ok; echo w > /srv/w && echo rw-ok",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["home-ok", "tmp-ok", "rw-ok"],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(b.path("home/file")).unwrap(),
        "persisted\n"
    );
    assert_eq!(std::fs::read_to_string(b.path("work/w")).unwrap(), "w\n");
    assert!(!std::path::Path::new("/usr/x").exists() && !std::path::Path::new("/etc/x").exists());
}

/// Cross-directory renames and hard links work where a session may write (npm, git and
/// OpenClaw's workspace publication need both); the init's scope-only Landlock layer once
/// denied them with `EXDEV`. A rename into the read-only system is still refused.
#[test]
fn renames_and_hard_links_across_directories_where_writable() {
    let mut b = TestBox::new("refer");
    b.start();
    let (code, out, err) = b.sh(
        "for d in /tmp $HOME /srv; do mkdir -p $d/a/b && echo x > $d/a/b/f && \
           ln $d/a/b/f $d/a/g && python3 -c \"import os,sys; os.rename(sys.argv[1], sys.argv[2])\" $d/a/b/f $d/a/h \
           && echo $d-ok; done; ln /tmp/a/g /usr/g 2>/dev/null && echo usr-linked; true",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["/tmp-ok", "/home/agent-ok", "/srv-ok"],
        "{out}{err}"
    );
}

#[test]
fn network_only_the_handed_out_listener() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    let mut b = TestBox::new("net");
    b.start();
    // Taken twice, as after a daemon restart; the second dup serves.
    drop(sandgate_sandbox::take_listener(b.control()).unwrap());
    let listener = sandgate_sandbox::take_listener(b.control()).unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong\n").unwrap();
    });
    let script = format!(
        "(exec 3<>/dev/tcp/127.0.0.1/{host_port}) 2>/dev/null && echo host-reachable || echo host-refused; \
         exec 3<>/dev/tcp/127.0.0.1/{PORT} && printf ping >&3 && head -n1 <&3"
    );
    let (code, out, err) = b.sh(&format!("exec /bin/bash -c '{script}'"));
    server.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "host-refused\npong\n");
}

#[test]
fn sessions_share_the_sandbox() {
    let mut b = TestBox::new("shared");
    b.start();
    let service = "import socket,sys\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                   s.bind(('127.0.0.1', 18790)); s.listen(1); print('listening', flush=True)\n\
                   c,_=s.accept(); c.sendall(b'from-session-1\\n'); c.close()";
    let (svc, out, _err) = b.spawn_sh(&format!("exec /usr/bin/python3 -c \"{service}\""), true);
    assert_eq!(read_line(&out), "listening");
    let (code, got, err) =
        b.sh("exec /bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/18790 && head -n1 <&3'");
    assert_eq!(code, 0, "{err}");
    assert_eq!(got, "from-session-1\n");
    assert!(svc.wait().unwrap().success());
}

#[test]
fn capabilities_privileges_and_nested_namespaces() {
    let mut b = TestBox::new("caps");
    b.start();
    let (code, out, err) = b.sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true 2>/dev/null && echo unshare-ok || echo unshare-denied; id -u");
    assert_eq!(code, 0, "{err}");
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{cap}:\t0000000000000000")),
            "{cap} not zero: {out}"
        );
    }
    assert!(
        out.contains("NoNewPrivs:\t1") && out.contains("Seccomp:\t2"),
        "{out}"
    );
    assert!(out.contains("unshare-denied"), "{out}");
}

#[test]
fn pty_session_reports_tty_and_exit_code() {
    let mut b = TestBox::new("pty");
    b.start();
    let cmd = sandgate_sandbox::SessionCommand {
        argv: vec!["/bin/sh".into(), "-c".into(), "tty; exit 3".into()],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        cwd: "/".into(),
        stdio: sandgate_sandbox::SessionStdio::Pty {
            rows: 30,
            cols: 100,
        },
        detach: false,
    };
    let s = sandgate_sandbox::spawn_session(b.control(), &cmd).unwrap();
    s.resize(40, 120).unwrap();
    let master = s.pty_master().unwrap().try_clone_to_owned().unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = rustix::io::read(&master, &mut buf) {
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.trim().starts_with("/dev/pts/"), "{text:?}");
    assert_eq!(s.wait().unwrap().exit_code(), 3);
}
