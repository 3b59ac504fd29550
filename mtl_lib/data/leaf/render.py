"""Vectorised rendering of synthetic leaf photographs (the leaf stand-in's image generator).

Every image is computed at once for a whole batch on a pixel grid with torch tensor ops; no
per-pixel or per-polygon Python loops. A leaf is an implicit shape in its own coordinates
(u across, v along the midrib, tip at v = +1, base at v = -1), mapped to the image by a random
rotation, scale and position:

- *blade outline*, two families:
    - entire/elongated leaves: half-width profile  W(t) = (1/A) · t^α (1 - t)^β / max,
      t = (v + 1)/2, so A = length/width (elongation), α the base shape (small: rounded or
      broad; ≈1: cuneate; >1: attenuate) and β the tip (small: blunt; >1: pointed); an
      acumen term narrows the last stretch into a drip tip, a notch of depth c makes the
      base cordate, and a sawtooth factor 1 + s·(frac(n·t) - ½) serrates the margin;
    - palmate leaves (Jatropha, Chinar): polar radius  R(φ) = E_A(φ) · (1 - d·((1 - cos nφ)/2)^p)
      around the blade centre (φ = 0 at the tip, E_A an ellipse), with n lobes of depth d and
      shape exponent p (larger: broader lobes, narrower sinuses); odd n leaves a sinus at
      the base (cordate); serration as above, in φ;
- a petiole (thin stalk below the base), a slightly bent midrib and mild asymmetry;
- veins (midrib + lateral veins, or rays along the lobes) lighter than the blade;
- blemishes on diseased leaves: brown/dark/yellow spots (radius 1–3.6 px, 2–14 per leaf,
  placed on the blade) with chlorotic halos, discoloured patches (thresholded low-frequency
  noise), necrotic margins and holes; one severity per leaf scales all of them and is faint
  for a fifth of the diseased leaves; healthy leaves sometimes carry faint specks or an even
  yellowish (old-leaf) tint, so that "any mark" is not a perfect cue;
- a textured background (dark in most images, lighter in the rest) with a soft leaf shadow,
  illumination gradients, brightness and colour-balance jitter and sensor noise.

Everything random is drawn from one ``torch.Generator`` passed in, in a fixed order, so the
output is a function of its seed, the labels and the image size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mtl_lib.data.leaf.looks import SPECIES_LOOKS, Difficulty, SpeciesLook, difficulty_levels

#: Rendering works on batches of this many leaves (memory ~ batch × 16 × pixels floats).
#: Fixed, because the order of the random draws, and hence the images, depends on it.
RENDER_BATCH = 256

#: Maximum number of blemish spots per leaf (spots beyond a leaf's own count are inactive).
MAX_SPOTS = 14


def _uniform(gen: torch.Generator, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(lo.shape, generator=gen)


def _range(species: torch.Tensor, field: str, widen: float) -> tuple[torch.Tensor, torch.Tensor]:
    table = torch.tensor([getattr(s, field) for s in SPECIES_LOOKS], dtype=torch.float32)
    lo, hi = table[species, 0], table[species, 1]
    pad = widen * (hi - lo)
    return lo - pad, hi + pad


def _smooth_noise(gen: torch.Generator, n: int, cells: int, height: int, width: int) -> torch.Tensor:
    """Low-frequency noise in [-1, 1]: a coarse random grid upsampled bicubically, (n, H, W)."""
    coarse = 2 * torch.rand(n, 1, cells, cells, generator=gen) - 1
    return F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[:, 0].clamp(-1, 1)


def _sample_params(species: torch.Tensor, health: torch.Tensor, gen: torch.Generator,
                   diff: Difficulty) -> dict[str, torch.Tensor]:  # fmt: skip
    n = species.numel()
    w = diff.range_widening
    p = {name: _uniform(gen, *_range(species, name, w)).clamp_min(0.0)
         for name in ("aspect", "base", "tip", "acumen", "cordate", "serration", "teeth",
                      "petiole", "size", "veins", "vein_count")}  # fmt: skip
    p["aspect"] = p["aspect"].clamp_min(0.6)
    p["base"] = p["base"].clamp_min(0.25)
    palmate = torch.tensor([s.palmate for s in SPECIES_LOOKS])[species]
    p["palmate"] = palmate.float()
    # Palmate: tip holds the lobe depth; keep it < 1 so lobes stay connected.
    p["tip"] = torch.where(palmate, p["tip"].clamp(0.02, 0.7), p["tip"].clamp_min(0.3))
    choice = torch.rand(n, generator=gen)
    lobe_counts = torch.zeros(n)
    for k, look in enumerate(SPECIES_LOOKS):
        options = torch.tensor(look.lobes, dtype=torch.float32)
        pick = options[(choice * len(look.lobes)).long().clamp_max(len(look.lobes) - 1)]
        lobe_counts = torch.where(species == k, pick, lobe_counts)
    p["lobes"] = lobe_counts
    colour = torch.tensor([s.colour for s in SPECIES_LOOKS])[species]
    # Colours overlap strongly between species: shape, not hue, should carry the species.
    p["colour"] = (colour + 0.06 * (2 * torch.rand(n, 3, generator=gen) - 1)).clamp(0.02, 1)
    p["angle"] = 2 * math.pi * torch.rand(n, generator=gen)
    p["bend"] = 0.25 * (2 * torch.rand(n, generator=gen) - 1)
    p["asym"] = 0.12 * (2 * torch.rand(n, generator=gen) - 1)
    p["petiole_bend"] = 0.4 * (2 * torch.rand(n, generator=gen) - 1)
    p["centre"] = 0.12 * (2 * torch.rand(n, 2, generator=gen) - 1)
    p["glossy"] = torch.rand(n, generator=gen)

    diseased = health.bool()
    # Severity scales every blemish. Diseased leaves: mostly clear, a faint fraction near the
    # detection limit; healthy leaves: only the optional faint specks use it.
    u = torch.rand(n, generator=gen)
    faint = torch.rand(n, generator=gen) < diff.faint_fraction
    sev_d = torch.where(faint, 0.08 + 0.17 * u, 0.35 + 0.65 * u)
    sev_h = 0.05 + 0.15 * u
    specks = torch.rand(n, generator=gen) < diff.healthy_speck_prob
    p["severity"] = torch.where(diseased, sev_d, torch.where(specks, sev_h, torch.zeros(n)))
    # Number of spots: diseased 2..MAX_SPOTS (skewed towards few), healthy specks 1..2.
    r = torch.rand(n, generator=gen)
    n_d = 2 + (r**1.5 * (MAX_SPOTS - 1)).long().clamp_max(MAX_SPOTS - 2)
    n_h = 1 + (r * 2).long().clamp_max(1)
    p["n_spots"] = torch.where(diseased, n_d, torch.where(specks, n_h, torch.zeros_like(n_d)))
    kinds = torch.rand(n, 4, generator=gen)
    p["has_spots"] = (~diseased) | (kinds[:, 0] < 0.85)
    p["has_patch"] = diseased & (kinds[:, 1] < 0.4)
    p["has_margin"] = diseased & (kinds[:, 2] < 0.25)
    p["has_holes"] = diseased & (kinds[:, 3] < 0.2)
    # Diseased leaves without any blemish kind drawn get spots, so every diseased leaf has some.
    none = diseased & ~(p["has_spots"] | p["has_patch"] | p["has_margin"] | p["has_holes"])
    p["has_spots"] = p["has_spots"] | none
    p["tint"] = (~diseased) & (torch.rand(n, generator=gen) < diff.healthy_tint_prob)
    p["tint_amount"] = 0.1 + 0.25 * torch.rand(n, generator=gen)
    return p


def _blade_distance(u: torch.Tensor, v: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Signed distance-like field of the blade in leaf units (> 0 inside), shape (B, H, W)."""

    def col(name: str) -> torch.Tensor:
        return p[name][:, None, None]

    aspect, alpha, beta = col("aspect"), col("base"), col("tip")
    # Entire leaves: half-width profile along t = (v + 1) / 2.
    t = ((v + 1) / 2).clamp(1e-4, 1 - 1e-4)
    t_star = alpha / (alpha + beta)
    peak = t_star**alpha * (1 - t_star) ** beta
    width = (t**alpha * (1 - t) ** beta) / peak / aspect
    width = width * (1 - col("acumen") * torch.exp(-(((1 - t) / 0.18) ** 2)))
    saw = torch.frac(col("teeth") * t) - 0.5
    width = width * (1 + col("serration") * 2 * saw)
    inside_len = torch.minimum(v + 1, 1 - v)  # > 0 on the blade's length
    notch = col("cordate") * (1 - (u.abs() * aspect / 0.35)).clamp_min(0) - t
    d_profile = torch.minimum(torch.minimum(width - u.abs(), inside_len), -notch * 2)

    # Palmate leaves: polar radius with lobes (φ = 0 at the tip).
    rho = torch.sqrt(u**2 + v**2)
    phi = torch.atan2(u, v)
    ellipse = 1 / torch.sqrt((torch.sin(phi) * aspect) ** 2 + torch.cos(phi) ** 2)
    lobe = 1 - col("tip") * ((1 - torch.cos(col("lobes") * phi)) / 2) ** col("base")
    saw_p = torch.frac(col("teeth") * (phi + math.pi) / (2 * math.pi)) - 0.5
    radius = ellipse * lobe * (1 + col("serration") * 2 * saw_p)
    d_palm = radius - rho

    return torch.where(col("palmate") > 0.5, d_palm, d_profile)


