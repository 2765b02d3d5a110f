//! The `sandgated` daemon. All logic lives in the `sandgate_cli` library.

/// jemalloc for Rust allocations (C code such as SQLite keeps libc's malloc): fewer
/// instructions per allocation than glibc's, and resident memory that stays flat under a
/// long soak where glibc's arenas crept (RELIABILITY.md).
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    sandgate_cli::daemon_main()
}
