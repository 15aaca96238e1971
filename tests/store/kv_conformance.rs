//! One conformance suite for every KV backend: ordering, bounds, reverse scans, snapshots, batch
//! atomicity, large values, 100k-key scans, reopen durability and (natively) concurrent readers.

use std::ops::Bound;
use std::sync::Arc;

use remdb::kv::{self, Direction, KeyRange, Kv, WriteBatch};

/// A backend under test and a way to close and reopen it.
struct Harness {
    kv: Option<Arc<dyn Kv>>,
    reopen: Box<dyn FnMut(Arc<dyn Kv>) -> Option<Arc<dyn Kv>>>,
}

impl Harness {
    fn kv(&self) -> &dyn Kv {
        self.kv.as_deref().expect("open")
    }

    /// Closes and reopens; `false` when the backend keeps nothing across a reopen.
    fn reopen(&mut self) -> bool {
        let old = self.kv.take().expect("open");
        match (self.reopen)(old) {
            Some(kv) => {
                self.kv = Some(kv);
                true
            }
            None => false,
        }
    }
}

fn memory() -> Harness {
    Harness {
        kv: Some(Arc::new(kv::MemoryKv::new())),
        reopen: Box::new(|_| None),
    }
}

fn redb_pages() -> Harness {
    let mut pages = kv::MemoryPages::new();
    let kv = Arc::new(kv::RedbKv::open_pages(pages.clone()).unwrap());
    // What a browser would keep in IndexedDB: the image length and its chunks.
    let mut persisted = std::collections::BTreeMap::new();
    Harness {
        kv: Some(kv),
        reopen: Box::new(move |old| {
            drop(old);
            // Persist only the chunks changed since the last flush, then rebuild from storage.
            let dirty = pages.take_dirty().unwrap();
            persisted.extend(dirty.chunks);
            pages = kv::MemoryPages::from_chunks(dirty.len, persisted.clone()).unwrap();
            Some(Arc::new(kv::RedbKv::open_pages(pages.clone()).unwrap()))
        }),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn redb_file() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.redb");
    let kv = Arc::new(kv::RedbKv::open_file(&path).unwrap());
    Harness {
        kv: Some(kv),
        reopen: Box::new(move |old| {
            let _keep = &dir;
            drop(old);
            Some(Arc::new(kv::RedbKv::open_file(&path).unwrap()))
        }),
    }
}

#[cfg(all(not(target_arch = "wasm32"), feature = "rocksdb"))]
fn rocksdb() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rocks");
    let kv = Arc::new(kv::RocksKv::open(&path).unwrap());
    Harness {
        kv: Some(kv),
        reopen: Box::new(move |old| {
            let _keep = &dir;
            drop(old);
            Some(Arc::new(kv::RocksKv::open(&path).unwrap()))
        }),
    }
}

/// The sync hub's shared storage, on the throwaway cluster `.ci/run` starts; a reopen is a new
/// pool of connections to the same database.
#[cfg(all(not(target_arch = "wasm32"), feature = "server"))]
fn postgres() -> Harness {
    let url = crate::postgres::fresh_database();
    let kv = Arc::new(kv::PgKv::connect(&url, 4).unwrap());
    Harness {
        kv: Some(kv),
        reopen: Box::new(move |old| {
            drop(old);
            Some(Arc::new(kv::PgKv::connect(&url, 4).unwrap()))
        }),
    }
}

fn keys(kv: &dyn Kv, range: &KeyRange, dir: Direction) -> Vec<Vec<u8>> {
    kv.scan(range, dir).unwrap().map(|r| r.unwrap().0).collect()
}

fn put_all(kv: &dyn Kv, keys: &[&[u8]]) {
    let mut b = WriteBatch::new();
    for k in keys {
        b.put(*k, k.to_vec());
    }
    kv.write(b).unwrap();
}

fn byte_ordering(h: &mut Harness) {
    let kv = h.kv();
    let mut expected: Vec<&[u8]> = vec![
        b"b",
        b"a\x00",
        b"\xff",
        b"\x00",
        b"a",
        b"\x80",
        b"ab",
        b"\x7f",
        b"\x01\x00",
        b"\x01",
    ];
    put_all(kv, &expected);
    expected.sort();
    assert_eq!(
        keys(kv, &KeyRange::all(), Direction::Forward),
        expected.iter().map(|k| k.to_vec()).collect::<Vec<_>>()
    );
    // Unsigned comparison: 0x80 and 0xff sort after 0x7f.
    let all = keys(kv, &KeyRange::all(), Direction::Forward);
    assert_eq!(all.last().unwrap(), b"\xff");
}

