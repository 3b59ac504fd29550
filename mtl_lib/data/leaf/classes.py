"""The leaf dataset's names and class table (Chouhan et al. 2019; see :mod:`mtl_lib.data.leaf`)."""

from __future__ import annotations

import torch

REAL_SOURCE = "Chouhan et al. 2019"
STANDIN_SOURCE = "stand-in (generated)"
DATASET_URL = "https://data.mendeley.com/datasets/hb74ynkjcn/1"

PLANT_NAMES: tuple[str, ...] = (
    "Mango", "Arjun", "Alstonia Scholaris", "Gauva", "Bael", "Jamun",
    "Jatropha", "Pongamia Pinnata", "Basil", "Pomegranate", "Lemon", "Chinar",
)  # fmt: skip
#: The dataset's folder names, including its spelling "Gauva".
PLANT_FOLDERS: tuple[str, ...] = tuple(f"{name} (P{k})" for k, name in enumerate(PLANT_NAMES))
HEALTH_NAMES: tuple[str, ...] = ("healthy", "diseased")

#: (species, health, file prefix, number of files in the public release), ordered by prefix.
CLASS_TABLE: tuple[tuple[int, int, str, int], ...] = (
    (0, 0, "0001", 170),  # Mango (P0) healthy
    (1, 0, "0002", 220),  # Arjun (P1) healthy
    (2, 0, "0003", 179),  # Alstonia Scholaris (P2) healthy
    (3, 0, "0004", 277),  # Gauva (P3) healthy
    (5, 0, "0005", 279),  # Jamun (P5) healthy
    (6, 0, "0006", 133),  # Jatropha (P6) healthy
    (7, 0, "0007", 322),  # Pongamia Pinnata (P7) healthy
    (8, 0, "0008", 148),  # Basil (P8) healthy
    (9, 0, "0009", 287),  # Pomegranate (P9) healthy
    (10, 0, "0010", 159),  # Lemon (P10) healthy
    (11, 0, "0011", 103),  # Chinar (P11) healthy
    (0, 1, "0012", 265),  # Mango (P0) diseased
    (1, 1, "0013", 232),  # Arjun (P1) diseased
    (2, 1, "0014", 254),  # Alstonia Scholaris (P2) diseased
    (3, 1, "0015", 142),  # Gauva (P3) diseased
    (4, 1, "0016", 118),  # Bael (P4) diseased
    (5, 1, "0017", 345),  # Jamun (P5) diseased
    (6, 1, "0018", 124),  # Jatropha (P6) diseased
    (7, 1, "0019", 276),  # Pongamia Pinnata (P7) diseased
    (9, 1, "0020", 272),  # Pomegranate (P9) diseased
    (10, 1, "0021", 77),  # Lemon (P10) diseased
    (11, 1, "0022", 120),  # Chinar (P11) diseased
)
PREFIX_TO_CLASS: dict[str, tuple[int, int]] = {prefix: (s, h) for s, h, prefix, _ in CLASS_TABLE}
CLASS_TO_PREFIX: dict[tuple[int, int], str] = {(s, h): prefix for s, h, prefix, _ in CLASS_TABLE}
NUM_SPECIES = len(PLANT_NAMES)
NUM_CLASSES = len(CLASS_TABLE)


def class_index(species: torch.Tensor, health: torch.Tensor) -> torch.Tensor:
    """The 22-way class ``int(prefix) - 1`` of each (species, health) pair; -1 where the pair
    does not exist in the dataset (Bael healthy, Basil diseased)."""
    table = torch.full((NUM_SPECIES, 2), -1, dtype=torch.long)
    for s, h, prefix, _ in CLASS_TABLE:
        table[s, h] = int(prefix) - 1
    return table[species.long(), health.long()]
