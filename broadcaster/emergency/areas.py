"""Feed areas (JMA area codes and names, CAP geocodes and areaDesc) to our districts.

The mapping lives in configuration (`emergency.area_districts`): a key is a code or a name
as the feed spells it; codes are tried before names. Whatever maps to nothing is reported
back so staff can see an alert that named an area we do not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from broadcaster.emergency.alert import Area


class AreaMappingError(ValueError):
    """The configured mapping names a district residents cannot choose."""


@dataclass(frozen=True)
class AreaMatch:
    districts: tuple[str, ...]
    unmapped: tuple[str, ...]


class AreaMap:
    def __init__(self, mapping: Mapping[str, Sequence[str]], districts: Sequence[str]) -> None:
        known = set(districts)
        for key, targets in mapping.items():
            unknown = [d for d in targets if d not in known]
            if unknown:
                raise AreaMappingError(
                    f"emergency.area_districts[{key!r}] names unknown district(s) "
                    + ", ".join(unknown)
                )
        self._mapping = {key: tuple(targets) for key, targets in mapping.items()}
        self._order = {district: index for index, district in enumerate(districts)}

    def position(self, district: str) -> int:
        """Where the district comes in the configured order (for listing)."""
        return self._order.get(district, len(self._order))

    def match(self, areas: Iterable[Area]) -> AreaMatch:
        """Districts (in configured order) the areas cover, and the areas that matched none."""
        found: set[str] = set()
        unmapped: list[str] = []
        for area in areas:
            targets = self._mapping.get(area.code) if area.code else None
            if targets is None and area.name:
                targets = self._mapping.get(area.name)
            if targets is None:
                label = (
                    f"{area.name} ({area.code})"
                    if area.code and area.name
                    else area.code or area.name
                )
                if label and label not in unmapped:
                    unmapped.append(label)
                continue
            found.update(targets)
        ordered = tuple(sorted(found, key=lambda d: self._order.get(d, len(self._order))))
        return AreaMatch(ordered, tuple(unmapped))
