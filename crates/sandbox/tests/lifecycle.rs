//! Lifetime of a sandbox: last session ends it, stop, crashed setup, bad control input, fallback.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;
use sandgate_sandbox::{IsolationMode, SandboxError, ensure_running, take_listener};
use std::io::{Read, Write};

#[test]
fn last_session_ends_the_sandbox_and_its_background_processes() {
    let mut b = TestBox::new("life");
    let pid = b.start().init_pid;
    let again = ensure_running(&b.spec, &helper()).unwrap();
    assert!(!again.created && again.init_pid == pid, "{again:?}");
    // The background sleep holds stdout: reading it to the end waits for its death.
    let (s, out, _err) = b.spawn_sh("sleep 1000 & echo started", false);
    assert!(s.wait().unwrap().success());
    assert_eq!(drain(out), "started\n");
    wait_gone(pid);
    assert!(!b.control().exists(), "control socket removed");
    assert!(matches!(
        take_listener(b.control()),
        Err(SandboxError::NotRunning { .. })
    ));
}

#[test]
fn stop_kills_detached_sessions() {
    let mut b = TestBox::new("stop");
    let pid = b.start().init_pid;
    let (_svc, out, _err) = b.spawn_sh("sleep 1000", true);
    sandgate_sandbox::stop(b.control()).unwrap();
    wait_gone(pid);
    assert_eq!(drain(out), "");
    assert!(!b.control().exists());
    sandgate_sandbox::stop(b.control()).unwrap(); // idempotent
}

#[test]
fn dropping_the_connection_kills_a_session() {
    let mut b = TestBox::new("drop");
    let pid = b.start().init_pid;
    let (s, out, _err) = b.spawn_sh("sleep 1000", false);
    drop(s);
    assert_eq!(
        drain(out),
        "",
        "the session's stdout closes when it is killed"
    );
    wait_gone(pid);
}

fn tagged_processes(tag: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.windows(tag.len()).any(|w| w == tag.as_bytes()))
        })
        .count()
}

#[test]
fn init_dying_mid_setup_leaves_nothing_behind() {
    for step in ["bind", "fsview"] {
        let mut b = TestBox::new("crash");
        let tag = format!("SGSB_TAG={}", b.dir.path().display());
        let h = helper_with_env(&[
            (sandgate_sandbox::TEST_DIE_AFTER, step),
            ("SGSB_TAG", &b.dir.path().display().to_string()),
        ]);
        let err = ensure_running(&b.spec, &h).unwrap_err();
        assert!(matches!(err, SandboxError::Setup { .. }), "{err}");
        assert!(err.to_string().contains(step), "names the last step: {err}");
        assert!(
            !b.control().exists(),
            "no socket file after dying at {step}"
        );
        assert_eq!(
            tagged_processes(&tag),
            0,
            "no process left after dying at {step}"
        );
        b.running = None;
    }
}

#[test]
fn bad_control_input_is_refused_and_the_init_keeps_serving() {
    let mut b = TestBox::new("proto");
    b.start();
    let mut c = std::os::unix::net::UnixStream::connect(b.control()).unwrap();
    c.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert!(
        String::from_utf8_lossy(&reply).contains("exceeds"),
        "{reply:?}"
    );
    let mut c = std::os::unix::net::UnixStream::connect(b.control()).unwrap();
    c.write_all(&5u32.to_le_bytes()).unwrap();
    c.write_all(b"{oops").unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert!(
        String::from_utf8_lossy(&reply).contains("malformed"),
        "{reply:?}"
    );
    assert!(take_listener(b.control()).is_ok(), "still serving");
}

#[test]
fn landlock_fallback_without_user_namespaces() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host_port = host.local_addr().unwrap().port();
    let mut b = TestBox::new("fallback");
    b.spec.gateway_port = Some(1); // nothing listens there
    let h = helper_with_env(&[(sandgate_sandbox::FORCE_NO_USERNS, "1")]);
    let report = b.start_with(&h).report.clone();
    assert_eq!(report.mode, IsolationMode::Landlock);
    assert!(
        report.namespaces.is_empty()
            && report
                .warnings
                .iter()
                .any(|w| w.contains("SANDGATE_SANDBOX_FORCE_NO_USERNS")),
        "{report:?}"
    );
    assert!(matches!(
        take_listener(b.control()),
        Err(SandboxError::NoListener { mode: "landlock" })
    ));
    let secret = b.path("state/secret");
    let script = format!(
        "cat {} 2>/dev/null && echo secret-readable || echo secret-denied; \
         (exec 3<>/dev/tcp/127.0.0.1/{host_port}) 2>/dev/null && echo tcp-allowed || echo tcp-denied; \
         cat /etc/hostname >/dev/null && echo etc-readable; grep -E \"^(CapEff|NoNewPrivs|Seccomp):\" /proc/self/status",
        secret.display()
    );
    let (code, out, err) = b.sh(&format!("exec /bin/bash -c '{script}'"));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("secret-denied") && out.contains("tcp-denied") && out.contains("etc-readable"),
        "{out}"
    );
    assert!(
        out.contains("CapEff:\t0000000000000000")
            && out.contains("NoNewPrivs:\t1")
            && out.contains("Seccomp:\t2"),
        "{out}"
    );
}
