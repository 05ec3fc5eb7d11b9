"""JAX's jit on the BENCHMARKS.md Rosenbrock passes, for `cargo bench --bench jax_rosenbrock`.

Usage: python jax_rosenbrock.py N [N ...]; prints one line per N:
`jax N compile_hd_ms compile_k4_ms hd_us k4_us e12` (median over 7 batches of >= 50 ms).
Passes: hyper-dual (f, ∇f·v1, ∇f·v2, v1ᵀHv2: one jvp of a jvp) and K = 4 (f, the 4
directional derivatives, the 4×4 projected Hessian: a vmap of a vmap of jvps of jvps; this
computes all 16 entries, and was faster here than vmapping over the 10 pairs i <= j, which
gathers the directions), in float64, all on the CPU.
"""
import sys
import time

import numpy as np
import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)


def rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def hyper_dual(x, v1, v2):
    g = lambda y: jax.jvp(rosen, (y,), (v1,))
    (f, d1), (d2, h12) = jax.jvp(g, (x,), (v2,))
    return f, d1, d2, h12


def project(x, d):
    grad = jax.vmap(lambda u: jax.jvp(rosen, (x,), (u,))[1])(d)

    def hv(u, w):
        g = lambda y: jax.jvp(rosen, (y,), (u,))[1]
        return jax.jvp(g, (x,), (w,))[1]

    h = jax.vmap(lambda u: jax.vmap(lambda w: hv(u, w))(d))(d)
    return rosen(x), grad, h


def median_time(f, batches=7, min_s=0.05):
    f()
    ts = []
    for _ in range(batches):
        k, t = 0, time.perf_counter()
        while time.perf_counter() - t < min_s:
            f()
            k += 1
        ts.append((time.perf_counter() - t) / k)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    hd, pk = jax.jit(hyper_dual), jax.jit(project)
    for n in [int(a) for a in sys.argv[1:]]:
        i = np.arange(n)
        x = jnp.array(np.where(i % 2 == 0, -1.2, 1.0))
        d = jnp.array([np.sin((i + 1) * np.sqrt(j + 2)) for j in range(4)])
        t0 = time.perf_counter()
        r = jax.block_until_ready(hd(x, d[0], d[1]))
        c_hd = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(pk(x, d))
        c_k4 = time.perf_counter() - t0
        a = median_time(lambda: jax.block_until_ready(hd(x, d[0], d[1])))
        b = median_time(lambda: jax.block_until_ready(pk(x, d)))
        print(f"jax {n} {c_hd * 1e3:.1f} {c_k4 * 1e3:.1f} {a * 1e6:.2f} {b * 1e6:.2f} {float(r[3]):.9e}", flush=True)


if __name__ == "__main__":
    main()
