"""The browser test's screenshot check (lab_driver.drawn_pixels) on images made here: a blank
figure and one with only grey axes, grid and labels show no data; one with a coloured trace or a
heatmap does."""
import numpy as np
from PIL import Image, ImageDraw

from lab_driver import drawn_pixels


def figure(tmp_path, name, draw):
    img = Image.new("RGB", (400, 300), "white")
    d = ImageDraw.Draw(img)
    d.line([(40, 260), (380, 260)], fill=(68, 68, 68), width=1)          # axes
    d.line([(40, 20), (40, 260)], fill=(68, 68, 68), width=1)
    for y in range(40, 260, 40):                                          # grid
        d.line([(41, y), (380, y)], fill=(235, 235, 235))
    d.text((150, 270), "step", fill=(42, 63, 95))                         # a label
    draw(d, img)
    path = tmp_path / f"{name}.png"
    img.save(path)
    return path


def test_blank_and_axes_only_figures_are_not_drawn(tmp_path):
    assert not drawn_pixels(figure(tmp_path, "axes", lambda d, img: None))["drawn"]
    blank = tmp_path / "blank.png"
    Image.new("RGB", (400, 300), "white").save(blank)
    assert not drawn_pixels(blank)["drawn"]


def test_a_trace_or_a_heatmap_is_drawn(tmp_path):
    line = figure(tmp_path, "line", lambda d, img: d.line(
        [(40 + 3 * i, 250 - int(200 * np.exp(-i / 30))) for i in range(110)], fill=(99, 110, 250), width=2))
    assert drawn_pixels(line)["drawn"]

    def heat(d, img):
        rng = np.random.default_rng(0)
        for i in range(8):
            for j in range(10):
                c = tuple(int(v) for v in rng.integers(0, 255, 3))
                d.rectangle([50 + 30 * j, 30 + 25 * i, 78 + 30 * j, 53 + 25 * i], fill=c)
    assert drawn_pixels(figure(tmp_path, "heat", heat))["drawn"]


def test_a_few_scatter_markers_are_drawn(tmp_path):
    """A smoke run's scatter of five networks: five small markers are data too."""
    def markers(d, img):
        for x, y in [(80, 200), (120, 60), (200, 150), (260, 180), (330, 90)]:
            d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(99, 110, 250))
    assert drawn_pixels(figure(tmp_path, "markers", markers))["drawn"]