fn point_ops(h: &mut Harness) {
    let kv = h.kv();
    assert_eq!(kv.get(b"k").unwrap(), None);
    kv.put(b"k", b"v1").unwrap();
    assert_eq!(kv.get(b"k").unwrap(), Some(b"v1".to_vec()));
    kv.put(b"k", b"v2").unwrap();
    assert_eq!(kv.get(b"k").unwrap(), Some(b"v2".to_vec()));
    kv.put(b"empty", b"").unwrap();
    assert_eq!(kv.get(b"empty").unwrap(), Some(Vec::new()));
    kv.delete(b"k").unwrap();
    assert_eq!(kv.get(b"k").unwrap(), None);
    kv.delete(b"never-there").unwrap();
}

fn prefix_bounds(h: &mut Harness) {
    let kv = h.kv();
    put_all(
        kv,
        &[
            b"`",
            b"a",
            b"a\x00",
            b"a\xff",
            b"a\xff\xff",
            b"ab",
            b"b",
            b"\xff\xff",
        ],
    );
    let a: Vec<Vec<u8>> = vec![
        b"a".to_vec(),
        b"a\x00".to_vec(),
        b"ab".to_vec(),
        b"a\xff".to_vec(),
        b"a\xff\xff".to_vec(),
    ];
    assert_eq!(keys(kv, &KeyRange::prefix(b"a"), Direction::Forward), a);
    assert_eq!(
        keys(kv, &KeyRange::prefix(b"a\xff"), Direction::Forward),
        vec![b"a\xff".to_vec(), b"a\xff\xff".to_vec()]
    );
    // A prefix of only 0xff has no successor: the range is unbounded above.
    assert_eq!(
        keys(kv, &KeyRange::prefix(b"\xff"), Direction::Forward),
        vec![b"\xff\xff".to_vec()]
    );
    assert!(keys(kv, &KeyRange::prefix(b"c"), Direction::Forward).is_empty());
}

fn reverse_scans(h: &mut Harness) {
    let kv = h.kv();
    put_all(kv, &[b"a", b"b", b"c", b"d", b"e", b"f"]);
    let rev = keys(kv, &KeyRange::all(), Direction::Reverse);
    assert_eq!(
        rev,
        vec![
            b"f".to_vec(),
            b"e".to_vec(),
            b"d".to_vec(),
            b"c".to_vec(),
            b"b".to_vec(),
            b"a".to_vec()
        ]
    );
    let cases: Vec<(Bound<&[u8]>, Bound<&[u8]>, &[&[u8]])> = vec![
        (
            Bound::Included(b"b"),
            Bound::Excluded(b"e"),
            &[b"b", b"c", b"d"],
        ),
        (
            Bound::Excluded(b"b"),
            Bound::Included(b"e"),
            &[b"c", b"d", b"e"],
        ),
        (
            Bound::Included(b"bb"),
            Bound::Excluded(b"dd"),
            &[b"c", b"d"],
        ),
        (Bound::Unbounded, Bound::Excluded(b"c"), &[b"a", b"b"]),
        (Bound::Excluded(b"d"), Bound::Unbounded, &[b"e", b"f"]),
        (Bound::Included(b"e"), Bound::Excluded(b"b"), &[]),
        (Bound::Excluded(b"c"), Bound::Excluded(b"c"), &[]),
        (Bound::Included(b"c"), Bound::Included(b"c"), &[b"c"]),
    ];
    for (start, end, want) in cases {
        let range = KeyRange {
            start: start.map(<[u8]>::to_vec),
            end: end.map(<[u8]>::to_vec),
        };
        let fwd: Vec<Vec<u8>> = want.iter().map(|k| k.to_vec()).collect();
        let mut back = fwd.clone();
        back.reverse();
        assert_eq!(
            keys(kv, &range, Direction::Forward),
            fwd,
            "forward {range:?}"
        );
        assert_eq!(
            keys(kv, &range, Direction::Reverse),
            back,
            "reverse {range:?}"
        );
    }
}

