//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the very functions the
//! fuzz targets call (`fuzz/src/targets.rs`), without the fuzzer, so that every crash the
//! fuzzer found and that was fixed stays fixed. See RELIABILITY.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_corpus_input_runs_clean_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut total = 0;
    for (name, run) in targets::TARGETS {
        let dir = root.join(name);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_file() {
                run(&std::fs::read(&path).unwrap());
                n += 1;
            }
        }
        assert!(n > 0, "no corpus for target {name}");
        total += n;
    }
    println!("fuzz corpus: {total} inputs replayed");
}
