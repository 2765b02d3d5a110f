#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;

#[test]
fn smoke() {
    let mut b = TestBox::new("smoke");
    let r = b.start().clone();
    eprintln!("{r:?}");
    let (code, out, err) =
        b.sh("hostname; id; ls /; cat /proc/self/status | grep -E 'Cap|NoNew|Seccomp'");
    eprintln!("code={code}\n{out}\n{err}");
    assert_eq!(code, 0);
}
