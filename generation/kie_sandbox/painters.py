"""The simulator's picture styles, painted small (the long side is a few hundred px) and scaled up.

Each painter takes (width, height, rng, palette) and returns an RGB image of that size. Soft
gradients and blurred light survive upscaling; crisp shapes are drawn at twice the size and
reduced, so their edges stay smooth.
"""

import math

from PIL import Image, ImageDraw, ImageFilter

from .palette import mix


def gradient(width, height, stops, angle=90.0):
    """Return a linear gradient through the colours `stops` at `angle` degrees (90: top to bottom)."""
    diagonal = math.ceil(math.hypot(width, height)) + 2
    ramp = Image.linear_gradient("L").resize((diagonal, diagonal), Image.BILINEAR)
    ramp = ramp.rotate(angle - 90, resample=Image.BILINEAR)
    left, top = (diagonal - width) // 2, (diagonal - height) // 2
    ramp = ramp.crop((left, top, left + width, top + height))
    return _colourise(ramp, stops)


def radial(width, height, stops, centre=(0.5, 0.5), reach=1.0):
    """Return a radial gradient from stops[0] at `centre` (fractions) outwards."""
    side = math.ceil(max(width, height) * 2 * reach)
    ramp = Image.radial_gradient("L").resize((side, side), Image.BILINEAR)
    left = round(side / 2 - centre[0] * width)
    top = round(side / 2 - centre[1] * height)
    ramp = ramp.crop((left, top, left + width, top + height))
    return _colourise(ramp, stops)


def _colourise(ramp, stops):
    lut = [[], [], []]
    for level in range(256):
        position = level / 255 * (len(stops) - 1)
        index = min(int(position), len(stops) - 2)
        colour = mix(stops[index], stops[index + 1], position - index)
        for channel in range(3):
            lut[channel].append(colour[channel])
    return Image.merge("RGB", [ramp.point(lut[channel]) for channel in range(3)])


def glow(image, colour, box, *, blur, opacity):
    """Lay a blurred ellipse of `colour` over `image` (in place): soft light, bokeh, haze.

    Only the ellipse's neighbourhood is masked and blurred, so many small lights stay cheap.
    """
    reach = 3 * blur
    left, top = max(0, math.floor(box[0] - reach)), max(0, math.floor(box[1] - reach))
    right, bottom = min(image.width, math.ceil(box[2] + reach)), min(image.height, math.ceil(box[3] + reach))
    if right <= left or bottom <= top:
        return
    mask = Image.new("L", (right - left, bottom - top), 0)
    shifted = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
    ImageDraw.Draw(mask).ellipse(shifted, fill=round(255 * opacity))
    if blur:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    image.paste(colour, (left, top, right, bottom), mask=mask)


def scrim(image, *, share=0.5, strength=0.62):
    """Darken the bottom `share` of the image smoothly, so a caption set there reads well."""
    width, height = image.size
    top = round(height * (1 - share))
    ramp = Image.linear_gradient("L").resize((width, height - top), Image.BILINEAR)
    ramp = ramp.point(lambda level: round(level * strength * (level / 255) ** 0.5))
    mask = Image.new("L", image.size, 0)
    mask.paste(ramp, (0, top))
    image.paste((8, 8, 14), mask=mask)


class Supersampled:
    """A drawing surface at twice the size, reduced on exit so crisp shapes get smooth edges."""

    def __init__(self, image):
        self.image = image
        self.big = image.resize((image.width * 2, image.height * 2), Image.BILINEAR)
        self.draw = ImageDraw.Draw(self.big)

    def __enter__(self):
        return self.draw, 2

    def __exit__(self, *exc):
        self.image.paste(self.big.reduce(2))
        return False


def _random_point(rng, width, height, margin=0.1):
    return rng.uniform(-margin, 1 + margin) * width, rng.uniform(-margin, 1 + margin) * height


# --- styles -------------------------------------------------------------------------------------


