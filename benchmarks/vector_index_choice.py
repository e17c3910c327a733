"""Why hnswlib: usearch and hnswlib on the same data with the same HNSW parameters, in one run.

Builds both indexes over the same vectors (M, ef_construction from Shipyard's settings), then for
several ef_search values measures recall@10 against exact search and single-query searches per
second from Python (how Shipyard calls the index). The figures are recorded in docs/vectors.md.

    .venv/bin/python benchmarks/vector_index_choice.py [--n 100000] [--queries 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import ROOT  # noqa: F401
from vector_search import dataset, exact_top, recall

from shipyard.config import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    import hnswlib
    import usearch.index

    s = Settings(include_bundled_models=False)
    data, queries = dataset(args.n, args.queries, args.dims)
    truth = exact_top(data, queries, args.k)
    m, efc = s.vector_hnsw_m, s.vector_hnsw_ef_construction
    t0 = time.perf_counter()
    u = usearch.index.Index(ndim=args.dims, metric="cos", dtype="f32", connectivity=m, expansion_add=efc)
    u.add(np.arange(args.n), data)
    u_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    h = hnswlib.Index(space="cosine", dim=args.dims)
    h.init_index(max_elements=args.n, M=m, ef_construction=efc)
    h.add_items(data, np.arange(args.n))
    h_build = time.perf_counter() - t0
    h.set_num_threads(1)
    print(f"{args.n:,} x {args.dims}, M={m}, ef_construction={efc}; build s: usearch {u_build:.1f}, "
          f"hnswlib {h_build:.1f}")
    print(f"{'ef':>5}{'usearch recall':>16}{'usearch q/s':>13}{'hnswlib recall':>16}{'hnswlib q/s':>13}")
    for ef in (32, 64, 128):
        u.expansion_search = ef
        h.set_ef(ef)
        t0 = time.perf_counter()
        fu = [u.search(q, args.k).keys.tolist() for q in queries]
        tu = time.perf_counter() - t0
        t0 = time.perf_counter()
        fh = [h.knn_query(q, k=args.k, num_threads=1)[0][0].tolist() for q in queries]
        th = time.perf_counter() - t0
        print(f"{ef:>5}{recall(fu, truth):>16.3f}{len(queries) / tu:>13.0f}{recall(fh, truth):>16.3f}"
              f"{len(queries) / th:>13.0f}", flush=True)


if __name__ == "__main__":
    main()