fn batch_atomicity(h: &mut Harness) {
    let kv = h.kv();
    kv.put(b"keep", b"1").unwrap();
    let mut bad = WriteBatch::new();
    bad.put(b"x", b"1")
        .put(b"y", b"2")
        .delete(b"keep")
        .put(b"", b"empty key is invalid")
        .put(b"z", b"3");
    assert!(kv.write(bad).is_err());
    assert_eq!(kv.get(b"x").unwrap(), None);
    assert_eq!(kv.get(b"y").unwrap(), None);
    assert_eq!(kv.get(b"z").unwrap(), None);
    assert_eq!(kv.get(b"keep").unwrap(), Some(b"1".to_vec()));
    let mut too_long = WriteBatch::new();
    too_long
        .put(b"a", b"1")
        .put(vec![7u8; kv::MAX_KEY_LEN + 1], b"v");
    assert!(kv.write(too_long).is_err());
    assert_eq!(kv.get(b"a").unwrap(), None);
    // A good batch applies every op in order.
    let mut good = WriteBatch::new();
    good.put(b"p", b"1")
        .put(b"p", b"2")
        .put(b"q", b"1")
        .delete(b"q")
        .put(b"r0", b"")
        .put(b"r1", b"")
        .put(b"r2", b"");
    good.delete_range(b"r0".to_vec(), b"r2".to_vec());
    kv.write(good).unwrap();
    assert_eq!(kv.get(b"p").unwrap(), Some(b"2".to_vec()));
    assert_eq!(kv.get(b"q").unwrap(), None);
    assert_eq!(
        keys(kv, &KeyRange::prefix(b"r"), Direction::Forward),
        vec![b"r2".to_vec()]
    );
}

/// Backends may apply a batch in another order than written (by key, for speed), but the
/// outcome is the written order's: the last op on a key wins, and a range delete removes what
/// was written before it and keeps what comes after.
fn batch_outcome_is_the_written_order(h: &mut Harness) {
    let kv = h.kv();
    kv.put(b"gone", b"old").unwrap();
    let mut b = WriteBatch::new();
    b.put(b"z", b"1")
        .put(b"a", b"1")
        .delete(b"z")
        .put(b"m", b"1")
        .delete(b"gone")
        .put(b"a", b"2")
        .put(b"z", b"3")
        .delete(b"m")
        .put(b"gone", b"back")
        .put(b"b", b"1");
    kv.write(b).unwrap();
    assert_eq!(kv.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(kv.get(b"z").unwrap(), Some(b"3".to_vec()));
    assert_eq!(kv.get(b"m").unwrap(), None);
    assert_eq!(kv.get(b"gone").unwrap(), Some(b"back".to_vec()));
    assert_eq!(kv.get(b"b").unwrap(), Some(b"1".to_vec()));
    let mut b = WriteBatch::new();
    b.put(b"s2", b"before").put(b"s0", b"before");
    b.delete_range(b"s0".to_vec(), b"s9".to_vec());
    b.put(b"s1", b"after");
    kv.write(b).unwrap();
    assert_eq!(
        keys(kv, &KeyRange::prefix(b"s"), Direction::Forward),
        vec![b"s1".to_vec()]
    );
}

fn snapshots_are_consistent(h: &mut Harness) {
    let kv = h.kv();
    let mut b = WriteBatch::new();
    for i in 0..1000u32 {
        b.put(format!("k{i:05}").into_bytes(), i.to_be_bytes().to_vec());
    }
    kv.write(b).unwrap();
    let snap = kv.snapshot().unwrap();
    let mut scan = kv
        .scan(&KeyRange::prefix(b"k"), Direction::Forward)
        .unwrap();
    let first: Vec<_> = scan.by_ref().take(10).map(|r| r.unwrap().0).collect();
    // Writes while the scan and the snapshot are alive: deletes, overwrites and new keys.
    let mut w = WriteBatch::new();
    w.delete_range(b"k00500".to_vec(), b"k00600".to_vec());
    w.put(b"k00010".to_vec(), b"changed".to_vec());
    w.put(b"k00010x".to_vec(), b"new".to_vec());
    kv.write(w).unwrap();
    // A prefetch hint changes nothing a snapshot answers.
    snap.prefetch(&[b"k00550".to_vec(), b"k00010x".to_vec(), b"k00010".to_vec()])
        .unwrap();
    let rest: Vec<_> = scan.map(|r| r.unwrap()).collect();
    assert_eq!(
        first.len() + rest.len(),
        1000,
        "scan saw writes made after it started"
    );
    assert_eq!(rest[0].1, 10u32.to_be_bytes().to_vec());
    assert_eq!(
        snap.get(b"k00550").unwrap(),
        Some(550u32.to_be_bytes().to_vec())
    );
    assert_eq!(snap.get(b"k00010x").unwrap(), None);
    assert_eq!(
        snap.get(b"k00010").unwrap(),
        Some(10u32.to_be_bytes().to_vec())
    );
    assert_eq!(
        snap.scan(&KeyRange::prefix(b"k"), Direction::Reverse)
            .unwrap()
            .count(),
        1000
    );
    drop(snap);
    assert_eq!(kv.get(b"k00550").unwrap(), None);
    assert_eq!(
        kv.scan(&KeyRange::prefix(b"k"), Direction::Forward)
            .unwrap()
            .count(),
        901
    );
}

fn large_values(h: &mut Harness) {
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 31 % 251) as u8).collect();
    h.kv().put(b"big", &big).unwrap();
    h.kv().put(b"big2", &big[..999_999]).unwrap();
    assert_eq!(h.kv().get(b"big").unwrap().unwrap(), big);
    if h.reopen() {
        assert_eq!(h.kv().get(b"big").unwrap().unwrap(), big);
        assert_eq!(h.kv().get(b"big2").unwrap().unwrap().len(), 999_999);
    }
}

