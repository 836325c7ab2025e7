"""Bit budgets: bits, bits per pixel and channel uses of each part of a frame.

Digital parts ride the digital PHY (:mod:`shared.phy.link`: length + CRC-32,
5G LDPC, QAM), so their channel uses come from :class:`LinkConfig` exactly as
the transmitter will spend them. Analog parts (JSCC latents) cost one complex
channel use per two real values. CBR = complex symbols / (H * W * 3).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.phy.link import LinkConfig


@dataclass(frozen=True)
class PartBudget:
    """One line of a budget. ``symbols`` counts complex channel uses."""

    name: str
    kind: str  # "digital" or "analog"
    bits: int  # digital: payload bits; analog: 0 (no bits, real values instead)
    reals: int  # analog: real values sent; digital: 0
    symbols: int  # channel uses if this part is sent alone
    note: str = ""


@dataclass(frozen=True)
class FrameBudget:
    """All parts of one frame of size (height, width)."""

    height: int
    width: int
    parts: tuple[PartBudget, ...]
    digital_symbols_joint: int  # channel uses when all digital parts share one transport block

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def digital_bits(self) -> int:
        return sum(p.bits for p in self.parts)

    @property
    def analog_symbols(self) -> int:
        return sum(p.symbols for p in self.parts if p.kind == "analog")

    @property
    def total_symbols(self) -> int:
        return self.digital_symbols_joint + self.analog_symbols

    @property
    def cbr(self) -> float:
        return self.total_symbols / (self.pixels * 3)

    def rows(self) -> list[dict]:
        """Table rows (for printing and JSON), with a final total row."""
        out = [{"part": p.name, "kind": p.kind, "bytes": p.bits // 8, "bits": p.bits,
                "bpp": p.bits / self.pixels, "reals": p.reals, "channel_uses": p.symbols,
                "cbr": p.symbols / (self.pixels * 3), "note": p.note} for p in self.parts]
        out.append({"part": "total", "kind": "", "bytes": self.digital_bits // 8, "bits": self.digital_bits,
                    "bpp": self.digital_bits / self.pixels, "reals": sum(p.reals for p in self.parts),
                    "channel_uses": self.total_symbols, "cbr": self.cbr,
                    "note": "digital parts in one transport block"})
        return out

    def format(self) -> str:
        """A plain-text table."""
        lines = [f"{'part':<11} {'kind':<8} {'bytes':>7} {'bpp':>8} {'ch. uses':>9} {'CBR':>8}  note"]
        for r in self.rows():
            lines.append(f"{r['part']:<11} {r['kind']:<8} {r['bytes']:>7} {r['bpp']:>8.4f} {r['channel_uses']:>9} "
                         f"{r['cbr']:>8.5f}  {r['note']}")
        return "\n".join(lines)


def frame_budget(height: int, width: int, digital: dict[str, bytes], analog: dict[str, int] | None = None,
                 link: LinkConfig | None = None, notes: dict[str, str] | None = None) -> FrameBudget:
    """Budget of a frame.

    Args:
        height, width: frame size (pixels).
        digital: part name -> coded bytes.
        analog: part name -> number of real values sent by JSCC (two per channel use).
        link: the digital PHY configuration (default :class:`LinkConfig`).
        notes: optional one-line note per part.
    """
    link = link or LinkConfig()
    notes = notes or {}
    parts = [PartBudget(name, "digital", 8 * len(data), 0, link.n_symbols(len(data)), notes.get(name, ""))
             for name, data in digital.items()]
    parts += [PartBudget(name, "analog", 0, n, -(-n // 2), notes.get(name, "")) for name, n in (analog or {}).items()]
    joint = link.n_symbols(sum(len(d) for d in digital.values())) if digital else 0
    return FrameBudget(height, width, tuple(parts), joint)
