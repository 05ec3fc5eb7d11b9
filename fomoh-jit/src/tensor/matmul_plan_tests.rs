//! The matmul block cover and the loop chunking.

use super::emit::Reduce;
use super::gemm::{matmul_blocks, MatmulBlock, MatmulPair};
use super::lanes::{lane_stride, Src};
use super::plan::{loop_chunks, MAX_LOOP_CHUNKS, PAR_MIN_LOOP_WORK};

/// The product rule's terms for `h · W` at K directions, with `h` a loop output (lane `l`
/// at `l·lane_stride(m·k)` in buffer 0, as a loop lays them out) and `W` a parameter
/// block (value and tangent lanes only).
fn hk_pairs(kk: usize, (m, k): (usize, usize)) -> Vec<MatmulPair> {
    let h = |l: usize| Src::Buf(0, l * lane_stride(m * k));
    let w = |l: usize| Src::X(l, 0);
    let mut lanes: Vec<Vec<(f64, Src, Src)>> = vec![vec![(1.0, h(0), w(0))]];
    for i in 1..=kk {
        lanes.push(vec![(1.0, h(i), w(0)), (1.0, h(0), w(i))]);
    }
    let mut l = kk + 1;
    for i in 1..=kk {
        for j in i..=kk {
            let mut t = vec![(1.0, h(l), w(0))];
            if i == j {
                t.push((2.0, h(i), w(i)));
            } else {
                t.push((1.0, h(i), w(j)));
                t.push((1.0, h(j), w(i)));
            }
            lanes.push(t);
            l += 1;
        }
    }
    let mut pairs: Vec<MatmulPair> = Vec::new();
    for (q, terms) in lanes.into_iter().enumerate() {
        for (c, a, b) in terms {
            pairs.push(((a, b), vec![(q, c)]));
        }
    }
    pairs
}

/// Every product of `pairs` is computed by exactly one block, with all its uses.
fn exact_cover(blocks: &[MatmulBlock], pairs: &[MatmulPair]) {
    let mut seen = 0;
    for bl in blocks {
        for (i, &p) in bl.ps.iter().enumerate() {
            for (j, &q) in bl.qs.iter().enumerate() {
                let x = pairs.iter().find(|x| x.0 == (p, q)).expect("a block computes a product nobody uses");
                let uses: Vec<(usize, f64)> =
                    bl.uses.iter().filter(|u| (u.0, u.1) == (i, j)).map(|u| (u.2, u.3)).collect();
                assert_eq!(uses, x.1);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, pairs.len());
}

#[test]
fn hidden_layer_products_are_covered_once_and_short_lanes_stack_in_place() {
    for kk in 1..=8 {
        let (m, k, n) = (256, 32, 10);
        let pairs = hk_pairs(kk, (m, k));
        let blocks = matmul_blocks((m, k, n), &pairs);
        exact_cover(&blocks, &pairs);
        // Padded lanes: every block's stacked left lanes are copies (none in place), and
        // only single products go straight into their lane.
        assert!(blocks.iter().all(|b| !b.a_contig));
        assert!(blocks.iter().all(|b| b.direct.is_none() || b.ps.len() == 1), "K={kk}: {blocks:?}");
        // Unpadded (short) lanes laid one after another are read in place and written
        // straight into consecutive output lanes.
        let (m, k, n) = (2, 3, 4);
        let pairs: Vec<MatmulPair> = hk_pairs(kk, (m, k));
        let blocks = matmul_blocks((m, k, n), &pairs);
        exact_cover(&blocks, &pairs);
        assert!(blocks.iter().all(|b| b.a_contig || b.ps.len() == 1), "K={kk}: {blocks:?}");
        assert!(blocks.iter().any(|b| b.direct.is_some() && b.ps.len() > 1), "K={kk}: {blocks:?}");
    }
}

#[test]
fn loop_chunks_cover_the_iteration_space_once() {
    for (iter, reduce, cost) in [
        ((1, 1_000_001), Reduce::All, 30),
        ((1, 1_000_000), Reduce::None, 400),
        ((301, 300), Reduce::Rows, 40),
        ((3, 200_001), Reduce::None, 10),
        ((200_000, 3), Reduce::MaxRows, 5),
        ((100, 100), Reduce::All, 1),
        ((1, 7), Reduce::All, 1 << 20),
    ] {
        for w in [2, 4] {
            let chunks = loop_chunks(iter, reduce, cost, w);
            let work = iter.0 * iter.1 * cost;
            // One row shorter than two vectors cannot be split.
            let splittable = iter.0 > 1 || iter.1 >= 2 * w;
            assert_eq!(chunks.len() > 1, work >= PAR_MIN_LOOP_WORK && splittable, "{iter:?} w = {w}");
            assert!(chunks.len() <= MAX_LOOP_CHUNKS);
            let mut seen = vec![0u8; iter.0 * iter.1];
            for &(r0, r1, c0, c1) in &chunks {
                assert!(r0 < r1 && r1 <= iter.0 && c0 < c1 && c1 <= iter.1, "{chunks:?}");
                assert_eq!(c0 % w, 0, "chunks start at multiples of the vector width");
                if matches!(reduce, Reduce::Rows | Reduce::MaxRows) {
                    assert_eq!((c0, c1), (0, iter.1), "row reductions keep rows whole");
                }
                for r in r0..r1 {
                    for c in c0..c1 {
                        seen[r * iter.1 + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{iter:?}: not an exact cover");
        }
    }
}

#[test]
fn wide_right_lanes_are_not_copied_side_by_side() {
    // W (parameters) · cols (a loop output, wide): no right lanes are copied side by side;
    // [W_0; …; W_4] (small, copied) meets each first-order lane of `cols`, and the
    // second-order lanes, which meet only W_0, are each one dgemm straight into their lane.
    let (m, k, n) = (16, 150, 2048);
    let pairs: Vec<MatmulPair> = hk_pairs(4, (k, n))
        .into_iter()
        .map(|((h, w), u)| {
            let Src::X(l, _) = w else { unreachable!() };
            ((Src::X(l, 0), h), u)
        })
        .collect();
    let blocks = matmul_blocks((m, k, n), &pairs);
    exact_cover(&blocks, &pairs);
    assert!(blocks.iter().all(|b| b.qs.len() == 1), "{blocks:?}");
    assert_eq!(blocks.len(), 15, "{blocks:?}");
    assert_eq!(blocks.iter().filter(|b| b.direct.is_some()).count(), 10, "{blocks:?}");
}
