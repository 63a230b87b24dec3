"""COCO files: RLE in both forms, instances and captions export, round trips through our loaders
and through pycocotools, and the captions loader with its errors."""
import json
import os

import numpy as np
import pytest

from deepbasic.data import CorruptFileError
from deepbasic.data.coco import (CocoCaptions, compress_counts, decompress_counts,
                                 load_coco_captions, load_coco_instances, mask_to_rle,
                                 polygons_to_mask, rle_to_mask, save_coco, to_coco,
                                 to_coco_captions, tokenize_caption)
from deepbasic.data.shapes import generate_scenes


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(30, seed=11)


def _reference_mask():
    m = np.zeros((20, 30), bool)
    m[3:17, 5:25] = True
    m[8:10, 10:12] = False
    return m


def test_rle_is_column_major_and_starts_with_zeros():
    assert mask_to_rle(np.array([[0, 1], [1, 1]])) == {"counts": [1, 3], "size": [2, 2]}
    assert mask_to_rle(np.array([[1, 0, 0], [0, 0, 0]])) == {"counts": [0, 1, 5], "size": [2, 3]}
    assert mask_to_rle(np.zeros((3, 2))) == {"counts": [6], "size": [3, 2]}
    m = np.random.default_rng(0).random((13, 17)) < 0.4
    assert np.array_equal(rle_to_mask(mask_to_rle(m)), m)


def test_compressed_rle_matches_the_strings_pycocotools_writes():
    # strings from pycocotools 2.0.11's mask.encode on these masks
    assert mask_to_rle(_reference_mask(), compressed=True)["counts"] == \
        "W3>600000000GL24NL247000000000000000000000000Q3"
    big = np.zeros((300, 400), bool)
    big[:, 200:] = True
    big[0, 0] = True
    assert mask_to_rle(big, compressed=True)["counts"] == "01obj1obj1"
    assert decompress_counts(b"01obj1obj1") == [0, 1, 59999, 60000]
    rng = np.random.default_rng(1)
    for _ in range(50):
        counts = [int(c) for c in rng.integers(0, 5000, rng.integers(1, 12))]
        assert decompress_counts(compress_counts(counts)) == counts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # pycocotools' own, under NumPy 2
def test_compressed_rle_agrees_with_pycocotools_on_random_masks():
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(2)
    for _ in range(40):
        h, w = rng.integers(1, 30, 2)
        m = rng.random((h, w)) < rng.random()
        ref = mask_api.encode(np.asfortranarray(m.astype(np.uint8)))
        assert mask_to_rle(m, compressed=True)["counts"] == ref["counts"].decode()
        assert np.array_equal(rle_to_mask(ref), m)


def test_rle_errors():
    with pytest.raises(ValueError, match=r"run lengths sum to 5, expected H \* W = 2 \* 3 = 6"):
        rle_to_mask({"counts": [2, 3], "size": [2, 3]})
    with pytest.raises(ValueError, match="expected"):
        rle_to_mask({"counts": [6]})
    with pytest.raises(ValueError, match="not in COCO's RLE alphabet"):
        decompress_counts("~~ \x01")
    with pytest.raises(ValueError, match="ends in the middle of a count"):
        decompress_counts("o")
    with pytest.raises(ValueError, match=r"shape \(H, W\), got shape \(2, 2, 2\)"):
        mask_to_rle(np.zeros((2, 2, 2)))


def test_polygons_are_filled_by_pixel_centres():
    m = polygons_to_mask([[1, 1, 5, 1, 5, 4, 1, 4]], 6, 7)
    expected = np.zeros((6, 7), bool)
    expected[1:4, 1:5] = True
    assert np.array_equal(m, expected)
    two = polygons_to_mask([[0, 0, 2, 0, 2, 2, 0, 2], [4, 4, 6, 4, 6, 6]], 6, 7)
    assert two[:2, :2].all() and two.sum() == 4 + 3


