//! The `sandgated` daemon. All logic lives in the `sandgate_cli` library.

/// jemalloc: fewer instructions per allocation than glibc's malloc, and freed memory goes
/// back to the system on a decay timer instead of staying in per-thread arenas.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sandgate_cli::daemon_main()
}
