"""Street scenes through a pinhole camera: the CityScapes stand-in's renderer.

Images, 7-class labels and depth are rendered together so that they are geometrically
consistent; see :func:`render_street_scenes`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from mtl_lib.data.cityscapes.dataset import IGNORE_INDEX, NUM_CLASSES

_FLAT, _CONSTRUCTION, _OBJECT, _NATURE, _SKY, _HUMAN, _VEHICLE = range(NUM_CLASSES)

#: Scenes are rendered in chunks of this many images, each from its own generator seeded by
#: (seed, split, chunk); so a smaller stand-in is a prefix of a larger one with the same seed.
RENDER_CHUNK = 32
#: Depth unit of the stand-in (metres per unit); ground truth beyond _MAX_RANGE_M is invalid.
DEPTH_UNIT_M = 100.0
_MAX_RANGE_M = 100.0
_BIG = 1.0e6  # "no surface" depth; finite so that arithmetic on it stays NaN-free
_MAX_OBJECTS = 12
_SEGMENTS = 10  # wall segments per side (each a building, a hedge/tree row, or a gap)

# Object kinds and their label: car, pedestrian, pole (with or without a sign), clutter (void).
_CAR, _PERSON, _POLE, _CLUTTER = range(4)
_OBJECT_LABEL = torch.tensor([_VEHICLE, _HUMAN, _OBJECT, IGNORE_INDEX])
_OBJECT_KIND_P = torch.tensor([0.36, 0.30, 0.22, 0.12])

_BUILDING_PALETTE = torch.tensor(
    [
        [0.72, 0.64, 0.50],
        [0.58, 0.34, 0.25],
        [0.52, 0.52, 0.54],
        [0.80, 0.78, 0.72],
        [0.62, 0.55, 0.48],
    ]
)
_CAR_PALETTE = torch.tensor(
    [
        [0.70, 0.10, 0.10],
        [0.12, 0.22, 0.55],
        [0.85, 0.85, 0.85],
        [0.08, 0.08, 0.09],
        [0.55, 0.57, 0.60],
        [0.20, 0.35, 0.25],
    ]
)
_SIGN_PALETTE = torch.tensor([[0.80, 0.12, 0.10], [0.10, 0.25, 0.70], [0.90, 0.75, 0.10]])

# Materials with a fixed colour: id, RGB, fine-noise and blotch amplitudes (relative). Facades,
# car paint, clothing, signs and clutter follow with per-image colours (see the renderer).
_MATERIALS = (
    ("asphalt", (0.30, 0.30, 0.31), 0.07, 0.08),  # grey level per image
    ("lane", (0.82, 0.82, 0.80), 0.03, 0.0),
    ("paving", (0.62, 0.57, 0.52), 0.05, 0.04),
    ("grass", (0.30, 0.45, 0.18), 0.12, 0.20),
    ("window", (0.18, 0.22, 0.28), 0.04, 0.0),
    ("leaves", (0.16, 0.36, 0.12), 0.30, 0.25),
    ("car_window", (0.12, 0.15, 0.20), 0.03, 0.0),
    ("wheel", (0.05, 0.05, 0.05), 0.03, 0.0),
    ("skin", (0.78, 0.60, 0.50), 0.03, 0.0),
    ("pole", (0.42, 0.42, 0.42), 0.03, 0.0),
    ("end_wall", (0.60, 0.55, 0.50), 0.04, 0.0),  # colour per image
)
(
    _M_ASPHALT,
    _M_LANE,
    _M_PAVING,
    _M_GRASS,
    _M_WINDOW,
    _M_LEAVES,
    _M_CAR_WINDOW,
    _M_WHEEL,
    _M_SKIN,
    _M_POLE,
    _M_END,
) = range(len(_MATERIALS))
_MAT_FIXED = len(_MATERIALS)
_MAT_COLOUR = torch.tensor([c for _, c, _, _ in _MATERIALS]).view(1, _MAT_FIXED, 3)
# Texture amplitudes for all materials: fixed ones, then facades (2 sides × segments), then car
# paint, clothing, signs and clutter (one per object slot each).
_MAT_FINE = torch.tensor(
    [a for _, _, a, _ in _MATERIALS]
    + [0.025] * (2 * _SEGMENTS)
    + [0.02] * _MAX_OBJECTS
    + [0.05] * _MAX_OBJECTS
    + [0.02] * _MAX_OBJECTS
    + [0.10] * _MAX_OBJECTS
)
_MAT_BLOTCH = torch.tensor(
    [b for _, _, _, b in _MATERIALS] + [0.03] * (2 * _SEGMENTS) + [0.0] * (4 * _MAX_OBJECTS)
)


def _uniform(gen: torch.Generator, shape: Sequence[int], low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(tuple(shape), generator=gen)


def _smooth_noise(gen: torch.Generator, b: int, h: int, w: int, cell: int) -> torch.Tensor:
    """Zero-mean, unit-ish noise varying on a scale of ``cell`` pixels, shape (b, 1, h, w)."""
    coarse = torch.randn(b, 1, max(2, -(-h // cell) + 1), max(2, -(-w // cell) + 1), generator=gen)
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)


def _frac(x: torch.Tensor) -> torch.Tensor:
    return x - torch.floor(x)


def _pick(index: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``table[b, index[b, ...]]`` for a per-image table (b, S) and indices (b, ...)."""
    b = table.shape[0]
    rows = torch.arange(b).view(b, *([1] * (index.dim() - 1)))
    return table[rows, index]


