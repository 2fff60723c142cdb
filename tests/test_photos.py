"""Photos: checked by content, re-encoded without metadata (read back from the stored file),
limited in bytes and pixels, and shown only as the complaint's privacy allows, also in exports.

Uploads go through the GraphQL multipart request spec, as a client sends them.
"""

import io
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from PIL import ExifTags, Image
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from app import create_app
from media.storage import LocalStore
from settings import Settings
from tests.conftest import Accounts

SUBMIT = """mutation($input: SubmitComplaintInput!) { submitComplaint(input: $input) {
    id photos { url thumbnailUrl stage private mediaType width height } } }"""
ADD = """mutation($id: ID!, $photos: [PhotoUpload!]!) { addPhotos(id: $id, photos: $photos) {
    photos { url stage private } } }"""
HOME = (105.8412, 21.0245)  # (lon, lat) written into the test photos' GPS tags


@pytest.fixture(scope="module")
def media(settings: Settings, engine: Engine, demo: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[TestClient, LocalStore]]:
    root = tmp_path_factory.mktemp("media")
    photo_settings = settings.model_copy(update={"media_dir": root, "photo_max_bytes": 400_000,
                                                 "photo_max_pixels": 4_000_000,
                                                 "photos_per_complaint": 3})
    with TestClient(create_app(photo_settings, engine)) as client:
        yield client, LocalStore(root)


