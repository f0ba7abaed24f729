"""Smart crop for `cover`: where the picture's subject is, found on the already-small master.

A saliency map in the spirit of libvips' `attention` crop: luminance edges, saturated colour
and skin tones, blurred so that regions beat single pixels. It is computed on a copy of the
master at most ANALYSIS_SIDE pixels long, then collapsed to one profile per axis; the crop
window is slid along each profile to where it holds the most. A featureless picture keeps the
centre crop (ties go to the offset nearest the centre).
"""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

ANALYSIS_SIDE = 160
_SKIN_CB = bytes(255 if 77 <= v <= 127 else 0 for v in range(256))
_SKIN_CR = bytes(255 if 133 <= v <= 173 else 0 for v in range(256))
_HALF = bytes(v // 2 for v in range(256))


def saliency(im: Image.Image) -> Image.Image:
    """An L image as large as `im`: bright where a viewer would look."""
    alpha = im.getchannel("A") if im.mode in ("LA", "RGBA") else None
    rgb = im.convert("RGB")
    edges = Image.new("L", im.size, 0)
    if min(im.size) > 2:  # Pillow leaves a 3x3 filter's border unfiltered: drop it
        raw = rgb.convert("L").filter(ImageFilter.FIND_EDGES)
        edges.paste(raw.crop((1, 1, im.width - 1, im.height - 1)), (1, 1))
    saturation = rgb.convert("HSV").getchannel("S").point(list(_HALF))
    _, cb, cr = rgb.convert("YCbCr").split()
    skin = ImageChops.multiply(cb.point(list(_SKIN_CB)), cr.point(list(_SKIN_CR)))
    out = ImageChops.add(ImageChops.add(edges, saturation), skin.point(list(_HALF)))
    if alpha is not None:  # a transparent area is nobody's subject
        out = ImageChops.multiply(out, alpha)
    return out.filter(ImageFilter.GaussianBlur(max(1.0, max(im.size) / 40)))


def smart_offset(im: Image.Image, window: tuple[float, float]) -> tuple[float, float]:
    """Top-left corner, in `im`'s pixels, of the `window`-sized crop that holds the subject."""
    width, height = im.size
    scale = min(1.0, ANALYSIS_SIDE / max(width, height))
    small = im
    if scale < 1:
        small = im.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX
        )
    sal = saliency(small)
    columns = sal.resize((sal.width, 1), Image.Resampling.BOX).tobytes()
    rows = sal.resize((1, sal.height), Image.Resampling.BOX).tobytes()
    x = _best_start(columns, window[0] * sal.width / width) * width / sal.width
    y = _best_start(rows, window[1] * sal.height / height) * height / sal.height
    return min(max(0.0, x), width - window[0]), min(max(0.0, y), height - window[1])


def _best_start(profile: bytes, length: float) -> float:
    """The start of the `length`-long run of `profile` with the largest sum."""
    n = max(1, min(len(profile), round(length)))
    if n >= len(profile):
        return 0.0
    sums = [0]
    for value in profile:
        sums.append(sums[-1] + value)
    centre = (len(profile) - n) / 2
    best = max(
        range(len(profile) - n + 1),
        key=lambda start: (sums[start + n] - sums[start], -abs(start - centre)),
    )
    if sums[best + n] - sums[best] == sums[int(centre) + n] - sums[int(centre)]:
        return (len(profile) - length) / 2  # nothing to prefer: exactly the centre crop
    return float(best)