def render_street_scenes(
    n: int, height: int, width: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render ``n`` street scenes: ``(images (n,3,H,W) in [0,1], seg (n,H,W) int64,
    depth (n,1,H,W))``, all random draws from ``generator`` in a fixed order.

    The camera is a pinhole at height c ≈ 1.5 m with focal length f = 1.1·W pixels (about
    CityScapes' field of view), horizon row y_h and vanishing column u_v drawn per image. A
    ground pixel (row y below the horizon) lies at distance Z = f·c / (y - y_h) — so road depth
    grows towards the horizon — and lateral offset X = (u - u_v)·Z / f; a wall at offset X_w is
    seen in column u at Z = f·X_w / (u - u_v) and spans rows y_h + f·(c - H_w)/Z .. y_h + f·c/Z;
    an object of height H standing at (X, Z) covers rows y_h + f·(c - H)/Z .. y_h + f·c/Z and
    takes the depth Z of where it stands. Surfaces are composited with a z-buffer.

    Scene: road (flat) between sidewalks (flat, sometimes a grass verge: nature), walls of
    building segments (construction, with windows) or hedges/tree rows (nature, ragged tops)
    on both sides with gaps, sometimes a building closing the street, sky (label sky, depth
    invalid) above; up to 12 objects: cars on the road (vehicle), pedestrians on the sidewalks
    (human), poles with or without signs (object) and street clutter (bins, boxes) labelled
    ignore (-1) like CityScapes' void classes. Half the images show the ego car's bonnet at the
    bottom, ignored and without depth, as in CityScapes. Depth is Z / 100 m, 0 (invalid) for sky,
    beyond 100 m, on the bonnet and in random stereo holes (~1.5% of pixels).

    Appearance: per-class colour and texture (asphalt noise and lane dashes, paving joints,
    facade colour and window grid, leafy noise on vegetation, a vertical gradient in the sky,
    car paint, windows and wheels, clothing and heads), distance haze, per-image brightness,
    colour cast and a horizontal light gradient, and pixel noise.
    """
    b, H, W = n, height, width
    g = generator
    f = 1.1 * W
    rows = (torch.arange(H, dtype=torch.float32) + 0.5).view(1, H, 1)
    cols = (torch.arange(W, dtype=torch.float32) + 0.5).view(1, 1, W)

    # ------------------------------------------------------------- scene parameters
    horizon = (H * _uniform(g, (b,), 0.36, 0.50)).view(b, 1, 1)
    vanish = (W * _uniform(g, (b,), 0.38, 0.62)).view(b, 1, 1)
    cam = _uniform(g, (b,), 1.3, 1.7).view(b, 1, 1)
    road_half = _uniform(g, (b,), 3.5, 6.0).view(b, 1, 1)
    walk = _uniform(g, (b, 2), 2.0, 5.0)  # sidewalk widths, left / right
    x_wall = torch.stack([-(road_half.view(b) + walk[:, 0]), road_half.view(b) + walk[:, 1]], 1)
    verge = torch.rand(b, 2, generator=g) < 0.3  # grass on the outer part of the sidewalk
    seg_len = _uniform(g, (b, 2, _SEGMENTS), 6.0, 28.0)
    seg_start = _uniform(g, (b, 2, 1), -8.0, 2.0)
    seg_bounds = seg_start + seg_len.cumsum(-1)  # segment s ends at seg_bounds[..., s]
    seg_kind = torch.multinomial(
        torch.tensor([0.65, 0.25, 0.10]), b * 2 * _SEGMENTS, replacement=True, generator=g
    ).view(b, 2, _SEGMENTS)
    seg_height = _uniform(g, (b, 2, _SEGMENTS), 5.0, 24.0)
    seg_height = torch.where(seg_kind == 1, seg_height * 0.3 + 1.5, seg_height)  # hedges, trees
    seg_colour = _BUILDING_PALETTE[
        torch.randint(len(_BUILDING_PALETTE), (b, 2, _SEGMENTS), generator=g)
    ]
    seg_colour = seg_colour * _uniform(g, (b, 2, _SEGMENTS, 1), 0.85, 1.1)
    window_pitch = _uniform(g, (b, 2, _SEGMENTS), 2.5, 4.5)
    seg_phase = _uniform(g, (b, 2, _SEGMENTS), 0.0, 2 * math.pi)
    end_wall = torch.rand(b, generator=g) < 0.5
    end_z = _uniform(g, (b,), 35.0, 90.0).view(b, 1, 1)
    end_h = _uniform(g, (b,), 8.0, 30.0).view(b, 1, 1)
    end_nature = (torch.rand(b, generator=g) < 0.3).view(b, 1, 1)
    end_colour = _BUILDING_PALETTE[torch.randint(len(_BUILDING_PALETTE), (b,), generator=g)]
    road_grey = _uniform(g, (b,), 0.22, 0.38).view(b, 1, 1)
    lane_offset = _uniform(g, (b,), -0.6, 0.6).view(b, 1, 1)
    overcast = (torch.rand(b, generator=g) < 0.35).view(b, 1, 1, 1)

    # objects: kind, position (X, Z), size, colour
    m = _MAX_OBJECTS
    active = torch.rand(b, m, generator=g) < 0.7
    kind = torch.multinomial(_OBJECT_KIND_P, b * m, replacement=True, generator=g).view(b, m)
    z_obj = 4.0 + 56.0 * torch.rand(b, m, generator=g) ** 1.5
    side = torch.where(torch.rand(b, m, generator=g) < 0.5, 0, 1)
    side_sign = side.float() * 2 - 1
    walk_side = walk.gather(1, side)
    lateral = torch.rand(b, m, generator=g)
    rh = road_half.view(b, 1)
    x_obj = torch.where(
        kind == _CAR,
        rh * (lateral * 1.6 - 0.8),
        torch.where(
            kind == _POLE,
            side_sign * (rh + 0.2 + 0.3 * lateral),
            side_sign * (rh + walk_side * (0.15 + 0.8 * lateral)),
        ),
    )
    size_draw = torch.rand(b, m, 2, generator=g)
    obj_w = torch.stack(
        [
            1.6 + 0.4 * size_draw[..., 0],
            0.45 + 0.2 * size_draw[..., 0],
            torch.full((b, m), 0.15),
            0.5 + 0.7 * size_draw[..., 0],
        ],
        -1,
    )
    obj_h = torch.stack(
        [
            1.3 + 0.4 * size_draw[..., 1],
            1.5 + 0.45 * size_draw[..., 1],
            3.5 + 3.5 * size_draw[..., 1],
            0.6 + 0.6 * size_draw[..., 1],
        ],
        -1,
    )
    obj_w = obj_w.gather(-1, kind[..., None])[..., 0]
    obj_h = obj_h.gather(-1, kind[..., None])[..., 0]
    car_colour = _CAR_PALETTE[torch.randint(len(_CAR_PALETTE), (b, m), generator=g)]
    cloth_colour = _uniform(g, (b, m, 3), 0.05, 0.6)
    sign_colour = _SIGN_PALETTE[torch.randint(len(_SIGN_PALETTE), (b, m), generator=g)]
    has_sign = torch.rand(b, m, generator=g) < 0.5
    clutter_colour = _uniform(g, (b, m, 3), 0.15, 0.5)

    hood = (torch.rand(b, generator=g) < 0.5).view(b, 1, 1)
    hood_height = (H * _uniform(g, (b,), 0.06, 0.13)).view(b, 1, 1)
    gain = _uniform(g, (b, 1, 1, 1), 0.7, 1.2)
    cast = _uniform(g, (b, 3, 1, 1), 0.93, 1.07)
    light_slope = _uniform(g, (b, 1, 1, 1), -0.12, 0.12)
    fine = torch.randn(b, 1, H, W, generator=g)
    blotch = _smooth_noise(g, b, H, W, 6)
    holes = _smooth_noise(g, b, H, W, 3)[:, 0] > 1.9
    pixel_noise = 0.03 * torch.randn(b, 3, H, W, generator=g)

    # ------------------------------------------------------------- geometry
    dy = rows - horizon  # (b, H, 1)
    du = cols - vanish  # (b, 1, W)
    z_ground = torch.where(
        dy > 0.05, f * cam / dy.clamp_min(0.05), torch.full_like(dy, _BIG)
    ).expand(b, H, W)
    x_ground = du * z_ground / f

    wall_z, wall_kind, wall_h, wall_seg = [], [], [], []
    for s, toward in ((0, du < -0.05), (1, du > 0.05)):
        zw = torch.where(
            toward,
            f * x_wall[:, s].view(b, 1, 1) / torch.where(toward, du, torch.ones_like(du)),
            torch.full_like(du, _BIG),
        )
        idx = (
            (zw[..., None] > seg_bounds[:, s].view(b, 1, 1, _SEGMENTS))
            .sum(-1)
            .clamp_max(_SEGMENTS - 1)
        )
        k = _pick(idx, seg_kind[:, s])
        top_h = _pick(idx, seg_height[:, s])
        # Ragged tops for vegetation: the height wobbles with distance along the wall.
        top_h = torch.where(
            k == 1,
            top_h
            + 0.9 * torch.sin(zw * 0.9 + _pick(idx, seg_phase[:, s]))
            + 0.5 * torch.sin(zw * 2.3),
            top_h,
        )
        top_row = horizon - f * (top_h - cam) / zw
        bottom_row = horizon + f * cam / zw
        inside = (rows >= top_row) & (rows <= bottom_row) & toward & (k != 2)
        wall_z.append(torch.where(inside, zw.expand(b, H, W), torch.full((b, H, W), _BIG)))
        wall_kind.append(k.expand(b, H, W))
        wall_h.append(
            (cam - dy * zw / f).expand(b, H, W)
        )  # height of the wall point above the ground
        wall_seg.append(idx.expand(b, H, W))

    end_left = vanish + f * x_wall[:, 0].view(b, 1, 1) / end_z
    end_right = vanish + f * x_wall[:, 1].view(b, 1, 1) / end_z
    end_inside = (
        end_wall.view(b, 1, 1)
        & (cols >= end_left)
        & (cols <= end_right)
        & (rows >= horizon - f * (end_h - cam) / end_z)
        & (rows <= horizon + f * cam / end_z)
    )
    z_end = torch.where(end_inside, end_z.expand(b, H, W), torch.full((b, H, W), _BIG))

    # Objects: each kind is a half-width profile w(t) over its height fraction t (0 at the feet,
    # 1 at the top) in units of the object's half width; pixel (row, col) is inside iff
    # |ou| <= w(t) with ou the column offset from the object's centre in half widths. Profiles
    # live on (b, m, H, 1) and offsets on (b, m, 1, W), so only the final test is full size.
    zo = z_obj.view(b, m, 1, 1)
    centre = vanish.view(b, 1, 1, 1) + f * x_obj.view(b, m, 1, 1) / zo
    half_w_px = (f * obj_w.view(b, m, 1, 1) / (2 * zo)).clamp_min(0.55)  # poles stay >= 1 px wide
    feet = horizon.view(b, 1, 1, 1) + f * cam.view(b, 1, 1, 1) / zo
    tall_px = f * obj_h.view(b, m, 1, 1) / zo
    ou = (cols.view(1, 1, 1, W) - centre) / half_w_px  # (b, m, 1, W)
    t = (feet - rows.view(1, 1, H, 1)) / tall_px  # (b, m, H, 1)
    kd = kind.view(b, m, 1, 1)
    car_w = torch.where(t <= 0.55, 1.0, 0.8 - 0.4 * (t - 0.55))  # body, then a narrower cabin
    body = (1 - ((t - 0.42) / 0.42).square()).clamp_min(0).sqrt()
    head = 0.5 * (1 - ((t - 0.91) / 0.09).square()).clamp_min(0).sqrt()
    person_w = torch.maximum(body, head)
    sign_w = torch.where(has_sign.view(b, m, 1, 1) & (t >= 0.8), f * 0.35 / zo / half_w_px, 0.0)
    pole_w = torch.maximum(torch.ones_like(t), sign_w)
    profile = torch.where(
        kd == _CAR,
        car_w,
        torch.where(kd == _PERSON, person_w, torch.where(kd == _POLE, pole_w, torch.ones_like(t))),
    )
    profile = torch.where((t >= 0) & (t <= 1) & active.view(b, m, 1, 1), profile, -1.0)
    z_objects = torch.where(ou.abs() <= profile, zo, _BIG)  # (b, m, H, W)
    z_obj_min, obj_index = z_objects.min(1)  # nearest object per pixel

    # ------------------------------------------------------------- z-buffer
    surfaces = torch.stack([z_ground, wall_z[0], wall_z[1], z_end, z_obj_min])
    z, which = surfaces.min(0)
    sky = z >= _BIG / 2
    GROUND, LEFT, RIGHT, END, OBJ = range(5)

    # labels
    outer = x_ground.abs() > torch.where(
        x_ground < 0, -x_wall[:, 0].view(b, 1, 1), x_wall[:, 1].view(b, 1, 1)
    )
    side_of_ground = (x_ground > 0).long()
    verge_here = _pick(side_of_ground, verge) & (
        x_ground.abs() > road_half + 0.6 * _pick(side_of_ground, walk)
    )
    ground_label = torch.where(outer | verge_here, _NATURE, _FLAT)
    wall_label = [torch.where(k == 1, _NATURE, _CONSTRUCTION) for k in wall_kind]
    end_label = torch.where(end_nature, _NATURE, _CONSTRUCTION).expand(b, H, W)
    obj_kind = _pick(obj_index, kind)
    obj_label = _OBJECT_LABEL[obj_kind]
    label_stack = torch.stack([ground_label, wall_label[0], wall_label[1], end_label, obj_label])
    seg = label_stack.gather(0, which[None])[0]
    seg = torch.where(sky, _SKY, seg)

    # ------------------------------------------------------------- appearance
    # Every pixel gets a material id; one lookup in a per-image colour table gives its base
    # colour, and a per-material texture amplitude modulates it (one channel until the end,
    # which keeps rendering cheap).
    S = _SEGMENTS
    facade0, paint0 = _MAT_FIXED, _MAT_FIXED + 2 * S
    cloth0, sign0, clutter0 = paint0 + m, paint0 + 2 * m, paint0 + 3 * m
    on_road = x_ground.abs() <= road_half
    dashes = ((x_ground - lane_offset).abs() < 0.09) & (_frac(z_ground / 7.0) < 0.45) & on_road
    ground_mat = torch.where(
        on_road,
        torch.where(dashes, _M_LANE, _M_ASPHALT),
        torch.where(ground_label == _NATURE, _M_GRASS, _M_PAVING),
    )
    wall_mat = []
    for s in range(2):
        along, pitch, hgt = wall_z[s], _pick(wall_seg[s], window_pitch[:, s]), wall_h[s]
        cell_u, cell_v = _frac(along / pitch), _frac(hgt / 3.2)
        window = (cell_u > 0.3) & (cell_u < 0.72) & (cell_v > 0.35) & (cell_v < 0.8) & (hgt > 2.6)
        facade = torch.where(window, _M_WINDOW, facade0 + s * S + wall_seg[s])
        wall_mat.append(torch.where(wall_kind[s] == 1, _M_LEAVES, facade))
    end_mat = torch.where(end_nature, _M_LEAVES, _M_END).expand(b, H, W)
    o_ou = ou.expand(b, m, H, W).gather(1, obj_index[:, None])[:, 0]
    o_t = t.expand(b, m, H, W).gather(1, obj_index[:, None])[:, 0]
    car_window = (o_t > 0.6) & (o_t < 0.93) & (o_ou.abs() < 0.68 - 0.4 * (o_t - 0.55))
    wheel = (o_t < 0.2) & (o_ou.abs() > 0.5) & (o_ou.abs() < 0.85)
    car_mat = torch.where(
        wheel, _M_WHEEL, torch.where(car_window, _M_CAR_WINDOW, paint0 + obj_index)
    )
    person_mat = torch.where(o_t > 0.82, _M_SKIN, cloth0 + obj_index)
    pole_mat = torch.where(o_ou.abs() > 1, sign0 + obj_index, _M_POLE)
    obj_mat = torch.where(
        obj_kind == _CAR,
        car_mat,
        torch.where(
            obj_kind == _PERSON,
            person_mat,
            torch.where(obj_kind == _POLE, pole_mat, clutter0 + obj_index),
        ),
    )
    material = torch.stack([ground_mat, wall_mat[0], wall_mat[1], end_mat, obj_mat]).gather(
        0, which[None]
    )[0]

    table = torch.cat(
        [
            _MAT_COLOUR.expand(b, _MAT_FIXED, 3).clone(),
            seg_colour.reshape(b, 2 * S, 3),
            car_colour,
            cloth_colour,
            sign_colour,
            clutter_colour,
        ],
        1,
    )
    table[:, _M_ASPHALT] = road_grey.view(b, 1)
    table[:, _M_END] = end_colour
    colour = _pick(material, table)  # (b, H, W, 3)
    joints = (_frac(x_ground * 1.4) < 0.08) | (_frac(z_ground * 1.4) < 0.08)
    texture = 1 + _MAT_FINE[material] * fine[:, 0] + _MAT_BLOTCH[material] * blotch[:, 0]
    texture = texture - 0.18 * (joints & (material == _M_PAVING))
    colour = colour * texture[..., None]

    # Sky (and haze towards its colour with distance); the sky is haze at full strength.
    vertical = (rows / H).view(1, H, 1, 1)
    blue_sky = torch.tensor([0.45, 0.62, 0.88]) + 0.35 * (vertical - 0.1) * torch.tensor(
        [1.0, 0.8, 0.3]
    )
    grey_sky = torch.tensor([0.78, 0.80, 0.82]) + 0.1 * vertical
    sky_colour = (
        torch.where(overcast.view(b, 1, 1, 1), grey_sky, blue_sky) + 0.03 * blotch[:, 0, :, :, None]
    )
    haze = torch.where(sky, 1.0, 0.6 * (1 - torch.exp(-z.clamp_max(_MAX_RANGE_M * 3) / 140.0)))[
        ..., None
    ]
    colour = torch.lerp(colour, sky_colour, haze)

    # The ego vehicle's bonnet: a dark curved strip at the bottom, with a highlight.
    bonnet_top = H - hood_height * (1 - ((cols - W / 2) / (0.75 * W)).square()).clamp_min(0)
    bonnet = hood & (rows >= bonnet_top)
    highlight = 0.15 * (1 - ((cols - W / 2) / (0.3 * W)).square()).clamp_min(0)
    bonnet_colour = torch.tensor([0.10, 0.10, 0.12]) + highlight.view(1, 1, W, 1)
    colour = torch.where(bonnet[..., None], bonnet_colour, colour)
    seg = torch.where(bonnet, IGNORE_INDEX, seg)

    light = 1 + light_slope.view(b, 1, 1, 1) * (cols.view(1, 1, W, 1) / W - 0.5) * 2
    illumination = gain.view(b, 1, 1, 1) * cast.view(b, 1, 1, 3) * light  # (b, 1, W, 3)
    image = (colour * illumination).permute(0, 3, 1, 2) + pixel_noise
    image = image.clamp_(0.0, 1.0)

    valid_depth = ~sky & ~bonnet & ~holes & (z <= _MAX_RANGE_M)
    depth = torch.where(valid_depth, z / DEPTH_UNIT_M, torch.zeros_like(z))
    return image.float().contiguous(), seg.long().contiguous(), depth[:, None].float().contiguous()