def camera_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG as a phone writes it: EXIF with the camera, a comment and a GPS position."""
    image = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneCam"
    exif[ExifTags.Base.ImageDescription] = "nha rieng"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (21.0, 1.0, 28.2)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 50.0, 28.3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, comment=b"home of the reporter")
    return buffer.getvalue()


def encoded(kind: str, size: tuple[int, int] = (300, 200), noise: bool = False) -> bytes:
    image = (Image.effect_noise(size, 90).convert("RGB") if noise
             else Image.new("RGB", size, (10, 120, 60)))
    buffer = io.BytesIO()
    image.save(buffer, kind, **({"quality": 100} if kind != "PNG" else {}))
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width`` × ``height``: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def multipart(client: TestClient, query: str, variables: dict[str, Any],
              files: list[tuple[str, bytes, str]], path: str, token: str | None = None
              ) -> dict[str, Any]:
    """POST a GraphQL multipart request; file i goes to ``{path}.{i}.file``."""
    upload_map = {str(i): [f"variables.{path}.{i}.file"] for i in range(len(files))}
    response = client.post(
        "/graphql",
        data={"operations": json.dumps({"query": query, "variables": variables}),
              "map": json.dumps(upload_map)},
        files={str(i): (name, data, mime) for i, (name, data, mime) in enumerate(files)},
        headers={"Authorization": f"Bearer {token}"} if token else {})
    assert response.status_code == 200, response.text
    return response.json()


def ward_point(engine: Engine, ward: str) -> tuple[float, float]:
    with engine.connect() as conn:
        row = conn.execute(text("""
            SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(w.geom) p FROM admin_area w
            JOIN boundary_generation g ON g.id = w.generation_id
            WHERE w.level = 'ward' AND w.code = :ward AND g.name = 'demo-2025') s"""),
            {"ward": ward}).one()
    return float(row[0]), float(row[1])


def submit(client: TestClient, engine: Engine, accounts: Accounts,
           photos: list[tuple[str, bytes, str, bool]], category: str = "other",
           token_of: str = "reporter") -> dict[str, Any]:
    lon, lat = ward_point(engine, accounts.ward)
    variables = {"input": {"categoryCode": category, "description": "Ổ gà", "lon": lon,
                           "lat": lat, "photos": [{"file": None, "private": private}
                                                  for *_, private in photos]}}
    return multipart(client, SUBMIT, variables, [p[:3] for p in photos], "input.photos",
                     accounts.tokens[token_of])


def stored(engine: Engine, store: LocalStore, url: str) -> tuple[bytes, bytes]:
    token = url.rsplit("/", 1)[1]
    with engine.connect() as conn:
        sha, thumb = conn.execute(text("SELECT sha256, thumbnail_sha256 FROM photo "
                                       "WHERE token = :t"), {"t": token}).one()
    return store.path(sha).read_bytes(), store.path(thumb).read_bytes()


def test_metadata_is_gone_from_the_stored_file(media: Any, engine: Engine,
                                               accounts: Accounts) -> None:
    client, store = media
    original = camera_jpeg()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the trap
    body = submit(client, engine, accounts, [("holiday.png", original, "text/plain", False)])
    photo, = body["data"]["submitComplaint"]["photos"]
    assert (photo["mediaType"], photo["width"], photo["height"]) == ("image/jpeg", 640, 480)
    data, thumbnail = stored(engine, store, photo["url"])
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (640, 480)
    assert not image.getexif() and not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert "exif" not in image.info and "comment" not in image.info
    for trace in (b"Exif", b"PhoneCam", b"nha rieng", b"home of the reporter"):
        assert trace not in data and trace not in thumbnail
    assert max(Image.open(io.BytesIO(thumbnail)).size) == 320
    assert client.get(photo["url"]).content == data
    assert client.get(photo["thumbnailUrl"]).content == thumbnail


@pytest.mark.parametrize(("kind", "media_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
def test_type_is_read_from_the_content(media: Any, engine: Engine, accounts: Accounts,
                                       kind: str, media_type: str) -> None:
    client, _ = media
    body = submit(client, engine, accounts, [("photo.jpg", encoded(kind), "image/jpeg", False)])
    assert body["data"]["submitComplaint"]["photos"][0]["mediaType"] == media_type
    served = client.get(body["data"]["submitComplaint"]["photos"][0]["url"])
    assert served.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(served.content)).format == kind


@pytest.mark.parametrize(("data", "code"), [
    (b"GIF89a not a photo", "UNSUPPORTED_IMAGE"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "UNSUPPORTED_IMAGE"),
    (encoded("GIF"), "UNSUPPORTED_IMAGE"),
    (camera_jpeg()[:2000], "UNSUPPORTED_IMAGE"),  # truncated: cannot be decoded
    (png_header_only(100_000, 100_000), "IMAGE_TOO_LARGE"),  # over Pillow's own ceiling
    (png_header_only(4_000, 1_001), "IMAGE_TOO_LARGE"),  # over photo_max_pixels
    (encoded("PNG", (700, 700), noise=True), "IMAGE_TOO_LARGE"),  # over photo_max_bytes
])
def test_bad_uploads_are_refused_and_nothing_is_stored(media: Any, engine: Engine,
                                                       accounts: Accounts, data: bytes,
                                                       code: str) -> None:
    client, _ = media
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM complaint")).scalar_one()
    body = submit(client, engine, accounts, [("photo.jpg", data, "image/jpeg", False)])
    assert body["errors"][0]["extensions"]["code"] == code, body
    assert body["data"] is None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM complaint")).scalar_one() == before


def test_too_many_photos(media: Any, engine: Engine, accounts: Accounts) -> None:
    client, _ = media
    four = [(f"{i}.png", encoded("PNG"), "image/png", False) for i in range(4)]
    files = [p[:3] for p in four]
    assert submit(client, engine, accounts, four)["errors"][0]["extensions"] == {
        "code": "TOO_MANY_PHOTOS", "max": 3}
    body = submit(client, engine, accounts, four[:2])
    public_id = body["data"]["submitComplaint"]["id"]
    added = multipart(client, ADD, {"id": public_id, "photos": [{"file": None}] * 2},
                      files[:2], "photos", accounts.tokens["ward_in"])
    assert added["errors"][0]["extensions"]["code"] == "TOO_MANY_PHOTOS"
    after = multipart(client, ADD, {"id": public_id, "photos": [{"file": None}]}, files[:1],
                      "photos", accounts.tokens["ward_in"])
    assert [p["stage"] for p in after["data"]["addPhotos"]["photos"]] == [
        "REPORT", "REPORT", "AFTER"]
    other = multipart(client, ADD, {"id": public_id, "photos": [{"file": None}]}, files[:1],
                      "photos", accounts.tokens["ward_out"])
    assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def visible(client: TestClient, accounts: Accounts, public_id: str, who: str) -> list[str]:
    query = "query($id: ID!) { complaint(id: $id) { photos { url } } }"
    response = client.post("/graphql", json={"query": query, "variables": {"id": public_id}},
                           headers=accounts.headers(who)).json()
    return [p["url"] for p in response["data"]["complaint"]["photos"]]


def fetch_status(client: TestClient, accounts: Accounts, url: str, who: str) -> int:
    return client.get(url, headers=accounts.headers(who)).status_code


def test_access_follows_privacy(media: Any, engine: Engine, accounts: Accounts,
                                tmp_path: Path) -> None:
    client, _ = media
    with engine.connect() as conn:
        sensitive = conn.execute(text("SELECT code FROM category WHERE sensitive "
                                      "ORDER BY code LIMIT 1")).scalar_one()
    public = submit(client, engine, accounts, [("a.png", encoded("PNG"), "image/png", False),
                                               ("b.png", encoded("JPEG"), "image/png", True)])
    delicate = submit(client, engine, accounts, [("c.png", encoded("PNG"), "image/png", False)],
                      category=sensitive)
    open_url, private_url = (p["url"] for p in public["data"]["submitComplaint"]["photos"])
    sensitive_url = delicate["data"]["submitComplaint"]["photos"][0]["url"]
    public_id = public["data"]["submitComplaint"]["id"]
    delicate_id = delicate["data"]["submitComplaint"]["id"]

    see_all = ("reporter", "ward_in", "district_in", "city_admin")
    see_public = ("anonymous", "other_citizen", "ward_out", "district_out", "analyst")
    for who in see_all:
        assert visible(client, accounts, public_id, who) == [open_url, private_url], who
        assert visible(client, accounts, delicate_id, who) == [sensitive_url], who
        for url in (open_url, private_url, sensitive_url):
            assert fetch_status(client, accounts, url, who) == 200, (who, url)
    for who in see_public:
        assert visible(client, accounts, public_id, who) == [open_url], who
        assert visible(client, accounts, delicate_id, who) == [], who
        assert fetch_status(client, accounts, open_url, who) == 200, who
        for url in (private_url, sensitive_url, private_url + "/thumbnail", "/media/nope"):
            assert fetch_status(client, accounts, url, who) == 404, (who, url)
    assert client.get(open_url).headers["cache-control"].startswith("public")
    assert client.get(private_url, headers=accounts.headers("reporter")
                      ).headers["cache-control"] == "private, no-store"
    # Public URLs carry 128 random bits, nothing sequential.
    assert len(open_url.rsplit("/", 1)[1]) >= 22

    # Exports (read back by GDAL) and OGC items link the public photo only.
    export = tmp_path / "complaints.gpkg"
    export.write_bytes(client.get(f"/export/complaints.gpkg?ward_code={accounts.ward}").content)
    meta, _, _, data = pyogrio.raw.read(export)
    fields = dict(zip(meta["fields"], data, strict=True))
    links = dict(zip(fields["public_id"], fields["photos"], strict=True))
    assert links[public_id] == open_url
    assert links[delicate_id] is None
    item = client.get(f"/ogc/collections/complaints/items/{public_id}").json()
    assert item["properties"]["photos"] == open_url


def test_photos_load_in_one_query(gql: Any, count_statements: Any) -> None:
    gql.data("{ complaints(first: 50) { edges { node { id photos { url } } } } }")
    assert sum("FROM photo" in s for s in count_statements.statements) == 1


def test_a_photo_must_be_a_file_part(gql: Any, accounts: Accounts, engine: Engine) -> None:
    lon, lat = ward_point(engine, accounts.ward)
    body = gql(SUBMIT, {"input": {"categoryCode": "other", "description": "x", "lon": lon,
                                  "lat": lat, "photos": [{"file": "photo.jpg"}]}})
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"


def stored_files(store: LocalStore) -> int:
    return sum(1 for p in store.root.rglob("*") if p.is_file())


def test_refused_additions_store_no_file(media: Any, engine: Engine,
                                         accounts: Accounts) -> None:
    client, store = media

    def add(public_id: str, count: int, token: str) -> dict[str, Any]:
        # Noise: every photo is new content, so the content-addressed store cannot dedupe it.
        uploads = [("n.jpg", encoded("JPEG", noise=True), "image/jpeg") for _ in range(count)]
        return multipart(client, ADD, {"id": public_id, "photos": [{"file": None}] * count},
                         uploads, "photos", accounts.tokens[token])

    body = submit(client, engine, accounts, [("a.png", encoded("PNG"), "image/png", False)])
    public_id = body["data"]["submitComplaint"]["id"]
    before = stored_files(store)
    for target, count, token, code in ((public_id, 1, "ward_out", "FORBIDDEN"),
                                       (public_id, 1, "other_citizen", "FORBIDDEN"),
                                       ("NOPE-1", 1, "ward_in", "NOT_FOUND"),
                                       (public_id, 3, "ward_in", "TOO_MANY_PHOTOS")):
        refused = add(target, count, token)
        assert refused["errors"][0]["extensions"]["code"] == code, refused
        assert stored_files(store) == before, code
    assert "errors" not in add(public_id, 1, "ward_in")
    assert stored_files(store) > before  # an accepted addition is counted


def test_refused_submissions_store_no_file(media: Any, engine: Engine,
                                           accounts: Accounts) -> None:
    """A submission refused for its category, answers or place stores none of its photos."""
    client, store = media

    before = stored_files(store)
    noisy = [("n.jpg", encoded("JPEG", noise=True), "image/jpeg", False)]
    refused = submit(client, engine, accounts, noisy, category="no-such-category")
    assert refused["errors"][0]["extensions"]["code"] == "UNKNOWN_CATEGORY", refused
    outside = multipart(client, SUBMIT, {"input": {
        "categoryCode": "other", "description": "Ổ gà", "lon": 0.0, "lat": 0.0,
        "photos": [{"file": None, "private": False}]}}, [noisy[0][:3]], "input.photos")
    assert outside["errors"][0]["extensions"]["code"] == "OUTSIDE_JURISDICTION", outside
    assert stored_files(store) == before
    assert "errors" not in submit(client, engine, accounts, noisy)
    assert stored_files(store) > before  # an accepted submission stores its photo