def test_instances_dict(scenes):
    coco = to_coco(scenes)
    json.dumps(coco)                                           # plain JSON types only
    assert [c["name"] for c in coco["categories"]] == list(scenes.class_names)
    assert [c["id"] for c in coco["categories"]] == list(range(1, len(scenes.class_names) + 1))
    assert [im["id"] for im in coco["images"]] == list(range(1, 31))
    assert coco["images"][0] == {"id": 1, "file_name": "000000.png", "height": 64, "width": 64}
    anns = coco["annotations"]
    assert len(anns) == sum(len(k) for k in scenes.labels)
    assert [a["id"] for a in anns] == list(range(1, len(anns) + 1))
    flat_boxes = np.concatenate(scenes.boxes)
    flat_masks = np.concatenate(scenes.instance_masks)
    for a, box, m, label in zip(anns, flat_boxes, flat_masks, np.concatenate(scenes.labels)):
        assert a["bbox"] == box.tolist() and a["area"] == int(m.sum()) and a["iscrowd"] == 0
        assert a["category_id"] == label + 1
        assert isinstance(a["segmentation"]["counts"], list)
        assert np.array_equal(rle_to_mask(a["segmentation"]), m)
    assert set(anns[0]["attributes"]) == {"colour", "size"}


def test_captions_dict(scenes):
    coco = to_coco_captions(scenes, file_names=[f"img{i}.jpg" for i in range(30)])
    assert coco["images"][3]["file_name"] == "img3.jpg"
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a["caption"])
    assert [by_image[i + 1] for i in range(30)] == scenes.captions
    with pytest.raises(ValueError, match=r"one per scene \(30\), got 2"):
        to_coco_captions(scenes, file_names=["a", "b"])


@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_through_our_loaders(scenes, tmp_path, compressed):
    save_coco(scenes, tmp_path / "instances.json", captions_path=tmp_path / "captions.json",
              compressed=compressed)
    assert sorted(os.listdir(tmp_path)) == ["captions.json", "instances.json"]   # no temp files
    inst = load_coco_instances(tmp_path / "instances.json")
    assert len(inst) == 30 and inst.class_names == list(scenes.class_names)
    assert inst.file_names[:2] == ["000000.png", "000001.png"]
    for i in range(30):
        assert np.array_equal(inst.labels[i], scenes.labels[i])
        assert np.array_equal(inst.boxes[i], scenes.boxes[i])
        assert np.array_equal(inst.masks(i), scenes.instance_masks[i])
        assert not inst.iscrowd[i].any()
    caps = load_coco_captions(tmp_path / "captions.json")
    assert [caps.captions[i + 1] for i in range(30)] == scenes.captions


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_pycocotools_reads_our_files(scenes, tmp_path):
    coco_api = pytest.importorskip("pycocotools.coco")
    save_coco(scenes, tmp_path / "instances.json", captions_path=tmp_path / "captions.json")
    coco = coco_api.COCO(str(tmp_path / "instances.json"))
    assert sorted(coco.getImgIds()) == list(range(1, 31))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(scenes.class_names)
    for i in range(30):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[i + 1]))
        assert len(anns) == len(scenes.labels[i])
        for a, m, box in zip(anns, scenes.instance_masks[i], scenes.boxes[i]):
            assert np.array_equal(coco.annToMask(a).astype(bool), m)
            assert a["bbox"] == box.tolist()
    captions = coco_api.COCO(str(tmp_path / "captions.json"))
    assert [a["caption"] for a in captions.imgToAnns[2]] == scenes.captions[1]


