"""What the leaf stand-in draws from: each species' shape and colour ranges, and the knobs that
set how hard the stand-in is (:class:`Difficulty`). :mod:`mtl_lib.data.leaf.render` turns them
into images."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeciesLook:
    """Per-species parameter ranges ``(low, high)``; a leaf draws each uniformly. Ranges of
    similar species overlap on purpose (Arjun, Guava, Lemon, Bael, Jamun and Pongamia are all
    elliptic-ish), so shape alone does not identify every leaf."""

    palmate: bool
    aspect: tuple[float, float]  # length / width (palmate: length / width of the ellipse)
    base: tuple[float, float]  # α (profile) — palmate: lobe shape exponent p
    tip: tuple[float, float]  # β (profile) — palmate: lobe depth d
    acumen: tuple[float, float]  # drip-tip strength
    cordate: tuple[float, float]  # base notch depth (profile leaves only)
    serration: tuple[float, float]  # relative tooth amplitude
    teeth: tuple[float, float]  # teeth per side (profile) or around the outline (palmate)
    lobes: tuple[int, ...]  # palmate lobe counts to choose from (odd)
    petiole: tuple[float, float]  # stalk length in half-lengths of the blade
    size: tuple[float, float]  # blade length as a fraction of the content height
    colour: tuple[float, float, float]  # mean blade RGB
    veins: tuple[float, float]  # vein contrast
    vein_count: tuple[float, float]  # lateral veins per half-length


def _look(palmate=False, aspect=(2.0, 2.6), base=(0.6, 0.9), tip=(0.7, 1.1), acumen=(0.0, 0.2),
          cordate=(0.0, 0.0), serration=(0.0, 0.0), teeth=(10.0, 16.0), lobes=(3,),
          petiole=(0.05, 0.2), size=(0.75, 1.0), colour=(0.22, 0.42, 0.14), veins=(0.1, 0.25),
          vein_count=(5.0, 8.0)) -> SpeciesLook:  # fmt: skip
    return SpeciesLook(palmate, aspect, base, tip, acumen, cordate, serration, teeth, lobes,
                       petiole, size, colour, veins, vein_count)  # fmt: skip


#: Species 0..11 in the order of the Chouhan et al. labels P0..P11. The shapes follow the
#: plants' botanical descriptions loosely (mango: lanceolate; Alstonia: oblanceolate,
#: attenuate base, many parallel veins; guava: oblong, prominent veins; Bael leaflets: ovate,
#: pointed, crenate; Pongamia: ovate, acuminate; basil: small, ovate, toothed; pomegranate:
#: small, narrow; lemon: elliptic, crenulate; Jatropha: 3–5 shallow palmate lobes; Chinar:
#: 5–7 deep toothed palmate lobes).
SPECIES_LOOKS: tuple[SpeciesLook, ...] = (
    _look(
        aspect=(3.0, 4.4),
        base=(0.9, 1.3),
        tip=(0.9, 1.4),
        acumen=(0.1, 0.4),
        petiole=(0.12, 0.3),
        size=(0.85, 1.1),
        colour=(0.15, 0.32, 0.10),
        veins=(0.12, 0.3),
        vein_count=(7, 11),
    ),  # Mango
    _look(
        aspect=(2.0, 2.8),
        base=(0.4, 0.7),
        tip=(0.5, 0.85),
        acumen=(0.0, 0.1),
        cordate=(0.0, 0.06),
        serration=(0.0, 0.03),
        petiole=(0.05, 0.15),
        size=(0.8, 1.0),
        colour=(0.24, 0.40, 0.13),
    ),  # Arjun
    _look(
        aspect=(2.7, 3.9),
        base=(1.2, 1.8),
        tip=(0.4, 0.75),
        acumen=(0.0, 0.15),
        petiole=(0.05, 0.15),
        size=(0.8, 1.05),
        colour=(0.20, 0.40, 0.12),
        veins=(0.18, 0.32),
        vein_count=(11, 16),
    ),  # Alstonia
    _look(
        aspect=(1.8, 2.5),
        base=(0.5, 0.8),
        tip=(0.5, 0.85),
        acumen=(0.0, 0.12),
        petiole=(0.03, 0.1),
        size=(0.8, 1.05),
        colour=(0.31, 0.47, 0.18),
        veins=(0.25, 0.45),
        vein_count=(8, 12),
    ),  # Guava
    _look(
        aspect=(2.0, 2.8),
        base=(0.6, 0.9),
        tip=(1.0, 1.5),
        acumen=(0.15, 0.45),
        serration=(0.02, 0.07),
        teeth=(7, 12),
        petiole=(0.05, 0.15),
        size=(0.7, 0.95),
        colour=(0.26, 0.44, 0.14),
    ),  # Bael
    _look(
        aspect=(2.0, 2.8),
        base=(0.7, 1.0),
        tip=(0.9, 1.3),
        acumen=(0.2, 0.5),
        petiole=(0.1, 0.2),
        size=(0.8, 1.05),
        colour=(0.16, 0.34, 0.11),
        veins=(0.08, 0.2),
    ),  # Jamun
    _look(
        palmate=True,
        aspect=(0.85, 1.15),
        base=(1.2, 2.0),
        tip=(0.15, 0.4),
        serration=(0.0, 0.02),
        teeth=(20, 30),
        lobes=(3, 5),
        petiole=(0.3, 0.6),
        size=(0.7, 0.95),
        colour=(0.24, 0.44, 0.17),
        veins=(0.12, 0.28),
    ),  # Jatropha
    _look(
        aspect=(1.6, 2.2),
        base=(0.4, 0.7),
        tip=(1.0, 1.5),
        acumen=(0.3, 0.6),
        petiole=(0.05, 0.15),
        size=(0.8, 1.05),
        colour=(0.22, 0.42, 0.14),
    ),  # Pongamia
    _look(
        aspect=(1.5, 2.1),
        base=(0.4, 0.8),
        tip=(0.8, 1.2),
        acumen=(0.0, 0.2),
        serration=(0.02, 0.08),
        teeth=(6, 11),
        petiole=(0.15, 0.35),
        size=(0.55, 0.8),
        colour=(0.30, 0.54, 0.20),
    ),  # Basil
    _look(
        aspect=(2.9, 4.2),
        base=(1.0, 1.5),
        tip=(0.6, 1.0),
        acumen=(0.0, 0.15),
        petiole=(0.03, 0.1),
        size=(0.55, 0.85),
        colour=(0.26, 0.46, 0.12),
    ),  # Pomegranate
    _look(
        aspect=(1.8, 2.6),
        base=(0.6, 0.9),
        tip=(0.7, 1.1),
        acumen=(0.0, 0.2),
        serration=(0.01, 0.05),
        teeth=(10, 18),
        petiole=(0.1, 0.2),
        size=(0.75, 1.0),
        colour=(0.18, 0.38, 0.12),
    ),  # Lemon
    _look(
        palmate=True,
        aspect=(0.85, 1.15),
        base=(1.0, 1.7),
        tip=(0.3, 0.55),
        serration=(0.03, 0.08),
        teeth=(24, 40),
        lobes=(5, 5, 7),
        petiole=(0.3, 0.6),
        size=(0.75, 1.0),
        colour=(0.30, 0.47, 0.17),
        veins=(0.15, 0.3),
    ),  # Chinar
)


@dataclass(frozen=True)
class Difficulty:
    """Knobs for how hard the stand-in is. With the defaults, ``small_cnn`` trained with EW +
    Adam (lr 1e-3, batch 32) for 15 epochs (~3 CPU minutes) on an 80/20 stratified split
    reached about 63 % species and 82 % health accuracy (still rising; both well below 100 %):
    elliptic species (Arjun, Bael, Jamun, Lemon, Pongamia) are confused with each other, and
    faint blemishes cap the health accuracy."""

    range_widening: float = 0.0  # each species range grows by this fraction of its width, both sides
    faint_fraction: float = 0.2  # share of diseased leaves with very faint blemishes
    healthy_speck_prob: float = 0.3  # share of healthy leaves with a few faint specks
    healthy_tint_prob: float = 0.2  # share of healthy leaves with an even yellowish (old-leaf) tint
    light_background_prob: float = 0.3


def difficulty_levels(species: float = 1.0, health: float = 1.0) -> Difficulty:
    """The stand-in's difficulty as two levels (1.0, 1.0 = the defaults of :class:`Difficulty`).

    ``species`` < 1 narrows every species' shape ranges towards their middle (0 leaves only the
    midpoint), > 1 widens them so neighbouring species overlap more; ``health`` scales the
    share of faint blemishes and of healthy leaves with specks or tint (0: none, so health is
    easy to see). These are the knobs the leaf chapter calibrates on its baseline, approach A.
    """
    if species < 0 or health < 0:
        raise ValueError(f"difficulty levels must be >= 0, got species={species}, health={health}")
    defaults = Difficulty()
    return Difficulty(
        range_widening=max(0.45 * (species - 1.0), -0.49),
        faint_fraction=min(1.0, defaults.faint_fraction * health),
        healthy_speck_prob=min(1.0, defaults.healthy_speck_prob * health),
        healthy_tint_prob=min(1.0, defaults.healthy_tint_prob * health),
        light_background_prob=defaults.light_background_prob,
    )


__all__ = ["SPECIES_LOOKS", "Difficulty", "SpeciesLook", "difficulty_levels"]
