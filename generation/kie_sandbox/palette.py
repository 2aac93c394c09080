"""Colours for the simulator's artwork, chosen from a prompt's hash (same prompt, same colours)."""

import colorsys
import hashlib
import random

# Hue offsets of a few classic harmonies, so palettes look chosen rather than random.
HARMONIES = (
    (0.0, 0.06, 0.12, -0.06),  # analogous
    (0.0, 0.5, 0.08, 0.58),  # complementary pairs
    (0.0, 0.33, 0.67, 0.05),  # triadic
    (0.0, 0.42, 0.58, 0.03),  # split complementary
)


def prompt_seed(*parts):
    """Return a stable integer from text parts (Python's hash() changes between runs)."""
    text = "\x1f".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _rgb(hue, saturation, value):
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return (round(red * 255), round(green * 255), round(blue * 255))


def mix(first, second, amount):
    """Return the colour `amount` (0..1) of the way from `first` to `second`."""
    return tuple(round(a + (b - a) * amount) for a, b in zip(first, second, strict=True))


class Palette:
    """A deep shade, three accents and a light tint built around one hue of the prompt's hash."""

    def __init__(self, prompt, *, shift=0.0):
        rng = random.Random(prompt_seed("palette", prompt.strip().lower()))
        hue = rng.random() + shift
        offsets = rng.choice(HARMONIES)
        saturation = rng.uniform(0.5, 0.72)
        self.deep = _rgb(hue + offsets[3], min(0.85, saturation + 0.15), rng.uniform(0.16, 0.26))
        self.accents = [
            _rgb(hue + offsets[0], saturation, rng.uniform(0.86, 0.98)),
            _rgb(hue + offsets[1], saturation * 0.9, rng.uniform(0.78, 0.94)),
            _rgb(hue + offsets[2], min(0.9, saturation * 1.15), rng.uniform(0.62, 0.85)),
        ]
        self.light = _rgb(hue + offsets[1], 0.12, 0.97)

    @property
    def colours(self):
        return [self.deep, *self.accents, self.light]

    def ramp(self):
        """Return the colours from dark to light, for gradients and layered bands."""
        return [self.deep, self.accents[2], self.accents[1], self.accents[0], self.light]
