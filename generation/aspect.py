"""Aspect ratios as KIE's inputs name them; plain functions shared by the pages and the KIE simulator."""

# KIE's size names that are not plain "w:h" ratios (Qwen, Ideogram), as the ratio they draw.
NAMED_ASPECT_RATIOS = {
    "square": (1, 1),
    "square_hd": (1, 1),
    "portrait_4_3": (3, 4),
    "portrait_16_9": (9, 16),
    "landscape_4_3": (4, 3),
    "landscape_16_9": (16, 9),
}


def aspect_ratio_parse(value):
    """Return (width, height) for "16:9" or a KIE size name; (1, 1) for "auto" or anything unknown."""
    if value in NAMED_ASPECT_RATIOS:
        return NAMED_ASPECT_RATIOS[value]
    try:
        width, height = (int(part) for part in str(value).split(":"))
    except ValueError:
        return (1, 1)
    return (width, height) if width > 0 and height > 0 else (1, 1)