def aurora(width, height, rng, palette):
    """Ribbons of northern light over a starry sky and a dark ridge."""
    night = mix(palette.deep, (4, 6, 16), 0.35)
    image = gradient(width, height, [night, palette.deep, mix(palette.deep, palette.accents[2], 0.55)])
    draw = ImageDraw.Draw(image)
    for _ in range(round(width * height / 5000)):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height * 0.7), rng.uniform(0.4, 1.1)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=mix(night, palette.light, rng.uniform(0.3, 0.9)))
    for ribbon in range(3):
        centre = height * rng.uniform(0.22, 0.5)
        waves = [
            (rng.uniform(0.5, 1.6), rng.uniform(0, math.tau), height * rng.uniform(0.04, 0.1))
            for _ in range(2)
        ]
        line = [
            (width * step / 40, centre + sum(a * math.sin(f * math.tau * step / 40 + p) for f, p, a in waves))
            for step in range(-2, 43)
        ]
        colour = (palette.accents[0], palette.accents[1], palette.light)[ribbon]
        for thickness, blur, opacity in ((0.16, 0.06, 0.55), (0.05, 0.015, 0.75), (0.012, 0.004, 0.8)):
            _ribbon(image, line, colour, thickness=height * thickness, blur=height * blur, opacity=opacity)
    with Supersampled(image) as (draw, k):
        base, amp, phase = height * 0.86, height * 0.05, rng.uniform(0, math.tau)
        ridge = [
            (width * i / 48 * k, (base - amp * math.sin(2.2 * math.tau * i / 48 + phase)) * k)
            for i in range(49)
        ]
        draw.polygon([(0, height * k), *ridge, (width * k, height * k)], fill=mix(night, (0, 0, 0), 0.4))
    return image


def _ribbon(image, line, colour, *, thickness, blur, opacity):
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).line(line, fill=round(255 * opacity), width=max(1, round(thickness)), joint="curve")
    image.paste(colour, mask=mask.filter(ImageFilter.GaussianBlur(blur)))


def landscape(width, height, rng, palette):
    """A sky, a sun and layered hills fading into haze."""
    sky_top, horizon = (
        mix(palette.accents[2], palette.deep, 0.35),
        mix(palette.light, palette.accents[0], 0.45),
    )
    image = gradient(width, height, [sky_top, palette.accents[1], horizon], angle=90)
    sun_x, sun_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.42) * height
    radius = min(width, height) * rng.uniform(0.08, 0.14)
    glow(
        image,
        palette.light,
        (sun_x - radius * 3, sun_y - radius * 3, sun_x + radius * 3, sun_y + radius * 3),
        blur=radius * 1.5,
        opacity=0.5,
    )
    with Supersampled(image) as (draw, k):
        draw.ellipse(
            [k * v for v in (sun_x - radius, sun_y - radius, sun_x + radius, sun_y + radius)],
            fill=mix(palette.light, palette.accents[0], 0.25),
        )
        layers = rng.randint(4, 5)
        for layer in range(layers):
            depth = layer / (layers - 1)
            base = height * (0.5 + 0.4 * depth)
            waves = [
                (rng.uniform(1, 3.5), rng.uniform(0, math.tau), rng.uniform(0.02, 0.07)) for _ in range(3)
            ]
            points = [(0, height * k)]
            for step in range(0, 65):
                x = width * step / 64
                y = base - sum(
                    amp * height * math.sin(freq * math.tau * x / width + phase) for freq, phase, amp in waves
                )
                points.append((x * k, y * k))
            points.append((width * k, height * k))
            colour = mix(mix(horizon, palette.accents[2], 0.5), palette.deep, 0.25 + 0.75 * depth)
            draw.polygon(points, fill=colour)
    return image


def bauhaus(width, height, rng, palette):
    """A grid of bold geometric tiles on paper."""
    paper = mix(palette.light, palette.accents[0], 0.12)
    image = gradient(width, height, [paper, mix(paper, palette.accents[1], 0.18)], angle=rng.uniform(0, 180))
    # About a dozen tiles whatever the shape, so a wide picture does not get four giant ones.
    columns = max(2, round(width / math.sqrt(width * height / rng.choice((12, 16, 20)))))
    size = width / columns
    rows = math.ceil(height / size)
    colours = [palette.deep, *palette.accents]
    with Supersampled(image) as (draw, k):
        for row in range(rows):
            for column in range(columns):
                left, top = column * size * k, row * size * k
                box = (left, top, left + size * k, top + size * k)
                _tile(draw, box, rng, colours, paper)
    return image