fn scans_of_100k_keys(h: &mut Harness) {
    let kv = h.kv();
    for chunk in 0..10u32 {
        let mut b = WriteBatch::new();
        for i in chunk * 10_000..(chunk + 1) * 10_000 {
            // Interleave with another prefix so bounds matter.
            b.put([b"n".as_slice(), &i.to_be_bytes()].concat(), b"v");
            b.put([b"o".as_slice(), &i.to_be_bytes()].concat(), b"w");
        }
        kv.write(b).unwrap();
    }
    let mut count = 0u32;
    let mut last: Option<Vec<u8>> = None;
    for pair in kv
        .scan(&KeyRange::prefix(b"n"), Direction::Forward)
        .unwrap()
    {
        let (k, v) = pair.unwrap();
        assert_eq!(v, b"v");
        assert_eq!(k, [b"n".as_slice(), &count.to_be_bytes()].concat());
        last = Some(k);
        count += 1;
    }
    assert_eq!(count, 100_000);
    assert_eq!(
        last.unwrap(),
        [b"n".as_slice(), &99_999u32.to_be_bytes()].concat()
    );
    let rev: Vec<_> = kv
        .scan(&KeyRange::prefix(b"o"), Direction::Reverse)
        .unwrap()
        .take(3)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(rev[0], [b"o".as_slice(), &99_999u32.to_be_bytes()].concat());
    assert_eq!(
        kv.scan(&KeyRange::prefix(b"o"), Direction::Reverse)
            .unwrap()
            .count(),
        100_000
    );
}

fn reopen_durability(h: &mut Harness) {
    let mut b = WriteBatch::new();
    for i in 0..500u32 {
        b.put(
            format!("d{i:04}").into_bytes(),
            format!("value {i}").into_bytes(),
        );
    }
    h.kv().write(b).unwrap();
    h.kv().delete(b"d0007").unwrap();
    if !h.reopen() {
        return; // memory: nothing to reopen
    }
    assert_eq!(h.kv().get(b"d0042").unwrap(), Some(b"value 42".to_vec()));
    assert_eq!(h.kv().get(b"d0007").unwrap(), None);
    assert_eq!(
        h.kv()
            .scan(&KeyRange::prefix(b"d"), Direction::Forward)
            .unwrap()
            .count(),
        499
    );
    // Still writable after reopening, and the write survives another reopen.
    h.kv().put(b"after", b"reopen").unwrap();
    assert!(h.reopen());
    assert_eq!(h.kv().get(b"after").unwrap(), Some(b"reopen".to_vec()));
}

