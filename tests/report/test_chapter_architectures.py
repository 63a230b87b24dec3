"""The architectures chapter: every model's parameters and multiply-adds, the plot and the table."""
import json

from deepbasic.report.chapters import CHAPTERS

# torchvision's parameter counts, torchinfo's multiply-adds (G) at 3x224x224
EXPECTED = {"AlexNet": (61_100_840, 0.714), "VGG-16": (138_357_544, 15.47),
            "VGG-19": (143_667_240, 19.63), "GoogLeNet": (6_624_904, 1.50),
            "ResNet-18": (11_689_512, 1.81), "ResNet-34": (21_797_672, 3.66),
            "ResNet-50": (25_557_032, 4.09), "ResNet-101": (44_549_160, 7.80),
            "ResNet-152": (60_192_808, 11.51)}


def test_quick_chapter(tmp_path):
    import importlib

    importlib.import_module("deepbasic.report.chapter_architectures")
    chapter = next(c for c in CHAPTERS if c.key == "architectures")
    result = chapter.run(str(tmp_path), True)
    rows = {r["name"]: r for r in json.load(open(tmp_path / "architectures" /
                                                 "architectures.json"))}
    for name, (params, gmacs) in EXPECTED.items():
        assert rows[name]["parameters"] == params, name
        assert abs(rows[name]["macs"] / 1e9 - gmacs) / gmacs < 0.005, name
        assert rows[name]["input_shape"] == [3, 224, 224] and rows[name]["output_shape"] == [1000]
    assert rows["ConvNet"]["macs"] == 32 * 28 * 28 * 9 + 64 * 14 * 14 * 32 * 9 + 64 * 7 * 7 * 10
    assert rows["MLP"]["input_shape"] == [1, 28, 28] and rows["MLP"]["output_shape"] == [10]
    numbers = dict(result.numbers)
    assert numbers["VGG-16 (3x224x224)"].startswith("138.36M parameters, 15.47G multiply-adds, "
                                                    "16 conv + linear layers")
    assert numbers["MLP (1x28x28)"].startswith("235.15K parameters, 234.75K multiply-adds")
    assert any("AlexNet and VGG-16 keep 96% and 89%" in n for n in result.notes)
    html = (tmp_path / "architectures" / "table.html").read_text()
    assert html.count("<tr>") == 1 + len(rows) and "<td>ResNet-152</td>" in html
    (fname, _), = result.figures
    assert (tmp_path / fname).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / fname).stat().st_size > 20_000
