"""Where a sensor is worn: the trunk (it feels both legs) or one leg (each contact is a stride)."""

from __future__ import annotations

from cadence.errors import ConfigurationError

LEG_PLACEMENTS = ("shank", "tibia", "ankle", "foot", "shoe")
TRUNK_PLACEMENTS = (
    "sacrum",
    "lower_back",
    "back",
    "hip",
    "waist",
    "pelvis",
    "trunk",
    "phone",
    "chest",
)


def placement_is_leg(placement: str) -> bool:
    """True for leg placements (shank, ankle, foot, ...), False for trunk ones (sacrum, hip, ...).

    Names are matched case-insensitively by how they start, so ``Shank-left``, ``footpod`` or
    ``hip_right`` work too.
    """
    name = placement.strip().lower().replace("-", "_").replace(" ", "_")
    if name.startswith(LEG_PLACEMENTS):
        return True
    if name.startswith(TRUNK_PLACEMENTS):
        return False
    raise ConfigurationError(
        f"unknown placement {placement!r}: use a leg placement ({', '.join(LEG_PLACEMENTS)}) "
        f"or a trunk placement ({', '.join(TRUNK_PLACEMENTS)})"
    )