def _tile(draw, box, rng, colours, paper):
    left, top, right, bottom = box
    side = right - left
    first, second = rng.sample(colours, 2)
    kind = rng.randrange(6)
    if kind == 0:
        draw.rectangle(box, fill=first)
        inset = side * 0.18
        draw.ellipse((left + inset, top + inset, right - inset, bottom - inset), fill=second)
    elif kind == 1:
        # A quarter disc from one corner, kept inside the tile (Pillow's angles run clockwise).
        corner = rng.randrange(4)
        cx, cy = (left, right)[corner % 2], (top, bottom)[corner // 2]
        start = (0, 90, 270, 180)[corner]
        draw.pieslice((cx - side, cy - side, cx + side, cy + side), start, start + 90, fill=first)
    elif kind == 2:
        draw.rectangle(box, fill=first)
        start = rng.choice((0, 90, 180, 270))
        draw.pieslice((left, top, right, bottom), start, start + 180, fill=second)
    elif kind == 3:
        for stripe in range(4):
            y = top + side * (0.12 + stripe * 0.22)
            draw.rectangle((left + side * 0.1, y, right - side * 0.1, y + side * 0.1), fill=first)
    elif kind == 4:
        draw.ellipse(
            (left + side * 0.08, top + side * 0.08, right - side * 0.08, bottom - side * 0.08), fill=first
        )
        draw.ellipse(
            (left + side * 0.34, top + side * 0.34, right - side * 0.34, bottom - side * 0.34), fill=paper
        )
    else:
        draw.polygon([(left, bottom), (right, bottom), (right, top)], fill=first)


def rings(width, height, rng, palette):
    """Concentric rings radiating from a glowing planet."""
    cx, cy = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.6)
    image = radial(
        width, height, [palette.accents[0], palette.accents[2], palette.deep], centre=(cx, cy), reach=0.9
    )
    long_side = max(width, height)
    with Supersampled(image) as (draw, k):
        count = rng.randint(7, 11)
        for ring in range(count, 0, -1):
            radius = long_side * 0.09 * ring * k
            colour = mix(palette.deep, palette.accents[ring % 3], 0.35 + 0.5 * (1 - ring / count))
            x, y = cx * width * k, cy * height * k
            draw.ellipse(
                (x - radius, y - radius, x + radius, y + radius),
                outline=colour,
                width=max(2, round(long_side * 0.012 * k)),
            )
    radius = long_side * rng.uniform(0.07, 0.11)
    x, y = cx * width, cy * height
    glow(
        image,
        palette.light,
        (x - radius * 2.2, y - radius * 2.2, x + radius * 2.2, y + radius * 2.2),
        blur=radius,
        opacity=0.55,
    )
    with Supersampled(image) as (draw, k):
        draw.ellipse([k * v for v in (x - radius, y - radius, x + radius, y + radius)], fill=palette.light)
    return image


def mosaic(width, height, rng, palette):
    """Rounded tiles whose colours drift across the grid."""
    image = gradient(width, height, [palette.deep, mix(palette.deep, palette.accents[2], 0.3)], angle=120)
    cell = max(width, height) / rng.choice((6, 7, 8))
    gap = cell * 0.1
    ramp = palette.ramp()[1:]
    with Supersampled(image) as (draw, k):
        for row in range(math.ceil(height / cell)):
            for column in range(math.ceil(width / cell)):
                if rng.random() < 0.12:
                    continue
                drift = (column / max(1, width / cell) + row / max(1, height / cell)) / 2
                drift = min(0.999, max(0.0, drift + rng.uniform(-0.15, 0.15)))
                position = drift * (len(ramp) - 1)
                colour = mix(ramp[int(position)], ramp[min(int(position) + 1, len(ramp) - 1)], position % 1)
                left, top = column * cell + gap / 2, row * cell + gap / 2
                box = [k * v for v in (left, top, left + cell - gap, top + cell - gap)]
                draw.rounded_rectangle(box, radius=cell * 0.22 * k, fill=colour)
    return image


