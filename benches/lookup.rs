//! Lookup benchmarks (criterion): the store queries behind `/recent`, `/actor` and
//! `/search`, each kind cycling through varied inputs, over a 20,000-article database
//! built by `examples/lookup_bench.rs` (the same synthetic news; that example runs the
//! 100,000-article version and prints percentiles).
//!
//! `cargo bench --bench lookup`

use criterion::{criterion_group, criterion_main, Criterion};
use threatwatch::store::Store;

// The builder and the workload live in the example, which is a binary; its `main` is
// not used here.
#[path = "../examples/lookup_bench.rs"]
#[allow(dead_code)]
mod data;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("lookup.db");
    let built = data::build(&path, 20_000);
    eprintln!(
        "lookup bench: {} articles built in {:.1} s, {:.1} MB",
        built.articles,
        built.took.as_secs_f64(),
        built.bytes as f64 / 1e6
    );
    let store = Store::open_reader(&path)
        .expect("open reader")
        .expect("database exists");

    let mut g = c.benchmark_group("lookup");
    for (kind, queries) in data::workload() {
        // "recent by actor (90 days)" -> "recent_by_actor_90_days"
        let id: String = kind
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        let mut next = queries.iter().cycle();
        g.bench_function(id, |b| b.iter(|| next.next().map(|q| q.run(&store))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
