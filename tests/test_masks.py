"""Masks and RLE helpers against dense numpy references (property tests)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from everymask.masks import Masks, areas, boxes, decode, encode, intersection_matrix, iou_matrix

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))


@st.composite
def mask_stacks(draw, n_max=6):
    h, w = draw(shapes)
    n = draw(st.integers(0, n_max))
    stack = draw(arrays(bool, (n, h, w)))
    if n and draw(st.booleans()):
        stack[0] = True  # a full mask
    return stack


@settings(max_examples=60, deadline=None)
@given(mask_stacks())
def test_rle_round_trip_and_areas(stack):
    rles = encode(stack)
    assert len(rles) == len(stack)
    back = decode(rles, stack.shape[1:])
    assert back.shape == stack.shape and np.array_equal(back, stack)
    assert areas(rles).tolist() == stack.reshape(len(stack), stack.shape[1] * stack.shape[2]).sum(1).tolist()


@settings(max_examples=60, deadline=None)
@given(mask_stacks(), st.data())
def test_iou_and_intersection_match_dense(a, data):
    b = data.draw(arrays(bool, (data.draw(st.integers(0, 5)), *a.shape[1:])))
    ra, rb = encode(a), encode(b)
    inter = (a[:, None] & b[None]).sum((-1, -2))
    union = (a[:, None] | b[None]).sum((-1, -2))
    dense_iou = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    assert np.allclose(iou_matrix(ra, rb), dense_iou)
    assert np.array_equal(intersection_matrix(ra, rb), inter) if len(a) and len(b) else True


def test_boxes_are_xywh():
    m = np.zeros((10, 20), bool)
    m[2:5, 3:9] = True
    assert boxes(encode(m)).tolist() == [[3.0, 2.0, 6.0, 3.0]]


def test_lists_longer_than_255_work():
    # pycocotools 2.0.10/11 with numpy 2 overflow on 256+ RLEs in one call; we chunk
    stack = np.zeros((300, 8, 8), bool)
    stack[:, 1:3, 1:4] = True
    rles = encode(stack)
    assert areas(rles).tolist() == [6] * 300
    assert boxes(rles).shape == (300, 4)


def test_masks_validates_parallel_arrays():
    rles = encode(np.ones((2, 4, 5), bool))
    with pytest.raises(ValueError, match="2 ids, 2 rles, 1 scores"):
        Masks(size=(4, 5), ids=[1, 2], rles=rles, scores=[1.0])
    with pytest.raises(ValueError, match="size"):
        Masks(size=(5, 4), ids=[1, 2], rles=rles, scores=[1.0, 1.0])


def test_masks_select_concat_dense():
    dense = np.zeros((3, 4, 5), bool)
    for i in range(3):
        dense[i, i] = True
    m = Masks.from_dense(dense, ids=[7, 8, 9], scores=[0.1, 0.2, 0.3])
    sub = m.select([2, 0])
    assert sub.ids.tolist() == [9, 7] and np.allclose(sub.scores, [0.3, 0.1])
    assert np.array_equal(sub.to_dense(), dense[[2, 0]])
    assert m.select(np.array([True, False, True])).ids.tolist() == [7, 9]
    both = Masks.concat([sub, m.select([1])])
    assert both.ids.tolist() == [9, 7, 8] and both.areas.tolist() == [5, 5, 5]
    assert len(Masks.empty((4, 5))) == 0 and Masks.empty((4, 5)).to_dense().shape == (0, 4, 5)


def test_data_fields_travel_with_select_and_concat():
    dense = np.zeros((3, 5, 6), bool)
    dense[0, :2, :2] = dense[1, 2:, 3:] = dense[2, 1:4, 1:4] = True
    m = Masks.from_dense(dense, ids=[7, 8, 9]).with_data(direction=[0, 1, -1], pid=[70, 80, 90])
    sub = m.select([2, 0])
    assert sub.ids.tolist() == [9, 7] and sub.data["direction"].tolist() == [-1, 0]
    assert sub.data["pid"].tolist() == [90, 70] and sub.areas.tolist() == [9, 4]
    both = Masks.concat([sub, m.select(np.array([False, True, False]))])
    assert both.ids.tolist() == [9, 7, 8] and both.data["direction"].tolist() == [-1, 0, 1]
    assert both.areas.tolist() == [9, 4, 9]
    with pytest.raises(ValueError, match="data fields differ"):
        Masks.concat([m, Masks.from_dense(dense, ids=[1, 2, 3])])
    with pytest.raises(ValueError, match=r"data\['pid'\] has 2 values for 3 masks"):
        m.with_data(pid=[1, 2])
    empty = Masks.empty((5, 6), direction=np.int64)
    assert len(empty) == 0 and empty.data["direction"].dtype == np.int64


def test_known_areas_are_trusted_and_computed_areas_kept():
    dense = np.zeros((2, 4, 4), bool)
    dense[0, :2] = dense[1, :, :1] = True
    m = Masks.from_dense(dense, ids=[1, 2])
    first = m.areas
    assert first.tolist() == [8, 4] and m.areas is first          # computed once
    assert np.shares_memory(m.with_ids([5, 6]).areas, first)        # relabelling keeps them
    stored = Masks(size=(4, 4), ids=[1, 2], rles=m.rles, scores=[1, 1], known_areas=[8, 4])
    assert stored.areas.tolist() == [8, 4] and stored.select([1]).areas.tolist() == [4]
    with pytest.raises(ValueError, match="1 known areas for 2 masks"):
        Masks(size=(4, 4), ids=[1, 2], rles=m.rles, scores=[1, 1], known_areas=[8])
