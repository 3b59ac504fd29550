"""Small linear-algebra helpers shared by the Gramian-based aggregators (MGDA, CAGrad, Nash-MTL,
IMTL-G, Aligned-MTL).

All solvers here work on the K×K Gram matrix G = JJᵀ of the task gradients, never on J itself:
K is the number of tasks (a handful), so the cost is negligible next to the Jacobian. The
iterative solvers run on a float64 CPU copy of G (:func:`solver_copy`): a loop of a few hundred
tiny K×K operations would, on a GPU, cost a kernel launch per operation and a host
synchronisation per stopping test, and float32 round-off would stop them short of their
tolerance. Only the K weights travel back to the Jacobian's device.
"""

from __future__ import annotations

import warnings

import torch

from mtl_lib.aggregators.base import ConvergenceWarning


def solver_copy(gram: torch.Tensor) -> torch.Tensor:
    """A detached float64 CPU copy of a K×K Gram matrix, symmetrised against round-off."""
    g = gram.detach().to(device="cpu", dtype=torch.float64)
    return 0.5 * (g + g.T)


def warn_not_converged(owner: object, message: str) -> None:
    """Warn with :class:`ConvergenceWarning` and count the event in ``owner.failures``."""
    owner.failures = getattr(owner, "failures", 0) + 1  # type: ignore[attr-defined]
    warnings.warn(f"{type(owner).__name__}: {message}", ConvergenceWarning, stacklevel=3)


def unit_rows(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows / ‖row‖, ‖row‖) in the rows' dtype, without overflow or underflow: each row is first
    divided by its largest absolute entry (float32 squares overflow above ~1e19 and become
    subnormal below ~1e-19, and 1/‖row‖ itself overflows for norms below ~1e-38). Zero rows
    give zero unit rows."""
    scales = rows.abs().amax(dim=1) if rows.shape[1] else rows.new_zeros(rows.shape[0])
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    scaled = rows / safe[:, None]
    scaled_norms = scaled.norm(dim=1)
    units = scaled / torch.where(scaled_norms > 0, scaled_norms, torch.ones_like(scaled_norms))[:, None]
    return units, scaled_norms * scales


def row_norms(rows: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of every row, overflow- and underflow-safe (see :func:`unit_rows`)."""
    return unit_rows(rows)[1]


def safe_inverse(values: torch.Tensor) -> torch.Tensor:
    """1/x where x > 0 and 0 elsewhere (a zero gradient norm contributes nothing, not inf)."""
    positive = values > 0
    return torch.where(
        positive,
        1.0 / torch.where(positive, values, torch.ones_like(values)),
        torch.zeros_like(values),
    )


def min_norm_two(g11: float, g12: float, g22: float) -> float:
    """Weight γ on the first vector of the point of smallest norm on the segment between two
    vectors with Gram entries g11 = ‖a‖², g12 = a·b, g22 = ‖b‖²:

        γ = argmin_{γ∈[0,1]} ‖γ a + (1 − γ) b‖² = clip((g22 − g12) / (g11 + g22 − 2 g12), 0, 1).

    Equal vectors (zero denominator) give γ = 1/2, which keeps the result symmetric."""
    denominator = g11 + g22 - 2.0 * g12
    if denominator <= 1e-15 * max(g11, g22, 1e-300):
        return 0.5
    return min(max((g22 - g12) / denominator, 0.0), 1.0)


def _affine_min_norm(gram_ss: torch.Tensor) -> torch.Tensor:
    """Coefficients μ (Σ μ = 1) of the point of smallest norm in the affine hull of a few points
    with Gram matrix ``gram_ss``.

    When the points are linearly independent, μ ∝ G⁻¹1 = D C⁻¹ D 1 with D = diag(1/‖p_i‖) and C
    the cosine matrix: solved through C, whose unit diagonal keeps points of norms 1e-20 and
    1e20 in one problem as well conditioned as their angles. Otherwise (C numerically singular,
    or a zero point) the bordered system [[G, 1], [1ᵀ, 0]] [μ; ν] = [0; 1] is solved by least
    squares, which stays defined when the points are affinely dependent."""
    n = gram_ss.shape[0]
    norms = gram_ss.diagonal().clamp(min=0.0).sqrt()
    if bool((norms > 0).all()):
        inv = 1.0 / norms
        cosines = gram_ss * inv[:, None] * inv[None, :]
        eigenvalues = torch.linalg.eigvalsh(cosines)
        if float(eigenvalues.min()) > 1e-10 * float(eigenvalues.max()):
            solution = inv * torch.linalg.solve(cosines, inv)
            return solution / solution.sum()
    system = torch.zeros(n + 1, n + 1, dtype=gram_ss.dtype)
    system[:n, :n] = gram_ss
    system[:n, n] = 1.0
    system[n, :n] = 1.0
    rhs = torch.zeros(n + 1, 1, dtype=gram_ss.dtype)
    rhs[n] = 1.0
    solution = torch.linalg.lstsq(system, rhs, driver="gelsd").solution[:n, 0]
    return solution / solution.sum()