#[cfg(not(target_arch = "wasm32"))]
fn concurrent_readers(h: &mut Harness) {
    let kv: Arc<dyn Kv> = h.kv.clone().unwrap();
    // The writer always writes a pair (a<i>, b<i>) in one batch: a consistent reader sees as many
    // a-keys as b-keys in any snapshot.
    let writer = {
        let kv = kv.clone();
        std::thread::spawn(move || {
            for i in 0..300u32 {
                let mut b = WriteBatch::new();
                b.put(format!("a{i:04}").into_bytes(), b"1".to_vec());
                b.put(format!("b{i:04}").into_bytes(), b"1".to_vec());
                kv.write(b).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                let mut checks = 0;
                loop {
                    let snap = kv.snapshot().unwrap();
                    let a = snap
                        .scan(&KeyRange::prefix(b"a"), Direction::Forward)
                        .unwrap()
                        .count();
                    let b = snap
                        .scan(&KeyRange::prefix(b"b"), Direction::Reverse)
                        .unwrap()
                        .count();
                    assert_eq!(a, b, "torn batch visible to a reader");
                    checks += 1;
                    if a == 300 {
                        return checks;
                    }
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// `visit` (borrowed pairs) yields exactly what `scan` does, in both directions, and stops early.
fn visit_matches_scan(h: &mut Harness) {
    let kv = h.kv();
    let mut batch = WriteBatch::new();
    for i in 0u32..500 {
        batch.put(format!("v{i:04}").into_bytes(), i.to_be_bytes().to_vec());
    }
    batch.put(b"u".to_vec(), b"outside".to_vec());
    batch.put(b"w".to_vec(), b"outside".to_vec());
    kv.write(batch).unwrap();
    let snap = kv.snapshot().unwrap();
    let ranges = [
        KeyRange::prefix(b"v"),
        KeyRange::half_open(b"v0100", b"v0200"),
        KeyRange {
            start: Bound::Excluded(b"v0010".to_vec()),
            end: Bound::Included(b"v0020".to_vec()),
        },
        KeyRange::half_open(b"v0300", b"v0300"),
        KeyRange::all(),
    ];
    for range in &ranges {
        for direction in [Direction::Forward, Direction::Reverse] {
            let scanned = kv::collect(snap.scan(range, direction).unwrap()).unwrap();
            let mut visited = Vec::new();
            snap.visit(range, direction, &mut |k, v| {
                visited.push((k.to_vec(), v.to_vec()));
                Ok(true)
            })
            .unwrap();
            assert_eq!(visited, scanned, "{range:?} {direction:?}");
        }
    }
    let mut seen = 0;
    snap.visit(&KeyRange::prefix(b"v"), Direction::Reverse, &mut |k, _| {
        seen += 1;
        assert_eq!(k, b"v0499".as_slice());
        Ok(false)
    })
    .unwrap();
    assert_eq!(seen, 1);
    let err = snap.visit(&KeyRange::prefix(b"v"), Direction::Forward, &mut |_, _| {
        Err(remdb::Error::Storage("stop".into()))
    });
    assert!(err.is_err());
}

macro_rules! conformance {
    ($module:ident, $factory:path, [$($test:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
                #[cfg_attr(not(target_arch = "wasm32"), test)]
                fn $test() {
                    super::$test(&mut $factory());
                }
            )*
        }
    };
}

macro_rules! suite {
    ($module:ident, $factory:path) => {
        conformance!(
            $module,
            $factory,
            [
                byte_ordering,
                point_ops,
                prefix_bounds,
                reverse_scans,
                batch_atomicity,
                batch_outcome_is_the_written_order,
                snapshots_are_consistent,
                large_values,
                scans_of_100k_keys,
                reopen_durability,
                visit_matches_scan,
            ]
        );
    };
}

suite!(memory_backend, memory);
suite!(redb_pages_backend, redb_pages);
#[cfg(not(target_arch = "wasm32"))]
suite!(redb_file_backend, redb_file);
#[cfg(all(not(target_arch = "wasm32"), feature = "rocksdb"))]
suite!(rocksdb_backend, rocksdb);
#[cfg(all(not(target_arch = "wasm32"), feature = "server"))]
suite!(postgres_backend, postgres);

#[cfg(not(target_arch = "wasm32"))]
mod concurrency {
    use super::*;
    #[test]
    fn memory_concurrent_readers() {
        concurrent_readers(&mut memory());
    }
    #[test]
    fn redb_file_concurrent_readers() {
        concurrent_readers(&mut redb_file());
    }
    #[test]
    fn redb_pages_concurrent_readers() {
        concurrent_readers(&mut redb_pages());
    }
    #[cfg(feature = "rocksdb")]
    #[test]
    fn rocksdb_concurrent_readers() {
        concurrent_readers(&mut rocksdb());
    }
    #[cfg(feature = "server")]
    #[test]
    fn postgres_concurrent_readers() {
        concurrent_readers(&mut postgres());
    }
}
