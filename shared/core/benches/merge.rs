//! Change events merged per second by the pure merge, from 10^3 to 10^6 events over many
//! entities (one entity per 10 events), to show the cost grows linearly.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ps_core::Post;
use ps_core::change::{ChangeEvent, ChangeKind, EntityData, EntityKey};
use ps_core::merge::merge;

fn events(n: usize) -> Vec<ChangeEvent> {
    let entities = (n / 10).max(1) as u64;
    (0..n as u64)
        .map(|i| {
            let id = (i * 7919) % entities + 1;
            let remove = i % 97 == 0;
            ChangeEvent {
                key: EntityKey::post(id),
                change: if remove {
                    ChangeKind::Remove
                } else {
                    ChangeKind::Modify
                },
                post_id: id,
                after: (!remove).then(|| {
                    EntityData::Post(Post {
                        user_id: 1,
                        id,
                        title: format!("t{i}"),
                        body: "b".into(),
                    })
                }),
                version: i,
                sequence: format!("{:021}", i + 1).parse().unwrap(),
                event_id: format!("e{i}"),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    group.sample_size(10);
    for n in [1_000usize, 10_000, 100_000, 1_000_000] {
        let input = events(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &input, |b, input| {
            b.iter(|| merge(input.iter(), |_| None))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