def min_norm_weights(gram: torch.Tensor, tol: float, max_iters: int) -> tuple[torch.Tensor, bool, int]:
    """Weights w on the simplex minimising ‖Σ w_k g_k‖² = wᵀGw: the min-norm point of the convex
    hull of the task gradients (MGDA's subproblem).

    K = 2 uses :func:`min_norm_two` (exact). K > 2 runs Wolfe's min-norm-point algorithm (Wolfe
    1976), i.e. *fully corrective* Frank–Wolfe: each iteration adds the Frank–Wolfe vertex
    argmin_k (Gw)_k to the active set and re-minimises exactly over the active vertices (affine
    min-norm solve plus ratio test that drops vertices), so it terminates in finitely many steps
    where plain Frank–Wolfe converges as O(1/t) and stalls on degenerate (rank-deficient) Gram
    matrices. It stops when the Frank–Wolfe duality gap wᵀGw − min_k (Gw)_k, which bounds the
    excess of ‖d‖² over its minimum, is at most ``tol · max_k G_kk``; ``max_iters`` bounds the
    number of (major plus minor) iterations. The uniform weights are returned directly when they
    are already optimal (identical gradients), which keeps symmetric problems symmetric.

    ``gram`` must be a float64 CPU tensor (see :func:`solver_copy`). Returns
    ``(weights, converged, iterations)``.
    """
    k = gram.shape[0]
    if k == 1:
        return torch.ones(1, dtype=gram.dtype), True, 0
    scale = float(gram.diagonal().max())
    uniform = torch.full((k,), 1.0 / k, dtype=gram.dtype)
    if scale <= 0.0:  # every gradient is zero: any weights do; keep them uniform (symmetric)
        return uniform, True, 0
    if k == 2:
        gamma = min_norm_two(float(gram[0, 0]), float(gram[0, 1]), float(gram[1, 1]))
        return torch.tensor([gamma, 1.0 - gamma], dtype=gram.dtype), True, 0
    # Unit scale keeps the bordered systems (entries G and 1) well balanced.
    gram = gram / scale
    scale = 1.0

    def gap(weights: torch.Tensor) -> tuple[float, int]:
        gw = gram @ weights
        best = int(torch.argmin(gw))
        return float(weights @ gw) - float(gw[best]), best

    if gap(uniform)[0] <= tol * scale:
        return uniform, True, 0
    first = int(torch.argmin(gram.diagonal()))
    w = torch.zeros(k, dtype=gram.dtype)
    w[first] = 1.0
    active = [first]
    iterations = 0
    while iterations < max_iters:
        fw_gap, vertex = gap(w)
        # Stop on a gap small relative to the current ‖d‖² as well as to the largest ‖g_k‖²:
        # with gradient norms 1e20 and 1e-20 in one problem the min-norm point is tiny, and a
        # tolerance on the largest scale alone would stop at a vertex that still conflicts.
        if fw_gap <= tol * float(w @ gram @ w) or vertex in active:
            # A vertex already in the corral cannot improve an exact affine minimiser: we are
            # at the optimum up to round-off.
            return w, fw_gap <= tol * scale, iterations
        active.append(vertex)
        while iterations < max_iters:  # minor cycle: exact minimisation over the active set
            iterations += 1
            index = torch.tensor(active)
            mu = _affine_min_norm(gram[index][:, index])
            current = w[index]
            if bool((mu > 0).all()):
                w = torch.zeros(k, dtype=gram.dtype)
                w[index] = mu
                break
            # Move from the current point towards the affine minimiser until a weight hits 0.
            shrinking = mu <= 0
            ratios = current[shrinking] / (current[shrinking] - mu[shrinking])
            theta = float(ratios.min().clamp(0.0, 1.0))
            moved = current + theta * (mu - current)
            keep = [j for j, value in zip(active, moved.tolist()) if value > 1e-15]
            w = torch.zeros(k, dtype=gram.dtype)
            for j, value in zip(active, moved.tolist()):
                if j in keep:
                    w[j] = value
            w = w / w.sum()
            active = keep
    fw_gap, _ = gap(w)
    return w, fw_gap <= tol * scale, iterations