def _write(tmp_path, obj, name="captions.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def _classic():
    return {
        "info": {"description": "tiny"},
        "images": [{"id": 42, "file_name": "COCO_val2014_000000000042.jpg", "height": 480},
                   {"id": 7, "file_name": "b.jpg"},
                   {"id": 9, "file_name": "no_captions.jpg"}],
        "annotations": [{"image_id": 42, "id": 1, "caption": "A dog, running on the beach!"},
                        {"image_id": 7, "id": 2, "caption": "Two cats. "},
                        {"image_id": 42, "id": 3, "caption": "The dog's toy is RED."}],
    }


def test_load_coco_captions(tmp_path):
    result = load_coco_captions(_write(tmp_path, _classic()))
    assert isinstance(result, CocoCaptions)
    captions, file_names = result
    assert captions == {42: ["A dog, running on the beach!", "The dog's toy is RED."],
                        7: ["Two cats."], 9: []}
    assert file_names == {42: "COCO_val2014_000000000042.jpg", 7: "b.jpg", 9: "no_captions.jpg"}
    assert result.tokenized()[42] == [["a", "dog", "running", "on", "the", "beach"],
                                      ["the", "dogs", "toy", "is", "red"]]


def test_tokenizer():
    assert tokenize_caption("  A man -- riding a horse; (fast)...\n") == \
        ["a", "man", "riding", "a", "horse", "fast"]
    assert tokenize_caption("Don't PANIC: 42 things_") == ["dont", "panic", "42", "things"]
    assert tokenize_caption("") == []


def _broken(change):
    data = _classic()
    change(data)
    return data


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON file"),
    ([1, 2], "expected a JSON object with 'images' and 'annotations', got a JSON list"),
    (_broken(lambda d: d.pop("images")), "missing the top-level key 'images'"),
    (_broken(lambda d: d.pop("annotations")), "missing the top-level key 'annotations'"),
    (_broken(lambda d: d.update(annotations={})), "'annotations' must be a list, got dict"),
    (_broken(lambda d: d["images"][1].pop("file_name")), r"images\[1\] has no 'file_name'"),
    (_broken(lambda d: d["images"][0].update(id="42")), r"images\[0\]: 'id' must be int, got '42'"),
    (_broken(lambda d: d["images"].append({"id": 7, "file_name": "c.jpg"})),
     r"images\[3\] repeats image id 7"),
    (_broken(lambda d: d["annotations"][2].pop("caption")), r"annotations\[2\] has no 'caption'"),
    (_broken(lambda d: d["annotations"][1].update(caption=None)),
     r"annotations\[1\]: 'caption' must be str, got None"),
    (_broken(lambda d: d["annotations"][0].update(image_id=5)),
     r"annotations\[0\] \(id 1\) points at image id 5, which is not in 'images'"),
    (_broken(lambda d: d["annotations"].append("a caption")),
     r"annotations\[3\] must be a JSON object"),
])
def test_malformed_caption_files(tmp_path, content, message):
    path = _write(tmp_path, content)
    with pytest.raises(CorruptFileError, match=message) as e:
        load_coco_captions(path)
    assert str(path) in str(e.value)


def test_missing_caption_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_coco_captions(tmp_path / "absent.json")


def test_malformed_instance_files(scenes, tmp_path):
    good = to_coco(scenes[:2])
    bad = json.loads(json.dumps(good))
    bad["annotations"][0]["category_id"] = 99
    with pytest.raises(CorruptFileError,
                       match=r"annotations\[0\] has category_id 99, which is not in"):
        load_coco_instances(_write(tmp_path, bad, "a.json"))
    bad = json.loads(json.dumps(good))
    bad["annotations"][1]["bbox"] = [1, 2, 3]
    with pytest.raises(CorruptFileError, match=r"bbox must be 4 numbers \[x, y, w, h\]"):
        load_coco_instances(_write(tmp_path, bad, "b.json"))
    bad = json.loads(json.dumps(good))
    del bad["categories"]
    with pytest.raises(CorruptFileError, match="missing the top-level list 'categories'"):
        load_coco_instances(_write(tmp_path, bad, "c.json"))


def test_loaded_polygons_and_rle_mix(tmp_path):
    data = {
        "images": [{"id": 1, "file_name": "x.png", "height": 6, "width": 7}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 3], "iscrowd": 0,
             "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 1,
             "segmentation": mask_to_rle(np.eye(6, 7, dtype=bool), compressed=True)},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}],
    }
    inst = load_coco_instances(_write(tmp_path, data, "mix.json"))
    assert inst.class_names == ["dog", "cat"] and inst.category_ids == [1, 3]
    assert inst.labels[0].tolist() == [1, 0] and inst.iscrowd[0].tolist() == [False, True]
    masks = inst.masks(0)
    assert masks.shape == (2, 6, 7) and masks[0].sum() == 12
    assert np.array_equal(masks[1], np.eye(6, 7, dtype=bool))