def _half_width(v: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """Approximate half-width of each blade at positions ``v`` (B, K), to place blemishes on
    the leaf rather than in its bounding box (teeth, acumen and lobes ignored)."""
    aspect, alpha, beta = p["aspect"][:, None], p["base"][:, None], p["tip"][:, None]
    t = ((v + 1) / 2).clamp(1e-4, 1 - 1e-4)
    t_star = alpha / (alpha + beta)
    profile = t**alpha * (1 - t) ** beta / (t_star**alpha * (1 - t_star) ** beta) / aspect
    ellipse = torch.sqrt((1 - v**2).clamp_min(0)) / aspect
    return torch.where(p["palmate"][:, None] > 0.5, ellipse, profile)


def _base_position(p: dict[str, torch.Tensor]) -> torch.Tensor:
    """v of the point where the petiole meets the blade (profile: -1; palmate: the sinus)."""
    depth = p["tip"]
    # cos(nπ) = -1 for odd n: the base lies in a sinus of relative depth `depth`.
    return torch.where(p["palmate"] > 0.5, -(1 - depth), -1 + 2 * p["cordate"])


def render_leaves(species: torch.Tensor, health: torch.Tensor, *, image_size: int = 64,
                  content_height: int | None = None, generator: torch.Generator,
                  difficulty: Difficulty | None = None) -> torch.Tensor:  # fmt: skip
    """Render one leaf per label pair; returns uint8 images ``(N, 3, S, S)``.

    The scene is drawn in a ``content_height × S`` band centred vertically and the rows above
    and below are zero, which mimics the real images (3:2 photographs letterboxed to a square);
    ``content_height=None`` means ``round(S · 2/3)``.
    """
    diff = difficulty or Difficulty()
    species = species.long().reshape(-1)
    health = health.long().reshape(-1)
    if species.shape != health.shape:
        raise ValueError(f"species and health disagree in length: {species.numel()} vs {health.numel()}")
    size = int(image_size)
    height = int(content_height if content_height is not None else round(size * 2 / 3))
    if not 4 <= height <= size:
        raise ValueError(f"content_height must be in [4, {size}], got {height}")
    n = species.numel()
    params = _sample_params(species, health, generator, diff)
    out = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    top = (size - height) // 2
    for start in range(0, n, RENDER_BATCH):
        stop = min(n, start + RENDER_BATCH)
        batch = {k: v[start:stop] for k, v in params.items()}
        out[start:stop, :, top : top + height] = _render_batch(batch, height, size, generator, diff)
    return out


def _render_batch(p: dict[str, torch.Tensor], height: int, width: int, gen: torch.Generator,
                  diff: Difficulty) -> torch.Tensor:  # fmt: skip
    b = p["angle"].shape[0]
    ys = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    xs = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W), pixels from the centre

    def col(x: torch.Tensor) -> torch.Tensor:
        return x[:, None, None]

    half_len = col(p["size"]) * height / 2  # blade half-length in pixels
    cx = col(p["centre"][:, 0]) * width
    cy = col(p["centre"][:, 1]) * height
    cos_a, sin_a = col(torch.cos(p["angle"])), col(torch.sin(p["angle"]))
    dx, dy = gx - cx, gy - cy
    # Leaf coordinates in blade half-lengths; v points to the tip (image "up" when angle = 0).
    u = (dx * cos_a + dy * sin_a) / half_len
    v = (dx * sin_a - dy * cos_a) / half_len
    u = u - col(p["bend"]) * (v**2 - 1) * 0.5  # curved midrib
    u = u * (1 + col(p["asym"]) * torch.sign(u))  # one side slightly wider
    px = 1 / half_len  # one pixel in leaf units

    d_blade = _blade_distance(u, v, p)
    blade = torch.sigmoid(d_blade / px * 1.6)

    v_base = col(_base_position(p))
    pet_len = col(p["petiole"])
    pu = u - col(p["petiole_bend"]) * (v - v_base) ** 2
    pet_width = 0.8 * px
    along = torch.minimum(v - (v_base - pet_len), v_base + 0.1 - v)
    d_pet = torch.minimum(pet_width - pu.abs(), along)
    petiole = torch.sigmoid(d_pet / px * 1.6)
    leaf_mask = torch.maximum(blade, petiole)

    # --- blade colour: base colour, vertical shading, texture, veins
    colour = p["colour"][:, :, None, None]  # (B, 3, 1, 1)
    texture = 1 + 0.06 * _smooth_noise(gen, b, 6, height, width)
    shade = 1 + 0.12 * v.clamp(-1, 1) * col(torch.rand(b, generator=gen) * 2 - 1)
    leaf_rgb = colour * (texture * shade)[:, None]

    vein_c = col(p["veins"])
    midrib = torch.sigmoid((0.55 * px - u.abs()) / px * 2) * (v.abs() < 1).float()
    phase = col(p["vein_count"]) * (v - 0.9 * u.abs() * col(p["aspect"]).clamp_max(2.5))
    lateral = torch.relu(1 - (torch.frac(phase) - 0.5).abs() / (0.5 * px * col(p["vein_count"]) + 1e-6))
    rho = torch.sqrt(u**2 + v**2)
    phi = torch.atan2(u, v)
    n_lobes = col(p["lobes"]).clamp_min(1)
    phi_rel = phi - torch.round(phi * n_lobes / (2 * math.pi)) * (2 * math.pi) / n_lobes
    rays = torch.sigmoid((0.55 * px - (rho * torch.sin(phi_rel)).abs()) / px * 2) * (torch.cos(phi_rel) > 0)
    palmate = col(p["palmate"])
    veins = torch.where(palmate > 0.5, rays, torch.maximum(midrib, 0.6 * lateral)) * blade
    vein_tint = torch.tensor([1.25, 1.2, 0.9])[None, :, None, None]
    leaf_rgb = leaf_rgb * (1 + (vein_c * veins)[:, None] * (vein_tint - 1 + 0.6))

    # Old-leaf tint on some healthy leaves: even, so unlike blemishes it has no local contrast.
    tint = col(p["tint"].float() * p["tint_amount"])[:, None]
    yellow = torch.tensor([0.55, 0.55, 0.15])[None, :, None, None]
    leaf_rgb = leaf_rgb * (1 - tint) + yellow * tint

    # --- blemishes
    sev = col(p["severity"])[:, None]
    damage = torch.zeros(b, 1, height, width)
    damage_rgb = torch.zeros(b, 3, height, width)

    def paint(alpha: torch.Tensor, rgb: torch.Tensor) -> None:
        """Layer a blemish with opacity ``alpha`` (B, 1, H, W) and colour ``rgb`` (B, 3, 1|H, 1|W)."""
        nonlocal damage, damage_rgb
        damage_rgb = damage_rgb * (1 - alpha) + rgb * alpha
        damage = damage + alpha * (1 - damage)

    # Spots: centres in leaf coordinates (they move with the leaf), radius in pixels. Only the
    # active (image, spot) pairs are rendered, then reduced per image: most slots are empty.
    k = MAX_SPOTS
    sv = (2 * torch.rand(b, k, generator=gen) - 1) * 0.85
    su = (2 * torch.rand(b, k, generator=gen) - 1) * 0.85 * _half_width(sv, p)
    radius = 1.0 + 2.6 * torch.rand(b, k, generator=gen) ** 1.5
    active = (torch.arange(k)[None] < p["n_spots"][:, None]) & p["has_spots"][:, None]
    kind = torch.rand(b, k, generator=gen)
    brown = torch.tensor([0.42, 0.26, 0.10])
    dark = torch.tensor([0.16, 0.11, 0.06])
    chlorotic = torch.tensor([0.72, 0.68, 0.22])
    core_rgb = torch.where((kind < 0.5)[..., None], brown, torch.where((kind < 0.8)[..., None], dark, chlorotic))
    core_rgb = core_rgb * (0.8 + 0.4 * torch.rand(b, k, 1, generator=gen))
    ib, ik = active.nonzero(as_tuple=True)
    dist_px = torch.sqrt((u[ib] - su[ib, ik, None, None]) ** 2 + (v[ib] - sv[ib, ik, None, None]) ** 2) / px[ib]
    r = radius[ib, ik, None, None]
    core = torch.sigmoid((r - dist_px) * 2.0)  # (M, H, W)
    halo = (torch.sigmoid((1.9 * r - dist_px) * 1.2) - core).clamp_min(0)
    zeros = torch.zeros(b, height, width)
    spread = ib[:, None, None].expand_as(core)
    core_alpha = zeros.scatter_reduce(0, spread, core, "amax")[:, None]
    halo_alpha = 0.6 * zeros.scatter_reduce(0, spread, halo, "amax")[:, None] * sev
    core_sum = zeros.index_add(0, ib, core)[:, None]
    core_colour = torch.zeros(b, 3, height, width).index_add(0, ib, core[:, None] * core_rgb[ib, ik, :, None, None])
    core_colour = core_colour / core_sum.clamp_min(1e-6)
    paint(halo_alpha, chlorotic[None, :, None, None])
    paint(core_alpha * sev, core_colour)

    # Discoloured patches: thresholded low-frequency noise.
    noise = _smooth_noise(gen, b, 5, height, width)
    level = col(0.2 + 0.5 * torch.rand(b, generator=gen))
    patch = torch.sigmoid((noise - level) * 12) * col(p["has_patch"].float())
    patch_rgb = torch.where(col(torch.rand(b, generator=gen) < 0.5)[:, None], chlorotic[None, :, None, None],
                            torch.tensor([0.5, 0.36, 0.12])[None, :, None, None])  # fmt: skip
    paint((0.85 * patch * col(p["severity"]))[:, None], patch_rgb)

    # Necrotic margin: brown band of a few pixels along the outline.
    band = col(1.0 + 2.5 * torch.rand(b, generator=gen))
    jag = 1 + 0.6 * _smooth_noise(gen, b, 8, height, width)
    margin = torch.sigmoid((band * jag - d_blade / px) * 1.5) * col(p["has_margin"].float())
    paint(
        (margin * col(p["severity"]))[:, None],
        torch.tensor([0.36, 0.22, 0.08])[None, :, None, None],
    )

    leaf_rgb = leaf_rgb * (1 - damage) + damage_rgb * damage

    # Holes: the background shows through; their opacity follows the severity too.
    hv = (2 * torch.rand(b, 3, generator=gen) - 1) * 0.75
    hu = (2 * torch.rand(b, 3, generator=gen) - 1) * 0.6 * _half_width(hv, p)
    hr = 0.8 + 1.7 * torch.rand(b, 3, generator=gen)
    n_holes = 1 + (torch.rand(b, generator=gen) * 3).long().clamp_max(2)
    hole_on = (torch.arange(3)[None] < n_holes[:, None]) & p["has_holes"][:, None]
    jb, jk = hole_on.nonzero(as_tuple=True)
    hd = torch.sqrt((u[jb] - hu[jb, jk, None, None]) ** 2 + (v[jb] - hv[jb, jk, None, None]) ** 2) / px[jb]
    hole = zeros.scatter_reduce(
        0,
        jb[:, None, None].expand_as(hd),
        torch.sigmoid((hr[jb, jk, None, None] - hd) * 2.0),
        "amax",
    )
    hole = hole * col(p["severity"]).clamp_max(0.6) / 0.6
    leaf_mask = leaf_mask * (1 - hole * blade)

    # Petiole: a little darker and browner than the blade, and no blemishes.
    stalk = (petiole * (1 - blade))[:, None]
    leaf_rgb = leaf_rgb * (1 - stalk) + colour * torch.tensor([1.2, 0.95, 0.8])[None, :, None, None] * 0.85 * stalk

    # Glossy leaves: a soft highlight along one side of the midrib.
    gloss = col(p["glossy"].clamp_min(0.5) - 0.5) * torch.exp(-(((u - 0.15 / col(p["aspect"])) / 0.15) ** 2)) * blade
    leaf_rgb = leaf_rgb + 0.25 * gloss[:, None]

    # --- background
    light = col(torch.rand(b, generator=gen) < diff.light_background_prob)[:, None]
    dark_bg = 0.02 + 0.12 * torch.rand(b, 1, 1, 1, generator=gen)
    light_bg = 0.45 + 0.4 * torch.rand(b, 1, 1, 1, generator=gen)
    bg_level = torch.where(light, light_bg, dark_bg)
    bg_tint = 1 + 0.08 * (2 * torch.rand(b, 3, 1, 1, generator=gen) - 1)
    bg_tex = (
        1
        + 0.25 * _smooth_noise(gen, b, 4, height, width)[:, None]
        + 0.1 * _smooth_noise(gen, b, 16, height, width)[:, None]
    )
    background = bg_level * bg_tint * bg_tex
    # A soft shadow of the leaf, slightly offset.
    shadow_shift = (1 + torch.randint(0, 2, (2,), generator=gen)).tolist()
    shadow = torch.roll(leaf_mask, shifts=(shadow_shift[0], shadow_shift[1]), dims=(1, 2))
    background = background * (1 - 0.35 * shadow[:, None])

    mask = leaf_mask[:, None]
    img = background * (1 - mask) + leaf_rgb * mask

    # --- camera: illumination gradient, brightness, white balance, noise
    grad_dir = 2 * math.pi * torch.rand(b, generator=gen)
    ramp = (gx * col(torch.cos(grad_dir)) + gy * col(torch.sin(grad_dir))) / width
    illum = col(0.7 + 0.6 * torch.rand(b, generator=gen)) * (1 + 0.5 * col(torch.rand(b, generator=gen)) * ramp)
    balance = 1 + 0.1 * (2 * torch.rand(b, 3, 1, 1, generator=gen) - 1)
    img = img * illum[:, None] * balance
    sigma = 0.01 + 0.03 * torch.rand(b, 1, 1, 1, generator=gen)
    img = img + sigma * torch.randn(img.shape, generator=gen)
    return (img.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


# SpeciesLook, difficulty_levels: re-exported, callers import them from here since before the split
__all__ = [
    "MAX_SPOTS",
    "RENDER_BATCH",
    "SPECIES_LOOKS",
    "Difficulty",
    "SpeciesLook",
    "difficulty_levels",
    "render_leaves",
]