def bokeh(width, height, rng, palette):
    """Out-of-focus lights in three depths over a dusky gradient."""
    image = gradient(
        width, height, [palette.deep, mix(palette.deep, palette.accents[1], 0.45)], angle=rng.uniform(60, 120)
    )
    long_side = max(width, height)
    for depth, blur in ((0, 0.03), (1, 0.012), (2, 0.003)):
        for _ in range(rng.randint(8, 14)):
            x, y = _random_point(rng, width, height, margin=0.05)
            radius = long_side * rng.uniform(0.03, 0.1) * (1.4 - depth * 0.3)
            colour = rng.choice([*palette.accents, palette.light])
            glow(
                image,
                colour,
                (x - radius, y - radius, x + radius, y + radius),
                blur=long_side * blur,
                opacity=rng.uniform(0.25, 0.6),
            )
    return image


def waves(width, height, rng, palette):
    """Layers of paper cut into waves, each casting a soft shadow on the next."""
    ramp = palette.ramp()
    image = gradient(width, height, [palette.light, ramp[3]], angle=90)
    layers = 6
    surface = Supersampled(image)
    with surface as (draw, k):
        for layer in range(layers):
            base = height * (0.2 + 0.75 * layer / layers)
            frequency, phase = rng.uniform(0.6, 1.6), rng.uniform(0, math.tau)
            amplitude = height * rng.uniform(0.03, 0.07)
            edge = [
                (width * step / 48, base + amplitude * math.sin(frequency * math.tau * step / 48 + phase))
                for step in range(49)
            ]
            _shadow(surface.big, edge, blur=height * 0.015 * k, lift=height * 0.012, k=k)
            position = layer / (layers - 1) * (len(ramp) - 2)
            colour = mix(ramp[-2 - int(position)], ramp[max(0, -3 - int(position))], position % 1)
            draw.polygon(
                [(0, height * k)] + [(x * k, y * k) for x, y in edge] + [(width * k, height * k)], fill=colour
            )
    return image


def _shadow(canvas, edge, *, blur, lift, k):
    """Darken softly along a wave's edge; only the band around it is masked, to stay cheap."""
    top = max(0, math.floor((min(y for _, y in edge) - lift) * k - 3 * blur))
    bottom = min(canvas.size[1], math.ceil(max(y for _, y in edge) * k + 3 * blur))
    if bottom <= top:
        return
    mask = Image.new("L", (canvas.size[0], bottom - top), 0)
    outline = [(x * k, (y - lift) * k - top) for x, y in edge]
    ImageDraw.Draw(mask).polygon([(0, bottom - top), *outline, (canvas.size[0], bottom - top)], fill=110)
    canvas.paste((0, 0, 0), (0, top), mask.filter(ImageFilter.GaussianBlur(blur)))


def poster(width, height, rng, palette):
    """A flat poster ground with one big disc and a band, left open for large type."""
    ground = palette.accents[rng.randrange(3)]
    image = gradient(width, height, [ground, mix(ground, palette.deep, 0.25)], angle=rng.uniform(60, 120))
    long_side = max(width, height)
    with Supersampled(image) as (draw, k):
        radius = long_side * rng.uniform(0.35, 0.5)
        x, y = rng.choice((0.15, 0.85)) * width, rng.choice((0.1, 0.9)) * height
        draw.ellipse(
            [k * v for v in (x - radius, y - radius, x + radius, y + radius)],
            fill=mix(ground, palette.light, 0.45),
        )
        band = height * 0.12
        top = rng.uniform(0.6, 0.8) * height
        draw.polygon(
            [(0, top * k), (width * k, (top - band) * k), (width * k, top * k), (0, (top + band) * k)],
            fill=palette.deep,
        )
    return image


STYLES = {
    "aurora": aurora,
    "landscape": landscape,
    "bauhaus": bauhaus,
    "rings": rings,
    "mosaic": mosaic,
    "bokeh": bokeh,
    "waves": waves,
    "poster": poster,
}
